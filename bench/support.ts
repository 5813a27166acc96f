// What the benchmarks that start their own processes share: finding system tools, free
// loopback ports, waiting for a process to listen or to be ready, and its CPU time.
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort as freeTestPort } from "../test/helpers/ports.js";

export const HOST = "127.0.0.1";

/** The path of a system tool (also looked for in /usr/sbin and /sbin), or undefined. */
export function which(tool: string): string | undefined {
  const r = spawnSync(
    "sh",
    ["-c", `command -v ${tool} || ls /usr/sbin/${tool} /sbin/${tool} 2>/dev/null | head -n1`],
    { encoding: "utf8" },
  );
  const path = r.stdout.trim().split("\n")[0];
  return path === undefined || path === "" ? undefined : path;
}

/**
 * A port free on the loopback address right now, below the ephemeral range and never one this
 * process handed out before: a port the kernel picks (listen on 0) is one an outgoing
 * connection can take before the server that was meant to listen on it starts.
 */
export async function freePort(): Promise<number> {
  return freeTestPort(HOST);
}

/** Resolves once something accepts connections on the port. */
export async function waitPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: HOST });
      s.once("connect", () => {
        s.destroy();
        r(true);
      });
      s.once("error", () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
}

/** Resolves once the URL answers 2xx (a node's /readyz). */
export async function waitReady(url: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

/** CPU time (ms) a process has used so far, from /proc (0 where there is no /proc). */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // After "pid (comm) ", utime and stime are the 12th and 13th fields, in clock ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

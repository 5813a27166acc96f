// A real redis-server on a free loopback port, for reference comparisons and peer benchmarks.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "./ports.js";
import { which } from "./tools.js";
import { waitForPort } from "./wait.js";

export interface RedisServer {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function startRedisServer(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const bin = which("redis-server");
  if (bin === undefined) throw new Error("redis-server is not installed");
  const port = await freePort();
  const child = spawn(
    bin,
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      ...extraArgs,
    ],
    { stdio: "ignore" },
  );
  await waitForPort(port);
  return {
    port,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

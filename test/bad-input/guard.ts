// The pass rule every bad-input case is held to, as one object:
//
//   const guard = await Guard.start();          cluster + preloaded data + canary client
//   ... the attack, against guard.targets ...
//   await guard.check("case name");              asserts the rule below
//   await guard.stop();
//
// After each case: every node keeps its PID; no node logged an uncaught exception or an error
// line since the case began; the canary (a client doing SET/GET through the master the whole
// time) saw no error and no wrong value; each node's memory (V8 heap + external buffers, and
// RSS) returned near its baseline; the preloaded data set reads back unchanged.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { Redis } from "ioredis";
import { TestCluster, type ClusterOptions } from "../helpers/cluster.js";
import type { NodeProcess } from "../helpers/process.js";
import { sleep, waitFor } from "../helpers/wait.js";

/** A port under attack and where its node reports its memory. */
export interface Target {
  readonly name: string;
  /** RESP port (master client port or auxiliary node port). */
  readonly port: number;
  readonly process: NodeProcess;
  readonly metricsUrl: string;
}

interface Memory {
  /** V8 heap used + memory of Buffers outside the heap. */
  readonly heap: number;
  readonly rss: number;
}

/** Reads one sample (the first series) of a metric from Prometheus text. */
export function metric(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  if (match === null) throw new Error(`metric ${name} not found`);
  return Number(match[1]);
}

async function memoryOf(target: Target): Promise<Memory> {
  const res = await fetch(target.metricsUrl, { signal: AbortSignal.timeout(3000) });
  const text = await res.text();
  return {
    heap:
      metric(text, "nodejs_heap_size_used_bytes") + metric(text, "nodejs_external_memory_bytes"),
    rss: metric(text, "process_resident_memory_bytes"),
  };
}

const MiB = 1024 * 1024;
/** Heap + external may exceed the baseline by this much once a case is over (garbage not yet collected). */
const HEAP_TOLERANCE = 48 * MiB;
/** RSS may stay higher (the allocator keeps freed pages), but not by more than this. */
const RSS_TOLERANCE = 160 * MiB;
const PRELOAD_KEYS = 500;

export class Guard {
  readonly cluster: TestCluster;
  readonly targets: Target[];
  readonly preloaded = new Map<string, Buffer>();
  private readonly canary: Redis;
  private readonly pids = new Map<string, number>();
  private readonly baseline = new Map<string, Memory>();
  private readonly logOffsets = new Map<string, number>();
  private canaryRunning = true;
  private canaryLoop: Promise<void> = Promise.resolve();
  canaryOps = 0;
  canaryErrors: string[] = [];

  private constructor(cluster: TestCluster) {
    this.cluster = cluster;
    const m = cluster.master();
    this.targets = [
      { name: "master", port: m.port, process: m.process, metricsUrl: m.url("/metrics") },
      ...cluster.auxiliaries.map((a) => ({
        name: `auxiliary ${a.id}`,
        port: a.port,
        process: a.process,
        metricsUrl: a.url("/metrics"),
      })),
    ];
    this.canary = new Redis({
      port: m.port,
      maxRetriesPerRequest: 0,
      commandTimeout: 3000,
      ...(cluster.options.secret !== undefined ? { password: cluster.options.secret } : {}),
    });
  }

  /** One master and two auxiliary nodes (R=2) with tight limits, data preloaded, canary running. */
  static async start(options: ClusterOptions = {}): Promise<Guard> {
    const cluster = await TestCluster.start({
      masters: 1,
      auxiliary: 2,
      replicas: 2,
      // Lenient health settings: a burst of hostile input (a 10k-command pipeline) may stall a
      // node for a second on a loaded 2-core machine, which is not what these cases test.
      healthInterval: "500ms",
      healthFailures: 3,
      requestTimeout: "3s",
      masterArgs: ["--max-value-size", "1mb", "--max-output-buffer", "4mb"],
      auxiliaryArgs: ["--max-output-buffer", "4mb"],
      ...options,
    });
    const guard = new Guard(cluster);
    try {
      await guard.preload();
      for (const t of guard.targets) {
        guard.pids.set(t.name, t.process.pid as number);
        guard.baseline.set(t.name, await memoryOf(t));
      }
      guard.markLogs();
      guard.canaryLoop = guard.runCanary();
    } catch (err) {
      await guard.stop();
      throw err;
    }
    return guard;
  }

  /** The master handle (its HTTP port, URLs). */
  get master() {
    return this.cluster.master();
  }

  target(name: string): Target {
    const t = this.targets.find((x) => x.name === name);
    if (t === undefined) throw new Error(`no target ${name}`);
    return t;
  }

  private async preload(): Promise<void> {
    const pipeline = this.canary.pipeline();
    for (let i = 0; i < PRELOAD_KEYS; i++) {
      const key = `pre:${i}`;
      // Binary values of varied sizes, so a corruption of any byte would show.
      const value = Buffer.alloc(16 + ((i * 37) % 600), (i * 7) & 0xff);
      value.writeUInt32BE(i, 0);
      this.preloaded.set(key, value);
      pipeline.set(key, value);
    }
    const results = await pipeline.exec();
    assert.ok(results !== null && results.every(([err]) => err === null), "preload failed");
  }

  private async runCanary(): Promise<void> {
    let i = 0;
    while (this.canaryRunning) {
      const key = `canary:${i % 50}`;
      const value = `canary-${i}`;
      try {
        await this.canary.set(key, value);
        const got = await this.canary.get(key);
        if (got !== value)
          this.canaryErrors.push(`GET ${key} returned ${String(got)}, not ${value}`);
        this.canaryOps += 2;
      } catch (err) {
        this.canaryErrors.push(err instanceof Error ? err.message : String(err));
      }
      i++;
      await sleep(10);
    }
  }

  private markLogs(): void {
    for (const t of this.targets) this.logOffsets.set(t.name, t.process.logText().length);
  }

  /** Asserts the pass rule for the case just run, then starts the next case's window. */
  async check(label: string): Promise<void> {
    for (const t of this.targets) {
      assert.ok(t.process.running, `${label}: ${t.name} is not running`);
      assert.equal(t.process.pid, this.pids.get(t.name), `${label}: ${t.name} changed its PID`);
      const log = t.process.logText().slice(this.logOffsets.get(t.name) ?? 0);
      const bad = log
        .split("\n")
        .filter((l) => /uncaught|unhandled|"level":(50|60)/i.test(l) || /^\s+at /.test(l));
      assert.deepEqual(bad, [], `${label}: ${t.name} logged errors`);
    }
    // The canary keeps going during the checks below; give it a few more round trips.
    const opsBefore = this.canaryOps;
    await waitFor(`${label}: canary progress`, () => this.canaryOps >= opsBefore + 4, {
      timeoutMs: 5000,
    });
    const canaryErrors = this.canaryErrors;
    this.canaryErrors = [];
    assert.deepEqual(canaryErrors, [], `${label}: the canary saw errors`);
    for (const t of this.targets) {
      const base = this.baseline.get(t.name) as Memory;
      let last: Memory = base;
      try {
        await waitFor(
          `${label}: ${t.name} memory to return to its baseline`,
          async () => {
            last = await memoryOf(t);
            return last.heap <= base.heap + HEAP_TOLERANCE && last.rss <= base.rss + RSS_TOLERANCE;
          },
          { timeoutMs: 15_000, intervalMs: 200 },
        );
      } catch (err) {
        const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
        throw new Error(
          `${(err as Error).message}: heap+external ${mb(last.heap)} (baseline ${mb(base.heap)}), ` +
            `rss ${mb(last.rss)} (baseline ${mb(base.rss)})`,
          { cause: err },
        );
      }
    }
    const keys = [...this.preloaded.keys()];
    const values = await this.canary.mgetBuffer(keys);
    keys.forEach((key, i) => {
      assert.ok(
        values[i]?.equals(this.preloaded.get(key) as Buffer) === true,
        `${label}: preloaded ${key} changed`,
      );
    });
    this.markLogs();
  }

  async stop(): Promise<void> {
    this.canaryRunning = false;
    await this.canaryLoop;
    this.canary.disconnect();
    await this.cluster.stop();
  }
}

/** What a raw connection received, and whether the server closed it. */
export interface Exchange {
  readonly data: Buffer;
  readonly closed: boolean;
}

/**
 * Opens a connection, sends `bytes` (in one write), and collects what comes back until the
 * server closes the connection or `waitMs` passes without it closing.
 */
export async function exchange(
  port: number,
  bytes: Buffer | string,
  waitMs = 1000,
): Promise<Exchange> {
  const socket = connect({ port, host: "127.0.0.1" });
  const chunks: Buffer[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.once("connect", () => socket.write(bytes));
  });
}

/** Opens `count` connections to a port, `batch` at a time. */
export async function openSockets(port: number, count: number, batch = 100): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(
      Array.from(
        { length: Math.min(batch, count - i) },
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect({ port, host: "127.0.0.1" });
            s.once("connect", () => resolve(s));
            s.once("error", reject);
          }),
      ),
    );
    for (const s of opened) s.on("error", () => undefined);
    sockets.push(...opened);
  }
  return sockets;
}

/** Destroys sockets and waits until the server has seen them close. */
export async function closeSockets(sockets: readonly Socket[]): Promise<void> {
  for (const s of sockets) s.destroy();
  await sleep(100);
}

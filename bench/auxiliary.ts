// Benchmark of one auxiliary node against redis-server, measured in the same run so the
// ratios hold on a shared machine. Run: `npm run bench:auxiliary` (or, after a build,
// `node dist/bench/auxiliary.js`; RUNS=5 for more repetitions, SKIP=throughput,memory,...).
//
//   throughput  redis-benchmark -c 50 -d 100 -r 100000 -t set|get at pipeline 1 and 16,
//               alternating node and redis, median of RUNS runs each; target >= 0.9x at P1
//               and >= 0.7x at P16
//   memory      RSS after loading 1M keys of 100-byte values (same keys into both);
//               target <= 1.5x redis
//   snapshot    BGSAVE of those 1M entries while 4 clients GET random keys one at a time:
//               the snapshot's duration and the GETs' p99 latency during it (target < 5 ms)
//   restore     restart of the node: entries restored per second (target >= 1M/s)
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { RespWriter } from "../src/protocol/resp/index.js";
import { startAuxiliary, type AuxiliaryHandle } from "../test/helpers/auxiliary.js";
import { startRedisServer, type RedisServer } from "../test/helpers/redis-server.js";
import { RespTestClient } from "../test/helpers/resp-client.js";
import { which } from "../test/helpers/tools.js";

const run = promisify(execFile);
const RUNS = Number(process.env["RUNS"] ?? 3);
const SKIP = new Set((process.env["SKIP"] ?? "").split(",").filter((s) => s !== ""));
const ENTRIES = Number(process.env["ENTRIES"] ?? 1_000_000);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1
    ? (s[mid] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function percentile(xs: number[], p: number): number {
  xs.sort((a, b) => a - b);
  return xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? 0;
}

async function redisBenchmark(port: number, test: string, pipeline: number): Promise<number> {
  const bin = which("redis-benchmark");
  if (bin === undefined)
    throw new Error("redis-benchmark is not installed (apt-get install redis-tools)");
  const n = pipeline === 1 ? 200_000 : 1_000_000;
  const args = ["-p", String(port), "-c", "50", "-d", "100", "-r", "100000"];
  args.push("-t", test, "-n", String(n), "-P", String(pipeline), "--csv");
  const { stdout } = await run(bin, args);
  const line = stdout.trim().split("\n").at(-1) ?? "";
  const rps = Number(line.split(",")[1]?.replaceAll('"', ""));
  if (!Number.isFinite(rps)) throw new Error(`cannot read redis-benchmark output: ${stdout}`);
  return rps;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

const key = (i: number): string => `key:${String(i).padStart(12, "0")}`;

/** SETs ENTRIES keys with 100-byte values, 10,000 per pipelined batch. */
async function load(port: number): Promise<void> {
  const client = await RespTestClient.connect(port);
  const value = Buffer.alloc(100, 0x78);
  try {
    for (let start = 0; start < ENTRIES; start += 10_000) {
      const w = new RespWriter();
      const end = Math.min(ENTRIES, start + 10_000);
      for (let i = start; i < end; i++) w.command(["SET", key(i), value]);
      await client.send(w.take(), end - start);
    }
  } finally {
    client.close();
  }
}

async function throughput(node: AuxiliaryHandle, redis: RedisServer): Promise<void> {
  console.log(`\nThroughput: redis-benchmark -c 50 -d 100 -r 100000, median of ${RUNS} runs`);
  console.log("| test | pipeline | auxiliary node (req/s) | redis-server (req/s) | ratio |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const pipeline of [1, 16]) {
    for (const test of ["set", "get"]) {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        ours.push(await redisBenchmark(node.port, test, pipeline));
        theirs.push(await redisBenchmark(redis.port, test, pipeline));
      }
      const a = median(ours);
      const b = median(theirs);
      console.log(
        `| ${test.toUpperCase()} | ${pipeline} | ${Math.round(a)} | ${Math.round(b)} | ${(a / b).toFixed(2)}x |`,
      );
    }
  }
}

async function memoryAndSnapshot(): Promise<void> {
  const node = await startAuxiliary({
    id: "bench",
    args: ["--max-memory", "2gb", "--snapshot-interval", "1h", "--log-level", "info"],
  });
  const redis = await startRedisServer();
  try {
    if (!SKIP.has("memory")) {
      const baseNode = rssOf(node.process.pid as number);
      const baseRedis = rssOf(redis.process.pid as number);
      await load(node.port);
      await load(redis.port);
      await new Promise((r) => setTimeout(r, 2000));
      const a = rssOf(node.process.pid as number);
      const b = rssOf(redis.process.pid as number);
      const mb = (n: number): string => (n / 1024 / 1024).toFixed(0);
      console.log(`\nMemory after loading ${ENTRIES} keys of 100-byte values (RSS)`);
      console.log("| | auxiliary node | redis-server | ratio |");
      console.log("| --- | ---: | ---: | ---: |");
      console.log(`| RSS, MiB | ${mb(a)} | ${mb(b)} | ${(a / b).toFixed(2)}x |`);
      console.log(`| RSS at start, MiB | ${mb(baseNode)} | ${mb(baseRedis)} | |`);
      console.log(
        `| bytes per entry over start | ${Math.round((a - baseNode) / ENTRIES)} | ${Math.round((b - baseRedis) / ENTRIES)} | ${((a - baseNode) / (b - baseRedis)).toFixed(2)}x |`,
      );
    } else {
      await load(node.port);
    }
    if (SKIP.has("snapshot")) return;

    // GET latency while a snapshot of everything is written.
    const probes = await Promise.all([1, 2, 3, 4].map(() => RespTestClient.connect(node.port)));
    const control = await RespTestClient.connect(node.port);
    const latencies: number[] = [];
    let snapshotting = true;
    const probe = async (c: RespTestClient): Promise<void> => {
      while (snapshotting) {
        const k = key(Math.floor(Math.random() * ENTRIES));
        const t = performance.now();
        await c.call("GET", k);
        latencies.push(performance.now() - t);
      }
    };
    const before = node.logEntries().length;
    const running = probes.map(probe);
    await new Promise((r) => setTimeout(r, 200));
    const idleLatencies = latencies.splice(0);
    await control.call("BGSAVE");
    let written: Record<string, unknown> | undefined;
    while (written === undefined) {
      await new Promise((r) => setTimeout(r, 20));
      written = node
        .logEntries()
        .slice(before)
        .find((e) => e["msg"] === "snapshot written");
    }
    snapshotting = false;
    await Promise.all(running);
    for (const c of [...probes, control]) c.close();
    const duration = Number(written["durationMs"]);
    console.log(
      `\nSnapshot of ${String(written["entries"])} entries (${(Number(written["bytes"]) / 1024 / 1024).toFixed(0)} MiB file)`,
    );
    console.log("| duration | GETs during it | p50 | p99 | max | p99 before it |");
    console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const max = percentile(latencies, 100);
    console.log(
      `| ${(duration / 1000).toFixed(2)} s | ${latencies.length} | ${p50.toFixed(2)} ms | ${p99.toFixed(2)} ms | ${max.toFixed(2)} ms | ${percentile(idleLatencies, 99).toFixed(2)} ms |`,
    );

    if (SKIP.has("restore")) return;
    const rates: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      await node.restart(120_000);
      const restored = node
        .logEntries()
        .filter((e) => e["msg"] === "snapshot restored")
        .at(-1);
      const entries = Number(restored?.["applied"]);
      const ms = Number(restored?.["durationMs"]);
      rates.push(entries / (ms / 1000));
    }
    console.log(`\nRestore at start (verify whole file, then apply), median of ${RUNS}`);
    console.log(`| entries/s | ${Math.round(median(rates))} |`);
    console.log("| --- | ---: |");
  } finally {
    await node.destroy();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  console.log(`ringcache auxiliary node vs redis-server (node ${process.versions.node})`);
  if (!SKIP.has("throughput")) {
    const node = await startAuxiliary({
      id: "bench",
      args: ["--max-memory", "1gb", "--log-level", "warn"],
    });
    const redis = await startRedisServer();
    try {
      await throughput(node, redis);
    } finally {
      await node.destroy();
      await redis.stop();
    }
  }
  if (!SKIP.has("memory") || !SKIP.has("snapshot")) await memoryAndSnapshot();
}

await main();

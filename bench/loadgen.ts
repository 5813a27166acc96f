// How much load can `ringcache bench` generate, and does it measure like redis-benchmark?
// Both tools load the same redis-server in the same run (50 connections, 100-byte values,
// 100k random keys; GET and SET; pipeline 1 and 16), several times each; the table shows the
// median and the ratio ringcache bench / redis-benchmark. A ratio near 1 means the generator
// is not what limits a comparison; the server is.
//
// Also times the latency histogram's record() in the pure-JS and the WebAssembly build of
// hdr-histogram-js, the measurement behind using the JS build (src/loadgen/stats.ts), and what
// recording one reply costs (Stats.reply).
//
//   npm run bench:loadgen [-- seconds-per-run repetitions]      (default 3 s, 3 repetitions)
import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import hdr from "hdr-histogram-js";
import type { BenchReport } from "../src/loadgen/report.js";
import { Stats } from "../src/loadgen/stats.js";
import { REPLY_OK } from "../src/loadgen/wire.js";
import { OP_GET, OP_SET } from "../src/loadgen/workload.js";
import { freePort } from "./support.js";

const ROOT = join(import.meta.dirname, "..", "..");
const SECONDS = Number(process.argv[2] ?? 3);
const REPS = Number(process.argv[3] ?? 3);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function has(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function histogramRecord(): Promise<void> {
  await hdr.initWebAssembly();
  const values = new Float64Array(1 << 20);
  for (let i = 0; i < values.length; i++)
    values[i] = Math.floor(20 + Math.random() * Math.random() * 5000);
  const rates: Record<string, number[]> = { js: [], wasm: [] };
  for (let rep = 0; rep < 5; rep++) {
    for (const wasm of [false, true]) {
      const h = hdr.build({
        useWebAssembly: wasm,
        lowestDiscernibleValue: 1,
        highestTrackableValue: 60_000_000,
        numberOfSignificantValueDigits: 3,
      });
      const started = performance.now();
      for (let r = 0; r < 4; r++)
        for (let i = 0; i < values.length; i++) h.recordValue(values[i] ?? 0);
      const ms = performance.now() - started;
      rates[wasm ? "wasm" : "js"]?.push((4 * values.length) / ms / 1000);
      h.destroy();
    }
  }
  console.log("HDR histogram recordValue, millions per second (median of 5):");
  console.log(`  js    ${median(rates["js"] ?? []).toFixed(1)}`);
  console.log(`  wasm  ${median(rates["wasm"] ?? []).toFixed(1)}`);
}

/** What recording one reply costs the generator (counters, histogram, timeline). */
function statsReply(): void {
  const latencies = new Float64Array(1 << 16);
  for (let i = 0; i < latencies.length; i++)
    latencies[i] = 300 + Math.random() * Math.random() * 2000;
  const rates: number[] = [];
  const replies = 5_000_000;
  for (let rep = 0; rep < 5; rep++) {
    const stats = new Stats(100);
    stats.start(0);
    const started = performance.now();
    for (let i = 0; i < replies; i++) {
      stats.reply(i % 10 === 0 ? OP_SET : OP_GET, REPLY_OK, latencies[i & 0xffff] ?? 0);
      if ((i & 0x3ffff) === 0) stats.tick(i); // an interval every 262k replies
    }
    stats.finish(replies);
    rates.push(replies / (performance.now() - started) / 1000);
  }
  console.log(`\nStats.reply, millions per second (median of 5): ${median(rates).toFixed(2)}`);
}

interface Figures {
  readonly rps: number;
  readonly p50: number; // ms
  readonly p99: number; // ms
}

function redisBenchmark(port: number, op: "get" | "set", pipeline: number, rps: number): Figures {
  // redis-benchmark counts requests, not time: size the run from the expected rate.
  const requests = Math.max(50_000, Math.round(rps * SECONDS));
  const csv = execFileSync(
    "redis-benchmark",
    [
      "-p",
      String(port),
      "-c",
      "50",
      "-d",
      "100",
      "-r",
      "100000",
      "-P",
      String(pipeline),
      "-n",
      String(requests),
      "-t",
      op,
      "--csv",
    ],
    { encoding: "utf8" },
  );
  const row = csv.trim().split("\n").pop() ?? "";
  const cells = row.split(",").map((c) => Number(c.replace(/"/g, "")));
  return { rps: cells[1] ?? 0, p50: cells[4] ?? 0, p99: cells[6] ?? 0 };
}

async function ringcacheBench(port: number, op: "get" | "set", pipeline: number): Promise<Figures> {
  const args = [
    join(ROOT, "bin", "ringcache.js"),
    "bench",
    "--target",
    `127.0.0.1:${port}`,
    "--connections",
    "50",
    "--pipeline",
    String(pipeline),
    "--value-size",
    "100",
    "--keyspace",
    "100000",
    "--read-ratio",
    op === "get" ? "1" : "0",
    "--duration",
    `${SECONDS}s`,
    "--json",
  ];
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`ringcache bench exited ${code}`)),
    );
  });
  const report = JSON.parse(stdout) as BenchReport;
  const all = report.latencyUs.all;
  return { rps: report.opsPerSec, p50: (all?.p50 ?? 0) / 1000, p99: (all?.p99 ?? 0) / 1000 };
}

async function generators(): Promise<void> {
  if (!has("redis-server") || !has("redis-benchmark")) {
    console.log(
      "\nskipping the generator comparison: needs redis-server and redis-benchmark (apt-get install -y redis-server redis-tools)",
    );
    return;
  }
  const port = await freePort();
  const redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  );
  try {
    await sleep(300);
    console.log(
      `\nGenerators against one redis-server, ${SECONDS} s per run, median of ${REPS} (ms latencies):`,
    );
    console.log(
      "op   pipeline  redis-benchmark req/s  p50    p99    | ringcache bench req/s  p50    p99    | ratio",
    );
    for (const pipeline of [1, 16]) {
      for (const op of ["set", "get"] as const) {
        const peer: Figures[] = [];
        const ours: Figures[] = [];
        for (let rep = 0; rep < REPS; rep++) {
          // Alternate the tools so that load from elsewhere on the machine hits both alike.
          const mine = await ringcacheBench(port, op, pipeline);
          ours.push(mine);
          peer.push(redisBenchmark(port, op, pipeline, mine.rps));
        }
        const p = {
          rps: median(peer.map((f) => f.rps)),
          p50: median(peer.map((f) => f.p50)),
          p99: median(peer.map((f) => f.p99)),
        };
        const o = {
          rps: median(ours.map((f) => f.rps)),
          p50: median(ours.map((f) => f.p50)),
          p99: median(ours.map((f) => f.p99)),
        };
        const ratios = ours.map((f, i) => f.rps / (peer[i]?.rps ?? 1));
        console.log(
          `${op.toUpperCase().padEnd(4)} ${String(pipeline).padStart(8)}  ${Math.round(p.rps).toLocaleString("en-US").padStart(21)}  ${p.p50.toFixed(3)}  ${p.p99.toFixed(3)}  | ${Math.round(o.rps).toLocaleString("en-US").padStart(21)}  ${o.p50.toFixed(3)}  ${o.p99.toFixed(3)}  | ${median(ratios).toFixed(2)}`,
        );
      }
    }
  } finally {
    redis.kill("SIGKILL");
  }
}

await histogramRecord();
statsReply();
await generators();

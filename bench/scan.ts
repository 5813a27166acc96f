// SCAN through a master: one master (R = 2) in front of 3 auxiliary nodes holding 1M keys.
//
//   node dist/bench/scan.js [--keys 1000000] [--rounds 3] [--requests 100000]
//   (npm run bench:scan builds first)
//
//   walk        a full SCAN with COUNT 1000 (this process as the client) and `redis-cli --scan`
//               (COUNT 10, Redis's default): keys returned, calls, time, and the master's RSS
//               sampled every 20 ms (its peak during the walk against before it): the master
//               must stream, never hold a node's keyspace
//   throughput  redis-benchmark -c 50 at pipeline 1 and 16: `SCAN <random cursor>` (COUNT
//               10, from a random bucket: -r 65536 SCAN __rand_int__) against GET of the
//               loaded keys, alternating, median of the rounds; target SCAN >= 0.9x GET. The
//               same against a redis-server holding the same keys, for reference: a SCAN
//               carries about ten keys where a GET carries one value, in Redis too.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { RespWriter } from "../src/protocol/resp/index.js";
import { RespTestClient } from "../test/helpers/resp-client.js";
import { freePort, waitPort, waitReady, which } from "./support.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "ringcache.js");

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const KEYS = option("--keys", 1_000_000);
const ROUNDS = option("--rounds", 3);
const REQUESTS = option("--requests", 100_000);

const children: ChildProcess[] = [];
function start(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: "ignore" });
  children.push(child);
  return child;
}

/** A process's resident memory now, in MB (VmRSS). */
function rssMb(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(line?.[1] ?? 0) / 1024;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** redis-benchmark's key for GET: `key:` and 12 digits (its __rand_int__). */
const keyOf = (i: number): string => `key:${String(i).padStart(12, "0")}`;

/** Loads the keys through `port`, pipelined 1000 at a time, 16-byte values. */
async function load(port: number): Promise<void> {
  const client = await RespTestClient.connect(port);
  for (let at = 0; at < KEYS; at += 1000) {
    const w = new RespWriter();
    const n = Math.min(1000, KEYS - at);
    for (let i = at; i < at + n; i++) w.command(["SET", keyOf(i), "value-0123456789"]);
    await client.send(w.take(), n);
  }
  client.close();
}

function benchmark(port: number, pipeline: number, command: "get" | "scan"): number {
  const requests = pipeline === 1 ? REQUESTS : REQUESTS * 4;
  const common = ["-h", "127.0.0.1", "-p", String(port), "-c", "50", "-P", String(pipeline)];
  const args =
    command === "get"
      ? [...common, "-n", String(requests), "-r", String(KEYS), "-t", "get", "--csv"]
      : [...common, "-n", String(requests), "-r", "65536", "--csv", "SCAN", "__rand_int__"];
  const r = spawnSync("redis-benchmark", args, { encoding: "utf8" });
  for (const line of r.stdout.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    if (cells.length > 2 && /^(GET|SCAN)/.test(cells[0] as string)) return Number(cells[1]);
  }
  throw new Error(`redis-benchmark gave no figures:\n${r.stdout}\n${r.stderr}`);
}

async function main(): Promise<void> {
  for (const tool of ["redis-benchmark", "redis-cli", "redis-server"]) {
    if (which(tool) === undefined) {
      console.error(`needs ${tool} (apt-get install -y redis-tools)`);
      process.exit(2);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), "ringcache-scan-"));
  process.on("exit", () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const aux: { id: string; port: number }[] = [];
  for (let i = 1; i <= 3; i++) {
    const id = `a${i}`;
    const port = await freePort();
    const http = await freePort();
    start([
      "auxiliary",
      ...["--id", id, "--port", String(port), "--http-port", String(http)],
      ...["--data-dir", join(dir, id), "--log-level", "warn", "--max-memory", "1gb"],
      ...["--snapshot-interval", "1h"],
    ]);
    await waitReady(`http://127.0.0.1:${http}/readyz`);
    aux.push({ id, port });
  }
  const port = await freePort();
  const http = await freePort();
  const master = start([
    "master",
    ...["--id", "m1", "--port", String(port), "--http-port", String(http)],
    ...["--data-dir", join(dir, "m1"), "--log-level", "warn", "--replicas", "2"],
    ...["--auxiliary", aux.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",")],
  ]);
  await waitReady(`http://127.0.0.1:${http}/readyz`);
  const pid = master.pid as number;

  const loadStarted = performance.now();
  await load(port);
  const client = await RespTestClient.connect(port);
  process.stderr.write(
    `loaded ${KEYS} keys in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s; ` +
      `DBSIZE ${String(await client.call("DBSIZE"))}\n`,
  );

  // The walk, COUNT 1000, with the master's RSS sampled meanwhile.
  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 20);
  const walkStarted = performance.now();
  let cursor = "0";
  let calls = 0;
  let returned = 0;
  do {
    const [next, keys] = (await client.call("SCAN", cursor, "COUNT", 1000)) as [Buffer, Buffer[]];
    calls++;
    returned += keys.length;
    cursor = next.toString();
  } while (cursor !== "0");
  const walkMs = performance.now() - walkStarted;
  clearInterval(sampler);
  peak = Math.max(peak, rssMb(pid));
  client.close();

  // redis-cli --scan: COUNT 10, every key printed.
  const cliStarted = performance.now();
  const cli = spawnSync("redis-cli", ["-p", String(port), "--scan"], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
  });
  const cliMs = performance.now() - cliStarted;
  const cliKeys = cli.stdout.split("\n").filter((l) => l !== "").length;

  // Throughput: SCAN from random cursors against GET, alternating, and the same on Redis.
  const redisPort = await freePort();
  const redis = spawn(
    "redis-server",
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  children.push(redis);
  await waitPort(redisPort);
  await load(redisPort);
  benchmark(port, 16, "get");
  const figures = new Map<string, number[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const p of [1, 16]) {
      for (const [target, at] of [
        ["ringcache", port],
        ["redis", redisPort],
      ] as const) {
        for (const command of ["get", "scan"] as const) {
          const rps = benchmark(at, p, command);
          const key = `${target} ${command} P${p}`;
          figures.set(key, [...(figures.get(key) ?? []), rps]);
          process.stderr.write(`round ${round} ${key}: ${rps.toFixed(0)}/s\n`);
        }
      }
    }
  }
  const rate = (k: string): number => median(figures.get(k) ?? []);
  console.log(
    [
      `| walk | keys returned | calls | time | keys/s | master RSS before → peak |`,
      `| --- | ---: | ---: | ---: | ---: | --- |`,
      `| SCAN COUNT 1000 | ${returned} | ${calls} | ${(walkMs / 1000).toFixed(1)} s | ` +
        `${((returned / walkMs) * 1000).toFixed(0)} | ${before.toFixed(0)} → ${peak.toFixed(0)} MB |`,
      `| redis-cli --scan (COUNT 10) | ${cliKeys} | | ${(cliMs / 1000).toFixed(1)} s | ` +
        `${((cliKeys / cliMs) * 1000).toFixed(0)} | |`,
      "",
      `| target | pipeline | GET req/s | SCAN req/s | SCAN / GET (target >= 0.9) |`,
      `| --- | ---: | ---: | ---: | ---: |`,
      ...["ringcache", "redis"].flatMap((t) =>
        [1, 16].map(
          (p) =>
            `| ${t} | ${p} | ${rate(`${t} get P${p}`).toFixed(0)} | ` +
            `${rate(`${t} scan P${p}`).toFixed(0)} | ` +
            `${(rate(`${t} scan P${p}`) / rate(`${t} get P${p}`)).toFixed(2)} |`,
        ),
      ),
    ].join("\n"),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

// Side by side with the peers a ringcache cluster replaces, measured in one run with the same
// load generators (redis-benchmark and `ringcache bench`): 50 connections, 100-byte values,
// random keys over 100k, GET and SET, pipeline 1 and 16.
//
//   1. redis-server alone
//   2. twemproxy (nutcracker, ketama) in front of 3 redis-servers
//   3. NGINX stream round-robin over 2 twemproxies in front of the same 3 redis-servers
//   4. one ringcache master in front of 3 auxiliary nodes, R=1 and R=2
//   5. NGINX over 2 ringcache masters in front of the same 3 auxiliary nodes (R=2, the default
//      topology; R=1 too, to compare like with like against twemproxy, which keeps one copy)
//
// and HTTP GET through NGINX -> master -> auxiliary against a bare node:http server answering
// from a Map behind the same NGINX configuration.
//
//   node dist/bench/compare.js [--rounds 3] [--requests 100000] [--duration 2s] [--no-write]
//                              [--profile DIR] [--only resp|http]
//
// Rounds interleave the targets so that a machine shared with other work slows them alike; the
// table shows each figure's median over the rounds. The result replaces the section
// "## Comparison with peers" of docs/benchmarks.md (unless --no-write). With --profile, every
// master and auxiliary node runs under `node --cpu-prof` and leaves its profile in DIR. --only
// measures one half (the RESP targets, or HTTP GET) and writes nothing.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { cpus, tmpdir, totalmem, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { renderNginxConfig, type Upstream } from "../src/local/nginx.js";
import { freePort, HOST, waitPort, waitReady, which } from "./support.js";

const ROOT = resolve(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "bin", "ringcache.js");
const DOC = join(ROOT, "docs", "benchmarks.md");
const SECTION = "## Comparison with peers";
/** Heading of the section's hand-written notes, which a new run keeps. */
const NOTES = "### What the profiles show";
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

interface Options {
  rounds: number;
  /** Requests per redis-benchmark test at pipeline 1 (x4 at pipeline 16). */
  requests: number;
  /** Length of each `ringcache bench` cell. */
  duration: string;
  write: boolean;
  profile: string | undefined;
  only: "resp" | "http" | undefined;
}

const USAGE =
  "usage: compare [--rounds N] [--requests N] [--duration 2s] [--no-write] [--profile DIR] [--only resp|http]";

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    rounds: 3,
    requests: 100_000,
    duration: "2s",
    write: true,
    profile: undefined,
    only: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value; ${USAGE}`);
      return v;
    };
    if (a === "--rounds") o.rounds = Number(next());
    else if (a === "--requests") o.requests = Number(next());
    else if (a === "--duration") o.duration = next();
    else if (a === "--no-write") o.write = false;
    else if (a === "--profile") o.profile = resolve(next());
    else if (a === "--only") {
      const v = next();
      if (v !== "resp" && v !== "http") fail(`--only takes resp or http; ${USAGE}`);
      o.only = v;
      o.write = false;
    } else fail(`unknown argument ${a}; ${USAGE}`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) fail(`--rounds must be a positive integer`);
  if (!Number.isInteger(o.requests) || o.requests < 1000) fail(`--requests must be >= 1000`);
  return o;
}

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Tools and processes

const PACKAGES: Readonly<Record<string, string>> = {
  "redis-server": "redis-server",
  "redis-benchmark": "redis-tools",
  nutcracker: "nutcracker",
  nginx: "nginx",
};

interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Node processes under --cpu-prof must exit on their own to write the profile. */
  readonly graceful: boolean;
}

const children: Child[] = [];

function start(name: string, command: string, args: readonly string[], graceful = false): void {
  // Both streams, the last 4000 characters: redis-server says why it stopped on its standard
  // output.
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  const keep = (d: Buffer): void => {
    err = (err + d.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.once("exit", (code, signal) => {
    if (!stopping) console.error(`${name} exited early (${code ?? signal}): ${err.trim()}`);
  });
  children.push({ name, process: child, graceful });
}

let stopping = false;

function alive(c: Child): boolean {
  return c.process.exitCode === null && c.process.signalCode === null;
}

async function stopAll(): Promise<void> {
  stopping = true;
  const gentle = children.filter((c) => c.graceful && alive(c));
  for (const c of gentle) c.process.kill("SIGTERM");
  const deadline = Date.now() + 20_000;
  while (gentle.some(alive) && Date.now() < deadline) await sleep(100);
  for (const c of children) if (alive(c)) c.process.kill("SIGKILL");
}

function killAllNow(): void {
  for (const c of children) if (alive(c)) c.process.kill(c.graceful ? "SIGTERM" : "SIGKILL");
}

// ---------------------------------------------------------------------------------------------
// Measurements

type Op = "SET" | "GET";
type Tool = "redis-benchmark" | "ringcache bench";
const OPS: readonly Op[] = ["SET", "GET"];
const PIPELINES = [1, 16] as const;
const TOOLS: readonly Tool[] = ["redis-benchmark", "ringcache bench"];

interface Figure {
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
}

/** One redis-benchmark run of SET then GET. */
function redisBenchmark(port: number, pipeline: number, requests: number): Record<Op, Figure> {
  const r = spawnSync(
    "redis-benchmark",
    [
      ...["-h", HOST, "-p", String(port), "-c", "50", "-d", "100", "-r", "100000"],
      ...["-t", "set,get", "-n", String(requests), "-P", String(pipeline), "--csv"],
    ],
    { encoding: "utf8", timeout: 120_000 },
  );
  const out: Partial<Record<Op, Figure>> = {};
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  for (const line of r.stdout.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    const test = cells[0];
    if (test === "SET" || test === "GET") {
      out[test] = { rps: Number(cells[1]), p50: Number(cells[4]), p99: Number(cells[6]) };
    }
  }
  if (out.SET === undefined || out.GET === undefined) {
    throw new Error(`redis-benchmark against ${port} gave no figures:\n${r.stdout}\n${r.stderr}`);
  }
  return out as Record<Op, Figure>;
}

interface BenchReport {
  opsPerSec: number;
  totals: { errors: number; misses: number; requests: number };
  latencyUs: { all: { p50: number; p99: number } | null };
}

/** One `ringcache bench --json` run: only reads or only writes. */
function ringcacheBench(
  protocol: "resp" | "http",
  port: number,
  pipeline: number,
  op: Op,
  duration: string,
  warmup: boolean,
): Figure & { errors: number; misses: number } {
  const r = spawnSync(
    process.execPath,
    [
      BIN,
      "bench",
      ...["--protocol", protocol, "--target", `${HOST}:${port}`, "--duration", duration],
      ...["--connections", "50", "--pipeline", String(pipeline), "--keyspace", "100000"],
      ...["--value-size", "100", "--read-ratio", op === "GET" ? "1" : "0"],
      ...[warmup ? "--warmup" : "--no-warmup", "--no-progress", "--json"],
    ],
    { encoding: "utf8", timeout: 180_000, maxBuffer: 64 * 1024 * 1024 },
  );
  let report: BenchReport;
  try {
    report = JSON.parse(r.stdout) as BenchReport;
  } catch {
    throw new Error(`ringcache bench against ${port} gave no report:\n${r.stderr}`);
  }
  const all = report.latencyUs.all;
  return {
    rps: report.opsPerSec,
    p50: (all?.p50 ?? 0) / 1000,
    p99: (all?.p99 ?? 0) / 1000,
    errors: report.totals.errors,
    misses: report.totals.misses,
  };
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

class Samples {
  private readonly map = new Map<string, Figure[]>();
  add(key: string, f: Figure): void {
    const list = this.map.get(key);
    if (list === undefined) this.map.set(key, [f]);
    else list.push(f);
  }
  median(key: string): Figure {
    const xs = this.map.get(key) ?? [];
    return {
      rps: median(xs.map((x) => x.rps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
    };
  }
  /**
   * The median over the rounds of a's figure / b's figure in the same round: the two were
   * measured moments apart, so a load swing between rounds moves both.
   */
  ratio(a: string, b: string, what: keyof Figure): number {
    const xs = this.map.get(a) ?? [];
    const ys = this.map.get(b) ?? [];
    const rs: number[] = [];
    for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
      const y = (ys[i] as Figure)[what];
      if (y > 0) rs.push((xs[i] as Figure)[what] / y);
    }
    return rs.length === 0 ? Number.NaN : median(rs);
  }
}

const cell = (target: string, tool: Tool, p: number, op: Op): string =>
  `${target}|${tool}|${p}|${op}`;

// ---------------------------------------------------------------------------------------------
// The bare HTTP peer: a Map behind node:http, answering the same /v1/keys/{key} interface.

function serveMap(port: number): void {
  const map = new Map<string, Buffer>();
  const server = createHttpServer((req, res) => {
    const url = req.url ?? "";
    if (!url.startsWith("/v1/keys/")) {
      res.statusCode = url === "/readyz" ? 200 : 404;
      res.end();
      return;
    }
    const key = decodeURIComponent(url.slice(9).split("?")[0] ?? "");
    if (req.method === "GET") {
      const v = map.get(key);
      if (v === undefined) {
        res.statusCode = 404;
        res.end();
      } else {
        res.setHeader("content-type", "application/octet-stream");
        res.end(v);
      }
    } else if (req.method === "PUT") {
      const parts: Buffer[] = [];
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => {
        map.set(key, Buffer.concat(parts));
        res.statusCode = 204;
        res.end();
      });
    } else {
      res.statusCode = 405;
      res.end();
    }
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, HOST);
}

// ---------------------------------------------------------------------------------------------

function machine(): string {
  const cpu = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  const redis = spawnSync("redis-server", ["--version"], { encoding: "utf8" }).stdout.trim();
  const nginx = spawnSync(which("nginx") ?? "nginx", ["-v"], { encoding: "utf8" }).stderr.trim();
  const nc = spawnSync(which("nutcracker") ?? "nutcracker", ["--version"], { encoding: "utf8" });
  const ncVersion = ((nc.stdout + nc.stderr).trim().split("\n")[0] ?? "").replace(/^This is /, "");
  return [
    `CPU ${cpu[0]?.model.trim() ?? "unknown"}, ${cpu.length} cores, ${gib} GiB memory,`,
    `Node ${process.version}, ${redis.split(" ").slice(0, 3).join(" ")}, ${nginx.replace("nginx version: ", "")},`,
    `${ncVersion}; ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC.`,
  ].join(" ");
}

function nginxConfig(
  prefix: string,
  resp: readonly Upstream[],
  http: readonly Upstream[],
  respPort: number,
  httpPort: number,
): string {
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    renderNginxConfig({
      resp,
      http,
      listenHost: HOST,
      respPort,
      httpPort,
      maxBodyBytes: 8 * 1024 * 1024,
      prefix,
      foreground: true,
      ...(existsSync(STREAM_MODULE) ? { streamModule: STREAM_MODULE } : {}),
      ...(process.getuid?.() === 0 ? { user: "root" } : {}),
    }),
  );
  return conf;
}

interface Target {
  readonly id: string;
  readonly name: string;
  readonly port: number;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const missing = Object.keys(PACKAGES).filter((t) => which(t) === undefined);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((t) => PACKAGES[t]))].join(" ");
    fail(`needs ${missing.join(", ")}: install with apt-get install -y ${pkgs}`);
  }
  const nginx = which("nginx") as string;
  const dir = mkdtempSync(join(tmpdir(), "ringcache-compare-"));
  process.on("exit", () => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));
  if (o.profile !== undefined) mkdirSync(o.profile, { recursive: true });
  const nodeArgs = o.profile === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", o.profile, BIN];
  const node = (name: string, args: readonly string[]): void =>
    start(name, process.execPath, [...(nodeArgs.length > 0 ? nodeArgs : [BIN]), ...args], true);

  // 1-3: redis-servers, twemproxies, NGINX over the twemproxies (its http side fronts the Map)
  const redisAlone = await freePort();
  const redisPorts = [await freePort(), await freePort(), await freePort()];
  for (const p of [redisAlone, ...redisPorts]) {
    start(`redis ${p}`, "redis-server", [
      ...["--port", String(p), "--bind", HOST, "--save", "", "--appendonly", "no"],
    ]);
  }
  for (const p of [redisAlone, ...redisPorts]) await waitPort(p);
  const twemPorts = [await freePort(), await freePort()];
  for (const [i, port] of twemPorts.entries()) {
    const conf = join(dir, `nutcracker${i}.yml`);
    writeFileSync(
      conf,
      [
        "alpha:",
        `  listen: ${HOST}:${port}`,
        "  hash: fnv1a_64",
        "  distribution: ketama",
        "  redis: true",
        "  auto_eject_hosts: false",
        "  servers:",
        ...redisPorts.map((p) => `   - ${HOST}:${p}:1`),
        "",
      ].join("\n"),
    );
    const stats = String(await freePort());
    const log = join(dir, `nutcracker${i}.log`);
    start(`twemproxy ${i}`, which("nutcracker") as string, ["-c", conf, "-s", stats, "-o", log]);
  }
  for (const p of twemPorts) await waitPort(p);
  const mapPort = await freePort();
  start("map server", process.execPath, [import.meta.filename, "--serve-map", String(mapPort)]);
  await waitPort(mapPort);
  const peerBalancer = { resp: await freePort(), http: await freePort() };
  const peerPrefix = join(dir, "nginx-peer");
  const peerConf = nginxConfig(
    peerPrefix,
    twemPorts.map((port) => ({ host: HOST, port })),
    [{ host: HOST, port: mapPort }],
    peerBalancer.resp,
    peerBalancer.http,
  );
  // NGINX stops on SIGTERM (graceful): SIGKILL would leave its workers holding the ports.
  start(
    "nginx (peer)",
    nginx,
    ["-p", peerPrefix, "-c", peerConf, "-e", join(peerPrefix, "e.log")],
    true,
  );

  // 4-5: 3 auxiliary nodes; masters: one alone R=1, one alone R=2, two pairs behind NGINX
  const aux: { id: string; port: number; http: number }[] = [];
  for (let i = 1; i <= 3; i++) {
    const a = { id: `a${i}`, port: await freePort(), http: await freePort() };
    aux.push(a);
    node(`auxiliary ${a.id}`, [
      "auxiliary",
      ...["--id", a.id, "--host", HOST, "--port", String(a.port), "--http-port", String(a.http)],
      ...["--data-dir", join(dir, a.id), "--log-level", "warn", "--max-memory", "512mb"],
    ]);
  }
  for (const a of aux) await waitReady(`http://${HOST}:${a.http}/readyz`);
  const auxiliary = aux.map((a) => `${a.id}=${HOST}:${a.port}`).join(",");
  interface Master {
    id: string;
    port: number;
    http: number;
  }
  const startMasters = async (ids: string[], replicas: number): Promise<Master[]> => {
    const ms: Master[] = [];
    for (const id of ids) ms.push({ id, port: await freePort(), http: await freePort() });
    for (const m of ms) {
      const peers = ms.filter((p) => p !== m).map((p) => `${p.id}=${HOST}:${p.http}`);
      node(`master ${m.id}`, [
        "master",
        ...["--id", m.id, "--host", HOST, "--port", String(m.port)],
        ...["--http-port", String(m.http), "--data-dir", join(dir, m.id)],
        ...["--log-level", "warn", "--replicas", String(replicas), "--auxiliary", auxiliary],
        ...(peers.length > 0 ? ["--peers", peers.join(",")] : []),
      ]);
    }
    for (const m of ms) await waitReady(`http://${HOST}:${m.http}/readyz`);
    return ms;
  };
  const [m1] = await startMasters(["m1"], 1);
  const [m2] = await startMasters(["m2"], 2);
  const pairR2 = await startMasters(["m3", "m4"], 2);
  const pairR1 = await startMasters(["m5", "m6"], 1);
  const balancers: { r: number; resp: number; http: number }[] = [];
  for (const [r, pair] of [
    [2, pairR2],
    [1, pairR1],
  ] as const) {
    const b = { r, resp: await freePort(), http: await freePort() };
    const prefix = join(dir, `nginx-r${r}`);
    const conf = nginxConfig(
      prefix,
      pair.map((m) => ({ host: HOST, port: m.port })),
      pair.map((m) => ({ host: HOST, port: m.http })),
      b.resp,
      b.http,
    );
    start(`nginx (R=${r})`, nginx, ["-p", prefix, "-c", conf, "-e", join(prefix, "e.log")], true);
    balancers.push(b);
  }
  await waitPort(peerBalancer.resp);
  for (const b of balancers) await waitPort(b.resp);
  const bR2 = balancers[0] as { resp: number; http: number };
  const bR1 = balancers[1] as { resp: number; http: number };

  const targets: Target[] = [
    { id: "1", name: "1 redis-server", port: redisAlone },
    { id: "2", name: "2 twemproxy x3 redis", port: twemPorts[0] as number },
    { id: "3", name: "3 NGINX x2 twemproxy", port: peerBalancer.resp },
    { id: "4R1", name: "4 master R=1", port: (m1 as Master).port },
    { id: "4R2", name: "4 master R=2", port: (m2 as Master).port },
    { id: "5R2", name: "5 NGINX x2 masters R=2", port: bR2.resp },
    { id: "5R1", name: "5 NGINX x2 masters R=1", port: bR1.resp },
  ];

  const samples = new Samples();
  const load: number[] = [];
  const t0 = Date.now();
  for (let round = 1; round <= (o.only === "http" ? 0 : o.rounds); round++) {
    for (const p of PIPELINES) {
      for (const t of targets) {
        load.push(loadavg()[0] ?? 0);
        const rb = redisBenchmark(t.port, p, p === 1 ? o.requests : o.requests * 4);
        for (const op of OPS) samples.add(cell(t.id, "redis-benchmark", p, op), rb[op]);
        // SET first: with redis-benchmark's SETs before it, GET finds the keys (same names).
        const rc: Partial<Record<Op, Figure>> = {};
        for (const op of OPS) {
          const f = ringcacheBench("resp", t.port, p, op, o.duration, false);
          if (f.errors > 0) console.error(`  ${t.name} P${p} ${op}: ${f.errors} errors`);
          samples.add(cell(t.id, "ringcache bench", p, op), f);
          rc[op] = f;
        }
        const show = (f: Figure | undefined): string =>
          f === undefined ? "" : `${f.rps.toFixed(0).padStart(7)}/s p99 ${f.p99.toFixed(2)}`;
        process.stderr.write(
          `round ${round} P${String(p).padEnd(2)} ${t.name.padEnd(24)} redis-benchmark SET ${show(rb.SET)} GET ${show(rb.GET)} | ringcache bench SET ${show(rc.SET)} GET ${show(rc.GET)}\n`,
        );
      }
    }
  }

  // HTTP GET: NGINX -> master -> auxiliary (R=2, the default) against NGINX -> node:http Map.
  const httpTargets: Target[] = [
    { id: "http-map", name: "NGINX -> node:http Map", port: peerBalancer.http },
    { id: "http-r2", name: "NGINX -> 2 masters R=2", port: bR2.http },
  ];
  for (let round = 1; round <= (o.only === "resp" ? 0 : o.rounds); round++) {
    for (const t of httpTargets) {
      // The first round preloads every key, so that reads hit on both sides.
      const f = ringcacheBench("http", t.port, 1, "GET", o.duration, round === 1);
      if (f.errors > 0 || f.misses > 0) {
        console.error(`  ${t.name}: ${f.errors} errors, ${f.misses} misses`);
      }
      samples.add(cell(t.id, "ringcache bench", 1, "GET"), f);
      process.stderr.write(
        `round ${round} HTTP GET ${t.name.padEnd(24)} ${f.rps.toFixed(0)}/s p99 ${f.p99.toFixed(2)} ms\n`,
      );
    }
  }
  const elapsed = (Date.now() - t0) / 1000;

  // ------------------------------------------------------------------------------------------
  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
  const ms = (n: number): string => n.toFixed(2);
  const rows: string[] = [
    "| target | tool | P | SET req/s | SET p50 ms | SET p99 ms | GET req/s | GET p50 ms | GET p99 ms |",
    "| --- | --- | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const p of PIPELINES) {
    for (const t of targets) {
      for (const tool of TOOLS) {
        const s = samples.median(cell(t.id, tool, p, "SET"));
        const g = samples.median(cell(t.id, tool, p, "GET"));
        rows.push(
          `| ${t.name} | ${tool} | ${p} | ${fmt(s.rps)} | ${ms(s.p50)} | ${ms(s.p99)} | ${fmt(g.rps)} | ${ms(g.p50)} | ${ms(g.p99)} |`,
        );
      }
    }
  }
  const ratio = (r: number): string => (Number.isNaN(r) ? "n/a" : r.toFixed(2));
  const ratioRows: string[] = [
    "| ratio | op | redis-benchmark P1 | P16 | ringcache bench P1 | P16 |",
    "| --- | --- | --: | --: | --: | --: |",
  ];
  const pairs: [string, string, string][] = [
    ["4/2 (R=1)", "4R1", "2"],
    ["4/2 (R=2)", "4R2", "2"],
    ["5/3 (R=2, default)", "5R2", "3"],
    ["5/3 (R=1)", "5R1", "3"],
  ];
  for (const [label, a, b] of pairs) {
    for (const op of OPS) {
      for (const what of ["rps", "p99"] as const) {
        const values: string[] = [];
        for (const tool of TOOLS) {
          for (const p of PIPELINES) {
            values.push(ratio(samples.ratio(cell(a, tool, p, op), cell(b, tool, p, op), what)));
          }
        }
        const name = `${label} ${what === "rps" ? "req/s (>= 1.0)" : "p99 (<= 1.2)"}`;
        ratioRows.push(`| ${name} | ${op} | ${values.join(" | ")} |`);
      }
    }
  }
  const httpMap = cell("http-map", "ringcache bench", 1, "GET");
  const httpR2 = cell("http-r2", "ringcache bench", 1, "GET");
  const hm = samples.median(httpMap);
  const hr = samples.median(httpR2);
  const httpRows = [
    "| HTTP GET, 50 connections | req/s | p50 ms | p99 ms |",
    "| --- | --: | --: | --: |",
    `| NGINX -> node:http + Map | ${fmt(hm.rps)} | ${ms(hm.p50)} | ${ms(hm.p99)} |`,
    `| NGINX -> 2 masters (R=2) -> 3 auxiliary | ${fmt(hr.rps)} | ${ms(hr.p50)} | ${ms(hr.p99)} |`,
    `| ratio (>= 0.7) | ${ratio(samples.ratio(httpR2, httpMap, "rps"))} | | ${ratio(samples.ratio(httpR2, httpMap, "p99"))} |`,
  ];
  const loadNote = `load average (1 min) during the run: median ${median(load).toFixed(2)}, max ${Math.max(...load).toFixed(2)}`;
  const body = [
    SECTION,
    "",
    `Machine: ${machine()}`,
    `Command: \`npm run bench:compare\` (rounds ${o.rounds}, redis-benchmark -n ${o.requests} at`,
    `P1 and ${o.requests * 4} at P16, \`ringcache bench\` ${o.duration} per cell; medians over`,
    `the rounds, ratios the median of each round's ratio; ${elapsed.toFixed(0)} s of measuring;`,
    `${loadNote}).`,
    "",
    "All targets run at once on loopback and are measured one after another; 50 connections,",
    "100-byte values, random keys over 100k. Targets 2 and 3 share 3 redis-servers; targets 4",
    "and 5 share 3 auxiliary nodes. `ringcache bench` runs SET (read ratio 0) then GET (read",
    "ratio 1), each for the cell's duration.",
    "",
    ...(o.only === "http" ? [] : [...rows, "", ...ratioRows, ""]),
    ...(o.only === "resp" ? [] : [...httpRows, ""]),
  ].join("\n");
  console.log(`\n${body}`);
  if (o.write) await writeSection(body);
  await stopAll();
}

/** The page as Prettier lays it out (aligned tables), so that a run leaves it clean. */
async function formatted(text: string): Promise<string> {
  try {
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(DOC)) ?? {};
    return await prettier.format(text, { ...config, filepath: DOC });
  } catch (err) {
    console.error(`${DOC} left unformatted: ${String(err)}`);
    return text;
  }
}

/**
 * Replaces (or appends) this benchmark's section of docs/benchmarks.md. The section's written
 * notes (from the NOTES heading to the section's end) are kept: only the figures change.
 */
async function writeSection(body: string): Promise<void> {
  const doc = existsSync(DOC) ? readFileSync(DOC, "utf8") : "# Benchmarks\n";
  const start = doc.indexOf(`\n${SECTION}\n`);
  let out: string;
  if (start < 0) {
    out = `${doc.trimEnd()}\n\n${body}`;
  } else {
    const next = doc.indexOf("\n## ", start + SECTION.length + 2);
    const old = next < 0 ? doc.slice(start + 1) : doc.slice(start + 1, next + 1);
    const notesAt = old.indexOf(`\n${NOTES}\n`);
    const notes = notesAt < 0 ? "" : `\n${old.slice(notesAt + 1).trimEnd()}\n`;
    const rest = next < 0 ? "" : doc.slice(next + 1);
    out = `${doc.slice(0, start + 1)}${body}${notes}${rest === "" ? "" : `\n${rest}`}`;
  }
  writeFileSync(DOC, await formatted(out.endsWith("\n") ? out : `${out}\n`));
  console.error(`wrote ${SECTION} to ${DOC}`);
}

if (process.argv[2] === "--serve-map") {
  serveMap(Number(process.argv[3]));
} else {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

// End to end: one ringcache master in front of 3 auxiliary nodes (R=1, then R=2) against
// twemproxy (nutcracker, ketama) in front of 3 redis-servers, measured in the same run with the
// same load generator: redis-benchmark -c 50 -d 100 -r 100000, GET and SET, pipeline 1 and 16.
//
//   node dist/bench/e2e.js [--rounds 3] [--requests 100000] [--json]
//
// Rounds interleave the targets (twemproxy, R=1, R=2 for each pipeline depth), so that a
// machine shared with other work slows them alike; the table reports each figure's median
// over the rounds and the ratios that the targets are stated in.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "ringcache.js");

interface Options {
  rounds: number;
  /** Requests per redis-benchmark run at pipeline 1 (x4 at pipeline 16). */
  requests: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, requests: 100_000, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--requests") o.requests = Number(argv[++i]);
    else if (a === "--json") o.json = true;
    else {
      console.error(`unknown argument ${a}; usage: e2e [--rounds N] [--requests N] [--json]`);
      process.exit(2);
    }
  }
  return o;
}

function which(tool: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${tool} || ls /usr/sbin/${tool} 2>/dev/null`], {
    encoding: "utf8",
  });
  const path = r.stdout.trim().split("\n")[0];
  return path === undefined || path === "" ? undefined : path;
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function waitPort(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ port, host: "127.0.0.1" });
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

async function waitReady(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not yet
    }
    await sleep(50);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms`);
}

const children: ChildProcess[] = [];

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: "ignore" });
  children.push(child);
  return child;
}

function stopAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

interface Figure {
  rps: number;
  p99: number;
}

/** One redis-benchmark run; returns req/s and p99 (ms) for SET and GET. */
function benchmark(
  port: number,
  pipeline: number,
  requests: number,
): Record<"SET" | "GET", Figure> {
  const r = spawnSync(
    "redis-benchmark",
    [
      ...["-h", "127.0.0.1", "-p", String(port), "-c", "50", "-d", "100", "-r", "100000"],
      ...["-t", "set,get", "-n", String(requests), "-P", String(pipeline), "--csv"],
    ],
    { encoding: "utf8" },
  );
  const out: Partial<Record<"SET" | "GET", Figure>> = {};
  for (const line of r.stdout.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    const test = cells[0];
    if (test === "SET" || test === "GET") {
      out[test] = { rps: Number(cells[1]), p99: Number(cells[6]) };
    }
  }
  if (out.SET === undefined || out.GET === undefined) {
    throw new Error(`redis-benchmark against ${port} gave no figures:\n${r.stdout}\n${r.stderr}`);
  }
  return out as Record<"SET" | "GET", Figure>;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const missing = ["redis-server", "redis-benchmark", "nutcracker"].filter((t) => !which(t));
  if (missing.length > 0) {
    console.error(
      `needs ${missing.join(", ")} (apt-get install -y redis-server redis-tools nutcracker)`,
    );
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), "ringcache-e2e-"));
  process.on("exit", () => {
    stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));

  // twemproxy in front of 3 redis-servers
  const redisPorts = [await freePort(), await freePort(), await freePort()];
  for (const p of redisPorts) {
    start(which("redis-server") as string, [
      ...["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    ]);
  }
  const twemPort = await freePort();
  const conf = join(dir, "nutcracker.yml");
  writeFileSync(
    conf,
    [
      "alpha:",
      `  listen: 127.0.0.1:${twemPort}`,
      "  hash: fnv1a_64",
      "  distribution: ketama",
      "  redis: true",
      "  auto_eject_hosts: false",
      "  servers:",
      ...redisPorts.map((p) => `   - 127.0.0.1:${p}:1`),
      "",
    ].join("\n"),
  );
  for (const p of redisPorts) await waitPort(p);
  start(which("nutcracker") as string, [
    "-c",
    conf,
    "-s",
    String(await freePort()),
    "-o",
    join(dir, "nc.log"),
  ]);
  await waitPort(twemPort);

  // ringcache: 3 auxiliary nodes, a master with R=1 and one with R=2 (idle while the other runs)
  const aux: { id: string; port: number; http: number }[] = [];
  for (let i = 1; i <= 3; i++) {
    const a = { id: `a${i}`, port: await freePort(), http: await freePort() };
    aux.push(a);
    start(process.execPath, [
      BIN,
      "auxiliary",
      ...["--id", a.id, "--port", String(a.port), "--http-port", String(a.http)],
      ...["--data-dir", join(dir, a.id), "--log-level", "warn", "--max-memory", "512mb"],
    ]);
  }
  for (const a of aux) await waitReady(`http://127.0.0.1:${a.http}/readyz`);
  const masters: { name: string; port: number }[] = [];
  for (const r of [1, 2]) {
    const m = { name: `ringcache R=${r}`, port: await freePort(), http: await freePort() };
    start(process.execPath, [
      BIN,
      "master",
      ...["--id", `m${r}`, "--port", String(m.port), "--http-port", String(m.http)],
      ...["--data-dir", join(dir, `m${r}`), "--log-level", "warn", "--replicas", String(r)],
      ...["--auxiliary", aux.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",")],
    ]);
    await waitReady(`http://127.0.0.1:${m.http}/readyz`);
    masters.push(m);
  }
  const targets = [{ name: "twemproxy", port: twemPort }, ...masters];

  type Key = `${string}|${number}|${"SET" | "GET"}`;
  const samples = new Map<Key, Figure[]>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const pipeline of [1, 16]) {
      for (const t of targets) {
        const requests = pipeline === 1 ? o.requests : o.requests * 4;
        const fig = benchmark(t.port, pipeline, requests);
        for (const op of ["SET", "GET"] as const) {
          const key: Key = `${t.name}|${pipeline}|${op}`;
          samples.set(key, [...(samples.get(key) ?? []), fig[op]]);
        }
        if (!o.json) {
          process.stderr.write(
            `round ${round} P${pipeline} ${t.name.padEnd(14)} SET ${fig.SET.rps.toFixed(0)}/s p99 ${fig.SET.p99} ms  GET ${fig.GET.rps.toFixed(0)}/s p99 ${fig.GET.p99} ms\n`,
          );
        }
      }
    }
  }

  const med = (name: string, p: number, op: "SET" | "GET"): Figure => {
    const xs = samples.get(`${name}|${p}|${op}`) ?? [];
    return { rps: median(xs.map((x) => x.rps)), p99: median(xs.map((x) => x.p99)) };
  };
  const rows: string[] = [
    "| target | pipeline | SET req/s | SET p99 ms | GET req/s | GET p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  ];
  const result: Record<string, unknown> = { rounds: o.rounds, requests: o.requests, figures: {} };
  for (const p of [1, 16]) {
    for (const t of targets) {
      const s = med(t.name, p, "SET");
      const g = med(t.name, p, "GET");
      (result["figures"] as Record<string, unknown>)[`${t.name} P${p}`] = { SET: s, GET: g };
      rows.push(
        `| ${t.name} | ${p} | ${s.rps.toFixed(0)} | ${s.p99.toFixed(2)} | ${g.rps.toFixed(0)} | ${g.p99.toFixed(2)} |`,
      );
    }
  }
  const ratios: string[] = ["| ratio | P1 | P16 |", "| --- | ---: | ---: |"];
  const ratio = (a: number, b: number): string => (b === 0 ? "n/a" : (a / b).toFixed(2));
  const r1 = "ringcache R=1";
  const r2 = "ringcache R=2";
  const table: Record<string, [string, string]> = {};
  for (const op of ["GET", "SET"] as const) {
    table[`R=1 / twemproxy ${op} req/s (target >= 1.0)`] = [
      ratio(med(r1, 1, op).rps, med("twemproxy", 1, op).rps),
      ratio(med(r1, 16, op).rps, med("twemproxy", 16, op).rps),
    ];
    table[`R=1 / twemproxy ${op} p99 (target <= 1.2)`] = [
      ratio(med(r1, 1, op).p99, med("twemproxy", 1, op).p99),
      ratio(med(r1, 16, op).p99, med("twemproxy", 16, op).p99),
    ];
  }
  table["R=2 SET / R=1 SET req/s (target >= 0.7)"] = [
    ratio(med(r2, 1, "SET").rps, med(r1, 1, "SET").rps),
    ratio(med(r2, 16, "SET").rps, med(r1, 16, "SET").rps),
  ];
  for (const [name, [a, b]] of Object.entries(table)) ratios.push(`| ${name} | ${a} | ${b} |`);
  result["ratios"] = table;
  if (o.json) console.log(JSON.stringify(result, null, 2));
  else console.log(`\n${rows.join("\n")}\n\n${ratios.join("\n")}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

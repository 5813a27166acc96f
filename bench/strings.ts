// SETEX, GETDEL and UNLINK through one ringcache master in front of 3 auxiliary nodes (R=2 by
// default), against SET and GET in the same run, with the same load generator:
// redis-benchmark -c 50 -r 100000, 100-byte values, pipeline 1 and 16.
//
//   node dist/bench/strings.js [--rounds 3] [--requests 100000] [--replicas 2] [--json]
//
// Each round runs, per pipeline depth: SET, GET, SETEX, GETDEL, UNLINK, in that order, on the
// keys key:000000000000 … key:000000099999: SET and SETEX fill them, GET and GETDEL find some
// (GETDEL's share that found a key is reported: it deletes what it finds, so later requests of
// the run miss). The table gives each figure's median over the rounds and the ratios to SET
// and GET, and the CPU time the master and the auxiliary nodes spent per request, read from
// /proc: a figure that other load on the machine barely moves.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cpuMs, freePort, waitReady, which } from "./support.js";

const BIN = resolve(import.meta.dirname, "..", "..", "bin", "ringcache.js");
const VALUE = "x".repeat(100);

interface Options {
  rounds: number;
  /** Requests per run at pipeline 1 (x4 at pipeline 16). */
  requests: number;
  replicas: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, requests: 100_000, replicas: 2, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--requests") o.requests = Number(argv[++i]);
    else if (a === "--replicas") o.replicas = Number(argv[++i]);
    else if (a === "--json") o.json = true;
    else {
      console.error(
        `unknown argument ${a}; usage: strings [--rounds N] [--requests N] [--replicas R] [--json]`,
      );
      process.exit(2);
    }
  }
  return o;
}

const children: ChildProcess[] = [];

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: "ignore" });
  children.push(child);
  return child;
}

type Op = "SET" | "GET" | "SETEX" | "GETDEL" | "UNLINK";
const OPS: readonly Op[] = ["SET", "GET", "SETEX", "GETDEL", "UNLINK"];

/** redis-benchmark's arguments for one op: a built-in test or a command line. */
function opArgs(op: Op): string[] {
  if (op === "SET" || op === "GET") return ["-d", "100", "-t", op.toLowerCase()];
  if (op === "SETEX") return ["SETEX", "key:__rand_int__", "100", VALUE];
  return [op, "key:__rand_int__"];
}

interface Figure {
  rps: number;
  p99: number;
  /** CPU microseconds per request: the master, and the three auxiliary nodes together. */
  masterUs: number;
  auxUs: number;
}

interface Pids {
  readonly master: number | undefined;
  readonly aux: readonly (number | undefined)[];
}

const auxCpu = (pids: Pids): number => pids.aux.reduce((sum: number, p) => sum + cpuMs(p), 0);

function benchmark(port: number, pids: Pids, op: Op, pipeline: number, requests: number): Figure {
  const master0 = cpuMs(pids.master);
  const aux0 = auxCpu(pids);
  const r = spawnSync(
    "redis-benchmark",
    [
      ...["-h", "127.0.0.1", "-p", String(port), "-c", "50", "-r", "100000"],
      ...["-n", String(requests), "-P", String(pipeline), "--csv", ...opArgs(op)],
    ],
    { encoding: "utf8" },
  );
  const masterUs = ((cpuMs(pids.master) - master0) * 1000) / requests;
  const auxUs = ((auxCpu(pids) - aux0) * 1000) / requests;
  for (const line of r.stdout.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    if (cells[0] !== undefined && cells[0] !== "test" && cells.length >= 7) {
      return { rps: Number(cells[1]), p99: Number(cells[6]), masterUs, auxUs };
    }
  }
  throw new Error(`redis-benchmark ${op} gave no figures:\n${r.stdout}\n${r.stderr}`);
}

function dbsize(port: number): number {
  const r = spawnSync("redis-cli", ["-p", String(port), "DBSIZE"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const missing = ["redis-benchmark", "redis-cli"].filter((t) => !which(t));
  if (missing.length > 0) {
    console.error(`needs ${missing.join(", ")} (apt-get install -y redis-tools)`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), "ringcache-strings-"));
  process.on("exit", () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  process.on("SIGINT", () => process.exit(130));

  const aux: { id: string; port: number; pid: number | undefined }[] = [];
  for (let i = 1; i <= 3; i++) {
    const id = `a${i}`;
    const port = await freePort();
    const http = await freePort();
    const child = start(process.execPath, [
      BIN,
      "auxiliary",
      ...["--id", id, "--port", String(port), "--http-port", String(http)],
      ...["--data-dir", join(dir, id), "--log-level", "warn", "--max-memory", "512mb"],
    ]);
    await waitReady(`http://127.0.0.1:${http}/readyz`);
    aux.push({ id, port, pid: child.pid });
  }
  const port = await freePort();
  const http = await freePort();
  const master = start(process.execPath, [
    BIN,
    "master",
    ...["--id", "m1", "--port", String(port), "--http-port", String(http)],
    ...["--data-dir", join(dir, "m1"), "--log-level", "warn", "--replicas", String(o.replicas)],
    ...["--auxiliary", aux.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",")],
  ]);
  await waitReady(`http://127.0.0.1:${http}/readyz`);
  const pids: Pids = { master: master.pid, aux: aux.map((a) => a.pid) };
  // Warm-up (JIT, connections).
  for (const op of OPS) benchmark(port, pids, op, 16, o.requests);

  const samples = new Map<string, Figure[]>();
  const found = new Map<number, number[]>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const pipeline of [1, 16]) {
      const requests = pipeline === 1 ? o.requests : o.requests * 4;
      for (const op of OPS) {
        const before = op === "GETDEL" ? dbsize(port) : 0;
        const fig = benchmark(port, pids, op, pipeline, requests);
        if (op === "GETDEL") {
          const share = (before - dbsize(port)) / requests;
          found.set(pipeline, [...(found.get(pipeline) ?? []), share]);
        }
        const key = `${pipeline}|${op}`;
        samples.set(key, [...(samples.get(key) ?? []), fig]);
        if (!o.json) {
          process.stderr.write(
            `round ${round} P${pipeline} ${op.padEnd(6)} ${fig.rps.toFixed(0)}/s p99 ${fig.p99} ms, ` +
              `CPU/req: master ${fig.masterUs.toFixed(1)} us, auxiliary ${fig.auxUs.toFixed(1)} us\n`,
          );
        }
      }
    }
  }

  const med = (p: number, op: Op): Figure => {
    const xs = samples.get(`${p}|${op}`) ?? [];
    return {
      rps: median(xs.map((x) => x.rps)),
      p99: median(xs.map((x) => x.p99)),
      masterUs: median(xs.map((x) => x.masterUs)),
      auxUs: median(xs.map((x) => x.auxUs)),
    };
  };
  const ratio = (a: number, b: number): string => (b === 0 ? "n/a" : (a / b).toFixed(2));
  const rows = [
    `| R=${o.replicas}, pipeline | ${OPS.map((op) => `${op} req/s (p99 ms)`).join(" | ")} |`,
    `| ---: | ${OPS.map(() => "---:").join(" | ")} |`,
  ];
  const result: Record<string, unknown> = {
    rounds: o.rounds,
    requests: o.requests,
    replicas: o.replicas,
    figures: {},
    ratios: {},
  };
  for (const p of [1, 16]) {
    const cells = OPS.map((op) => {
      const f = med(p, op);
      (result["figures"] as Record<string, Figure>)[`P${p} ${op}`] = f;
      return `${f.rps.toFixed(0)} (${f.p99.toFixed(2)})`;
    });
    rows.push(`| ${p} | ${cells.join(" | ")} |`);
  }
  rows.push(`| CPU µs/req, master + auxiliary | ${OPS.map(() => "").join(" | ")} |`);
  for (const p of [1, 16]) {
    const cells = OPS.map((op) => {
      const f = med(p, op);
      return `${f.masterUs.toFixed(1)} + ${f.auxUs.toFixed(1)}`;
    });
    rows.push(`| ${p} | ${cells.join(" | ")} |`);
  }
  const ratios = ["| ratio (target >= 0.9) | P1 | P16 |", "| --- | ---: | ---: |"];
  const pairs: [Op, Op][] = [
    ["SETEX", "SET"],
    ["UNLINK", "SET"],
    ["GETDEL", "GET"],
    ["GETDEL", "SET"],
  ];
  for (const [a, b] of pairs) {
    const r = [ratio(med(1, a).rps, med(1, b).rps), ratio(med(16, a).rps, med(16, b).rps)];
    (result["ratios"] as Record<string, string[]>)[`${a} / ${b}`] = r;
    ratios.push(`| ${a} / ${b} req/s | ${r[0]} | ${r[1]} |`);
  }
  const shares = [1, 16].map((p) => median(found.get(p) ?? []));
  result["getdelFound"] = shares;
  if (o.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`\n${rows.join("\n")}\n\n${ratios.join("\n")}\n`);
    console.log(
      `GETDEL requests that found a key: ${shares.map((s) => `${(s * 100).toFixed(0)}%`).join(" (P1), ")} (P16)`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

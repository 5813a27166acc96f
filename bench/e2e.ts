// End to end: one ringcache master in front of 3 auxiliary nodes (R=1, then R=2) against
// twemproxy (nutcracker, ketama) in front of 3 redis-servers, measured in the same run with the
// same load generator: redis-benchmark -c 50 -d 100 -r 100000, GET and SET, pipeline 1 and 16.
//
//   node dist/bench/e2e.js [--rounds 3] [--requests 100000] [--json]
//
// Where etcd is installed (Debian's etcd-server) a third master, R=2 with --coordination etcd,
// joins the rounds: etcd is off the request path, so its figures match the built-in R=2's.
//
// Rounds interleave the targets (twemproxy, R=1, R=2 for each pipeline depth), so that a
// machine shared with other work slows them alike; the table reports each figure's median
// over the rounds and the ratios that the targets are stated in. It also reports the CPU time
// each tier spent per request (the proxy: nutcracker or the master; the backends: the three
// redis-servers or auxiliary nodes together), read from /proc: a figure that other load on
// the machine barely moves.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cpuMs, freePort, waitPort, waitReady, which } from "./support.js";

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
  /** CPU microseconds per request: the proxy, and the three backends together. */
  proxyUs: number;
  backendUs: number;
}

interface Target {
  readonly name: string;
  readonly port: number;
  readonly proxy: number | undefined;
  readonly backends: readonly (number | undefined)[];
}

const sumCpu = (pids: readonly (number | undefined)[]): number =>
  pids.reduce((sum: number, pid) => sum + cpuMs(pid), 0);

/** One redis-benchmark run of one test: req/s, p99 (ms) and CPU per request of each tier. */
function benchmark(t: Target, test: "SET" | "GET", pipeline: number, requests: number): Figure {
  const proxy0 = cpuMs(t.proxy);
  const backends0 = sumCpu(t.backends);
  const r = spawnSync(
    "redis-benchmark",
    [
      ...["-h", "127.0.0.1", "-p", String(t.port), "-c", "50", "-d", "100", "-r", "100000"],
      ...["-t", test.toLowerCase(), "-n", String(requests), "-P", String(pipeline), "--csv"],
    ],
    { encoding: "utf8" },
  );
  const proxyMs = cpuMs(t.proxy) - proxy0;
  const backendMs = sumCpu(t.backends) - backends0;
  for (const line of r.stdout.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, ""));
    if (cells[0] === test) {
      return {
        rps: Number(cells[1]),
        p99: Number(cells[6]),
        proxyUs: (proxyMs * 1000) / requests,
        backendUs: (backendMs * 1000) / requests,
      };
    }
  }
  throw new Error(`redis-benchmark against ${t.name} gave no figures:\n${r.stdout}\n${r.stderr}`);
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
  const redisPids = redisPorts.map(
    (p) =>
      start(which("redis-server") as string, [
        ...["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      ]).pid,
  );
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
  const nutcracker = start(which("nutcracker") as string, [
    "-c",
    conf,
    "-s",
    String(await freePort()),
    "-o",
    join(dir, "nc.log"),
  ]);
  await waitPort(twemPort);

  // etcd for the master that coordinates through it (on free ports, a data dir of its own)
  const etcdBin = which("etcd");
  let etcdEndpoint: string | undefined;
  if (etcdBin !== undefined) {
    const client = await freePort();
    const peer = await freePort();
    start(etcdBin, [
      ...["--name", "bench", "--data-dir", join(dir, "etcd")],
      ...["--listen-client-urls", `http://127.0.0.1:${client}`],
      ...["--advertise-client-urls", `http://127.0.0.1:${client}`],
      ...["--listen-peer-urls", `http://127.0.0.1:${peer}`],
      ...["--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`],
      ...["--initial-cluster", `bench=http://127.0.0.1:${peer}`],
    ]);
    await waitPort(client);
    etcdEndpoint = `127.0.0.1:${client}`;
  } else {
    process.stderr.write("etcd not installed (apt-get install etcd-server): no etcd target\n");
  }

  // ringcache: 3 auxiliary nodes, a master with R=1 and one with R=2 (idle while the other
  // runs), and one with R=2 that coordinates through etcd
  const aux: { id: string; port: number; http: number; pid: number | undefined }[] = [];
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
    aux.push({ id, port, http, pid: child.pid });
  }
  for (const a of aux) await waitReady(`http://127.0.0.1:${a.http}/readyz`);
  const masters: Target[] = [];
  const kinds: { name: string; r: number; etcd: boolean }[] = [
    { name: "ringcache R=1", r: 1, etcd: false },
    { name: "ringcache R=2", r: 2, etcd: false },
    ...(etcdEndpoint === undefined ? [] : [{ name: "R=2 etcd", r: 2, etcd: true }]),
  ];
  for (const [i, k] of kinds.entries()) {
    const m = { name: k.name, port: await freePort(), http: await freePort() };
    const coordination =
      etcdEndpoint === undefined || !k.etcd
        ? []
        : ["--coordination", "etcd", "--etcd-endpoints", etcdEndpoint];
    const child = start(process.execPath, [
      BIN,
      "master",
      ...["--id", `m${i + 1}`, "--port", String(m.port), "--http-port", String(m.http)],
      ...["--data-dir", join(dir, `m${i + 1}`), "--log-level", "warn", "--replicas", String(k.r)],
      ...["--auxiliary", aux.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",")],
      ...coordination,
    ]);
    await waitReady(`http://127.0.0.1:${m.http}/readyz`);
    masters.push({ name: m.name, port: m.port, proxy: child.pid, backends: aux.map((a) => a.pid) });
  }
  const targets: Target[] = [
    { name: "twemproxy", port: twemPort, proxy: nutcracker.pid, backends: redisPids },
    ...masters,
  ];
  // Warm-up (JIT, connections): the first measured round is then not the slowest.
  for (const t of targets) benchmark(t, "SET", 16, o.requests);

  type Key = `${string}|${number}|${"SET" | "GET"}`;
  const samples = new Map<Key, Figure[]>();
  for (let round = 1; round <= o.rounds; round++) {
    for (const pipeline of [1, 16]) {
      for (const t of targets) {
        const requests = pipeline === 1 ? o.requests : o.requests * 4;
        for (const op of ["SET", "GET"] as const) {
          const fig = benchmark(t, op, pipeline, requests);
          const key: Key = `${t.name}|${pipeline}|${op}`;
          samples.set(key, [...(samples.get(key) ?? []), fig]);
          if (!o.json) {
            process.stderr.write(
              `round ${round} P${pipeline} ${t.name.padEnd(14)} ${op} ${fig.rps.toFixed(0)}/s ` +
                `p99 ${fig.p99} ms, CPU/req: proxy ${fig.proxyUs.toFixed(1)} us, ` +
                `backends ${fig.backendUs.toFixed(1)} us\n`,
            );
          }
        }
      }
    }
  }

  const med = (name: string, p: number, op: "SET" | "GET"): Figure => {
    const xs = samples.get(`${name}|${p}|${op}`) ?? [];
    return {
      rps: median(xs.map((x) => x.rps)),
      p99: median(xs.map((x) => x.p99)),
      proxyUs: median(xs.map((x) => x.proxyUs)),
      backendUs: median(xs.map((x) => x.backendUs)),
    };
  };
  const rows: string[] = [
    "| target | pipeline | SET req/s | SET p99 ms | GET req/s | GET p99 ms | CPU µs/req, proxy + backends: SET; GET |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  const result: Record<string, unknown> = { rounds: o.rounds, requests: o.requests, figures: {} };
  for (const p of [1, 16]) {
    for (const t of targets) {
      const s = med(t.name, p, "SET");
      const g = med(t.name, p, "GET");
      (result["figures"] as Record<string, unknown>)[`${t.name} P${p}`] = { SET: s, GET: g };
      const cpu = (f: Figure): string => `${f.proxyUs.toFixed(1)} + ${f.backendUs.toFixed(1)}`;
      rows.push(
        `| ${t.name} | ${p} | ${s.rps.toFixed(0)} | ${s.p99.toFixed(2)} | ` +
          `${g.rps.toFixed(0)} | ${g.p99.toFixed(2)} | ${cpu(s)}; ${cpu(g)} |`,
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
  if (etcdEndpoint !== undefined) {
    for (const op of ["GET", "SET"] as const) {
      table[`R=2 etcd / R=2 built-in ${op} req/s (target: within noise, ~1.0)`] = [
        ratio(med("R=2 etcd", 1, op).rps, med(r2, 1, op).rps),
        ratio(med("R=2 etcd", 16, op).rps, med(r2, 16, op).rps),
      ];
    }
  }
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

// Rebalancing: a 4th auxiliary node joins a 3-node cluster (one master, R=1) holding N entries
// (default 1M, 100-byte values). Reports the entries the leader moved per second (the move's
// own duration, from the first scan to the last conditional delete) and the client throughput
// during the move against the throughput just before it, measured in the same run by the same
// load (pipelined GET/SET over a few connections).
//
//   node dist/bench/rebalance.js [--entries 1000000] [--rounds 1] [--share 100] [--json]
//
// --share is the master's --rebalance-share (percent of the time a sender's move may work).
// Also reported: the p99 round trip of a client's 16-command pipeline before and during the
// move; each process's longest event-loop delay (prom-client's, from /metrics); the cores each
// process used (CPU seconds per second, from /proc; the client is this process); and the median
// round trip of a lone PING to each process (how long a request waits at that hop).
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { Redis } from "ioredis";
import { TestCluster } from "../test/helpers/cluster.js";
import { HOST } from "./support.js";
import { recoveryView, waitRebalanced } from "../test/helpers/recovery.js";

interface Options {
  entries: number;
  rounds: number;
  share: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { entries: 1_000_000, rounds: 1, share: 100, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--entries") o.entries = Number(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--share") o.share = Number(argv[++i]);
    else if (a === "--json") o.json = true;
    else {
      console.error(
        `unknown argument ${a}; usage: rebalance [--entries N] [--rounds N] [--share P] [--json]`,
      );
      process.exit(2);
    }
  }
  return o;
}

const VALUE = "v".repeat(100);

async function load(port: number, n: number): Promise<void> {
  const conns = Array.from({ length: 4 }, () => new Redis({ port }));
  try {
    let next = 0;
    await Promise.all(
      conns.map(async (r) => {
        while (next < n) {
          const at = next;
          next += 2000;
          const p = r.pipeline();
          for (let i = at; i < Math.min(n, at + 2000); i++) p.set(`k:${i}`, VALUE);
          await p.exec();
        }
      }),
    );
  } finally {
    for (const c of conns) c.disconnect();
  }
}

/** Pipelined GET/SET (9:1) on random loaded keys; counts completed commands. */
class Traffic {
  done = 0;
  /** Round trips of one 16-command pipeline, in ms, since the last take. */
  private latencies: number[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[];
  private readonly conns: Redis[];

  constructor(port: number, n: number) {
    this.conns = Array.from({ length: 4 }, () => new Redis({ port }));
    this.loops = this.conns.map(async (r) => {
      while (!this.stopped) {
        const p = r.pipeline();
        for (let i = 0; i < 16; i++) {
          const k = `k:${Math.floor(Math.random() * n)}`;
          if (i % 10 === 0) p.set(k, VALUE);
          else p.get(k);
        }
        const t = performance.now();
        await p.exec();
        this.latencies.push(performance.now() - t);
        this.done += 16;
      }
    });
  }

  /** The p99 pipeline round trip (ms) since the last call. */
  takeP99(): number {
    const s = this.latencies.sort((a, b) => a - b);
    this.latencies = [];
    return s[Math.floor(s.length * 0.99)] ?? 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const c of this.conns) c.disconnect();
  }
}

/** Each node's longest event-loop delay (ms) since its last scrape (prom-client resets it). */
async function lagMax(urls: readonly string[]): Promise<number[]> {
  return Promise.all(
    urls.map(async (u) => {
      const text = await (await fetch(u)).text();
      const m = /^nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text);
      return m === null ? 0 : Math.round(Number(m[1]) * 1000);
    }),
  );
}

/**
 * Sends PING after PING on its own connection (1 ms apart) and keeps the round trips: the wait a
 * request meets at one process, apart from the client traffic's own queues.
 */
class PingProbe {
  private readonly socket: Socket;
  private readonly rtts: number[] = [];
  private sentAt = 0;
  private stopped = false;

  constructor(port: number) {
    this.socket = connect({ host: HOST, port, noDelay: true });
    this.socket.on("connect", () => this.send());
    this.socket.on("data", () => {
      this.rtts.push(performance.now() - this.sentAt);
      if (!this.stopped) setTimeout(() => this.send(), 1);
    });
    this.socket.on("error", () => undefined);
  }

  private send(): void {
    this.sentAt = performance.now();
    this.socket.write("PING\r\n");
  }

  /** The median round trip (ms) since the last take. */
  takeMedian(): number {
    const s = this.rtts.splice(0).sort((a, b) => a - b);
    return Math.round((s[s.length >> 1] ?? 0) * 100) / 100;
  }

  stop(): void {
    this.stopped = true;
    this.socket.destroy();
  }
}

/** CPU seconds a process has used (user + system), from /proc; 0 where /proc is missing. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] ?? "").split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Samples the CPU of some processes and of this one (the client), last. */
class CpuMeter {
  private readonly pids: readonly (number | undefined)[];
  private at = 0;
  private used: number[] = [];

  constructor(pids: readonly (number | undefined)[]) {
    this.pids = pids;
    this.take();
  }

  private sample(): number[] {
    const self = process.cpuUsage();
    return [...this.pids.map(cpuSeconds), (self.user + self.system) / 1e6];
  }

  /** Cores each process used since the last take (or the start), rounded to 0.01. */
  take(): number[] {
    const now = performance.now();
    const used = this.sample();
    const seconds = (now - this.at) / 1000;
    const cores = used.map((u, i) => Math.round(((u - (this.used[i] ?? 0)) / seconds) * 100) / 100);
    this.at = now;
    this.used = used;
    return cores;
  }
}

interface Round {
  movedPerSec: number;
  moved: number;
  ratio: number;
  /** Client commands per second before and during the move. */
  before: number;
  during: number;
  /** p99 of a pipeline's round trip (ms), before and during the move. */
  p99Before: number;
  p99During: number;
  /** Longest event-loop delay (ms) in the 3 s before the move: master, then a1..a3. */
  lagMaxBefore: number[];
  /** Longest event-loop delay (ms) during the move: master, then a1..a4. */
  lagMaxDuring: number[];
  /** Cores used in the 3 s before the move: master, a1..a3, client. */
  coresBefore: number[];
  /** Cores used during the move: master, a1..a4, client. */
  coresDuring: number[];
  /** Median PING round trip (ms) before the move: master, a1..a3. */
  pingBefore: number[];
  /** Median PING round trip (ms) during the move: master, a1..a4. */
  pingDuring: number[];
}

async function round(o: Options): Promise<Round> {
  const cluster = await TestCluster.start({
    masters: 1,
    auxiliary: 3,
    replicas: 1,
    healthInterval: "500ms",
    requestTimeout: "2s",
    masterArgs: o.share === 100 ? [] : ["--rebalance-share", String(o.share)],
    auxiliaryArgs: ["--max-memory", "1gb", "--snapshot-interval", "1h"],
  });
  try {
    const master = cluster.master(0);
    await load(master.port, o.entries);
    const traffic = new Traffic(master.port, o.entries);
    await new Promise((r) => setTimeout(r, 1000));
    const urlsBefore = [
      master.url("/metrics"),
      ...[0, 1, 2].map((i) => cluster.aux(i).url("/metrics")),
    ];
    await lagMax(urlsBefore);
    traffic.takeP99();
    const pidsBefore = [master.process.pid, ...[0, 1, 2].map((i) => cluster.aux(i).process.pid)];
    const cpuBefore = new CpuMeter(pidsBefore);
    const probes = [master.port, ...[0, 1, 2].map((i) => cluster.aux(i).port)].map(
      (port) => new PingProbe(port),
    );
    const d0 = traffic.done;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const before = (traffic.done - d0) / ((performance.now() - t0) / 1000);
    const p99Before = traffic.takeP99();
    const coresBefore = cpuBefore.take();
    const pingBefore = probes.map((p) => p.takeMedian());
    const lagMaxBefore = await lagMax(urlsBefore);
    const movesBefore = (await recoveryView(master)).rebalance?.movesCompleted ?? 0;
    const a4 = await cluster.addAuxiliary("a4", [
      "--max-memory",
      "1gb",
      "--snapshot-interval",
      "1h",
    ]);
    const metricsUrls = [
      master.url("/metrics"),
      ...[0, 1, 2].map((i) => cluster.aux(i).url("/metrics")),
      a4.url("/metrics"),
    ];
    // The move starts when the master sees a4 up; count traffic from then to its end.
    const cpuDuring = new CpuMeter([...pidsBefore, a4.process.pid]);
    probes.push(new PingProbe(a4.port));
    let d1 = traffic.done;
    let t1 = performance.now();
    for (;;) {
      const v = await recoveryView(master);
      if (v.rebalance?.running === true || (v.rebalance?.movesCompleted ?? 0) > movesBefore) break;
      d1 = traffic.done;
      t1 = performance.now();
      cpuDuring.take();
      for (const p of probes) p.takeMedian();
      await new Promise((r) => setTimeout(r, 5));
    }
    await lagMax(metricsUrls); // from the move's start
    traffic.takeP99();
    const view = await waitRebalanced(master, 4, movesBefore + 1, 300_000);
    const during = (traffic.done - d1) / ((performance.now() - t1) / 1000);
    const coresDuring = cpuDuring.take();
    const pingDuring = probes.map((p) => p.takeMedian());
    for (const p of probes) p.stop();
    const lagMaxDuring = await lagMax(metricsUrls);
    const p99During = traffic.takeP99();
    await traffic.stop();
    const r = view.rebalance as unknown as { keysMovedThisMove: number; lastDurationMs: number };
    return {
      moved: r.keysMovedThisMove,
      movedPerSec: r.keysMovedThisMove / (r.lastDurationMs / 1000),
      ratio: during / before,
      before: Math.round(before),
      during: Math.round(during),
      p99Before,
      p99During,
      lagMaxBefore,
      lagMaxDuring,
      coresBefore,
      coresDuring,
      pingBefore,
      pingDuring,
    };
  } finally {
    await cluster.stop();
  }
}

const o = parseArgs(process.argv.slice(2));
const results = [];
for (let i = 0; i < o.rounds; i++) results.push(await round(o));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};
const summary = {
  entries: o.entries,
  rounds: o.rounds,
  share: o.share,
  movedMedian: median(results.map((r) => r.moved)),
  entriesPerSecond: Math.round(median(results.map((r) => r.movedPerSec))),
  throughputRatio: Math.round(median(results.map((r) => r.ratio)) * 100) / 100,
  clientsBefore: median(results.map((r) => r.before)),
  clientsDuring: median(results.map((r) => r.during)),
  p99BeforeMs: median(results.map((r) => r.p99Before)),
  p99DuringMs: median(results.map((r) => r.p99During)),
  runs: results,
};
if (o.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `rebalance: ${summary.entries} entries, a 4th node joins 3 (R=1), ${o.rounds} round(s), medians\n` +
      `  entries moved:           ${summary.movedMedian}\n` +
      `  entries moved per second: ${summary.entriesPerSecond}  (target >= 200000)\n` +
      `  client throughput during the move / before: ${summary.throughputRatio}x  (target >= 0.7x)` +
      ` (${summary.clientsDuring} / ${summary.clientsBefore} commands/s)\n` +
      `  client p99 round trip (16-command pipeline) before / during: ` +
      `${summary.p99BeforeMs.toFixed(1)} / ${summary.p99DuringMs.toFixed(1)} ms\n` +
      `  longest event-loop delay before (master, a1..a3): ` +
      `${results.map((r) => r.lagMaxBefore.join("/")).join(", ")} ms\n` +
      `  longest event-loop delay during the move (master, a1..a4): ` +
      `${results.map((r) => r.lagMaxDuring.join("/")).join(", ")} ms\n` +
      `  cores used before (master, a1..a3, client): ` +
      `${results.map((r) => r.coresBefore.join("/")).join(", ")}\n` +
      `  cores used during the move (master, a1..a4, client): ` +
      `${results.map((r) => r.coresDuring.join("/")).join(", ")}\n` +
      `  median PING round trip before (master, a1..a3): ` +
      `${results.map((r) => r.pingBefore.join("/")).join(", ")} ms\n` +
      `  median PING round trip during the move (master, a1..a4): ` +
      `${results.map((r) => r.pingDuring.join("/")).join(", ")} ms`,
  );
}

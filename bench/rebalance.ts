// Rebalancing: a 4th auxiliary node joins a 3-node cluster (one master, R=1) holding N entries
// (default 1M, 100-byte values). Reports the entries the leader moved per second (the move's
// own duration, from the first scan to the last conditional delete) and the client throughput
// during the move against the throughput just before it, measured in the same run by the same
// load (pipelined GET/SET over a few connections).
//
//   node dist/bench/rebalance.js [--entries 1000000] [--rounds 1] [--json]
import { Redis } from "ioredis";
import { TestCluster } from "../test/helpers/cluster.js";
import { recoveryView, waitRebalanced } from "../test/helpers/recovery.js";

interface Options {
  entries: number;
  rounds: number;
  json: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { entries: 1_000_000, rounds: 1, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--entries") o.entries = Number(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--json") o.json = true;
    else {
      console.error(`unknown argument ${a}; usage: rebalance [--entries N] [--rounds N] [--json]`);
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
        await p.exec();
        this.done += 16;
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    for (const c of this.conns) c.disconnect();
  }
}

async function round(o: Options): Promise<{ movedPerSec: number; moved: number; ratio: number }> {
  const cluster = await TestCluster.start({
    masters: 1,
    auxiliary: 3,
    replicas: 1,
    healthInterval: "500ms",
    requestTimeout: "2s",
    auxiliaryArgs: ["--max-memory", "1gb", "--snapshot-interval", "1h"],
  });
  try {
    const master = cluster.master(0);
    await load(master.port, o.entries);
    const traffic = new Traffic(master.port, o.entries);
    await new Promise((r) => setTimeout(r, 1000));
    const d0 = traffic.done;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const before = (traffic.done - d0) / ((performance.now() - t0) / 1000);
    const movesBefore = (await recoveryView(master)).rebalance?.movesCompleted ?? 0;
    await cluster.addAuxiliary("a4", ["--max-memory", "1gb", "--snapshot-interval", "1h"]);
    // The move starts when the master sees a4 up; count traffic from then to its end.
    let d1 = traffic.done;
    let t1 = performance.now();
    for (;;) {
      const v = await recoveryView(master);
      if (v.rebalance?.running === true || (v.rebalance?.movesCompleted ?? 0) > movesBefore) break;
      d1 = traffic.done;
      t1 = performance.now();
      await new Promise((r) => setTimeout(r, 5));
    }
    const view = await waitRebalanced(master, 4, movesBefore + 1, 300_000);
    const during = (traffic.done - d1) / ((performance.now() - t1) / 1000);
    await traffic.stop();
    const r = view.rebalance as unknown as { keysMovedThisMove: number; lastDurationMs: number };
    return {
      moved: r.keysMovedThisMove,
      movedPerSec: r.keysMovedThisMove / (r.lastDurationMs / 1000),
      ratio: during / before,
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
  movedMedian: median(results.map((r) => r.moved)),
  entriesPerSecond: Math.round(median(results.map((r) => r.movedPerSec))),
  throughputRatio: Math.round(median(results.map((r) => r.ratio)) * 100) / 100,
  runs: results,
};
if (o.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `rebalance: ${summary.entries} entries, a 4th node joins 3 (R=1), ${o.rounds} round(s), medians\n` +
      `  entries moved:           ${summary.movedMedian}\n` +
      `  entries moved per second: ${summary.entriesPerSecond}  (target >= 200000)\n` +
      `  client throughput during the move / before: ${summary.throughputRatio}x  (target >= 0.7x)`,
  );
}

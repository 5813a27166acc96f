// SCAN through the simulated cluster (test/simulation/cluster.ts) while nodes die, return, join
// and leave, and masters die, between and during its calls, under writes and deletes: every
// key present for the whole walk comes back exactly once, and no key twice
// (docs/design.md, "SCAN, KEYS and RANDOMKEY"). Rings differ from seed to seed (members,
// vnodes), and each call goes to a master picked at random, so cursors cross masters.
//
//   RINGCACHE_SCAN_SEEDS=500   more seeds than the default
//   RINGCACHE_SCAN_SEED=12     replay one seed, printing what happened
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_SIM, SimCluster, type SimConfig } from "./cluster.js";
import { SimClients, type ScanPage } from "./client.js";

const env = process.env;
const seeds = Number(env["RINGCACHE_SCAN_SEEDS"] ?? 60);
const replay = env["RINGCACHE_SCAN_SEED"];

interface ScanRun {
  readonly seed: number;
  readonly problems: string[];
  readonly calls: number;
  readonly retries: number;
  readonly faults: number;
  readonly trace: readonly string[];
}

/** A generator for the test's own choices, apart from the cluster's (same seed, other stream). */
function chooser(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

async function scanSeed(seed: number): Promise<ScanRun> {
  const random = chooser(seed);
  const config: SimConfig = {
    ...DEFAULT_SIM,
    nodes: 3 + Math.floor(random() * 3),
    vnodes: [4, 16, 32, 64][Math.floor(random() * 4)] as number,
  };
  const cluster = new SimCluster(seed, config);
  const base = cluster.base;
  const interval = config.healthIntervalMs;
  const sleep = (ms: number): Promise<void> =>
    cluster.settle(new Promise<void>((resolve) => base.schedule(ms, resolve)), ms + 1);
  await cluster.start();
  await cluster.run(base.now() + 200 * interval, () => cluster.converged());
  const clients = new SimClients(cluster);
  const [scanner, writer] = clients.all() as [
    ReturnType<SimClients["all"]>[number],
    ReturnType<SimClients["all"]>[number],
  ];

  // Keys present from the start; a third share a hash tag with others.
  const preload: string[] = [];
  for (let i = 0; i < 240; i++) preload.push(i % 3 === 0 ? `{t${i % 5}}:p${i}` : `p${i}`);
  for (let i = 0; i < preload.length; i += 24) {
    const batch = Promise.all(
      preload.slice(i, i + 24).map((k) => writer.set(k, Buffer.from(`v${k}`))),
    );
    const failed = await cluster.settle(
      batch.then(
        () => null,
        (err: Error) => err,
      ),
      100 * config.requestTimeoutMs,
    );
    if (failed !== null) throw failed;
  }
  /** Keys a delete was sent for: they may or may not come back. */
  const disturbed = new Set<string>();
  let stop = false;
  // Writes, overwrites and deletes all along the walk.
  const writes = (async (): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const r = random();
      try {
        if (r < 0.4) await writer.set(`w${i}`, Buffer.from("new"));
        else if (r < 0.8)
          await writer.set(preload[i % preload.length] as string, Buffer.from(`o${i}`));
        else {
          const k = preload[Math.floor(random() * preload.length)] as string;
          disturbed.add(k);
          await writer.del(k);
        }
      } catch {
        // A failed write changes nothing the check relies on.
      }
    }
  })();

  // Faults between and during calls, one at a time, each healed after a while.
  let faults = 0;
  let busy = false;
  const fault = (): void => {
    if (busy) return;
    const up = cluster.nodes.filter((n) => !n.down && !n.paused);
    const live = cluster.liveMasters().filter((m) => m.ready);
    const kind = ["crash", "join", "leave", "pause", "kill-master"][Math.floor(random() * 5)];
    const after = (ms: number, f: () => void): void => {
      base.schedule(ms, f);
    };
    const heal = (2 + random() * 8) * interval;
    busy = true;
    faults++;
    if (kind === "crash" && up.length > config.replicas) {
      const n = up[Math.floor(random() * up.length)]!;
      cluster.crashNode(n.id);
      after(heal, () => {
        cluster.restartNode(n.id);
        busy = false;
      });
    } else if (kind === "join") {
      cluster.joinNode();
      after(heal, () => (busy = false));
    } else if (kind === "leave" && up.length > config.replicas) {
      const n = up[Math.floor(random() * up.length)]!;
      cluster.announceLeave(n.id);
      const poll = (): void => {
        if (cluster.leaveDone(n.id)) {
          cluster.crashNode(n.id);
          busy = false;
        } else after(interval, poll);
      };
      after(interval, poll);
    } else if (kind === "pause" && up.length > config.replicas) {
      const n = up[Math.floor(random() * up.length)]!;
      cluster.pauseNode(n.id);
      after(heal, () => {
        cluster.resumeNode(n.id);
        busy = false;
      });
    } else if (kind === "kill-master" && live.length > 1) {
      const m = live[Math.floor(random() * live.length)]!;
      clients.lost(m.id);
      cluster.killMaster(m.id);
      after(heal, () => {
        cluster.restartMaster(m.id).catch((err: unknown) => {
          cluster.note(`master ${m.id} did not start again: ${String(err)}`);
        });
        busy = false;
      });
    } else {
      busy = false;
      faults--;
    }
  };

  const seen = new Map<string, number>();
  let cursor = "0";
  let calls = 0;
  let retries = 0;
  const problems: string[] = [];
  do {
    if (random() < 0.3) fault();
    // settle() runs the simulation before it hands the promise back: one that may reject is
    // turned into an outcome first, so no rejection goes unhandled meanwhile.
    const outcome = scanner.scan(cursor, 1 + Math.floor(random() * 12)).then(
      (page): { page: ScanPage } | { error: Error } => ({ page }),
      (error: Error) => ({ error }),
    );
    let page: ScanPage;
    try {
      const result = await cluster.settle(outcome, 100 * config.requestTimeoutMs);
      if ("error" in result) throw result.error;
      page = result.page;
    } catch (err) {
      // A call that could not be answered now (an owner being taken down, a master lost): the
      // same cursor again later. It holds no state anywhere but in the cursor.
      if (++retries > 300) {
        problems.push(`gave up after ${retries} failed calls: ${(err as Error).message}`);
        break;
      }
      await sleep(interval);
      continue;
    }
    calls++;
    for (const k of page.keys) seen.set(k, (seen.get(k) ?? 0) + 1);
    cursor = page.cursor;
    await sleep(random() * 3 * interval);
  } while (cursor !== "0");
  stop = true;
  cluster.healAll();
  await cluster.run(base.now() + 50 * config.requestTimeoutMs);
  void writes;

  for (const [k, n] of seen) if (n > 1) problems.push(`${k} returned ${n} times`);
  for (const k of preload) {
    if (!disturbed.has(k) && !seen.has(k)) problems.push(`${k}, present throughout, not returned`);
  }
  cluster.stop();
  return { seed, problems, calls, retries, faults, trace: cluster.trace };
}

function explain(run: ScanRun): string {
  return [
    `seed ${run.seed}: ${run.problems.length} problems after ${run.calls} calls, ${run.retries} retries, ${run.faults} faults`,
    `replay: RINGCACHE_SCAN_SEED=${run.seed} node --test dist/test/simulation/scan.test.js`,
    ...run.problems.slice(0, 20).map((p) => `  ${p}`),
    "what happened:",
    ...run.trace.map((x) => `  ${x}`),
  ].join("\n");
}

describe("SCAN through the simulated cluster", () => {
  if (replay !== undefined) {
    it(`seed ${replay} replayed`, async () => {
      const run = await scanSeed(Number(replay));
      console.log(explain(run));
      assert.deepEqual(run.problems, []);
    });
    return;
  }

  it(`returns every key present throughout exactly once, through ${seeds} fault schedules`, async (t) => {
    const failed: ScanRun[] = [];
    let calls = 0;
    let faults = 0;
    let retries = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const run = await scanSeed(seed);
      calls += run.calls;
      faults += run.faults;
      retries += run.retries;
      if (run.problems.length > 0) failed.push(run);
    }
    t.diagnostic(`${seeds} walks, ${calls} calls, ${faults} faults, ${retries} calls retried`);
    assert.ok(faults > seeds, "the schedules injected faults");
    assert.deepEqual(
      failed.map((r) => r.seed),
      [],
      failed
        .slice(0, 2)
        .map((r) => explain(r))
        .join("\n\n"),
    );
  });
});

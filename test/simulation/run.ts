// One simulated run: a cluster, a workload under the checker, and a schedule of faults drawn
// from the seed. The same seed replays the same run, event for event.
//
//   start ─► converge ─► load ──► fault, heal, fault, heal … ──► heal all ─► converge
//                                                                 ─► stop load ─► verify
import { Checker, type CheckerReport, type KvClient } from "../helpers/checker.js";
import { DEFAULT_SIM, SimCluster, type SimConfig } from "./cluster.js";
import { SimClients, classify } from "./client.js";

/** The faults a schedule draws from. */
export const FAULTS = [
  "crash-node",
  "pause-node",
  "pause-master",
  "kill-master",
  "cut-peers",
  "delay-links",
  "join-node",
  "leave-node",
  "cut-link",
] as const;
export type Fault = (typeof FAULTS)[number];

export interface RunOptions {
  readonly faults: readonly Fault[];
  /** Fault episodes in one run. */
  readonly episodes: number;
  readonly config?: SimConfig;
}

export interface RunResult {
  readonly seed: number;
  readonly report: CheckerReport;
  /** What happened, with simulated times. */
  readonly trace: readonly string[];
  /** Violations of the invariants (lost, stale, resurrected, phantom, corrupt). */
  readonly violations: number;
  /** Simulated milliseconds the run took. */
  readonly simulatedMs: number;
  /** Whether the cluster converged after the faults were healed. */
  readonly converged: boolean;
}

export function violations(r: CheckerReport): number {
  return r.lostWrites + r.staleReads + r.resurrected + r.phantoms + r.checksumFailures;
}

export async function runSeed(seed: number, options: RunOptions): Promise<RunResult> {
  const config = options.config ?? DEFAULT_SIM;
  const cluster = new SimCluster(seed, config);
  const base = cluster.base;
  const interval = config.healthIntervalMs;
  const detection = interval * (config.healthFailures + 2) + config.requestTimeoutMs;
  const clients = new SimClients(cluster);
  const settle = async (limitMs: number): Promise<boolean> => {
    await cluster.run(base.now() + limitMs, () => cluster.converged());
    return cluster.converged();
  };

  await cluster.start();
  await settle(20 * interval);
  const checker = new Checker({
    writers: 4,
    keysPerWriter: 6,
    readRatio: 0.5,
    deleteRatio: 0.1,
    valueBytes: 4,
    classify,
    now: () => base.now(),
    random: () => base.random(),
  });
  const kv = clients.all();
  const load = checker.run(kv, 1_000_000);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(base.random() * list.length)] as T;
  const between = (lo: number, hi: number): number => lo + base.random() * (hi - lo);

  for (let e = 0; e < options.episodes; e++) {
    await cluster.run(base.now() + between(interval, 4 * interval));
    const fault = pick(options.faults);
    const upNodes = cluster.nodes.filter((n) => !n.down);
    const live = cluster.liveMasters();
    const duration = between(interval, 2 * detection);
    switch (fault) {
      case "crash-node": {
        // One copy lost at a time: the next crash waits until the data is whole again.
        if (upNodes.length <= config.replicas) break;
        const n = pick(upNodes);
        cluster.crashNode(n.id);
        await cluster.run(base.now() + duration);
        cluster.restartNode(n.id);
        await settle(50 * interval);
        break;
      }
      case "pause-node": {
        const n = pick(upNodes);
        cluster.pauseNode(n.id);
        await cluster.run(base.now() + duration);
        cluster.resumeNode(n.id);
        await settle(50 * interval);
        break;
      }
      case "pause-master": {
        const m = pick(live);
        cluster.pauseMaster(m.id);
        await cluster.run(base.now() + duration);
        cluster.resumeMaster(m.id);
        break;
      }
      case "kill-master": {
        if (live.length < 2) break;
        const m = pick(live);
        clients.lost(m.id);
        cluster.killMaster(m.id);
        await cluster.run(base.now() + duration);
        await cluster.settle(cluster.restartMaster(m.id), 20 * interval);
        break;
      }
      case "cut-peers": {
        if (live.length < 2) break;
        const [a, b] = [pick(live), pick(live)];
        if (a === b) break;
        cluster.cutPeers(a.id, b.id);
        if (base.random() < 0.5) cluster.cutPeers(b.id, a.id);
        await cluster.run(base.now() + duration);
        cluster.healPeers();
        break;
      }
      case "delay-links": {
        // Deliveries on different connections overtake each other.
        for (const m of live) {
          for (const n of upNodes) {
            const ms = between(0, config.requestTimeoutMs / 2);
            m.transport.delay("127.0.0.1", n.port, ms);
          }
        }
        cluster.note("links to the nodes slowed at random");
        await cluster.run(base.now() + duration);
        for (const m of live) for (const n of upNodes) m.transport.delay("127.0.0.1", n.port, 0);
        cluster.note("links back to speed");
        break;
      }
      case "join-node": {
        cluster.joinNode();
        await settle(50 * interval);
        break;
      }
      case "leave-node": {
        if (upNodes.length <= config.replicas) break;
        const n = pick(upNodes);
        cluster.announceLeave(n.id);
        await cluster.run(base.now() + 100 * interval, () => cluster.leaveDone(n.id));
        if (!cluster.leaveDone(n.id)) break;
        cluster.crashNode(n.id);
        await settle(50 * interval);
        break;
      }
      case "cut-link": {
        const m = pick(live);
        const n = pick(upNodes);
        cluster.cutLink(m.id, n.id, pick(["to-node", "from-node", "both"] as const));
        await cluster.run(base.now() + duration);
        cluster.healLink(m.id, n.id);
        break;
      }
    }
  }

  cluster.healAll();
  const converged = await settle(100 * interval);
  checker.stop();
  await cluster.settle(load, 20 * config.requestTimeoutMs);
  // Verification reads what survived; a read that fails (a node still coming back) is retried.
  const patient = clients.each().map((c) => retrying(c, cluster));
  await cluster.settle(checker.verify(patient), 1000 * config.requestTimeoutMs);
  cluster.stop();
  const report = checker.report();
  return {
    seed,
    report,
    trace: cluster.trace,
    violations: violations(report),
    simulatedMs: base.now(),
    converged,
  };
}

/** A client whose reads retry an error every health interval, up to 50 times. */
function retrying(client: KvClient, cluster: SimCluster): KvClient {
  const get = async (key: string): Promise<Buffer | null> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await client.get(key);
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise<void>((resolve) => {
          cluster.base.schedule(cluster.config.healthIntervalMs, resolve);
        });
      }
    }
  };
  return { get, set: (k, v) => client.set(k, v), del: (k) => client.del(k) };
}

/** A failure's report: the seed to replay, what broke, and what happened. */
export function describe(result: RunResult): string {
  const r = result.report;
  return [
    `seed ${result.seed}: ${result.violations} violations ` +
      `(lost ${r.lostWrites}, stale ${r.staleReads}, resurrected ${r.resurrected}, ` +
      `phantom ${r.phantoms}, corrupt ${r.checksumFailures}); converged: ${result.converged}`,
    `replay: RINGCACHE_SEED=${result.seed} node --test dist/test/simulation/simulation.test.js`,
    ...r.examples.map((x) => `  ${x}`),
    "what happened:",
    ...result.trace.map((x) => `  ${x}`),
  ].join("\n");
}

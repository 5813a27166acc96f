// Steady, recorded load for the fault scenarios: the invariant checker's writers over one
// ioredis client per master (or per entry point), paced to about half of what the cluster
// sustains on this machine, with every operation's latency and every error's time kept so a
// scenario can report ops, errors, p99 and where the errors fell relative to the fault.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { Checker, summarize, type CheckerReport, type KvClient } from "../helpers/checker.js";
import { TestCluster, type ClusterOptions, type MasterHandle } from "../helpers/cluster.js";
import { recoveryView, type RecoveryView } from "../helpers/recovery.js";
import { connectRedis, kvOverRedis } from "../helpers/redis-client.js";
import { sleep, waitFor } from "../helpers/wait.js";

/** Longer variants of the scenarios (more rounds, longer absences). */
export const SOAK = process.env["RINGCACHE_SOAK"] === "1";

export interface TimedError {
  /** performance.now() when the failed operation started. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly message: string;
  readonly op: "set" | "get" | "del";
}

/** Records latencies and errors of every operation through the clients it wraps. */
export class Recorder {
  /** Latencies in ms, with the time each operation started. */
  readonly samples: { startedAt: number; ms: number }[] = [];
  readonly errors: TimedError[] = [];
  /** Pause after each operation of a writer, to pace the load. */
  readonly paceMs: number;

  constructor(paceMs: number) {
    this.paceMs = paceMs;
  }

  wrap(client: KvClient): KvClient {
    const timed = async <T>(kind: TimedError["op"], op: () => Promise<T>): Promise<T> => {
      const startedAt = performance.now();
      try {
        const value = await op();
        this.samples.push({ startedAt, ms: performance.now() - startedAt });
        return value;
      } catch (err) {
        const endedAt = performance.now();
        this.samples.push({ startedAt, ms: endedAt - startedAt });
        this.errors.push({
          startedAt,
          endedAt,
          message: err instanceof Error ? err.message : String(err),
          op: kind,
        });
        throw err;
      } finally {
        if (this.paceMs > 0) await sleep(this.paceMs);
      }
    };
    return {
      set: (key, value) => timed("set", () => client.set(key, value)),
      get: (key) => timed("get", () => client.get(key)),
      del: (key) => timed("del", () => client.del(key)),
    };
  }

  /** The p-quantile (0..1) of latencies of operations started in [from, to), in ms. */
  quantile(p: number, from = 0, to = Infinity): number {
    const list = this.samples
      .filter((s) => s.startedAt >= from && s.startedAt < to)
      .map((s) => s.ms)
      .sort((a, b) => a - b);
    if (list.length === 0) return 0;
    return list[Math.min(list.length - 1, Math.floor(p * list.length))] as number;
  }

  opsBetween(from: number, to: number): number {
    return this.samples.filter((s) => s.startedAt >= from && s.startedAt < to).length;
  }
}

/**
 * The workload every scenario runs: writers over disjoint keys, reads, a few deletes. An
 * error is "failed" (not applied) only when it is a clear reply; a request lost with its
 * connection (ioredis reports those as "max retries per request") may have been applied, and
 * so may a write answered `-TRYAGAIN` (docs/design.md, "Acknowledging a write": some owners
 * may hold it).
 */
export function scenarioChecker(): Checker {
  return new Checker({
    writers: WRITERS,
    keysPerWriter: 60,
    readRatio: 0.5,
    deleteRatio: 0.03,
    valueBytes: 64,
    classify: (err) => {
      const message = err instanceof Error ? err.message : String(err);
      // TRYAGAIN: a held write that gave up may have reached some owners.
      return /timeout|timed out|closed|ECONN|EPIPE|socket|max retries|TRYAGAIN/i.test(message)
        ? "indeterminate"
        : "failed";
    },
  });
}

/**
 * Closed-loop writers (each waits for its reply). On this 2-core machine 32 such writers over two
 * masters saturate the cluster at about 26k ops/s; 12 give about half of that.
 */
export const WRITERS = 12;

export function recordedClients(redis: readonly Redis[], recorder: Recorder): KvClient[] {
  return redis.map((r) => recorder.wrap(kvOverRedis(r)));
}

/** Operations that ended in an error (failed or indeterminate). */
export function errorCount(report: CheckerReport): number {
  let n = 0;
  for (const kind of [report.writes, report.reads, report.deletes]) {
    n += kind.failed + kind.indeterminate;
  }
  return n;
}

/** Errors over every operation attempted, 0..1. */
export function errorRate(report: CheckerReport): number {
  const errors = errorCount(report);
  const ops = report.writes.ok + report.reads.ok + report.deletes.ok + errors;
  return ops === 0 ? 0 : errors / ops;
}

/** Asserts the checker's invariants: nothing lost, stale, invented, corrupt or resurrected. */
export function assertInvariants(report: CheckerReport): void {
  const detail = report.examples.join("\n");
  assert.equal(report.lostWrites, 0, `lost writes\n${detail}`);
  assert.equal(report.staleReads, 0, `stale reads\n${detail}`);
  assert.equal(report.resurrected, 0, `resurrected deletes\n${detail}`);
  assert.equal(report.phantoms, 0, `values never written\n${detail}`);
  assert.equal(report.checksumFailures, 0, `checksum failures\n${detail}`);
  assert.ok(report.writes.ok > 0 && report.reads.ok > 0, "no load ran");
}

/**
 * The cluster of scenarios 2, 3, 5, 9 and 10 (R=2, 3 auxiliary nodes, 2 masters) and one
 * client per master. Health settings tell a node busy with a move from a dead one on a loaded
 * machine (a killed node refuses connections and is down at once whatever they are).
 */
export class Scenario {
  readonly cluster: TestCluster;
  readonly redis: readonly Redis[];

  private constructor(cluster: TestCluster, redis: readonly Redis[]) {
    this.cluster = cluster;
    this.redis = redis;
  }

  static async start(options: ClusterOptions = {}): Promise<Scenario> {
    const cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      healthInterval: "200ms",
      healthFailures: 3,
      requestTimeout: "1s",
      ...options,
    });
    const redis = cluster.masters.map((m) =>
      connectRedis(m.port, "127.0.0.1", { commandTimeout: 5000 }),
    );
    return new Scenario(cluster, redis);
  }

  /** Clients over every master whose operations the recorder times. */
  clients(recorder: Recorder): KvClient[] {
    return recordedClients(this.redis, recorder);
  }

  /** Clients over every master, unrecorded, for verify(). */
  plainClients(): KvClient[] {
    return this.redis.map(kvOverRedis);
  }

  /** Completed moves of the leader (m1) so far. */
  async moves(): Promise<number> {
    return (await recoveryView(this.cluster.master(0))).rebalance?.movesCompleted ?? 0;
  }

  /**
   * Waits until the leader (m1) routes by a ring of `ringSize` members, has finished at least
   * `moves` moves and none is in progress, and every master routes by the leader's epoch, all
   * seen in one round of views (a view of the leader taken before a pending ring change would
   * otherwise pass for settled); returns the leader's view.
   */
  async settled(ringSize: number, moves: number, timeoutMs = 30_000): Promise<RecoveryView> {
    return waitFor(
      `the leader to settle on ${ringSize} nodes, and every master to route by its ring`,
      async () => {
        const views = await Promise.all(this.cluster.masters.map((m) => recoveryView(m)));
        const leader = views[0] as RecoveryView;
        const r = leader.rebalance;
        const members = leader.nodes.filter((n) => n.share > 0).length;
        const done =
          r !== null &&
          !r.running &&
          r.movesCompleted >= moves &&
          (leader.coordination?.sources.length ?? 0) === 0 &&
          members === ringSize &&
          views.every((v) => v.epoch === leader.epoch);
        return done ? leader : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    );
  }

  async stop(): Promise<void> {
    for (const r of this.redis) r.disconnect();
    await this.cluster.stop();
  }
}

/** Counters of a master that tell why a read came back older than an acknowledged write. */
const DIAGNOSIS_METRICS =
  /^ringcache_master_(replication_failures_total|read_failovers_total|write_stale_retries_total|ring_changes_total|node_errors_total|node_state\{.*\} 1)/;

/**
 * Each master's routing state (epoch, leader, move, its probes' view of the nodes) and the
 * counters that explain a stale read (writes acknowledged by fewer than R owners, failovers,
 * node errors, ring changes): appended to a failed invariant, since the run's logs are gone.
 */
export async function diagnosis(cluster: {
  readonly masters: readonly MasterHandle[];
}): Promise<string> {
  const lines: string[] = [];
  for (const m of cluster.masters) {
    try {
      const v = await recoveryView(m);
      const nodes = v.nodes.map((n) => `${n.id}:${n.state}${n.share > 0 ? "" : "(out)"}`);
      const res = await fetch(m.url("/metrics"), { signal: AbortSignal.timeout(2000) });
      const counters = (await res.text())
        .split("\n")
        .filter((l) => DIAGNOSIS_METRICS.test(l))
        .map((l) => l.replace("ringcache_master_", ""));
      lines.push(
        `master ${m.id}: epoch ${v.epoch} leader ${v.leader ?? "-"} nodes ${nodes.join(" ")} ` +
          `move ${JSON.stringify(v.rebalance)} sources ${JSON.stringify(v.coordination?.sources ?? [])}`,
        ...counters.map((c) => `  ${c}`),
      );
    } catch (err) {
      lines.push(`master ${m.id}: no view (${(err as Error).message})`);
    }
  }
  return lines.join("\n");
}

/** One line of figures for a scenario, printed by the test and copied into the docs. */
export function figures(
  name: string,
  report: CheckerReport,
  recorder: Recorder,
  extra: Record<string, string | number>,
): string {
  const ops = report.writes.ok + report.reads.ok + report.deletes.ok;
  const parts = [
    `ops ${ops}`,
    `errors ${errorCount(report)}`,
    `error rate ${(errorRate(report) * 100).toFixed(3)}%`,
    `p99 ${recorder.quantile(0.99).toFixed(1)} ms`,
    ...Object.entries(extra).map(([k, v]) => `${k} ${v}`),
  ];
  return `[${name}] ${parts.join(", ")}\n  ${summarize(report)}`;
}

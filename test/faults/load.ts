// Steady, recorded load for the fault scenarios: the invariant checker's writers over one
// ioredis client per master (or per entry point), paced to about half of what the cluster
// sustains on this machine, with every operation's latency and every error's time kept so a
// scenario can report ops, errors, p99 and where the errors fell relative to the fault.
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { Checker, summarize, type CheckerReport, type KvClient } from "../helpers/checker.js";
import { kvOverRedis } from "../helpers/redis-client.js";
import { sleep } from "../helpers/wait.js";

export interface TimedError {
  /** performance.now() when the failed operation started. */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly message: string;
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
    const timed = async <T>(op: () => Promise<T>): Promise<T> => {
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
        });
        throw err;
      } finally {
        if (this.paceMs > 0) await sleep(this.paceMs);
      }
    };
    return {
      set: (key, value) => timed(() => client.set(key, value)),
      get: (key) => timed(() => client.get(key)),
      del: (key) => timed(() => client.del(key)),
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
 * connection (ioredis reports those as "max retries per request") may have been applied.
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
      return /timeout|timed out|closed|ECONN|EPIPE|socket|max retries/i.test(message)
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

/** One line of figures for a scenario, printed by the test and copied into the docs. */
export function figures(
  name: string,
  report: CheckerReport,
  recorder: Recorder,
  extra: Record<string, string | number>,
): string {
  const ops = report.writes.ok + report.reads.ok + report.deletes.ok;
  const errors =
    report.writes.failed +
    report.writes.indeterminate +
    report.reads.failed +
    report.reads.indeterminate +
    report.deletes.failed +
    report.deletes.indeterminate;
  const parts = [
    `ops ${ops}`,
    `errors ${errors}`,
    `p99 ${recorder.quantile(0.99).toFixed(1)} ms`,
    ...Object.entries(extra).map(([k, v]) => `${k} ${v}`),
  ];
  return `[${name}] ${parts.join(", ")}\n  ${summarize(report)}`;
}

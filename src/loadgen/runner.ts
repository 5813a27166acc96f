// A run: open the connections, preload the key space (warm-up), then measure until the
// duration or the request count is reached. Every path ends by itself: a phase stops at its
// deadline, a request unanswered for --timeout fails, and a target that stays unreachable
// for --timeout ends the run.
//
//   open N connections ─► warm-up: SET key 0..K-1, deep pipelines, ≤ warmup-timeout
//                       ─► measure: workload ops, window = pipeline, ≤ duration / requests
//                       ─► drain in-flight (≤ timeout) ─► report
import { RingcacheError } from "../errors.js";
import { Connection, type RequestSlot, type RequestSource } from "./connection.js";
import { HttpWire } from "./http.js";
import type { BenchOptions } from "./options.js";
import { Random } from "./random.js";
import { buildReport, type BenchReport, type StopReason, type WarmupReport } from "./report.js";
import { RespWire } from "./resp.js";
import { Stats, timelineInterval } from "./stats.js";
import type { Outcome } from "./wire.js";
import { OP_SET, Workload, type Op } from "./workload.js";

const PHASE_IDLE = 0;
const PHASE_WARMUP = 1;
const PHASE_RUN = 2;
const PHASE_DONE = 3;
type Phase = typeof PHASE_IDLE | typeof PHASE_WARMUP | typeof PHASE_RUN | typeof PHASE_DONE;

/** Warm-up keeps at least this many SETs in flight per connection: it is a bulk load. */
const WARMUP_DEPTH = 32;
const TICK_MS = 20;
/** After an interrupt, replies still in flight get this long before they are abandoned. */
const INTERRUPT_DRAIN_MS = 1000;

export interface ProgressInfo {
  readonly phase: "warmup" | "run";
  /** Since the start of the phase. */
  readonly elapsedMs: number;
  /** Upper bound of the phase. */
  readonly limitMs: number;
  /** Requests finished in this phase. */
  readonly requests: number;
  readonly requestsLimit: number | null;
  /** Over the last progress period. */
  readonly opsPerSec: number;
  readonly errors: number;
  /** Keys stored during warm-up, of keyspace. */
  readonly loaded: number;
  readonly keyspace: number;
}

export interface BenchHooks {
  readonly onProgress?: (info: ProgressInfo) => void;
  readonly progressIntervalMs?: number;
}

export class BenchRun implements RequestSource {
  private readonly options: BenchOptions;
  private readonly hooks: BenchHooks;
  private readonly workload: Workload;
  private readonly connections: Connection[] = [];
  private readonly stats: Stats;

  private phase: Phase = PHASE_IDLE;
  /** The current phase takes no new requests and ends once nothing is in flight. */
  private stopping = false;
  private halted: StopReason | undefined;
  private haltedAt = 0;
  private stoppedBy: StopReason = "duration";
  private phaseStart = 0;
  private phaseDeadline = 0;
  private phaseEnded: (() => void) | undefined;
  private inFlight = 0;
  /** Requests handed out in the measured run (for --requests). */
  private issued = 0;

  // Warm-up state.
  private warmCursor = 0;
  /** Warm-up keys a closing server dropped; sent again before new ones. */
  private readonly warmRetry: number[] = [];
  private warmLoaded = 0;
  private warmErrors = 0;
  private warmupReport: WarmupReport;

  private ticker: NodeJS.Timeout | undefined;
  private unreachableSince: number | undefined;
  private lastProgressAt = 0;
  private lastProgressCount = 0;
  private runStartedAt = 0;
  private runEndedAt = 0;

  constructor(options: BenchOptions, hooks: BenchHooks = {}) {
    this.options = options;
    this.hooks = hooks;
    this.workload = new Workload(options, new Random(options.seed));
    // A request-bounded run has no known length: start fine, the timeline coarsens as it grows.
    this.stats = new Stats(
      options.requests !== undefined ? 100 : timelineInterval(options.durationMs),
    );
    this.warmupReport = {
      enabled: false,
      keys: options.keyspace,
      loaded: 0,
      complete: false,
      errors: 0,
      durationMs: 0,
      opsPerSec: 0,
    };
  }

  /** Runs to the end and returns the report. Rejects only if the target cannot be reached. */
  async run(): Promise<BenchReport> {
    const startedAt = new Date();
    const o = this.options;
    const wire =
      o.protocol === "resp"
        ? new RespWire(this.workload, o.ttlSeconds)
        : new HttpWire(this.workload, o.ttlSeconds, o.target.host, o.target.port);
    const capacity = Math.max(o.pipeline, o.warmup ? WARMUP_DEPTH : 1);
    for (let i = 0; i < o.connections; i++) {
      this.connections.push(new Connection(o.target.host, o.target.port, wire, this, capacity));
    }
    try {
      await this.openAll();
      this.ticker = setInterval(() => this.tick(), TICK_MS);
      if (o.warmup) await this.warmup();
      if (this.halted === undefined) await this.measure();
    } finally {
      if (this.ticker !== undefined) clearInterval(this.ticker);
      this.phase = PHASE_DONE;
      for (const c of this.connections) c.close();
    }
    return buildReport({
      options: o,
      startedAt,
      stoppedBy: this.halted ?? this.stoppedBy,
      stats: this.stats,
      warmup: this.warmupReport,
      durationMs: this.runEndedAt - this.runStartedAt,
    });
  }

  /** Ends the run early (Ctrl-C): the current phase drains and the report covers what ran. */
  stop(reason: StopReason = "interrupted"): void {
    if (this.halted !== undefined) return;
    this.halted = reason;
    this.haltedAt = performance.now();
    this.stopping = true;
    this.checkPhaseEnd();
  }

  // ---- RequestSource ----

  get active(): boolean {
    return (this.phase === PHASE_WARMUP || this.phase === PHASE_RUN) && !this.stopping;
  }

  take(slot: RequestSlot): boolean {
    if (this.stopping) return false;
    if (this.phase === PHASE_RUN) {
      const limit = this.options.requests;
      if (limit !== undefined && this.issued >= limit) return false;
      this.issued++;
      const op = this.workload.nextOp();
      slot.op = op;
      slot.key = this.workload.nextKey();
      slot.valueSize = op === OP_SET ? this.workload.nextValueSize() : 0;
    } else if (this.phase === PHASE_WARMUP) {
      const retry = this.warmRetry.pop();
      if (retry === undefined && this.warmCursor >= this.options.keyspace) return false;
      slot.op = OP_SET;
      slot.key = retry ?? this.warmCursor++;
      slot.valueSize = this.workload.nextValueSize();
    } else {
      return false;
    }
    this.inFlight++;
    return true;
  }

  onReply(op: Op, outcome: Outcome, latencyUs: number): void {
    this.inFlight--;
    if (this.phase === PHASE_RUN) this.stats.reply(op, outcome, latencyUs);
    else this.warmLoaded++;
    if (this.inFlight === 0) this.checkPhaseEnd();
  }

  onErrorReply(op: Op, kind: string, message: string, latencyUs: number): void {
    this.inFlight--;
    if (this.phase === PHASE_RUN) this.stats.errorReply(op, kind, message, latencyUs);
    else this.warmErrors++;
    if (this.inFlight === 0) this.checkPhaseEnd();
  }

  onFailure(op: Op, kind: string, message: string): void {
    this.inFlight--;
    if (this.phase === PHASE_RUN) this.stats.failure(op, kind, message);
    else this.warmErrors++;
    if (this.inFlight === 0) this.checkPhaseEnd();
  }

  onDropped(_op: Op, key: number): void {
    this.inFlight--;
    // Never processed: the request is handed out again (the run's count stays exact).
    if (this.phase === PHASE_RUN) this.issued--;
    else if (this.phase === PHASE_WARMUP) this.warmRetry.push(key);
    if (this.inFlight === 0) this.checkPhaseEnd();
  }

  onConnectionError(kind: string, message: string): void {
    if (this.phase === PHASE_RUN) this.stats.connectionError(kind, message);
    else if (this.phase === PHASE_WARMUP) this.warmErrors++;
    // While opening (PHASE_IDLE), open() reports the failure itself.
  }

  // ---- phases ----

  private async openAll(): Promise<void> {
    const o = this.options;
    const results = await Promise.allSettled(
      this.connections.map((c) => c.open(Math.max(o.timeoutMs, 1000))),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length === 0) return;
    const first: unknown = failed[0]?.reason;
    const detail = first instanceof Error ? first.message : String(first);
    const target = `${o.target.host.includes(":") ? `[${o.target.host}]` : o.target.host}:${o.target.port}`;
    throw new RingcacheError(
      "UNAVAILABLE",
      `cannot connect to ${target} (${o.protocol}): ${failed.length} of ${o.connections} connections failed, first: ${detail}`,
    );
  }

  private async warmup(): Promise<void> {
    const started = performance.now();
    await this.runPhase(
      PHASE_WARMUP,
      this.options.warmupTimeoutMs,
      Math.max(this.options.pipeline, WARMUP_DEPTH),
    );
    const durationMs = performance.now() - started;
    this.warmupReport = {
      enabled: true,
      keys: this.options.keyspace,
      loaded: this.warmLoaded,
      complete: this.warmLoaded === this.options.keyspace,
      errors: this.warmErrors,
      durationMs: Math.round(durationMs),
      opsPerSec: Math.round((this.warmLoaded * 1000) / Math.max(durationMs, 1)),
    };
  }

  private async measure(): Promise<void> {
    await this.runPhase(PHASE_RUN, this.options.durationMs, this.options.pipeline);
  }

  private runPhase(phase: Phase, limitMs: number, depth: number): Promise<void> {
    return new Promise((resolve) => {
      const now = performance.now();
      this.phase = phase;
      this.stopping = this.halted !== undefined;
      this.phaseStart = now;
      this.phaseDeadline = now + limitMs;
      this.lastProgressAt = now;
      this.lastProgressCount = 0;
      if (phase === PHASE_RUN) {
        this.stats.start(now);
        this.runStartedAt = now;
        this.runEndedAt = now;
      }
      this.phaseEnded = resolve;
      for (const c of this.connections) {
        c.setDepth(depth);
        c.fill();
      }
      this.checkPhaseEnd();
    });
  }

  private exhausted(): boolean {
    if (this.phase === PHASE_WARMUP)
      return this.warmCursor >= this.options.keyspace && this.warmRetry.length === 0;
    const limit = this.options.requests;
    return limit !== undefined && this.issued >= limit;
  }

  private checkPhaseEnd(): void {
    const end = this.phaseEnded;
    if (end === undefined || this.inFlight > 0) return;
    if (!this.stopping && !this.exhausted()) return;
    const now = performance.now();
    if (this.phase === PHASE_RUN) {
      this.stats.finish(now);
      this.runEndedAt = now;
      if (!this.stopping) this.stoppedBy = "requests";
    }
    this.phaseEnded = undefined;
    this.stopping = true; // nothing more until the next phase starts
    end();
  }

  private tick(): void {
    const now = performance.now();
    const o = this.options;
    if (!this.stopping && now >= this.phaseDeadline) {
      this.stopping = true;
      if (this.phase === PHASE_RUN) this.stoppedBy = "duration";
    }
    for (const c of this.connections) c.checkTimeout(now, o.timeoutMs);
    if (
      this.halted === "interrupted" &&
      this.inFlight > 0 &&
      now - this.haltedAt > INTERRUPT_DRAIN_MS
    ) {
      // The user wants out: requests still unanswered are dropped, counted neither way.
      for (const c of this.connections) c.close();
      this.inFlight = 0;
    }
    if (this.phase === PHASE_RUN) this.stats.tick(now);

    // A target that accepts no connection for a whole timeout ends the run.
    if (this.connections.some((c) => c.isConnected) || this.stopping) {
      this.unreachableSince = undefined;
    } else if (this.unreachableSince === undefined) {
      this.unreachableSince = now;
    } else if (now - this.unreachableSince > Math.max(o.timeoutMs, 1000)) {
      this.stop("unreachable");
    }

    const onProgress = this.hooks.onProgress;
    const every = this.hooks.progressIntervalMs ?? 500;
    if (onProgress !== undefined && now - this.lastProgressAt >= every && !this.stopping) {
      const count =
        this.phase === PHASE_RUN ? this.stats.requests : this.warmLoaded + this.warmErrors;
      onProgress({
        phase: this.phase === PHASE_RUN ? "run" : "warmup",
        elapsedMs: now - this.phaseStart,
        limitMs: this.phaseDeadline - this.phaseStart,
        requests: count,
        requestsLimit: this.phase === PHASE_RUN ? (o.requests ?? null) : o.keyspace,
        opsPerSec: ((count - this.lastProgressCount) * 1000) / (now - this.lastProgressAt),
        errors: this.phase === PHASE_RUN ? this.stats.errors : this.warmErrors,
        loaded: this.warmLoaded,
        keyspace: o.keyspace,
      });
      this.lastProgressAt = now;
      this.lastProgressCount = count;
    }
    this.checkPhaseEnd();
  }
}

// What a run measured: counters, latency histograms (HDR, 3 significant digits, microseconds)
// per operation, errors by kind, and a timeline of per-interval throughput and latency.
//
// The histograms are hdr-histogram-js's pure-JS Int32Histogram, imported directly so that the
// package's WebAssembly build is never loaded. On this machine JS records 5-15M values/s and
// WASM 26-60M (npm run bench:loadgen); with one record per reply, JS costs under a tenth of a
// core at the ~10^6 replies/s one Node process generates, and needs no asynchronous start-up,
// no module load (~0.2 s) and no manual destroy().
import int32 from "hdr-histogram-js/dist/Int32Histogram.js";
import { OP_GET, type Op } from "./workload.js";
import { REPLY_MISS, type Outcome } from "./wire.js";

const Int32Histogram = int32.default;
export type Histogram = InstanceType<typeof Int32Histogram>;

/** 60 s; the histogram grows past it if a request ever takes longer. */
const HIGHEST_TRACKABLE_US = 60_000_000;

export function createHistogram(): Histogram {
  const histogram = new Int32Histogram(1, HIGHEST_TRACKABLE_US, 3);
  histogram.autoResize = true;
  return histogram;
}

/** Latency figures in microseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

/**
 * The value at a percentile. HDR answers with the top of the value's bucket (25007 for a
 * recorded 25000), while maxValue is exact: clamping keeps every percentile <= max.
 */
export function percentile(h: Histogram, p: number): number {
  return Math.min(h.getValueAtPercentile(p), h.maxValue);
}

/** Null for an empty histogram: no figure is better than a made-up zero. */
export function summarize(h: Histogram): LatencySummary | null {
  if (h.totalCount === 0) return null;
  return {
    count: h.totalCount,
    min: h.minNonZeroValue,
    mean: round1(h.mean),
    stddev: round1(h.stdDeviation),
    p50: percentile(h, 50),
    p90: percentile(h, 90),
    p99: percentile(h, 99),
    p999: percentile(h, 99.9),
    max: h.maxValue,
  };
}

export interface HistogramBin {
  /** Inclusive lower bound, microseconds. */
  readonly fromUs: number;
  /** Exclusive upper bound, microseconds. */
  readonly toUs: number;
  readonly count: number;
}

/**
 * Counts per logarithmic bin (`perDecade` bins between each power of ten), from the bin of the
 * smallest recorded value to the bin of the largest, empty bins included so a chart can draw
 * them as gaps.
 */
export function histogramBins(h: Histogram, perDecade = 20): HistogramBin[] {
  if (h.totalCount === 0) return [];
  const binOf = (us: number): number => Math.floor(Math.log10(Math.max(us, 1)) * perDecade + 1e-9);
  const first = binOf(h.minNonZeroValue > 0 ? h.minNonZeroValue : 1);
  const last = binOf(h.maxValue);
  const counts = new Float64Array(last - first + 1);
  const it = h.recordedValuesIterator;
  it.reset();
  while (it.hasNext()) {
    const v = it.next();
    const index = Math.min(Math.max(binOf(v.valueIteratedTo) - first, 0), counts.length - 1);
    counts[index] = (counts[index] ?? 0) + v.countAtValueIteratedTo;
  }
  const bins: HistogramBin[] = [];
  for (let i = 0; i < counts.length; i++) {
    const edge = (k: number): number => round1(Math.pow(10, k / perDecade));
    bins.push({ fromUs: edge(first + i), toUs: edge(first + i + 1), count: counts[i] ?? 0 });
  }
  return bins;
}

export const SPECTRUM_PERCENTILES = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.95, 99.99, 99.999,
  100,
] as const;

/** The percentile distribution (0 is the minimum, 100 the maximum), microseconds. */
export function spectrum(h: Histogram): { percentile: number; us: number }[] {
  if (h.totalCount === 0) return [];
  return SPECTRUM_PERCENTILES.map((p) => ({
    percentile: p,
    us: p === 0 ? h.minNonZeroValue : p === 100 ? h.maxValue : percentile(h, p),
  }));
}

/** One interval of the run; latencies in microseconds, null when nothing was answered. */
export interface TimelinePoint {
  /** Seconds from the start of the measured run to the end of this interval. */
  readonly t: number;
  /** Length of the interval, ms. */
  readonly ms: number;
  /** Successful operations (hits, misses, stored writes). */
  readonly ops: number;
  readonly opsPerSec: number;
  readonly errors: number;
  readonly hits: number;
  readonly misses: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export interface ErrorKind {
  count: number;
  /** The first message seen of this kind. */
  readonly sample: string;
}

const maxOrNull = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);

/**
 * Two neighbouring points as one. Counts add up exactly; a merged percentile is the larger of
 * the two (an upper bound: the exact value would need both intervals' histograms).
 */
function mergePoints(a: TimelinePoint, b: TimelinePoint): TimelinePoint {
  const ms = a.ms + b.ms;
  const ops = a.ops + b.ops;
  return {
    t: b.t,
    ms,
    ops,
    opsPerSec: Math.round((ops * 1000) / Math.max(ms, 1)),
    errors: a.errors + b.errors,
    hits: a.hits + b.hits,
    misses: a.misses + b.misses,
    p50: maxOrNull(a.p50, b.p50),
    p90: maxOrNull(a.p90, b.p90),
    p99: maxOrNull(a.p99, b.p99),
    max: maxOrNull(a.max, b.max),
  };
}

/**
 * Accumulates one phase's results. Latency histograms cover every reply, error replies
 * included (the server answered); requests that got no reply (timeouts, lost connections)
 * only count as errors.
 *
 * Each reply is recorded once, into its operation's histogram for the current interval; when
 * the interval closes, both are read for the timeline and added into the run's totals. That
 * halves the recording cost of keeping a timeline (a few % of a core at 10^6 replies/s).
 */
export class Stats {
  /** The run's GET latencies: complete once finish() ran. */
  readonly get = createHistogram();
  /** The run's SET latencies: complete once finish() ran. */
  readonly set = createHistogram();
  gets = 0;
  sets = 0;
  hits = 0;
  misses = 0;
  /** Replies that were not errors. */
  ok = 0;
  errorReplies = 0;
  /** Requests that got no reply. */
  failures = 0;
  /** Connection events that failed no request (refused connects, idle closes). */
  connectionErrors = 0;
  readonly errorKinds = new Map<string, ErrorKind>();

  /** Timeline interval; doubles (pairs of points merge) when the timeline grows past maxPoints. */
  intervalMs: number;
  readonly timeline: TimelinePoint[] = [];
  private readonly maxPoints: number;
  private readonly intervalGet = createHistogram();
  private readonly intervalSet = createHistogram();
  /** Both of the interval's histograms, for its percentiles. */
  private readonly intervalAll = createHistogram();
  private startedAt = 0;
  private intervalStart = 0;
  private intervalOk = 0;
  private intervalErrors = 0;
  private intervalHits = 0;
  private intervalMisses = 0;

  constructor(intervalMs: number, maxPoints = 480) {
    this.intervalMs = intervalMs;
    this.maxPoints = maxPoints;
  }

  get requests(): number {
    return this.gets + this.sets;
  }

  get errors(): number {
    return this.errorReplies + this.failures + this.connectionErrors;
  }

  /** Starts the clock (performance.now() milliseconds). */
  start(now: number): void {
    this.startedAt = now;
    this.intervalStart = now;
  }

  reply(op: Op, outcome: Outcome, latencyUs: number): void {
    const us = Math.round(latencyUs);
    if (op === OP_GET) {
      this.gets++;
      this.intervalGet.recordValue(us);
      if (outcome === REPLY_MISS) {
        this.misses++;
        this.intervalMisses++;
      } else {
        this.hits++;
        this.intervalHits++;
      }
    } else {
      this.sets++;
      this.intervalSet.recordValue(us);
    }
    this.ok++;
    this.intervalOk++;
  }

  errorReply(op: Op, kind: string, message: string, latencyUs: number): void {
    const us = Math.round(latencyUs);
    if (op === OP_GET) {
      this.gets++;
      this.intervalGet.recordValue(us);
    } else {
      this.sets++;
      this.intervalSet.recordValue(us);
    }
    this.errorReplies++;
    this.countError(kind, message);
  }

  failure(op: Op, kind: string, message: string): void {
    if (op === OP_GET) this.gets++;
    else this.sets++;
    this.failures++;
    this.countError(kind, message);
  }

  connectionError(kind: string, message: string): void {
    this.connectionErrors++;
    this.countError(kind, message);
  }

  /** Closes the current interval if it is due; call often (every ~50 ms). */
  tick(now: number): void {
    if (now - this.intervalStart >= this.intervalMs) this.closeInterval(now);
  }

  /**
   * Closes the last, partial interval if anything happened in it. A stub shorter than half an
   * interval (the replies that drain after the deadline) joins the previous point, so that a
   * few requests over a few milliseconds do not draw a spike of ops/s.
   */
  finish(now: number): void {
    const idle =
      this.intervalOk +
        this.intervalErrors +
        this.intervalGet.totalCount +
        this.intervalSet.totalCount ===
      0;
    if (idle && this.timeline.length > 0) return;
    const short = now - this.intervalStart < this.intervalMs / 2 && this.timeline.length > 0;
    this.closeInterval(now);
    if (short) {
      const b = this.timeline.pop();
      const a = this.timeline.pop();
      if (a !== undefined && b !== undefined) this.timeline.push(mergePoints(a, b));
    }
  }

  private countError(kind: string, message: string): void {
    this.intervalErrors++;
    const known = this.errorKinds.get(kind);
    if (known !== undefined) known.count++;
    else this.errorKinds.set(kind, { count: 1, sample: message });
  }

  private closeInterval(now: number): void {
    const ms = Math.max(now - this.intervalStart, 1e-3);
    const h = this.intervalAll;
    h.reset();
    h.add(this.intervalGet);
    h.add(this.intervalSet);
    this.get.add(this.intervalGet);
    this.set.add(this.intervalSet);
    this.intervalGet.reset();
    this.intervalSet.reset();
    const answered = h.totalCount > 0;
    this.timeline.push({
      t: Math.round(now - this.startedAt) / 1000,
      ms: Math.round(ms),
      ops: this.intervalOk,
      opsPerSec: Math.round((this.intervalOk * 1000) / ms),
      errors: this.intervalErrors,
      hits: this.intervalHits,
      misses: this.intervalMisses,
      p50: answered ? percentile(h, 50) : null,
      p90: answered ? percentile(h, 90) : null,
      p99: answered ? percentile(h, 99) : null,
      max: answered ? h.maxValue : null,
    });
    this.intervalStart = now;
    this.intervalOk = 0;
    this.intervalErrors = 0;
    this.intervalHits = 0;
    this.intervalMisses = 0;
    if (this.timeline.length > this.maxPoints) this.coarsen();
  }

  /** Merges neighbouring points and doubles the interval: a long run keeps a bounded timeline. */
  private coarsen(): void {
    const merged: TimelinePoint[] = [];
    for (let i = 0; i < this.timeline.length; i += 2) {
      const a = this.timeline[i];
      const b = this.timeline[i + 1];
      if (a === undefined) break;
      if (b === undefined) {
        merged.push(a);
        break;
      }
      merged.push(mergePoints(a, b));
    }
    this.timeline.length = 0;
    this.timeline.push(...merged);
    this.intervalMs *= 2;
  }
}

/** An interval that gives about `points` timeline points over `durationMs`, on a round step. */
export function timelineInterval(durationMs: number, points = 240): number {
  const steps = [100, 200, 250, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000];
  for (const step of steps) if (step * points >= durationMs) return step;
  return 60_000;
}

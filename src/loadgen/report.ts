// The result of a run as one plain object (what --json prints, what the HTML report embeds),
// and its text rendering. Latencies are in microseconds throughout; rates per second.
import type { BenchOptions, Distribution, Protocol } from "./options.js";
import {
  createHistogram,
  histogramBins,
  spectrum,
  summarize,
  type HistogramBin,
  type LatencySummary,
  type Stats,
  type TimelinePoint,
} from "./stats.js";

export const REPORT_SCHEMA = 1;

export type StopReason = "duration" | "requests" | "interrupted" | "unreachable";

export interface WarmupReport {
  readonly enabled: boolean;
  /** Keys to preload (the key space). */
  readonly keys: number;
  /** Keys stored successfully. */
  readonly loaded: number;
  /** Every key stored before the warm-up timeout. */
  readonly complete: boolean;
  readonly errors: number;
  readonly durationMs: number;
  readonly opsPerSec: number;
}

export interface BenchReport {
  readonly tool: "ringcache bench";
  readonly schema: typeof REPORT_SCHEMA;
  readonly startedAt: string;
  readonly stoppedBy: StopReason;
  readonly target: {
    readonly protocol: Protocol;
    readonly host: string;
    readonly port: number;
    readonly loopback: boolean;
  };
  readonly settings: {
    readonly connections: number;
    readonly pipeline: number;
    readonly keyspace: number;
    readonly keyPrefix: string;
    readonly distribution: Distribution;
    readonly zipfSkew: number | null;
    readonly readRatio: number;
    readonly valueSize: { readonly min: number; readonly max: number };
    readonly ttlSeconds: number;
    readonly durationLimitMs: number;
    readonly requestsLimit: number | null;
    readonly timeoutMs: number;
    readonly seed: number;
    readonly warmup: boolean;
    readonly warmupTimeoutMs: number;
  };
  readonly warmup: WarmupReport;
  /** Length of the measured run, ms. */
  readonly durationMs: number;
  readonly totals: {
    /** Requests that finished: answered (value, nil, OK, or an error reply) or failed. */
    readonly requests: number;
    /** Answered and not an error. */
    readonly ok: number;
    readonly gets: number;
    readonly sets: number;
    readonly hits: number;
    readonly misses: number;
    readonly errors: number;
  };
  /** Successful operations per second. */
  readonly opsPerSec: number;
  readonly getsPerSec: number;
  readonly setsPerSec: number;
  /** hits / (hits + misses); null without reads. */
  readonly hitRatio: number | null;
  readonly latencyUs: {
    readonly all: LatencySummary | null;
    readonly get: LatencySummary | null;
    readonly set: LatencySummary | null;
  };
  readonly errors: {
    readonly total: number;
    readonly replies: number;
    readonly failedRequests: number;
    readonly connection: number;
    readonly byKind: Readonly<Record<string, number>>;
    readonly samples: Readonly<Record<string, string>>;
  };
  readonly timeline: { readonly intervalMs: number; readonly points: readonly TimelinePoint[] };
  readonly histogram: { readonly binsPerDecade: number; readonly bins: readonly HistogramBin[] };
  readonly percentiles: readonly { readonly percentile: number; readonly us: number }[];
}

export interface ReportInput {
  readonly options: BenchOptions;
  readonly startedAt: Date;
  readonly stoppedBy: StopReason;
  readonly stats: Stats;
  readonly warmup: WarmupReport;
  readonly durationMs: number;
}

const BINS_PER_DECADE = 20;

export function buildReport(input: ReportInput): BenchReport {
  const { options, stats } = input;
  const all = createHistogram();
  all.add(stats.get);
  all.add(stats.set);
  const seconds = Math.max(input.durationMs, 1) / 1000;
  const reads = stats.hits + stats.misses;
  const kinds = [...stats.errorKinds.entries()].sort((a, b) => b[1].count - a[1].count);
  return {
    tool: "ringcache bench",
    schema: REPORT_SCHEMA,
    startedAt: input.startedAt.toISOString(),
    stoppedBy: input.stoppedBy,
    target: {
      protocol: options.protocol,
      host: options.target.host,
      port: options.target.port,
      loopback: options.target.loopback,
    },
    settings: {
      connections: options.connections,
      pipeline: options.pipeline,
      keyspace: options.keyspace,
      keyPrefix: options.keyPrefix,
      distribution: options.distribution,
      zipfSkew: options.distribution === "zipf" ? options.zipfSkew : null,
      readRatio: options.readRatio,
      valueSize: { min: options.valueSizeMin, max: options.valueSizeMax },
      ttlSeconds: options.ttlSeconds,
      durationLimitMs: options.durationMs,
      requestsLimit: options.requests ?? null,
      timeoutMs: options.timeoutMs,
      seed: options.seed,
      warmup: options.warmup,
      warmupTimeoutMs: options.warmupTimeoutMs,
    },
    warmup: input.warmup,
    durationMs: Math.round(input.durationMs),
    totals: {
      requests: stats.requests,
      ok: stats.ok,
      gets: stats.gets,
      sets: stats.sets,
      hits: stats.hits,
      misses: stats.misses,
      errors: stats.errors,
    },
    opsPerSec: Math.round(stats.ok / seconds),
    getsPerSec: Math.round(reads / seconds),
    setsPerSec: Math.round((stats.ok - reads) / seconds),
    hitRatio: reads === 0 ? null : stats.hits / reads,
    latencyUs: { all: summarize(all), get: summarize(stats.get), set: summarize(stats.set) },
    errors: {
      total: stats.errors,
      replies: stats.errorReplies,
      failedRequests: stats.failures,
      connection: stats.connectionErrors,
      byKind: Object.fromEntries(kinds.map(([kind, e]) => [kind, e.count])),
      samples: Object.fromEntries(kinds.map(([kind, e]) => [kind, e.sample])),
    },
    timeline: { intervalMs: stats.intervalMs, points: stats.timeline },
    histogram: { binsPerDecade: BINS_PER_DECADE, bins: histogramBins(all, BINS_PER_DECADE) },
    percentiles: spectrum(all),
  };
}

// ---- text rendering ----

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** 85µs, 1.23ms, 2.5s: three significant figures. */
export function formatMicros(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1_000_000) return `${(us / 1000).toPrecision(3)}ms`;
  return `${(us / 1_000_000).toPrecision(3)}s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${+(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(2)}%`;
}

export function describeTarget(report: BenchReport): string {
  const { protocol, host, port } = report.target;
  return `${protocol} ${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export function describeWorkload(report: BenchReport): string {
  const s = report.settings;
  const dist = s.distribution === "zipf" ? `zipf (skew ${s.zipfSkew ?? ""})` : "uniform";
  const size =
    s.valueSize.min === s.valueSize.max
      ? formatBytes(s.valueSize.min)
      : `${formatBytes(s.valueSize.min)}-${formatBytes(s.valueSize.max)}`;
  const ttl = s.ttlSeconds > 0 ? `ttl ${s.ttlSeconds}s` : "no ttl";
  return `${formatCount(s.keyspace)} keys ${dist}, ${Math.round(s.readRatio * 100)}% reads, values ${size}, ${ttl}`;
}

function latencyLine(label: string, l: LatencySummary | null): string {
  if (l === null) return `  ${label.padEnd(5)} -`;
  const cells = [
    `p50 ${formatMicros(l.p50)}`,
    `p90 ${formatMicros(l.p90)}`,
    `p99 ${formatMicros(l.p99)}`,
    `p99.9 ${formatMicros(l.p999)}`,
    `max ${formatMicros(l.max)}`,
  ];
  return `  ${label.padEnd(5)} ${cells.map((c) => c.padEnd(14)).join("")}(mean ${formatMicros(l.mean)})`;
}

const STOP_REASONS: Readonly<Record<StopReason, string>> = {
  duration: "duration reached",
  requests: "request count reached",
  interrupted: "interrupted",
  unreachable: "target unreachable",
};

/** The human report: what ran, throughput, hit ratio, latency percentiles, errors. */
export function formatText(report: BenchReport): string {
  const s = report.settings;
  const lines: string[] = [];
  lines.push(
    `ringcache bench: ${describeTarget(report)}, ${s.connections} connections x pipeline ${s.pipeline}`,
  );
  lines.push(`workload   ${describeWorkload(report)} (seed ${s.seed})`);
  const w = report.warmup;
  if (!w.enabled) lines.push("warm-up    skipped");
  else {
    const status = w.complete ? "" : ` (incomplete: stopped after ${formatCount(w.durationMs)} ms)`;
    lines.push(
      `warm-up    ${formatCount(w.loaded)} of ${formatCount(w.keys)} keys in ${(w.durationMs / 1000).toFixed(2)} s${status}` +
        (w.errors > 0 ? `, ${formatCount(w.errors)} errors` : ""),
    );
  }
  const t = report.totals;
  lines.push(
    `run        ${formatCount(t.requests)} requests in ${(report.durationMs / 1000).toFixed(2)} s (${STOP_REASONS[report.stoppedBy]})`,
  );
  lines.push(
    `throughput ${formatCount(report.opsPerSec)} ops/s (GET ${formatCount(report.getsPerSec)}/s, SET ${formatCount(report.setsPerSec)}/s)`,
  );
  lines.push(
    report.hitRatio === null
      ? "hit ratio  - (no reads)"
      : `hit ratio  ${formatPercent(report.hitRatio)} (${formatCount(t.hits)} hits, ${formatCount(t.misses)} misses)`,
  );
  lines.push("latency");
  lines.push(latencyLine("all", report.latencyUs.all));
  lines.push(latencyLine("GET", report.latencyUs.get));
  lines.push(latencyLine("SET", report.latencyUs.set));
  if (report.errors.total === 0) lines.push("errors     none");
  else {
    lines.push(`errors     ${formatCount(report.errors.total)}`);
    for (const [kind, count] of Object.entries(report.errors.byKind)) {
      const sample = report.errors.samples[kind] ?? "";
      lines.push(
        `  ${formatCount(count).padStart(10)}  ${kind}${sample !== kind ? `: ${sample}` : ""}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

// Prometheus metrics of an auxiliary node. The request path only bumps plain numbers in typed
// arrays (no label lookups, no allocation); prom-client reads them through `collect()`
// callbacks when /metrics is scraped.
//
// Exported (every series also carries the registry's default labels node="<id>",
// role="auxiliary"):
//   ringcache_requests_total{command,result}         counter   result: ok | error
//   ringcache_request_duration_seconds{le}           histogram server time per command
//   ringcache_store_hits_total / _misses_total / _evictions_total / _expirations_total
//   ringcache_store_entries / _bytes / _max_bytes / _max_entries / _tombstones   gauges
//   ringcache_store_eviction_info{policy}            gauge     1: lru | noeviction
//   ringcache_snapshot_duration_seconds              gauge     last successful snapshot
//   ringcache_snapshot_last_success_timestamp_seconds gauge    0 until one succeeds
//   ringcache_snapshot_entries / _bytes              gauges    entries and size of the last one
//   ringcache_snapshot_unsaved_changes               gauge     writes since the last snapshot began
//   ringcache_snapshot_interval_seconds              gauge     the configured interval
//   ringcache_snapshots_total / ringcache_snapshot_failures_total   counters
//   ringcache_snapshot_in_progress                   gauge     1 while writing
//   ringcache_restored_entries                       gauge     applied at start
//   ringcache_connections / ringcache_connections_total / ringcache_rejected_connections_total
//   ringcache_build_info{version}                    gauge     1 (role from the default labels)
//   nodejs_* / process_*                             prom-client's defaults, including
//                                                    nodejs_eventloop_lag_seconds and the
//                                                    nodejs_eventloop_lag_p99_seconds family
import {
  Counter,
  Gauge,
  Registry,
  collectDefaultMetrics,
  type Metric,
  type MetricObjectWithValues,
  type MetricValueWithName,
} from "prom-client";
import { RINGCACHE_VERSION } from "../redis/version.js";

/** Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/** What the metrics read at scrape time. */
export interface MetricsSources {
  readonly store: {
    readonly stats: {
      readonly entries: number;
      readonly bytes: number;
      readonly tombstones: number;
      readonly hits: number;
      readonly misses: number;
      readonly evictions: number;
      readonly expirations: number;
    };
    readonly maxBytes: number;
    readonly maxEntries: number;
    /** "lru" (evicts to stay within the budget) or "noeviction" (refuses writes instead). */
    readonly eviction: string;
  };
  readonly snapshotter: {
    readonly running: boolean;
    readonly lastSuccessAt: number;
    readonly lastDurationMs: number;
    readonly lastEntries: number;
    readonly lastBytes: number;
    readonly completed: number;
    readonly failures: number;
  };
  readonly connections: () => { open: number; total: number; rejected: number };
  readonly restoredEntries: () => number;
  /** Writes applied since the last successful snapshot began (0: nothing to save). */
  readonly unsavedChanges: () => number;
  /** The configured snapshot interval (ms). */
  readonly snapshotIntervalMs: number;
}

/**
 * A histogram whose buckets are plain counters filled by the request path and exposed as a
 * prom-client metric. prom-client's own Histogram costs a label hash per observation.
 */
class FixedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly bounds: readonly number[];
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records `n` observations of `seconds` each. */
  observe(seconds: number, n: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + n;
    this.sum += seconds * n;
    this.count += n;
  }

  get(): MetricObjectWithValues<MetricValueWithName<string>> {
    const values: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.bounds.length; i++) {
      cumulative += this.counts[i] as number;
      const le = i < this.bounds.length ? String(this.bounds[i]) : "+Inf";
      values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return {
      name: this.name,
      help: this.help,
      type: this.type as never,
      aggregator: this.aggregator,
      values,
      collect: () => undefined,
    };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

export class AuxiliaryMetrics {
  readonly registry: Registry;
  /** Command names by command id (the dispatcher's table); id 0 is "unknown". */
  readonly commandNames: readonly string[];
  /** ok[id], errors[id]: requests by command id and result. */
  readonly ok: Float64Array;
  readonly errors: Float64Array;
  readonly latency: FixedHistogram;

  /**
   * `processMetrics` false leaves out Node.js's process metrics (memory, CPU, event-loop lag):
   * for nodes that share one process, such as a simulation's.
   */
  constructor(
    nodeId: string,
    commandNames: readonly string[],
    sources: MetricsSources,
    processMetrics = true,
  ) {
    this.commandNames = commandNames;
    this.ok = new Float64Array(commandNames.length);
    this.errors = new Float64Array(commandNames.length);
    const registry = new Registry();
    this.registry = registry;
    registry.setDefaultLabels({ node: nodeId, role: "auxiliary" });
    if (processMetrics) {
      collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
    }

    new Gauge({
      name: "ringcache_build_info",
      help: "1, labelled with the version and role of this node",
      labelNames: ["version"],
      registers: [registry],
    }).set({ version: RINGCACHE_VERSION }, 1);

    const ok = this.ok;
    const errors = this.errors;
    new Counter({
      name: "ringcache_requests_total",
      help: "Commands served, by command and result",
      labelNames: ["command", "result"],
      registers: [registry],
      collect() {
        this.reset();
        for (let id = 0; id < commandNames.length; id++) {
          const command = commandNames[id] as string;
          if ((ok[id] as number) > 0) this.inc({ command, result: "ok" }, ok[id]);
          if ((errors[id] as number) > 0) this.inc({ command, result: "error" }, errors[id]);
        }
      },
    });
    this.latency = new FixedHistogram(
      "ringcache_request_duration_seconds",
      "Server time per command, from reading its input to queueing its reply",
      LATENCY_BUCKETS,
    );
    // prom-client formats any registered object with get(); its typings only name its classes.
    registry.registerMetric(this.latency as unknown as Metric);

    const store = sources.store;
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });
    };
    counter("ringcache_store_hits_total", "Reads that found a live entry", () => store.stats.hits);
    counter("ringcache_store_misses_total", "Reads that found nothing", () => store.stats.misses);
    counter(
      "ringcache_store_evictions_total",
      "Entries evicted to stay within the memory budget",
      () => store.stats.evictions,
    );
    counter(
      "ringcache_store_expirations_total",
      "Entries dropped because their TTL passed",
      () => store.stats.expirations,
    );
    gauge("ringcache_store_entries", "Live entries", () => store.stats.entries);
    gauge("ringcache_store_bytes", "Bytes charged to live entries", () => store.stats.bytes);
    gauge("ringcache_store_max_bytes", "Memory budget of the store", () => store.maxBytes);
    gauge("ringcache_store_max_entries", "Most live entries (0: unbounded)", () =>
      Number.isFinite(store.maxEntries) ? store.maxEntries : 0,
    );
    gauge("ringcache_store_tombstones", "Tombstones kept", () => store.stats.tombstones);
    new Gauge({
      name: "ringcache_store_eviction_info",
      help: "1, labelled with what the store does at its budget (lru: evicts; noeviction: refuses writes)",
      labelNames: ["policy"],
      registers: [registry],
    }).set({ policy: store.eviction }, 1);

    const snap = sources.snapshotter;
    gauge(
      "ringcache_snapshot_duration_seconds",
      "Duration of the last successful snapshot",
      () => snap.lastDurationMs / 1000,
    );
    gauge(
      "ringcache_snapshot_last_success_timestamp_seconds",
      "Unix time of the last successful snapshot (0: none since start)",
      () => snap.lastSuccessAt / 1000,
    );
    gauge("ringcache_snapshot_entries", "Entries in the last snapshot", () => snap.lastEntries);
    gauge("ringcache_snapshot_bytes", "Size of the last snapshot file", () => snap.lastBytes);
    gauge(
      "ringcache_snapshot_unsaved_changes",
      "Writes applied since the last successful snapshot began (0: everything is saved)",
      sources.unsavedChanges,
    );
    gauge(
      "ringcache_snapshot_interval_seconds",
      "How often a changed store is snapshotted",
      () => sources.snapshotIntervalMs / 1000,
    );
    gauge("ringcache_snapshot_in_progress", "1 while a snapshot is written", () =>
      snap.running ? 1 : 0,
    );
    counter("ringcache_snapshots_total", "Snapshots written", () => snap.completed);
    counter("ringcache_snapshot_failures_total", "Snapshots that failed", () => snap.failures);
    gauge(
      "ringcache_restored_entries",
      "Entries restored from a snapshot at start",
      sources.restoredEntries,
    );
    gauge("ringcache_connections", "Open client connections", () => sources.connections().open);
    counter(
      "ringcache_connections_total",
      "Client connections accepted",
      () => sources.connections().total,
    );
    counter(
      "ringcache_rejected_connections_total",
      "Connections refused (max clients)",
      () => sources.connections().rejected,
    );
  }

  /** The /metrics body. */
  async render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

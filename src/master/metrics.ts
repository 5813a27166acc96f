// The master's Prometheus metrics. The hot path only bumps plain numbers in typed arrays
// (record a command: two array writes and a short bucket scan); the registry turns them into
// text when /metrics is scraped.
//
// Exported (all prefixed ringcache_master_):
//   commands_total{command,result}               client commands by result (ok | error)
//   command_duration_seconds{command,result}     histogram of client command latency
//   http_requests_total{route,status}            HTTP API requests
//   http_request_duration_seconds{route}         histogram of HTTP API latency
//   node_requests_total{node}                    requests sent to each auxiliary node
//   node_errors_total{node,kind}                 failed node requests (kind: error | timeout)
//   node_request_duration_seconds{node}          histogram of node round trips
//   node_up{node}                                1 when the node is in the ring (up or suspect)
//   node_state{node,state}                       1 for the node's current state
//   ring_share{node}                             fraction of the hash space the node is primary for
//   ring_epoch_info{epoch}                       1, labelled with the current ring epoch
//   ring_changes_total, ring_nodes, replicas (effective), replicas_configured
//   client_connections{protocol}, client_connections_total{protocol}
//   write_stale_retries_total, replication_failures_total, read_failovers_total
//   writes_held_total{outcome}, writes_held (docs/design.md, "Acknowledging a write")
// plus ringcache_build_info{version,role="master"} (unprefixed: every node exports it), the
// leader, rebalancing and backup metrics node.ts adds (addCollected), and the default process
// and Node.js metrics (event-loop lag, heap, CPU).
import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { RINGCACHE_VERSION } from "../redis/version.js";
import type { NodeState } from "./health.js";
import { NODE_LATENCY_BUCKETS } from "./pool.js";
import type { WriteHolds } from "./ops/hold.js";
import type { RouterCounters } from "./router.js";
import type { Topology } from "./topology.js";

const PREFIX = "ringcache_master_";

/** Upper bounds (seconds) of the client latency histogram buckets. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

const RESULTS = ["ok", "error"] as const;
const STATES: readonly NodeState[] = ["unknown", "up", "suspect", "down"];

interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

/** A metric whose samples are computed at scrape time (prom-client's Metric contract). */
class CollectedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly aggregator = "sum";
  private readonly collect: () => Sample[];

  constructor(
    name: string,
    help: string,
    type: "counter" | "gauge" | "histogram",
    collect: () => Sample[],
  ) {
    this.name = PREFIX + name;
    this.help = help;
    this.type = type;
    this.collect = collect;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.collect(),
    };
  }

  reset(): void {
    // Counters here are views of the node's own counters; there is nothing to reset.
  }
}

/** Fixed-bucket histograms for a set of label combinations, counted in one typed array. */
export class HistogramSet {
  readonly bounds: readonly number[];
  /** [series * (bounds + 1) + bucket]: non-cumulative counts; the last bucket is +Inf. */
  readonly counts: Float64Array;
  readonly sums: Float64Array;
  private readonly width: number;

  constructor(bounds: readonly number[], series: number) {
    this.bounds = bounds;
    this.width = bounds.length + 1;
    this.counts = new Float64Array(series * this.width);
    this.sums = new Float64Array(series);
  }

  observe(series: number, seconds: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    (this.counts[series * this.width + i] as number)++;
    (this.sums[series] as number) += seconds;
  }

  count(series: number): number {
    let n = 0;
    for (let i = 0; i < this.width; i++) n += this.counts[series * this.width + i] as number;
    return n;
  }

  /** Prometheus samples (cumulative buckets, sum, count) for one series. */
  samples(name: string, series: number, labels: Record<string, string>): Sample[] {
    return histogramSamples(
      name,
      this.bounds,
      this.counts.subarray(series * this.width, (series + 1) * this.width),
      this.sums[series] as number,
      labels,
    );
  }
}

function histogramSamples(
  name: string,
  bounds: readonly number[],
  counts: Float64Array,
  sum: number,
  labels: Record<string, string>,
): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i <= bounds.length; i++) {
    cumulative += counts[i] as number;
    const le = i < bounds.length ? String(bounds[i]) : "+Inf";
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

/** Client connection counts, kept by the servers. */
export interface ConnectionCounts {
  resp(): { open: number; total: number };
  http(): { open: number; total: number };
}

export class MasterMetrics {
  readonly registry = new Registry();
  /** Command names, in the order of the command ids used by record(). */
  readonly commands: readonly string[];
  /** [command * 2 + result] */
  readonly commandCounts: Float64Array;
  readonly commandLatency: HistogramSet;
  readonly routes: readonly string[];
  /** HTTP statuses seen, by route: "route status" -> count. */
  private readonly httpCounts = new Map<string, number>();
  readonly httpLatency: HistogramSet;
  ringChanges = 0;
  /** Registers a metric computed at scrape time (for parts wired after construction). */
  readonly addCollected: (
    name: string,
    help: string,
    type: "counter" | "gauge",
    collect: () => { labels: Record<string, string | number>; value: number }[],
  ) => void;

  constructor(
    commands: readonly string[],
    routes: readonly string[],
    topology: Topology,
    router: RouterCounters,
    connections: ConnectionCounts,
    holds: WriteHolds,
  ) {
    this.commands = commands;
    this.routes = routes;
    this.commandCounts = new Float64Array(commands.length * 2);
    this.commandLatency = new HistogramSet(LATENCY_BUCKETS, commands.length * 2);
    this.httpLatency = new HistogramSet(LATENCY_BUCKETS, routes.length);
    topology.on("ring", () => this.ringChanges++);
    this.addCollected = (name, help, type, collect) => {
      this.registry.registerMetric(
        new CollectedMetric(name, help, type, collect) as unknown as Parameters<
          Registry["registerMetric"]
        >[0],
      );
    };
    collectDefaultMetrics({ register: this.registry });
    // Shared with the auxiliary nodes, so without the master prefix.
    new Gauge({
      name: "ringcache_build_info",
      help: "1, labelled with the version and role of this node.",
      labelNames: ["version", "role"],
      registers: [this.registry],
    }).set({ version: RINGCACHE_VERSION, role: "master" }, 1);

    const add = (
      name: string,
      help: string,
      type: "counter" | "gauge" | "histogram",
      collect: () => Sample[],
    ): void => {
      // prom-client's registry needs only name, help, type, get() and reset().
      this.registry.registerMetric(
        new CollectedMetric(name, help, type, collect) as unknown as Parameters<
          Registry["registerMetric"]
        >[0],
      );
    };

    add("commands_total", "Client commands by command and result.", "counter", () => {
      const out: Sample[] = [];
      commands.forEach((command, c) => {
        RESULTS.forEach((result, r) => {
          const value = this.commandCounts[c * 2 + r] as number;
          if (value > 0) out.push({ labels: { command, result }, value });
        });
      });
      return out;
    });
    add(
      "command_duration_seconds",
      "Latency of client commands, from dispatch to reply.",
      "histogram",
      () => {
        const out: Sample[] = [];
        commands.forEach((command, c) => {
          RESULTS.forEach((result, r) => {
            if (this.commandCounts[c * 2 + r] === 0) return;
            const name = `${PREFIX}command_duration_seconds`;
            out.push(...this.commandLatency.samples(name, c * 2 + r, { command, result }));
          });
        });
        return out;
      },
    );
    add("http_requests_total", "HTTP API requests by route and status.", "counter", () =>
      [...this.httpCounts].map(([key, value]) => {
        const [route, status] = key.split(" ") as [string, string];
        return { labels: { route, status }, value };
      }),
    );
    add("http_request_duration_seconds", "Latency of HTTP API requests.", "histogram", () => {
      const out: Sample[] = [];
      routes.forEach((route, i) => {
        if (this.httpLatency.count(i) === 0) return;
        out.push(
          ...this.httpLatency.samples(`${PREFIX}http_request_duration_seconds`, i, { route }),
        );
      });
      return out;
    });

    const nodes = () => topology.membership.all();
    add("node_requests_total", "Requests sent to each auxiliary node.", "counter", () =>
      nodes().map((n) => ({ labels: { node: n.id }, value: n.client.stats.requests })),
    );
    add("node_errors_total", "Failed requests to each auxiliary node by kind.", "counter", () =>
      nodes().flatMap((n) => [
        { labels: { node: n.id, kind: "error" }, value: n.client.stats.errors },
        { labels: { node: n.id, kind: "timeout" }, value: n.client.stats.timeouts },
      ]),
    );
    add(
      "node_request_duration_seconds",
      "Round-trip time of requests to each auxiliary node.",
      "histogram",
      () =>
        nodes().flatMap((n) =>
          histogramSamples(
            `${PREFIX}node_request_duration_seconds`,
            NODE_LATENCY_BUCKETS,
            n.client.stats.latencyBuckets,
            n.client.stats.latencySum,
            { node: n.id },
          ),
        ),
    );
    add("node_up", "1 when the auxiliary node is in the ring (up or suspect).", "gauge", () =>
      nodes().map((n) => ({ labels: { node: n.id }, value: n.health.inRing ? 1 : 0 })),
    );
    add("node_state", "1 for the state this master sees each auxiliary node in.", "gauge", () =>
      nodes().flatMap((n) =>
        STATES.map((state) => ({
          labels: { node: n.id, state },
          value: n.health.state === state ? 1 : 0,
        })),
      ),
    );
    add("ring_share", "Fraction of the hash space each node is primary for.", "gauge", () =>
      [...topology.ring.shares()].map(([node, share]) => ({ labels: { node }, value: share })),
    );
    add("ring_epoch_info", "The current ring epoch (a signature of its members).", "gauge", () => [
      { labels: { epoch: topology.epoch }, value: 1 },
    ]);
    add("ring_changes_total", "Times the ring changed.", "counter", () => [
      { labels: {}, value: this.ringChanges },
    ]);
    add("ring_nodes", "Auxiliary nodes in the ring.", "gauge", () => [
      { labels: {}, value: topology.ring.size },
    ]);
    add(
      "replicas",
      "Copies kept of each key (configured factor capped by nodes up).",
      "gauge",
      () => [{ labels: {}, value: topology.replicas }],
    );
    add("replicas_configured", "The configured replication factor.", "gauge", () => [
      { labels: {}, value: topology.options.replicas },
    ]);
    add("client_connections", "Open client connections.", "gauge", () => [
      { labels: { protocol: "resp" }, value: connections.resp().open },
      { labels: { protocol: "http" }, value: connections.http().open },
    ]);
    add("client_connections_total", "Client connections accepted.", "counter", () => [
      { labels: { protocol: "resp" }, value: connections.resp().total },
      { labels: { protocol: "http" }, value: connections.http().total },
    ]);
    add(
      "write_stale_retries_total",
      "Writes retried because an owner held a newer version.",
      "counter",
      () => [{ labels: {}, value: router.staleRetries }],
    );
    add(
      "write_stale_superseded_total",
      "Writes refused as older that a later write of this master to the key superseded.",
      "counter",
      () => [{ labels: {}, value: router.staleSuperseded }],
    );
    add(
      "replication_failures_total",
      "Writes acknowledged although an owner failed to apply them.",
      "counter",
      () => [{ labels: {}, value: router.replicationFailures }],
    );
    add(
      "writes_held_total",
      "Writes held for an owner that failed to apply them, by how the hold ended.",
      "counter",
      () => [
        { labels: { outcome: "acknowledged" }, value: holds.counters.acknowledged },
        { labels: { outcome: "gave_up" }, value: holds.counters.gaveUp },
      ],
    );
    add("writes_held", "Writes held now for an owner that has not applied them.", "gauge", () => [
      { labels: {}, value: holds.size },
    ]);
    add(
      "read_failovers_total",
      "Reads answered by an owner after the first one failed.",
      "counter",
      () => [{ labels: {}, value: router.readFailovers }],
    );
  }

  /** Records one client command (id from the command table) and its latency. */
  command(id: number, ok: boolean, seconds: number): void {
    const series = id * 2 + (ok ? 0 : 1);
    (this.commandCounts[series] as number)++;
    this.commandLatency.observe(series, seconds);
  }

  http(route: number, status: number, seconds: number): void {
    const key = `${this.routes[route] ?? "other"} ${status}`;
    this.httpCounts.set(key, (this.httpCounts.get(key) ?? 0) + 1);
    this.httpLatency.observe(route, seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

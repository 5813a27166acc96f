// A master's routing and recovery, without its servers: what a MasterNode serves clients from,
// and what the in-process simulation (src/simulation/) runs over a simulated network and clock.
//
//   Membership ◄── HealthChecker (probes)          NodePool ◄── Router ◄── ops (read, write …)
//       │ "members"                                   ▲ transport: TCP | loopback
//       ▼                                             │
//   Topology (ring, previous, generation) ◄── Coordinator ◄──► Coordination (builtin | etcd)
//       │ "ring"                                   │
//       └──────────────────────────────► Rebalancer (moves, vetting, backup replay)
//
// Every timer and clock reading of these parts comes from the transport's scheduler, so that a
// simulation moves time itself and a seed replays a run exactly.
import { HybridClock, MAX_TAG, latestVersionAt } from "../clock/hlc.js";
import type { CoordinationConfig, MasterConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { Backup } from "./backup.js";
import { BuiltinCoordination, type PeerLink } from "./coordination/builtin.js";
import type { PublishedMembership } from "./coordination/coordination.js";
import { EtcdCoordination } from "./coordination/etcd.js";
import { Coordinator } from "./coordinator.js";
import { HealthChecker } from "./health.js";
import { Membership, type NodeAddress } from "./membership.js";
import { NodePool } from "./pool.js";
import { Rebalancer } from "./rebalancer.js";
import { Router } from "./router.js";
import { Topology } from "./topology.js";
import type { Scheduler } from "./transport/scheduler.js";
import { TCP } from "./transport/tcp.js";
import type { Transport } from "./transport/transport.js";

/** What of a master's configuration its routing and recovery use. */
export type MasterCoreConfig = Pick<
  MasterConfig,
  | "id"
  | "tag"
  | "auxiliary"
  | "peers"
  | "replicas"
  | "vnodes"
  | "healthInterval"
  | "healthFailures"
  | "requestTimeout"
  | "connectionsPerNode"
  | "secret"
  | "rebalanceShare"
  | "tombstoneTtl"
> &
  // Where this master is reached and how it agrees (absent in a simulation: built-in).
  Partial<
    Pick<
      MasterConfig,
      | "host"
      | "port"
      | "httpPort"
      | "advertiseHost"
      | "coordination"
      | "etcdEndpoints"
      | "etcdPrefix"
      | "etcdUsername"
      | "etcdPassword"
      | "etcdCaFile"
      | "etcdCertFile"
      | "etcdKeyFile"
      | "etcdLeaseTtl"
    >
  >;

/** How masters agree: built-in (peers poll each other) or through etcd (config.coordination). */
export type MasterCoordination = BuiltinCoordination | EtcdCoordination;

export interface MasterCoreOptions {
  readonly config: MasterCoreConfig;
  readonly logger: Logger;
  /** How the master reaches auxiliary nodes, and its clock (default: TCP, Node's timers). */
  readonly transport?: Transport;
  /** How it reaches its peers' internal endpoints (default: HTTP). */
  readonly peerLink?: PeerLink;
  /** Where it keeps what it redistributes (none in a simulation). */
  readonly backup: Backup | null;
  /** Runs once, the first time this master leads with nodes in its ring. */
  readonly onFirstLead?: () => Promise<void>;
  /** The ports this master listens on, once known (default: the configured ones). */
  readonly ports?: { readonly resp: () => number; readonly http: () => number };
}

/** A clock tag from the master's id when none is configured (FNV-1a, folded to 0..15). */
export function tagFromId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % (MAX_TAG + 1);
}

export class MasterCore {
  readonly config: MasterCoreConfig;
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  readonly clock: HybridClock;
  readonly membership: Membership;
  readonly topology: Topology;
  readonly pool: NodePool;
  readonly checker: HealthChecker;
  readonly router: Router;
  readonly rebalancer: Rebalancer;
  readonly coordination: MasterCoordination;
  readonly coordinator: Coordinator;

  constructor(options: MasterCoreOptions) {
    const { config, logger } = options;
    const transport = options.transport ?? TCP;
    const scheduler = transport.scheduler;
    const now = (): number => scheduler.wallNow();
    this.config = config;
    this.logger = logger;
    this.scheduler = scheduler;
    this.clock = new HybridClock(config.tag ?? tagFromId(config.id), now);
    this.membership = new Membership({
      healthFailures: config.healthFailures,
      healthIntervalMs: config.healthInterval,
      requestTimeoutMs: config.requestTimeout,
      logger,
      now,
    });
    this.pool = new NodePool({
      connectionsPerNode: config.connectionsPerNode,
      requestTimeoutMs: config.requestTimeout,
      secret: config.secret,
      logger,
      listener: this.membership,
      transport,
    });
    this.checker = new HealthChecker(
      {
        intervalMs: config.healthInterval,
        // A probe must answer before the next one is due (and within the request timeout).
        deadlineMs: Math.min(config.healthInterval, config.requestTimeout),
        secret: config.secret,
        logger,
        transport,
      },
      this.membership,
    );
    this.membership.attach(this.pool, this.checker);
    this.topology = new Topology(this.membership, {
      vnodes: config.vnodes,
      replicas: config.replicas,
      logger,
      scheduler,
      // Until the coordinator says whether this master leads, it routes by no ring: a ring
      // of its own first probes would be partial, and a master that is about to follow must
      // not write by it.
      initialMode: "awaiting",
    });
    this.router = new Router(this.topology, this.clock, {
      holds: {
        scheduler,
        resendMs: Math.min(config.healthInterval, config.requestTimeout),
        // Long enough for the leader to take a dead owner out of the ring and publish it
        // (docs/design.md, "Acknowledging a write").
        holdMs: (config.healthFailures + 2) * config.healthInterval + 2 * config.requestTimeout,
      },
    });
    this.rebalancer = new Rebalancer(
      {
        replicas: config.replicas,
        secret: config.secret,
        linkTimeoutMs: Math.max(5000, config.requestTimeout * 10),
        retryDelayMs: config.healthInterval,
        share: config.rebalanceShare / 100,
        tombstoneTtlMs: config.tombstoneTtl,
        logger,
        transport,
      },
      {
        membership: this.membership,
        topology: this.topology,
        backup: options.backup,
        // Before data moves: every live peer routes by the new ring, and no write of this
        // master or theirs routed by an older ring is still on its way.
        publish: async () => {
          await Promise.all([this.drainWrites("moving data"), this.coordinator.publish()]);
        },
        versionAt: latestVersionAt,
        // Built-in coordination has no cluster-wide term: its steps carry none (never fenced).
        term: () => (this.coordination.kind === "etcd" ? this.coordination.ownTerm : 0),
      },
    );
    const nodes = (): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const n of this.membership.all()) out[n.id] = n.health.state;
      return out;
    };
    this.coordination =
      config.coordination === "etcd"
        ? new EtcdCoordination(
            {
              id: config.id,
              config: config as CoordinationConfig,
              intervalMs: config.healthInterval,
              failures: config.healthFailures,
              host: config.advertiseHost ?? config.host ?? "127.0.0.1",
              port: options.ports?.resp ?? (() => config.port ?? 0),
              httpPort: options.ports?.http ?? (() => config.httpPort ?? 0),
              secret: config.secret,
              logger,
            },
            {
              clock: this.clock,
              nodes,
              published: () => this.coordinator.published,
              take: (m) => this.takeMembership(m),
              registered: (node) => this.registerNode(node),
              beforeAssess: () => this.checker.probeAll(),
              ...(options.peerLink === undefined ? {} : { link: options.peerLink }),
            },
          )
        : this.builtin(options, nodes);
    this.router.holds.askLeader = (node) => this.coordination.askLeader(node);
    this.coordinator = new Coordinator(
      { id: config.id, retryDelayMs: config.healthInterval, logger, scheduler },
      {
        clock: this.clock,
        membership: this.membership,
        topology: this.topology,
        rebalancer: this.rebalancer,
        coordination: this.coordination,
        ...(options.onFirstLead === undefined ? {} : { onFirstLead: options.onFirstLead }),
      },
    );
  }

  /**
   * Probes the configured nodes once (so the ring is built before the first client), then
   * keeps probing every health interval and starts agreeing with the peers.
   */
  async start(): Promise<void> {
    for (const node of this.config.auxiliary) this.membership.add(node, "config");
    await this.checker.probeAll();
    this.checker.start();
    await this.coordinator.start();
  }

  /** An auxiliary node announced itself (registration, or its key in etcd). */
  registerNode(node: NodeAddress): ReturnType<Membership["add"]> {
    this.membership.setLeaving(node.id, false);
    return this.membership.add(node, "registered");
  }

  private builtin(
    options: MasterCoreOptions,
    nodes: () => Record<string, string>,
  ): BuiltinCoordination {
    const { config, logger } = options;
    return new BuiltinCoordination(
      {
        id: config.id,
        peers: config.peers,
        intervalMs: config.healthInterval,
        failures: config.healthFailures,
        secret: config.secret,
        logger,
        scheduler: this.scheduler,
      },
      {
        clock: this.clock,
        nodes,
        published: () => this.coordinator.published,
        ...(options.peerLink === undefined ? {} : { link: options.peerLink }),
      },
    );
  }

  /** Stops agreeing, moving and probing, and closes every connection to the nodes. */
  stop(): void {
    this.coordinator.stop();
    this.checker.stop();
    this.pool.close();
  }

  /**
   * Where peer master `id` serves HTTP: from --peers, or, with etcd, from what it registered.
   */
  peerAddress(id: string): MasterCoreConfig["peers"][number] | undefined {
    if (this.coordination instanceof EtcdCoordination) {
      return this.coordination.peerAddresses().find((p) => p.id === id);
    }
    return this.config.peers.find((p) => p.id === id);
  }

  /** A membership a peer pushed: taken once the writes routed by older rings have ended. */
  async takeMembership(m: PublishedMembership): Promise<void> {
    this.coordination.deliver(m);
    await this.drainWrites("taking the leader's ring");
  }

  /**
   * Waits for the writes routed by an older ring than the current one to end, for at most
   * about two request timeouts (a write's longest life short of stale retries); past that,
   * warns and goes on.
   */
  async drainWrites(before: string): Promise<void> {
    const limitMs = this.config.requestTimeout * 2 + 100;
    if (await this.topology.drained(limitMs)) return;
    this.logger.warn({ limitMs }, `writes by the previous ring still in flight; ${before} anyway`);
  }
}

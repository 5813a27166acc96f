// A master: the wiring of its parts, and start/stop.
//
//   RESP :port ──► MasterCommands ──┐                         ┌─► NodePool ──► auxiliary nodes
//   HTTP :http-port ─► HttpApi ─────┴─► Router (ring, clock) ─┤
//                                                             └─ Membership ◄─ HealthChecker
import { HybridClock, MAX_TAG } from "../clock/hlc.js";
import type { MasterConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { RespServer } from "../server/resp-server.js";
import { COMMAND_NAMES, MasterCommands } from "./commands.js";
import { HealthChecker } from "./health.js";
import { HttpApi, ROUTES, type ClusterView, type Registration } from "./http.js";
import { Membership } from "./membership.js";
import { MasterMetrics } from "./metrics.js";
import { NodePool } from "./pool.js";
import { Router } from "./router.js";

export const VERSION = "0.1.0";
/** What HELLO and INFO report as the server version (clients compare it to Redis's). */
export const REDIS_COMPAT_VERSION = "7.0.0";

export interface MasterNodeOptions {
  readonly config: MasterConfig;
  readonly logger: Logger;
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

export class MasterNode {
  readonly config: MasterConfig;
  readonly logger: Logger;
  readonly clock: HybridClock;
  readonly membership: Membership;
  readonly pool: NodePool;
  readonly checker: HealthChecker;
  readonly router: Router;
  readonly metrics: MasterMetrics;
  readonly commands: MasterCommands;
  readonly resp: RespServer;
  readonly http: HttpApi;
  readonly startedAt = Date.now();
  respPort = 0;
  httpPort = 0;
  private stopping: Promise<void> | null = null;

  constructor({ config, logger }: MasterNodeOptions) {
    this.config = config;
    this.logger = logger;
    this.clock = new HybridClock(config.tag ?? tagFromId(config.id));
    this.membership = new Membership({
      vnodes: config.vnodes,
      replicas: config.replicas,
      healthFailures: config.healthFailures,
      healthIntervalMs: config.healthInterval,
      requestTimeoutMs: config.requestTimeout,
      logger,
    });
    this.pool = new NodePool({
      connectionsPerNode: config.connectionsPerNode,
      requestTimeoutMs: config.requestTimeout,
      secret: config.secret,
      logger,
      listener: this.membership,
    });
    this.checker = new HealthChecker(
      {
        intervalMs: config.healthInterval,
        // A probe must answer before the next one is due (and within the request timeout).
        deadlineMs: Math.min(config.healthInterval, config.requestTimeout),
        secret: config.secret,
        logger,
      },
      this.membership,
    );
    this.membership.attach(this.pool, this.checker);
    this.router = new Router(this.membership, this.clock);
    this.metrics = new MasterMetrics(COMMAND_NAMES, ROUTES, this.membership, this.router.counters, {
      resp: () => ({ open: this.resp.connections.size, total: this.resp.totalConnections }),
      http: () => ({ open: this.http.openConnections, total: this.http.totalConnections }),
    });
    this.commands = new MasterCommands(
      this.router,
      this.metrics,
      {
        maxKeySize: config.maxKeySize,
        maxValueSize: config.maxValueSize,
        secret: config.secret,
      },
      {
        id: config.id,
        version: REDIS_COMPAT_VERSION,
        port: () => this.respPort,
        startedAt: this.startedAt,
        clients: () => ({
          open: this.resp.connections.size,
          total: this.resp.totalConnections,
          rejected: this.resp.rejectedConnections,
        }),
        ring: () => ({
          epoch: this.membership.epoch,
          up: this.membership.ring.size,
          known: this.membership.all().length,
          replicas: this.membership.replicas,
        }),
      },
    );
    this.resp = new RespServer(
      {
        host: config.host,
        port: config.port,
        maxClients: config.maxClients,
        idleTimeoutMs: config.idleTimeout,
        maxOutputBuffer: config.maxOutputBuffer,
        limits: { maxBulkLength: config.maxBulk },
        secret: config.secret,
        logger,
      },
      this.commands,
    );
    this.http = new HttpApi(
      {
        host: config.host,
        port: config.httpPort,
        maxKeySize: config.maxKeySize,
        maxValueSize: config.maxValueSize,
        maxBatchKeys: config.maxBatchKeys,
        secret: config.secret,
        logger,
      },
      {
        router: this.router,
        membership: this.membership,
        metrics: this.metrics,
        clusterView: () => this.clusterView(),
        register: (registration) => this.register(registration),
      },
    );
  }

  /**
   * Probes the configured nodes once (so the ring is built before the first client
   * arrives), then serves RESP and HTTP and keeps probing every health interval.
   */
  async start(): Promise<void> {
    for (const node of this.config.auxiliary) this.membership.add(node, "config");
    await this.checker.probeAll();
    this.checker.start();
    this.respPort = await this.resp.listen();
    this.httpPort = await this.http.listen();
    this.logger.info(
      {
        port: this.respPort,
        httpPort: this.httpPort,
        epoch: this.membership.epoch,
        nodesUp: this.membership.ring.size,
        replicas: this.config.replicas,
      },
      "master ready",
    );
  }

  /** Stops taking clients, answers what is in flight, closes every connection. */
  stop(reason = "stop"): Promise<void> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    this.logger.info({ reason }, "master stopping");
    this.resp.stopAccepting();
    this.resp.stopReading();
    await this.http.close();
    // Commands in flight still get their replies (bounded: requests to nodes time out).
    await this.resp.drain(this.config.requestTimeout * 2 + 500);
    this.resp.closeAll();
    this.checker.stop();
    this.pool.close();
    this.logger.info("master stopped");
  }

  register(registration: Registration): { state: string; epoch: string } {
    const node = this.membership.add(
      {
        id: registration.id,
        host: registration.host,
        port: registration.port,
        httpPort: registration.httpPort,
      },
      "registered",
    );
    return { state: node.health.state, epoch: this.membership.epoch };
  }

  clusterView(): ClusterView {
    const m = this.membership;
    const shares = m.ring.shares();
    const iso = (ms: number): string => new Date(ms).toISOString();
    return {
      master: {
        id: this.config.id,
        version: VERSION,
        uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      },
      epoch: m.epoch,
      replicas: { configured: this.config.replicas, effective: m.replicas },
      vnodes: this.config.vnodes,
      nodes: m.all().map((n) => ({
        id: n.id,
        host: n.host,
        port: n.port,
        httpPort: n.httpPort ?? null,
        source: n.source,
        state: n.health.state,
        inRing: n.health.inRing,
        share: shares.get(n.id) ?? 0,
        failures: n.health.failures,
        since: iso(n.health.since),
        lastError: n.health.lastError === "" ? null : n.health.lastError,
        lastRegistration: n.lastRegistration === 0 ? null : iso(n.lastRegistration),
      })),
      peers: this.config.peers.map((p) => ({ id: p.id, host: p.host, port: p.port })),
      leader: null,
      rebalance: null,
    };
  }
}

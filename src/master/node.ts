// A master: its servers around its routing and recovery (core.ts), and start/stop.
//
//   RESP :port ──► MasterCommands ──┐
//   HTTP :http-port ─► HttpApi ─────┴─► MasterCore: Router, Topology, NodePool, health,
//                                       coordination, Rebalancer ──► auxiliary nodes, peers
//   Backup (files of what moves) ◄── the rebalancer; replayed when this master first leads or
//                                     follows (BackupRecovery), served to peers over HTTP
import { join, resolve } from "node:path";
import { latestVersionAt } from "../clock/hlc.js";
import type { MasterConfig } from "../config/schema.js";
import type { Logger } from "../log.js";
import { REDIS_VERSION, RINGCACHE_VERSION } from "../redis/version.js";
import { AuthLimiter } from "../server/auth-limiter.js";
import { RespServer } from "../server/resp-server.js";
import { Backup } from "./backup.js";
import { BackupRecovery } from "./backup-recovery.js";
import { MasterCommands } from "./commands/dispatcher.js";
import { masterRegistry } from "./commands/registry.js";
import type { PublishedMembership } from "./coordination/coordination.js";
import { MasterCore } from "./core.js";
import type { Registration } from "./http-input.js";
import { HttpApi, ROUTES, type ClusterView } from "./http.js";
import { MasterMetrics } from "./metrics.js";
import { ownHost, type ScrapeTarget } from "./service-discovery.js";

export interface MasterNodeOptions {
  readonly config: MasterConfig;
  readonly logger: Logger;
}

export class MasterNode {
  readonly config: MasterConfig;
  readonly logger: Logger;
  /** Routing and recovery: everything but the servers (core.ts). */
  readonly core: MasterCore;
  readonly metrics: MasterMetrics;
  readonly commands: MasterCommands;
  readonly resp: RespServer;
  readonly http: HttpApi;
  readonly backup: Backup;
  /** Replays the backups after a whole-system restart: its own, and as leader its peers'. */
  readonly recovery: BackupRecovery;
  /** Wrong secrets per client address, for RESP AUTH and HTTP Bearer alike. */
  readonly authLimiter = new AuthLimiter();
  readonly startedAt = Date.now();
  respPort = 0;
  httpPort = 0;
  private stopping: Promise<void> | null = null;

  constructor({ config, logger }: MasterNodeOptions) {
    this.config = config;
    this.logger = logger;
    const oldestKept = (): number => latestVersionAt(Date.now() - config.tombstoneTtl);
    this.backup = new Backup({
      // Its own volume: peers read it over HTTP (GET /v1/internal/backup), never from disk.
      dir: config.backupDir ?? join(resolve(config.dataDir), "backup"),
      id: config.id,
      maxBytes: config.backupMaxBytes,
      minVersion: oldestKept,
      logger,
    });
    this.core = new MasterCore({
      config,
      logger,
      backup: this.backup,
      onFirstLead: () => this.replayBackups(oldestKept()),
      ports: {
        resp: () => this.respPort || config.port,
        http: () => this.httpPort || config.httpPort,
      },
    });
    this.recovery = new BackupRecovery(
      {
        id: config.id,
        secret: config.secret,
        logger,
        retryDelayMs: config.healthInterval,
        timeoutMs: Math.max(5000, config.requestTimeout * 10),
        // A record holds one key and one value, each within a bulk.
        maxRecordBytes: 2 * config.maxBulk + 64,
      },
      {
        backup: this.backup,
        minVersion: oldestKept,
        replay: (records) => this.core.rebalancer.replay(records),
        livePeers: () => this.core.coordination.livePeers(),
        peerAddress: (id) => this.core.peerAddress(id),
      },
    );
    // A master that follows replays its own backup (it may have been away when the leader
    // gathered the others'): versioned, so safe whenever it runs.
    this.core.topology.on("ring", (ring) => {
      if (ring.size > 0 && this.core.topology.mode === "following") this.recovery.follow();
    });
    const registry = masterRegistry();
    this.metrics = new MasterMetrics(
      registry.names,
      ROUTES,
      this.core.topology,
      this.core.router.counters,
      {
        resp: () => ({ open: this.resp.connections.size, total: this.resp.totalConnections }),
        http: () => ({ open: this.http.openConnections, total: this.http.totalConnections }),
      },
      this.core.router.holds,
    );
    this.addRecoveryMetrics();
    this.commands = new MasterCommands(
      this.core.router,
      this.metrics,
      {
        maxKeySize: config.maxKeySize,
        maxValueSize: config.maxValueSize,
        secret: config.secret,
        authLimiter: this.authLimiter,
      },
      {
        id: config.id,
        version: REDIS_VERSION,
        port: () => this.respPort,
        startedAt: this.startedAt,
        clients: () => ({
          open: this.resp.connections.size,
          total: this.resp.totalConnections,
          rejected: this.resp.rejectedConnections,
        }),
        ring: () => ({
          epoch: this.core.topology.epoch,
          up: this.core.topology.ring.size,
          known: this.core.membership.all().length,
          replicas: this.core.topology.replicas,
        }),
      },
      registry,
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
        authLimiter: this.authLimiter,
        logger,
      },
      {
        router: this.core.router,
        membership: this.core.membership,
        metrics: this.metrics,
        clusterView: () => this.clusterView(),
        scrapeTargets: (hostHeader) => this.scrapeTargets(hostHeader),
        register: (registration) => this.register(registration),
        internal: {
          state: () => this.core.coordination.state(),
          // Acknowledged once the writes routed by the ring before it have ended.
          membership: (m) => this.core.takeMembership(m as PublishedMembership),
          leave: (id) => this.core.coordinator.leave(id),
          suspect: (node, from) => this.core.coordination.suspected(node, from),
          backup: (minVersion) => this.backup.reader(minVersion),
          backupSent: (records, minVersion) => this.recovery.served(records, minVersion),
        },
      },
    );
  }

  /**
   * Probes the configured nodes once (so the ring is built before the first client
   * arrives), then serves RESP and HTTP and keeps probing every health interval.
   */
  async start(): Promise<void> {
    this.backup.open();
    await this.core.start();
    this.respPort = await this.resp.listen();
    this.httpPort = await this.http.listen();
    this.logger.info(
      {
        port: this.respPort,
        httpPort: this.httpPort,
        epoch: this.core.topology.epoch,
        nodesUp: this.core.topology.ring.size,
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
    this.recovery.stop();
    this.core.stop();
    this.backup.close();
    this.logger.info("master stopped");
  }

  private addRecoveryMetrics(): void {
    const add = this.metrics.addCollected;
    const one = (value: number): { labels: Record<string, string>; value: number }[] => [
      { labels: {}, value },
    ];
    const rb = this.core.rebalancer;
    add(
      "rebalance_keys_moved_total",
      "Entries copied to new owners by rebalancing.",
      "counter",
      () => one(rb.keysMovedTotal),
    );
    add(
      "rebalance_keys_removed_total",
      "Entries removed from former owners (CDEL).",
      "counter",
      () => one(rb.keysRemovedTotal),
    );
    add("rebalance_in_progress", "1 while a move is in progress (leader).", "gauge", () =>
      one(rb.busy ? 1 : 0),
    );
    add("rebalance_progress_ratio", "Share of the move's tasks done.", "gauge", () => {
      const s = rb.status();
      return one(s.tasksTotal === 0 ? (s.running ? 0 : 1) : s.tasksDone / s.tasksTotal);
    });
    add(
      "rebalance_started_timestamp_seconds",
      "Unix time the move in progress began, kept across its restarts and retries (0: no move led by this master).",
      "gauge",
      () => one(rb.busy ? rb.moveStartedAt / 1000 : 0),
    );
    add("rebalance_ranges", "Hash ranges the current pass of the move copies.", "gauge", () =>
      one(rb.rangesTotal),
    );
    add(
      "rebalance_ranges_done",
      "Hash ranges of the current pass whose sender has finished.",
      "gauge",
      () => one(rb.rangesDone),
    );
    add(
      "rebalance_move_keys_moved",
      "Entries copied by the move in progress (or the last one).",
      "gauge",
      () => one(rb.status().keysMovedThisMove),
    );
    add(
      "rebalance_bytes_moved_total",
      "Bytes of entries copied to new owners by rebalancing.",
      "counter",
      () => one(rb.bytesMovedTotal),
    );
    add("rebalance_moves_total", "Moves completed.", "counter", () => one(rb.movesCompleted));
    add("rebalance_restarts_total", "Moves restarted because the ring changed.", "counter", () =>
      one(rb.restarts),
    );
    add("rebalance_failures_total", "Move steps that failed and were retried.", "counter", () =>
      one(rb.failures),
    );
    add("is_leader", "1 when this master leads (decides the ring, moves data).", "gauge", () =>
      one(this.core.coordinator.isLeader ? 1 : 0),
    );
    add(
      "leader_info",
      "1, labelled with the leader this master knows (none: no series).",
      "gauge",
      () =>
        this.core.coordinator.leader === ""
          ? []
          : [{ labels: { leader: this.core.coordinator.leader }, value: 1 }],
    );
    add("leader_changes_total", "Times the leader changed.", "counter", () =>
      one(this.core.coordination.leaderChanges),
    );
    add("peers_live", "Peer masters that answered within the last K polls.", "gauge", () =>
      one(this.core.coordination.livePeers().length),
    );
    const kind = this.core.coordination.kind;
    add(
      "coordination_connected",
      "1 while this master can take part in agreeing on the leader and the ring (etcd reachable; always 1 built-in).",
      "gauge",
      () => [{ labels: { kind }, value: this.coordinationConnected() ? 1 : 0 }],
    );
    add(
      "coordination_term",
      "The current leader's term (etcd: its election key's revision; 0 built-in).",
      "gauge",
      () => one(this.core.coordination.kind === "etcd" ? this.core.coordination.term : 0),
    );
    add(
      "ring_propagation_seconds",
      "Time the last membership push took to reach every live peer: the window with two rings.",
      "gauge",
      () => one(this.core.coordination.lastPropagationMs / 1000),
    );
    add("peer_node_up", "Each peer master's probe view of each auxiliary node.", "gauge", () =>
      this.core.coordination
        .peerViews()
        .map((v) => ({ labels: { peer: v.peer, node: v.node }, value: v.state === "up" ? 1 : 0 })),
    );
    add("backup_bytes", "Size of this master's backup file.", "gauge", () =>
      one(this.backup.bytes),
    );
    add("backup_records_total", "Records appended to this master's backup.", "counter", () =>
      one(this.backup.appended),
    );
    add(
      "backup_write_failures_total",
      "Appends to this master's backup that failed (the move retries them).",
      "counter",
      () => one(this.backup.writeFailures),
    );
    add(
      "backup_compaction_failures_total",
      "Compactions of this master's backup that failed (retried as it grows).",
      "counter",
      () => one(this.backup.compactionFailures),
    );
    add(
      "backup_last_write_timestamp_seconds",
      "Unix time of the last append to this master's backup (0: none since start).",
      "gauge",
      () => one(this.backup.lastWriteAt / 1000),
    );
    const bySource = (pick: (c: { records: number; failures: number }) => number) => () =>
      [...this.recovery.sources].map(([source, c]) => ({ labels: { source }, value: pick(c) }));
    add(
      "backup_replayed_records_total",
      "Backup records replayed, by source: this master's own files or a peer's stream.",
      "counter",
      bySource((c) => c.records),
    );
    add(
      "backup_replay_failures_total",
      "Replays of a source that failed (and were tried again or given up), by source.",
      "counter",
      bySource((c) => c.failures),
    );
    add(
      "backup_streamed_records_total",
      "Records of this master's backup streamed in full to peers replaying it.",
      "counter",
      () => one(this.recovery.streamed),
    );
  }

  /**
   * The first time this master leads: replays its own backup and every live peer's, read over
   * HTTP (records younger than the tombstone lifetime).
   */
  private replayBackups(minVersion: number): Promise<void> {
    return this.recovery.lead(minVersion);
  }

  register(registration: Registration): { state: string; epoch: string } {
    const node = this.core.registerNode({
      id: registration.id,
      host: registration.host,
      port: registration.port,
      httpPort: registration.httpPort,
    });
    return { state: node.health.state, epoch: this.core.topology.epoch };
  }

  /** Whether this master can take part in agreeing now (built-in: always). */
  coordinationConnected(): boolean {
    const c = this.core.coordination;
    return c.kind === "etcd" ? c.connected : true;
  }

  /**
   * Every member Prometheus should scrape (GET /v1/sd/prometheus): this master, its peers, and
   * the auxiliary nodes whose metrics port is known (they told it when registering; a node only
   * configured with --auxiliary and never registering is not listed).
   */
  scrapeTargets(hostHeader: string | undefined): ScrapeTarget[] {
    const c = this.core.coordination;
    const peers =
      c.kind === "etcd"
        ? c.peerAddresses()
        : this.config.peers.map((p) => ({ id: p.id, host: p.host, port: p.port }));
    const out: ScrapeTarget[] = [
      {
        role: "master",
        id: this.config.id,
        host: ownHost(this.config.advertiseHost, this.config.host, hostHeader),
        port: this.httpPort || this.config.httpPort,
      },
      ...peers.map((p) => ({ role: "master" as const, ...p })),
    ];
    for (const n of this.core.membership.all()) {
      if (n.httpPort === undefined) continue;
      out.push({ role: "auxiliary", id: n.id, host: n.host, port: n.httpPort });
    }
    return out;
  }

  clusterView(): ClusterView {
    const c = this.core.coordination;
    const m = this.core.membership;
    const t = this.core.topology;
    const shares = t.ring.shares();
    const members = new Set(t.ring.members.map((r) => r.id));
    const iso = (ms: number): string => new Date(ms).toISOString();
    return {
      master: {
        id: this.config.id,
        version: RINGCACHE_VERSION,
        uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      },
      epoch: t.epoch,
      replicas: { configured: this.config.replicas, effective: t.replicas },
      vnodes: this.config.vnodes,
      nodes: m.all().map((n) => ({
        id: n.id,
        host: n.host,
        port: n.port,
        httpPort: n.httpPort ?? null,
        source: n.source,
        state: n.health.state,
        // A member of the ring this master routes by (a node up but still vetted is not).
        inRing: members.has(n.id),
        share: shares.get(n.id) ?? 0,
        failures: n.health.failures,
        since: iso(n.health.since),
        lastError: n.health.lastError === "" ? null : n.health.lastError,
        lastRegistration: n.lastRegistration === 0 ? null : iso(n.lastRegistration),
      })),
      peers:
        c.kind === "etcd"
          ? c.peerAddresses()
          : this.config.peers.map((p) => ({ id: p.id, host: p.host, port: p.port })),
      // "" while nobody can be trusted to lead (etcd out of reach).
      leader: this.core.coordinator.leader === "" ? null : this.core.coordinator.leader,
      rebalance: this.core.rebalancer.status(),
      coordination: {
        kind: c.kind,
        connected: this.coordinationConnected(),
        term: c.kind === "etcd" ? c.term : 0,
        generation: this.core.coordinator.published?.generation ?? null,
        livePeers: this.core.coordination.livePeers(),
        lastPropagationMs: Math.round(this.core.coordination.lastPropagationMs * 10) / 10,
        sources: this.core.coordinator.isLeader
          ? this.core.rebalancer.sourceMembers
          : (this.core.coordinator.published?.sources ?? []),
      },
    };
  }
}

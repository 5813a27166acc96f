// Coordination through etcd, for masters on several hosts; the keys and the reasons are in
// docs/design.md, "Coordination through etcd". This master's lease, candidacy and records are
// its session (etcd-session.ts); what it sees of the prefix is its watch (etcd-watch.ts); here
// they meet: who leads, publishing a generation, taking and acknowledging one.
//
//   lease (TTL) ─ renewed every TTL/3; "renewed" counts from when the renewal was sent
//   election/<lease> = id ─ the lowest create revision leads; that revision is the term
//   masters/<id> = addresses, probe view, clock ─ peers are discovered, not listed
//   membership = the published generation ─ written by the leader in a transaction that holds
//                only while its election key has its term's create revision; watched by all
//   acks/<id> = the generation a master took (after its writes by older rings drained)
//   nodes/<id> = an auxiliary node's address ─ added to the membership as "registered"
//
//   leader:   publish ─ txn(membership) ─► wait for acks ≥ G from every master registered
//             (bounded: (failures + 1) intervals, then a warning) ─► resolve: data may move
//   follower: watch membership ─► take it (drained) ─► put acks/<id>
//
// What must stay true:
// - A leader whose renewals fail steps down once none has succeeded for half the TTL, while
//   its lease still lives: it stops deciding and moving before a successor can be elected.
// - No master acts as leader while it cannot reach etcd: with etcd gone nobody changes the
//   ring, and every master keeps routing by the ring it has.
// - The watch resumes from the last revision it saw; generations older than the one routed by
//   are ignored by the Coordinator, so a reconnect never brings an older ring back.
import { EventEmitter } from "node:events";
import type { HybridClock } from "../../clock/hlc.js";
import type { CoordinationConfig } from "../../config/schema.js";
import { ConfigError } from "../../config/load.js";
import {
  EtcdKeys,
  START_CHECK_MS,
  checkEtcd,
  describeEndpoints,
  createEtcdClient,
  isPassing,
  type Etcd3,
} from "../../etcd/client.js";
import type { Logger } from "../../log.js";
import type { NodeAddress } from "../membership.js";
import { HttpPeerLink, askLeaderAt, peerState, type PeerLink, type PeerState } from "./builtin.js";
import type {
  Coordination,
  CoordinationEvents,
  PeerView,
  PublishedMembership,
} from "./coordination.js";
import { EtcdSession, type MasterRecord } from "./etcd-session.js";
import { EtcdWatch } from "./etcd-watch.js";

export type { MasterRecord } from "./etcd-session.js";

export interface EtcdOptions {
  readonly id: string;
  readonly config: CoordinationConfig;
  /** The health interval: the period of this master's registration and assessments. */
  readonly intervalMs: number;
  readonly failures: number;
  /** The address other masters reach this one at, and its ports (known once it listens). */
  readonly host: string;
  readonly port: () => number;
  readonly httpPort: () => number;
  readonly secret?: string | undefined;
  readonly logger: Logger;
}

export interface EtcdDeps {
  readonly clock: HybridClock;
  /** This master's probes' view of each auxiliary node. */
  readonly nodes: () => Record<string, string>;
  /** The membership this master routes by, as published (null: none yet). */
  readonly published: () => PublishedMembership | null;
  /**
   * Takes a published generation as a pushed one is taken (MasterCore.takeMembership):
   * resolves once this master's writes routed by older rings have ended.
   */
  readonly take: (m: PublishedMembership) => Promise<void>;
  /** An auxiliary node registered itself in etcd. */
  readonly registered: (node: NodeAddress) => void;
  /**
   * Runs once the nodes registered in etcd are known and before leadership is first assessed:
   * a master that is to lead at once must have probed them, or it would decide a ring without
   * them (MasterCore probes every known node).
   */
  readonly beforeAssess?: () => Promise<void>;
  /** The way to the leader's /v1/internal/suspect (default: HTTP). */
  readonly link?: PeerLink;
}

export class EtcdCoordination extends EventEmitter<CoordinationEvents> implements Coordination {
  readonly kind = "etcd";
  readonly options: EtcdOptions;
  private readonly deps: EtcdDeps;
  private readonly keys: EtcdKeys;
  private readonly link: PeerLink;
  /** Who leads as last assessed; "" while nobody can be trusted to (etcd out of reach). */
  leader = "";
  /** The current leader's term: its election key's create revision. */
  term = 0;
  /** The term of this master's own tenure, which its move steps carry (0: never led). */
  ownTerm = 0;
  leaderChanges = 0;
  lastPropagationMs = 0;
  /** Times a publication gave up waiting for a master's acknowledgement. */
  ackTimeouts = 0;

  private client: Etcd3 | null = null;
  private session: EtcdSession | null = null;
  private watch: EtcdWatch | null = null;
  private running = false;
  private membership: PublishedMembership | null = null;
  private taking: Promise<void> = Promise.resolve();
  private publishing: PublishedMembership | null = null;
  private publishChain: Promise<void> = Promise.resolve();
  /** Woken when acks, masters or leadership change (publications waiting for acks). */
  private readonly ackWaiters = new Set<() => void>();
  private lastAssessedAt = 0;
  /** Opening a session has failed since the last one opened (said once). */
  private reopenFailing = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: EtcdOptions, deps: EtcdDeps) {
    super();
    this.options = options;
    this.deps = deps;
    this.keys = new EtcdKeys(options.config.etcdPrefix);
    this.link = deps.link ?? new HttpPeerLink(options.intervalMs, options.secret);
  }

  /** Whether this master can take part now: its lease renewed within half the TTL, watching. */
  get connected(): boolean {
    return (
      this.watch !== null && this.watch.connected && this.session !== null && this.session.fresh()
    );
  }

  /**
   * Connects (a ConfigError when etcd does not answer in time or refuses the credentials), takes
   * a lease, registers, stands for election and reads what is published; resolves with the
   * first assessment, so that a master about to lead knows the moves its predecessor left.
   */
  async start(): Promise<void> {
    const { config, id, intervalMs, host, port, httpPort, logger } = this.options;
    const ttlCallMs = Math.max(200, Math.min(2000, Math.floor(config.etcdLeaseTtl / 3)));
    const watchRetryMs = Math.min(1000, intervalMs);
    const client = await createEtcdClient(config, ttlCallMs, watchRetryMs);
    this.client = client;
    await checkEtcd(client, config);
    const session = new EtcdSession(client, {
      id,
      config,
      keys: this.keys,
      intervalMs,
      host,
      port,
      httpPort,
      logger,
      clock: this.deps.clock,
      nodes: this.deps.nodes,
    });
    this.session = session;
    this.watch = new EtcdWatch(
      client,
      {
        config,
        keys: this.keys,
        logger,
        clock: this.deps.clock,
        callTimeoutMs: () => session.callTimeoutMs(),
        watchRetryMs,
        retryMs: () => this.retryMs(),
      },
      {
        election: (deleted) => {
          if (deleted !== null && deleted === session.electionKey) this.dropSession();
          else this.assess();
        },
        read: () => {
          // etcd has dropped this master's key (its lease expired while we were away).
          const key = session.electionKey;
          if (key !== null && !this.requireWatch().candidates.has(key)) this.dropSession();
          else this.assess();
        },
        peers: () => this.wakeAckWaiters(),
        membership: (m) => this.received(m),
        registered: (node) => this.deps.registered(node),
        connection: () => this.assess(),
      },
    );
    this.running = true;
    // etcd answered the check, but on a loaded machine a call of the 1/3-TTL deadline may still
    // miss it: what did not answer in time is tried again within the check's bound; what etcd
    // refused (a lease, writes under the prefix) is the settings' to change (the user's role).
    const deadline = performance.now() + START_CHECK_MS;
    for (;;) {
      try {
        if (!session.isOpen) await this.openSession();
        await this.watch.resync();
        break;
      } catch (err) {
        const passing = isPassing(err as Error);
        if (!passing || performance.now() >= deadline) {
          this.stop();
          const where = `etcd at ${describeEndpoints(config.etcdEndpoints)}`;
          const reason = (err as Error).message;
          throw new ConfigError(
            passing
              ? `${where} did not take this master's keys under ${config.etcdPrefix}/ within ${START_CHECK_MS / 1000} s (${reason}); check that etcd has a quorum`
              : `${where} refused this master's keys under ${config.etcdPrefix}/ (${reason}); check the etcd user's role`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, this.retryMs()));
      }
    }
    await this.watch.waitConnected(5000);
    // The published ring is adopted (and the nodes in etcd probed) before anyone leads.
    await this.taking;
    await this.deps.beforeAssess?.();
    this.keepAlive();
    this.tick();
    this.assess(true);
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.wakeAckWaiters();
    const client = this.client;
    const session = this.session;
    this.watch?.close();
    if (client === null) return;
    // Revoking the lease removes this master's keys at once: a successor need not wait a TTL.
    void (async () => {
      await session?.revoke();
      client.close();
    })();
  }

  /** What this master answers to GET /v1/internal/state (kept for tools and peers). */
  state(): PeerState {
    return peerState(this.options.id, this.leader, this.deps);
  }

  /** A membership taken (MasterCore.takeMembership): the Coordinator hears of it. */
  deliver(m: PublishedMembership): void {
    this.emit("membership", m);
  }

  leaderMembership(): PublishedMembership | null {
    return this.membership;
  }

  livePeers(): string[] {
    const masters = this.watch?.masters;
    if (masters === undefined) return [];
    return [...masters.keys()].filter((id) => id !== this.options.id).sort();
  }

  /** The live peers' addresses as they registered (HTTP port). */
  peerAddresses(): { id: string; host: string; port: number }[] {
    const masters = this.watch?.masters;
    if (masters === undefined) return [];
    return this.livePeers().map((id) => {
      const r = masters.get(id) as MasterRecord;
      return { id, host: r.host, port: r.httpPort };
    });
  }

  peerViews(): PeerView[] {
    const out: PeerView[] = [];
    for (const r of this.watch?.masters.values() ?? []) {
      if (r.id === this.options.id) continue;
      for (const [node, state] of Object.entries(r.nodes)) out.push({ peer: r.id, node, state });
    }
    return out;
  }

  askLeader(node: string): void {
    const r = this.watch?.masters.get(this.leader);
    const address = r === undefined ? undefined : { id: r.id, host: r.host, port: r.httpPort };
    askLeaderAt(this, this.options, this.link, address, node);
  }

  /** A peer asks this master, as leader, to decide on a node (POST /v1/internal/suspect). */
  suspected(node: string, from: string): void {
    if (this.leader === this.options.id) this.emit("suspect", node, from);
  }

  /**
   * Writes the generation if this master still holds its term, then waits until every master
   * registered has acknowledged it. A failed write steps this master down: it could not show
   * that it still leads, so it must not move data.
   */
  async publish(m: PublishedMembership): Promise<void> {
    this.publishing = m;
    // One write at a time, in the order of their generations, and none that a newer one has
    // already replaced: concurrent writes could land out of order and leave an older ring in
    // etcd for the next master that reads it.
    const written = this.publishChain.then(() => (this.publishing === m ? this.write(m) : false));
    this.publishChain = written.then(
      () => undefined,
      () => undefined,
    );
    if (!(await written)) return;
    const started = performance.now();
    await this.waitAcks(m);
    this.lastPropagationMs = performance.now() - started;
  }

  /** Writes a generation if this master still holds its term; false (stepped down) if not. */
  private async write(m: PublishedMembership): Promise<boolean> {
    const client = this.client;
    const electionKey = this.session?.electionKey ?? null;
    if (client === null || this.leader !== this.options.id || electionKey === null) {
      return false;
    }
    try {
      const res = await client.kv.txn({
        compare: [
          {
            key: Buffer.from(electionKey),
            target: "Create",
            result: "Equal",
            create_revision: this.ownTerm,
          },
        ],
        success: [
          {
            request_put: {
              key: Buffer.from(this.keys.membership),
              value: Buffer.from(JSON.stringify(m)),
            },
          },
        ],
      });
      if (res.succeeded) return true;
      this.stepDown("this master's election key is gone: it no longer leads");
    } catch (err) {
      this.stepDown(`cannot publish the ring through etcd (${(err as Error).message})`);
    }
    return false;
  }

  // --- leadership ------------------------------------------------------------------------------

  /** Decides who leads from the election keys the watch has shown, and says so. */
  private assess(always = false): void {
    const session = this.session;
    const watch = this.watch;
    const { leader, term } =
      this.connected && session !== null && watch !== null
        ? session.leaderAmong(watch.candidates.values())
        : { leader: "", term: 0 };
    const changed = leader !== this.leader;
    if (changed) {
      if (this.leader !== "" && leader !== "") this.leaderChanges++;
      this.options.logger.info({ from: this.leader, to: leader, term }, "leader changed");
      this.leader = leader;
      if (leader === this.options.id) this.ownTerm = term;
      this.wakeAckWaiters();
    }
    this.term = term;
    if (changed || always) {
      this.lastAssessedAt = performance.now();
      this.emit("leadership", leader);
    }
  }

  /** Stops leading at once (until a renewal succeeds again), e.g. after a failed publication. */
  private stepDown(reason: string): void {
    this.session?.blockLead();
    if (this.leader !== this.options.id) return;
    this.options.logger.warn({ term: this.ownTerm }, `stepping down: ${reason}`);
    this.assess();
  }

  // --- the session -------------------------------------------------------------------------------

  /** A new session, whose candidacy the watch counts at once. */
  private async openSession(): Promise<void> {
    const candidate = await this.requireSession().open();
    this.requireWatch().candidates.set(candidate.key, candidate);
  }

  /** Forgets a lease etcd no longer has: its keys, this master's candidacy among them, are gone. */
  private dropSession(): void {
    const key = this.requireSession().drop();
    if (key !== null) this.requireWatch().candidates.delete(key);
    this.assess();
  }

  /**
   * Renews the lease every third of its TTL (more often while renewals fail); opens a new
   * session when etcd says the lease is gone.
   */
  private keepAlive(): void {
    if (!this.running) return;
    const session = this.requireSession();
    const healthy = session.fresh();
    void this.renew()
      .catch(() => undefined)
      .then(() => {
        if (!this.running) return;
        this.assess();
        this.later(session.fresh() && healthy ? session.ttlMs / 3 : this.retryMs(), () =>
          this.keepAlive(),
        );
      });
  }

  private async renew(): Promise<void> {
    const session = this.requireSession();
    if (!session.isOpen) {
      const { logger } = this.options;
      try {
        await this.openSession();
      } catch (err) {
        // Said once until a session opens (etcd out of reach, or refusing this master's keys).
        const message = (err as Error).message;
        if (this.reopenFailing) logger.debug({ err: message }, "etcd session not reopened yet");
        else logger.warn({ err: message }, "cannot open an etcd session yet; retrying");
        this.reopenFailing = true;
        return;
      }
      this.reopenFailing = false;
      await this.requireWatch()
        .resync()
        .catch((err: unknown) => {
          logger.debug({ err: (err as Error).message }, "etcd not read again yet");
        });
      return;
    }
    if ((await session.renew()) === "expired") this.dropSession();
  }

  private retryMs(): number {
    const ttlMs = this.session?.ttlMs ?? this.options.config.etcdLeaseTtl;
    return Math.max(100, Math.min(this.options.intervalMs, ttlMs / 6));
  }

  /** Every health interval: registration refreshed, leadership assessed and said again. */
  private tick(): void {
    if (!this.running) return;
    const session = this.requireSession();
    session.register().catch(() => undefined);
    const period = Math.max(20, Math.min(this.options.intervalMs, session.ttlMs / 10));
    this.assess(performance.now() - this.lastAssessedAt >= this.options.intervalMs);
    this.later(period, () => this.tick());
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  // --- taking and acknowledging generations ---------------------------------------------------

  /** A generation published in etcd: taken in order, then acknowledged. */
  private received(m: PublishedMembership): void {
    if (this.membership !== null && m.generation <= this.membership.generation) return;
    this.membership = m;
    if (m.leader === this.options.id && this.leader === this.options.id) return;
    this.taking = this.taking.then(async () => {
      try {
        await this.deps.take(m);
      } catch (err) {
        this.options.logger.warn({ err: (err as Error).message }, "cannot take the published ring");
        return;
      }
      const generation = Math.max(m.generation, this.deps.published()?.generation ?? 0);
      await this.requireSession().ack(generation);
    });
  }

  /**
   * Waits until every master registered (but this one) acknowledged generation `m`, or it stops
   * counting as live, or a newer publication or a change of leader replaces this one; at most
   * (failures + 1) intervals, then warns: a master that missed it may still write by the old
   * ring, as with a built-in push that gave up.
   */
  private async waitAcks(m: PublishedMembership): Promise<void> {
    const { intervalMs, failures } = this.options;
    const deadline = performance.now() + intervalMs * (failures + 1);
    const acks = this.requireWatch().acks;
    const missing = (): string[] =>
      this.livePeers().filter((id) => (acks.get(id) ?? 0) < m.generation);
    for (;;) {
      if (!this.running || this.publishing !== m || this.leader !== this.options.id) return;
      const left = missing();
      if (left.length === 0) return;
      const wait = deadline - performance.now();
      if (wait <= 0) {
        this.ackTimeouts++;
        this.options.logger.warn(
          { masters: left, generation: m.generation },
          "live masters did not take the new ring in time; moving data anyway",
        );
        return;
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.ackWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(wait, intervalMs));
        this.ackWaiters.add(wake);
      });
    }
  }

  private wakeAckWaiters(): void {
    for (const wake of this.ackWaiters) wake();
  }

  private requireSession(): EtcdSession {
    if (this.session === null) throw new Error("etcd coordination used before start()");
    return this.session;
  }

  private requireWatch(): EtcdWatch {
    if (this.watch === null) throw new Error("etcd coordination used before start()");
    return this.watch;
  }
}

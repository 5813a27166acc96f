// Coordination through etcd, for masters on several hosts; the keys and the reasons are in
// docs/design.md, "Coordination through etcd":
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
  checkEtcd,
  describeEndpoints,
  createEtcdClient,
  leaseHex,
  openPrefixWatch,
  rangeEnd,
  type Etcd3,
  type IKeyValue,
  type PrefixWatch,
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

/** What a master registers under masters/<id>. */
export interface MasterRecord {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly httpPort: number;
  /** Its probes' view of each auxiliary node. */
  readonly nodes: Readonly<Record<string, string>>;
  /** Its clock when written: peers observe it (the clock exchange of docs/design.md). */
  readonly clock: number;
}

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

interface Candidate {
  readonly key: string;
  readonly id: string;
  readonly revision: number;
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
  private running = false;
  private leaseId: string | null = null;
  /** The lease's TTL as etcd granted it (it may round the asked one up). */
  private ttlMs: number;
  /** When the last renewal that succeeded was sent (ms, monotonic). */
  private renewedAt = 0;
  /** This master does not lead again until a renewal sent after this time succeeds. */
  private leadBlockedUntilRenewalAfter = 0;
  private electionKey: string | null = null;
  private electionRevision = 0;
  private watchConnected = false;
  private watcher: PrefixWatch | null = null;
  /** Reads of the whole prefix begun (see resync). */
  private reads = 0;
  /** What the watch has shown of the prefix. */
  private readonly candidates = new Map<string, Candidate>();
  private readonly masters = new Map<string, MasterRecord>();
  private readonly acks = new Map<string, number>();
  private membership: PublishedMembership | null = null;
  /** The generation this master last acknowledged, and one still to write. */
  private acked = 0;
  private ackDue = 0;
  private taking: Promise<void> = Promise.resolve();
  private publishing: PublishedMembership | null = null;
  private publishChain: Promise<void> = Promise.resolve();
  /** Woken when acks, masters or leadership change (publications waiting for acks). */
  private readonly ackWaiters = new Set<() => void>();
  private lastRecord = "";
  private lastRecordAt = 0;
  private lastAssessedAt = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(options: EtcdOptions, deps: EtcdDeps) {
    super();
    this.options = options;
    this.deps = deps;
    this.keys = new EtcdKeys(options.config.etcdPrefix);
    this.link = deps.link ?? new HttpPeerLink(options.intervalMs, options.secret);
    this.ttlMs = options.config.etcdLeaseTtl;
  }

  /** Whether this master can take part now: its lease renewed within half the TTL, watching. */
  get connected(): boolean {
    return this.watchConnected && this.leaseFresh();
  }

  /**
   * Connects (a ConfigError when etcd does not answer in time or refuses the credentials), takes
   * a lease, registers, stands for election and reads what is published; resolves with the
   * first assessment, so that a master about to lead knows the moves its predecessor left.
   */
  async start(): Promise<void> {
    const config = this.options.config;
    const callMs = this.callTimeoutMs();
    this.client = await createEtcdClient(config, callMs, this.watchRetryMs());
    await checkEtcd(this.client, config);
    this.running = true;
    try {
      await this.openSession();
      await this.resync();
    } catch (err) {
      // etcd answered the check but refuses what a master needs (a lease, writes under the
      // prefix): the settings (the user's role) are what to change.
      this.stop();
      throw new ConfigError(
        `etcd at ${describeEndpoints(config.etcdEndpoints)} refused this master's keys under ${config.etcdPrefix}/ (${(err as Error).message}); check the etcd user's role`,
      );
    }
    await this.waitWatch(5000);
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
    for (const wake of this.ackWaiters) wake();
    const client = this.client;
    const watcher = this.watcher;
    const lease = this.leaseId;
    this.watcher = null;
    this.leaseId = null;
    if (client === null) return;
    // Revoking the lease removes this master's keys at once: a successor need not wait a TTL.
    void (async () => {
      watcher?.close();
      if (lease !== null) {
        await client.leaseClient
          .leaseRevoke({ ID: lease }, { deadline: Date.now() + 1000 })
          .catch(() => undefined);
      }
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
    return [...this.masters.keys()].filter((id) => id !== this.options.id).sort();
  }

  /** The live peers' addresses as they registered (HTTP port). */
  peerAddresses(): { id: string; host: string; port: number }[] {
    return this.livePeers().map((id) => {
      const r = this.masters.get(id) as MasterRecord;
      return { id, host: r.host, port: r.httpPort };
    });
  }

  peerViews(): PeerView[] {
    const out: PeerView[] = [];
    for (const r of this.masters.values()) {
      if (r.id === this.options.id) continue;
      for (const [node, state] of Object.entries(r.nodes)) out.push({ peer: r.id, node, state });
    }
    return out;
  }

  askLeader(node: string): void {
    const r = this.masters.get(this.leader);
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
    if (client === null || this.leader !== this.options.id || this.electionKey === null) {
      return false;
    }
    try {
      const res = await client.kv.txn({
        compare: [
          {
            key: Buffer.from(this.electionKey),
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

  private leaseFresh(): boolean {
    return this.leaseId !== null && performance.now() - this.renewedAt < this.ttlMs / 2;
  }

  /** Decides who leads from the election keys the watch has shown, and says so. */
  private assess(always = false): void {
    let lowest: Candidate | undefined;
    for (const c of this.candidates.values()) {
      if (lowest === undefined || c.revision < lowest.revision) lowest = c;
    }
    let leader = "";
    let term = 0;
    if (this.connected && lowest !== undefined) {
      // A key of this master's id that is not its own key is what a killed process of the same
      // id left: nobody leads until it expires.
      const mine = lowest.id === this.options.id;
      const own = lowest.key === this.electionKey && lowest.revision === this.electionRevision;
      if (!mine || (own && this.renewedAt > this.leadBlockedUntilRenewalAfter)) {
        leader = lowest.id;
        term = lowest.revision;
      }
    }
    const changed = leader !== this.leader;
    if (changed) {
      if (this.leader !== "" && leader !== "") this.leaderChanges++;
      this.options.logger.info({ from: this.leader, to: leader, term }, "leader changed");
      this.leader = leader;
      if (leader === this.options.id) this.ownTerm = term;
      for (const wake of this.ackWaiters) wake();
    }
    this.term = term;
    if (changed || always) {
      this.lastAssessedAt = performance.now();
      this.emit("leadership", leader);
    }
  }

  /** Stops leading at once (until a renewal succeeds again), e.g. after a failed publication. */
  private stepDown(reason: string): void {
    this.leadBlockedUntilRenewalAfter = performance.now();
    if (this.leader !== this.options.id) return;
    this.options.logger.warn({ term: this.ownTerm }, `stepping down: ${reason}`);
    this.assess();
  }

  // --- the lease ---------------------------------------------------------------------------------

  private callTimeoutMs(): number {
    return Math.max(200, Math.min(2000, Math.floor(this.ttlMs / 3)));
  }

  /**
   * A new lease, this master's registration, and its election key (put only if absent, so that
   * its create revision, the term, stays that of the first put).
   */
  private async openSession(): Promise<void> {
    const client = this.requireClient();
    const sentAt = performance.now();
    const ttlSeconds = Math.ceil(this.options.config.etcdLeaseTtl / 1000);
    const grant = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    const granted = Number(grant.TTL);
    if (granted > 0) this.ttlMs = granted * 1000;
    this.leaseId = grant.ID;
    this.renewedAt = sentAt;
    this.lastRecord = "";
    await this.register();
    const key = `${this.keys.election}${leaseHex(grant.ID)}`;
    const res = await client.kv.txn({
      compare: [{ key: Buffer.from(key), target: "Create", result: "Equal", create_revision: 0 }],
      success: [
        {
          request_put: {
            key: Buffer.from(key),
            value: Buffer.from(this.options.id),
            lease: grant.ID,
          },
        },
      ],
      failure: [{ request_range: { key: Buffer.from(key) } }],
    });
    const revision = res.succeeded
      ? Number(res.header.revision)
      : Number(res.responses[0]?.response_range.kvs[0]?.create_revision ?? 0);
    this.electionKey = key;
    this.electionRevision = revision;
    this.candidates.set(key, { key, id: this.options.id, revision });
    if (this.acked > 0) this.ackDue = Math.max(this.ackDue, this.acked);
    this.options.logger.info(
      { lease: leaseHex(grant.ID), ttlMs: this.ttlMs, revision },
      "etcd session opened",
    );
  }

  /**
   * Renews the lease every third of its TTL (more often while renewals fail); opens a new
   * session when etcd says the lease is gone.
   */
  private keepAlive(): void {
    if (!this.running) return;
    const healthy = this.leaseFresh();
    void this.renew()
      .catch(() => undefined)
      .then(() => {
        if (!this.running) return;
        this.assess();
        this.later(this.leaseFresh() && healthy ? this.ttlMs / 3 : this.retryMs(), () =>
          this.keepAlive(),
        );
      });
  }

  /** How soon a broken watch stream is opened again. */
  private watchRetryMs(): number {
    return Math.min(1000, this.options.intervalMs);
  }

  private retryMs(): number {
    return Math.max(100, Math.min(this.options.intervalMs, this.ttlMs / 6));
  }

  private async renew(): Promise<void> {
    const client = this.client;
    if (client === null) return;
    if (this.leaseId === null) {
      try {
        await this.openSession();
        await this.resync();
      } catch (err) {
        this.options.logger.debug({ err: (err as Error).message }, "etcd session not reopened yet");
      }
      return;
    }
    const id = this.leaseId;
    const sentAt = performance.now();
    try {
      const stream = await client.leaseClient.leaseKeepAlive({
        deadline: Date.now() + this.callTimeoutMs(),
      });
      const ttl = await new Promise<number>((resolve, reject) => {
        stream.on("data", (res: { TTL: string }) => resolve(Number(res.TTL)));
        stream.on("error", reject);
        stream.on("end", () => reject(new Error("keepalive stream ended")));
        stream.write({ ID: id });
      });
      stream.end();
      if (this.leaseId !== id) return;
      if (ttl <= 0) {
        this.options.logger.warn({ lease: leaseHex(id) }, "etcd lease expired; opening a new one");
        this.dropSession();
        return;
      }
      const wasFresh = this.leaseFresh();
      this.renewedAt = Math.max(this.renewedAt, sentAt);
      if (!wasFresh) this.options.logger.info("etcd reachable again");
      if (this.ackDue > 0) await this.writeAck();
    } catch (err) {
      if (this.leaseFresh()) return; // one failure; the lease has time left
      this.options.logger.debug({ err: (err as Error).message }, "etcd lease not renewed");
    }
  }

  /** Forgets a lease etcd no longer has: its keys, this master's candidacy among them, are gone. */
  private dropSession(): void {
    if (this.electionKey !== null) this.candidates.delete(this.electionKey);
    this.leaseId = null;
    this.electionKey = null;
    this.electionRevision = 0;
    this.assess();
  }

  // --- registration ------------------------------------------------------------------------------

  /** Writes masters/<id> when its content changed, or every second for the clock. */
  private async register(): Promise<void> {
    const client = this.client;
    if (client === null || this.leaseId === null) return;
    const nodes = this.deps.nodes();
    const view = JSON.stringify(nodes);
    const now = performance.now();
    const key = `${view}|${this.options.port()}|${this.options.httpPort()}`;
    if (
      key === this.lastRecord &&
      now - this.lastRecordAt < Math.max(1000, this.options.intervalMs)
    ) {
      return;
    }
    const record: MasterRecord = {
      id: this.options.id,
      host: this.options.host,
      port: this.options.port(),
      httpPort: this.options.httpPort(),
      nodes,
      clock: this.deps.clock.next(),
    };
    await client.kv.put({
      key: Buffer.from(`${this.keys.masters}${this.options.id}`),
      value: Buffer.from(JSON.stringify(record)),
      lease: this.leaseId,
    });
    this.lastRecord = key;
    this.lastRecordAt = now;
  }

  /** Every health interval: registration refreshed, leadership assessed and said again. */
  private tick(): void {
    if (!this.running) return;
    this.register().catch(() => undefined);
    const period = Math.max(20, Math.min(this.options.intervalMs, this.ttlMs / 10));
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

  // --- the watch ---------------------------------------------------------------------------------

  /** Reads the whole prefix, then watches it from the revision after that read. */
  private async resync(): Promise<void> {
    const client = this.requireClient();
    // Reads can overlap (a cancelled watch, a new session): only the latest one applies what it
    // read and keeps its watch, so no older view of the prefix lands after a newer one.
    const read = ++this.reads;
    const res = await client.kv.range({
      key: Buffer.from(this.keys.prefix),
      range_end: rangeEnd(this.keys.prefix),
    });
    if (read !== this.reads || !this.running) return;
    this.candidates.clear();
    this.masters.clear();
    this.acks.clear();
    // Leadership is assessed once every key is in: the election keys come in key order, not in
    // the order they were made, and a partial set could name a master that does not lead.
    for (const kv of res.kvs) this.apply("put", kv, false);
    if (this.electionKey !== null && !this.candidates.has(this.electionKey)) {
      // etcd has dropped this master's key (its lease expired while we were away).
      this.dropSession();
    } else {
      this.assess();
    }
    const old = this.watcher;
    this.watcher = null;
    this.watchConnected = false;
    old?.close();
    const watch = await openPrefixWatch(
      this.options.config,
      this.callTimeoutMs(),
      this.watchRetryMs(),
      this.keys.prefix,
      Number(res.header.revision) + 1,
      {
        connected: () => {
          this.watchConnected = true;
          this.assess();
        },
        disconnected: () => {
          if (!this.watchConnected) return;
          this.watchConnected = false;
          this.options.logger.warn("etcd watch interrupted; keeping the current ring");
          this.assess();
        },
        put: (kv) => this.apply("put", kv),
        delete: (kv) => this.apply("delete", kv),
        cancelled: (err) => {
          // Its history compacted past our revision, or its login forgotten: read it all again.
          this.options.logger.warn({ err: err.message }, "etcd watch cancelled; reading again");
          this.watchConnected = false;
          this.assess();
          this.resyncUntilDone();
        },
      },
    );
    if (read !== this.reads || !this.running) {
      watch.close();
      return;
    }
    this.watcher = watch;
  }

  /** Reads the prefix and watches it again, retrying while etcd does not answer. */
  private resyncUntilDone(): void {
    if (!this.running) return;
    this.resync().catch((err: unknown) => {
      this.options.logger.debug({ err: (err as Error).message }, "etcd not read again yet");
      this.later(this.retryMs(), () => this.resyncUntilDone());
    });
  }

  private async waitWatch(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.watchConnected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** One key as the watch (or a full read) shows it; `assess`: leadership assessed after it. */
  private apply(type: "put" | "delete", kv: IKeyValue, assess = true): void {
    const key = kv.key.toString();
    const k = this.keys;
    if (key.startsWith(k.election)) {
      if (type === "delete") this.candidates.delete(key);
      else {
        this.candidates.set(key, {
          key,
          id: kv.value.toString(),
          revision: Number(kv.create_revision),
        });
      }
      if (key === this.electionKey && type === "delete") this.dropSession();
      else if (assess) this.assess();
      return;
    }
    if (key.startsWith(k.masters)) {
      const id = key.slice(k.masters.length);
      if (type === "delete") this.masters.delete(id);
      else {
        const record = parseJson(kv.value) as MasterRecord | null;
        if (record !== null && typeof record.id === "string" && typeof record.host === "string") {
          if (typeof record.clock === "number") this.deps.clock.observe(record.clock);
          this.masters.set(id, record);
        }
      }
      for (const wake of this.ackWaiters) wake();
      return;
    }
    if (key.startsWith(k.acks)) {
      const id = key.slice(k.acks.length);
      if (type === "delete") this.acks.delete(id);
      else this.acks.set(id, Number(kv.value.toString()));
      for (const wake of this.ackWaiters) wake();
      return;
    }
    if (key === k.membership && type === "put") {
      const m = parseJson(kv.value) as PublishedMembership | null;
      if (m === null || typeof m.generation !== "number" || !Array.isArray(m.members)) {
        this.options.logger.warn("the membership in etcd is not one this master can read");
        return;
      }
      this.received(m);
      return;
    }
    if (key.startsWith(k.nodes) && type === "put") {
      const n = parseJson(kv.value) as NodeAddress | null;
      if (
        n !== null &&
        typeof n.id === "string" &&
        typeof n.host === "string" &&
        Number.isInteger(n.port) &&
        n.port > 0 &&
        n.port < 65536
      ) {
        this.deps.registered({
          id: n.id,
          host: n.host,
          port: n.port,
          ...(Number.isInteger(n.httpPort) ? { httpPort: n.httpPort } : {}),
        });
      }
    }
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
      this.ackDue = Math.max(this.ackDue, generation);
      await this.writeAck();
    });
  }

  private async writeAck(): Promise<void> {
    const client = this.client;
    const due = this.ackDue;
    if (client === null || this.leaseId === null || due === 0) return;
    try {
      await client.kv.put({
        key: Buffer.from(`${this.keys.acks}${this.options.id}`),
        value: Buffer.from(String(due)),
        lease: this.leaseId,
      });
      this.acked = Math.max(this.acked, due);
      if (this.ackDue === due) this.ackDue = 0;
    } catch (err) {
      // Written again after the next renewal.
      this.options.logger.debug({ err: (err as Error).message }, "cannot acknowledge the ring yet");
    }
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
    const missing = (): string[] =>
      this.livePeers().filter((id) => (this.acks.get(id) ?? 0) < m.generation);
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

  private requireClient(): Etcd3 {
    if (this.client === null) throw new Error("etcd coordination used before start()");
    return this.client;
  }
}

function parseJson(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString("utf8")) as unknown;
  } catch {
    return null;
  }
}

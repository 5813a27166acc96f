// A master's session with etcd, with coordination through etcd
// (docs/design.md, "Coordination through etcd"): its lease, its candidacy (election/<lease>),
// its records (masters/<id>, its addresses and probe view; acks/<id>, the newest generation it
// took), all held by the lease; and the election as this master judges it from the
// candidates the watch shows.
//
//   open:  grant lease (TTL) ─► put masters/<id> ─► put election/<lease> if absent
//          (all or nothing: a put that fails revokes the lease, and the next open takes another)
//   renew: keepalive every TTL/3; "renewed" counts from when the renewal was sent;
//          TTL 0: the lease is gone, and with it every key it held
//   leads: the candidate with the lowest create revision; its revision is the term
//
// What must stay true:
// - This master counts its lease fresh for half the TTL after the last renewal that
//   succeeded: a leader steps down then, while its lease still lives, before a successor can
//   be elected.
// - A key of this master's id that is not its session's own is what a killed process of the
//   same id left: nobody leads by it until it expires.
// - The session is open (a lease held and renewed) only while its election key and record were
//   put under that lease: a lease standing for nothing is never kept.
import type { HybridClock } from "../../clock/hlc.js";
import type { CoordinationConfig } from "../../config/schema.js";
import { leaseHex, type Etcd3, type EtcdKeys } from "../../etcd/client.js";
import type { Logger } from "../../log.js";
import type { Candidate } from "./etcd-watch.js";

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

export interface EtcdSessionOptions {
  readonly id: string;
  readonly config: CoordinationConfig;
  readonly keys: EtcdKeys;
  /** The health interval: the period of this master's registration. */
  readonly intervalMs: number;
  /** The address other masters reach this one at, and its ports (known once it listens). */
  readonly host: string;
  readonly port: () => number;
  readonly httpPort: () => number;
  readonly logger: Logger;
  readonly clock: HybridClock;
  /** This master's probes' view of each auxiliary node. */
  readonly nodes: () => Record<string, string>;
}

/** How a renewal went. */
export type Renewal = "renewed" | "failed" | "expired" | "closed";

export class EtcdSession {
  /** The lease's TTL as etcd granted it (it may round the asked one up). */
  ttlMs: number;
  /** This master's election key and its create revision (null, 0: not standing). */
  electionKey: string | null = null;
  electionRevision = 0;

  private readonly client: Etcd3;
  private readonly options: EtcdSessionOptions;
  private leaseId: string | null = null;
  /** When the last renewal that succeeded was sent (ms, monotonic). */
  private renewedAt = 0;
  /** This master does not lead again until a renewal sent after this time succeeds. */
  private leadBlockedUntilRenewalAfter = 0;
  private lastRecord = "";
  private lastRecordAt = 0;
  /** The generation this master last acknowledged, and one still to write. */
  private acked = 0;
  private ackDue = 0;

  constructor(client: Etcd3, options: EtcdSessionOptions) {
    this.client = client;
    this.options = options;
    this.ttlMs = options.config.etcdLeaseTtl;
  }

  /** Whether a lease is held (it may still have lapsed unseen: see fresh()). */
  get isOpen(): boolean {
    return this.leaseId !== null;
  }

  /** Whether the lease was renewed within half the TTL. */
  fresh(): boolean {
    return this.leaseId !== null && performance.now() - this.renewedAt < this.ttlMs / 2;
  }

  /** The deadline of one call: a third of the TTL, within [200 ms, 2 s]. */
  callTimeoutMs(): number {
    return Math.max(200, Math.min(2000, Math.floor(this.ttlMs / 3)));
  }

  /**
   * A new lease, this master's registration, and its election key (put only if absent, so that
   * its create revision, the term, stays that of the first put); returns this master's
   * candidacy. All or nothing: the session counts as open only once every key is in. A lease
   * whose keys could not all be put is revoked (or left to expire), and the next call takes
   * another: kept, it would be renewed as if it were a session while this master stood for
   * nothing, and no later call would put the election key back.
   */
  async open(): Promise<Candidate> {
    const client = this.client;
    const { id, keys, logger } = this.options;
    const sentAt = performance.now();
    const ttlSeconds = Math.ceil(this.options.config.etcdLeaseTtl / 1000);
    const grant = await client.leaseClient.leaseGrant({ TTL: ttlSeconds });
    const key = `${keys.election}${leaseHex(grant.ID)}`;
    let revision: number;
    try {
      this.lastRecord = "";
      await this.register(grant.ID);
      const res = await client.kv.txn({
        compare: [{ key: Buffer.from(key), target: "Create", result: "Equal", create_revision: 0 }],
        success: [
          {
            request_put: {
              key: Buffer.from(key),
              value: Buffer.from(id),
              lease: grant.ID,
            },
          },
        ],
        failure: [{ request_range: { key: Buffer.from(key) } }],
      });
      revision = res.succeeded
        ? Number(res.header.revision)
        : Number(res.responses[0]?.response_range.kvs[0]?.create_revision ?? 0);
    } catch (err) {
      void client.leaseClient
        .leaseRevoke({ ID: grant.ID }, { deadline: Date.now() + this.callTimeoutMs() })
        .catch(() => undefined);
      throw err;
    }
    const granted = Number(grant.TTL);
    if (granted > 0) this.ttlMs = granted * 1000;
    this.leaseId = grant.ID;
    this.renewedAt = sentAt;
    this.electionKey = key;
    this.electionRevision = revision;
    if (this.acked > 0) this.ackDue = Math.max(this.ackDue, this.acked);
    logger.info({ lease: leaseHex(grant.ID), ttlMs: this.ttlMs, revision }, "etcd session opened");
    return { key, id, revision };
  }

  /**
   * Renews the lease once; writes an acknowledgement still due once it is renewed. "expired":
   * etcd no longer has the lease (drop() the session and open another).
   */
  async renew(): Promise<Renewal> {
    const id = this.leaseId;
    if (id === null) return "closed";
    const { logger } = this.options;
    const sentAt = performance.now();
    try {
      const stream = await this.client.leaseClient.leaseKeepAlive({
        deadline: Date.now() + this.callTimeoutMs(),
      });
      const ttl = await new Promise<number>((resolve, reject) => {
        stream.on("data", (res: { TTL: string }) => resolve(Number(res.TTL)));
        stream.on("error", reject);
        stream.on("end", () => reject(new Error("keepalive stream ended")));
        stream.write({ ID: id });
      });
      stream.end();
      if (this.leaseId !== id) return "closed";
      if (ttl <= 0) {
        logger.warn({ lease: leaseHex(id) }, "etcd lease expired; opening a new one");
        return "expired";
      }
      const wasFresh = this.fresh();
      this.renewedAt = Math.max(this.renewedAt, sentAt);
      if (!wasFresh) logger.info("etcd reachable again");
      if (this.ackDue > 0) await this.writeAck();
      return "renewed";
    } catch (err) {
      if (this.fresh()) return "failed"; // one failure; the lease has time left
      logger.debug({ err: (err as Error).message }, "etcd lease not renewed");
      return "failed";
    }
  }

  /**
   * Forgets a lease etcd no longer has: its keys, this master's candidacy among them, are gone.
   * Returns the election key it held.
   */
  drop(): string | null {
    const key = this.electionKey;
    this.leaseId = null;
    this.electionKey = null;
    this.electionRevision = 0;
    return key;
  }

  /** Revokes the lease (at stop): this master's keys go at once, no successor waits a TTL. */
  async revoke(): Promise<void> {
    const lease = this.leaseId;
    this.leaseId = null;
    if (lease === null) return;
    await this.client.leaseClient
      .leaseRevoke({ ID: lease }, { deadline: Date.now() + 1000 })
      .catch(() => undefined);
  }

  /**
   * Writes masters/<id> when its content changed, or every second for the clock, under
   * `lease` (default: the session's own).
   */
  async register(lease: string | null = this.leaseId): Promise<void> {
    if (lease === null) return;
    const { id, keys, host, intervalMs } = this.options;
    const nodes = this.options.nodes();
    const view = JSON.stringify(nodes);
    const now = performance.now();
    const key = `${view}|${this.options.port()}|${this.options.httpPort()}`;
    if (key === this.lastRecord && now - this.lastRecordAt < Math.max(1000, intervalMs)) return;
    const record: MasterRecord = {
      id,
      host,
      port: this.options.port(),
      httpPort: this.options.httpPort(),
      nodes,
      clock: this.options.clock.next(),
    };
    await this.client.kv.put({
      key: Buffer.from(`${keys.masters}${id}`),
      value: Buffer.from(JSON.stringify(record)),
      lease,
    });
    this.lastRecord = key;
    this.lastRecordAt = now;
  }

  /** Acknowledges generation `generation` (acks/<id>), now or after the next renewal. */
  async ack(generation: number): Promise<void> {
    this.ackDue = Math.max(this.ackDue, generation);
    await this.writeAck();
  }

  /** This master leads again only once a renewal sent after now has succeeded. */
  blockLead(): void {
    this.leadBlockedUntilRenewalAfter = performance.now();
  }

  /**
   * Who leads among `candidates`, as this master sees it, and the term: the lowest create
   * revision; nobody while that is a key of this master's id other than its session's own
   * (a killed process's), or its own while it is blocked from leading.
   */
  leaderAmong(candidates: Iterable<Candidate>): { leader: string; term: number } {
    let lowest: Candidate | undefined;
    for (const c of candidates) {
      if (lowest === undefined || c.revision < lowest.revision) lowest = c;
    }
    if (lowest === undefined) return { leader: "", term: 0 };
    const mine = lowest.id === this.options.id;
    const own = lowest.key === this.electionKey && lowest.revision === this.electionRevision;
    if (!mine || (own && this.renewedAt > this.leadBlockedUntilRenewalAfter)) {
      return { leader: lowest.id, term: lowest.revision };
    }
    return { leader: "", term: 0 };
  }

  private async writeAck(): Promise<void> {
    const due = this.ackDue;
    if (this.leaseId === null || due === 0) return;
    try {
      await this.client.kv.put({
        key: Buffer.from(`${this.options.keys.acks}${this.options.id}`),
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
}

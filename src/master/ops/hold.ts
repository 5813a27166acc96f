// Writes held for an owner that did not apply them (docs/design.md, "Acknowledging a write").
//
//   WriteOp / ModifyOp: some owners applied, owner X failed ─► HeldWrite (same version)
//       ├─ ask the leader about X (once per resend interval per node)
//       ├─ every resend interval: send to X again ─► applied, or X holds newer ─► done
//       ├─ the ring changes: owners it no longer counts drop out; if some remain, the write
//       │  is sent to every owner of the new ring (same version) and waits for them
//       └─ the hold's time runs out ─► TRYAGAIN (some owners may hold the write)
//
// What must stay true:
// - A write is acknowledged only when every owner of the ring it is routed by holds it (or a
//   newer version), or when the ring that no longer counts an owner came from the leader:
//   a master that awaits the leader's ring decides nothing.
// - A resend carries the write's own version: it never overtakes a later write.
// - Held writes are counted as writes of the ring they are routed by (Topology.writeStarted),
//   so a move waits for them, and a ring change re-routes them at once rather than late.
import { RingcacheError } from "../../errors.js";
import { encodeDel, encodeExpire, readWriteOutcome } from "../../protocol/internal/index.js";
import type { RespValue } from "../../protocol/resp/index.js";
import type { NodeClient, NodeConnection, ReplyTarget } from "../pool.js";
import type { Topology } from "../topology.js";
import { REAL_TIME, type Scheduler, type Timer } from "../transport/scheduler.js";
import type { Router } from "../router.js";

export type HeldKind = "put" | "del" | "expire";

/** What a held write reports to the operation that started it. */
export interface HoldOwner {
  /**
   * The hold ended: `error` is null when every owner the ring counts holds the write.
   * `generation` replaces the one the operation took from Topology.writeStarted; `existed`
   * says whether an owner reached by a resend held a live entry.
   */
  heldDone(error: RingcacheError | null, generation: number, existed: boolean): void;
}

export interface HoldOptions {
  readonly scheduler?: Scheduler;
  /** Pause between resends to an owner that has not applied the write. */
  readonly resendMs?: number;
  /** How long a write is held before it fails with TRYAGAIN. */
  readonly holdMs?: number;
}

/** Counters the metrics collector reads. */
export class HoldCounters {
  /** Writes that some owner of their ring failed to apply at first. */
  held = 0;
  /** Held writes acknowledged in the end. */
  acknowledged = 0;
  /** Held writes that gave up (TRYAGAIN). */
  gaveUp = 0;
}

/** Every write a master holds, the ring changes they follow and the resend timer. */
export class WriteHolds {
  readonly counters = new HoldCounters();
  readonly scheduler: Scheduler;
  readonly resendMs: number;
  readonly holdMs: number;
  /** Asks the leader to decide on a node (set by the master once its coordination exists). */
  askLeader: (node: string) => void = () => {};
  private readonly held = new Set<HeldWrite>();
  /** When each node was last asked about (scheduler ms). */
  private readonly asked = new Map<string, number>();
  private timer: Timer | null = null;

  constructor(topology: Topology, options: HoldOptions = {}) {
    this.scheduler = options.scheduler ?? REAL_TIME;
    this.resendMs = options.resendMs ?? 250;
    this.holdMs = options.holdMs ?? 5000;
    topology.on("ring", () => {
      // The leader's ring (or, deciding, our own probes') changed: held writes see it now.
      if (topology.awaitingLeader) return;
      for (const h of [...this.held]) h.ringChanged();
    });
  }

  /** Writes held now. */
  get size(): number {
    return this.held.size;
  }

  add(h: HeldWrite): void {
    this.held.add(h);
    this.counters.held++;
    if (this.timer === null) this.timer = this.scheduler.schedule(this.resendMs, this.tick);
  }

  remove(h: HeldWrite, acknowledged: boolean): void {
    if (!this.held.delete(h)) return;
    if (acknowledged) this.counters.acknowledged++;
    else this.counters.gaveUp++;
  }

  /** Asks the leader about `node`, at most once per resend interval. */
  ask(node: string): void {
    const now = this.scheduler.now();
    const last = this.asked.get(node);
    if (last !== undefined && now - last < this.resendMs) return;
    this.asked.set(node, now);
    this.askLeader(node);
  }

  private readonly tick = (): void => {
    this.timer = null;
    const now = this.scheduler.now();
    for (const h of [...this.held]) h.tick(now);
    if (this.held.size > 0) this.timer = this.scheduler.schedule(this.resendMs, this.tick);
    else this.asked.clear();
  };
}

/** One write waiting for owners that have not applied it. */
export class HeldWrite implements ReplyTarget {
  private readonly router: Router;
  private readonly owner: HoldOwner;
  private readonly kind: HeldKind;
  private readonly key: Buffer;
  private readonly value: Buffer | null;
  private readonly expiresAt: number;
  private readonly version: number;
  private affinity = 0;
  private readonly deadline: number;
  /** Owners that have not applied the write yet, by id. */
  private missing = new Map<string, NodeClient>();
  private generation = 0;
  /** Bumped when the owners change: replies of an older round are ignored. */
  private round = 0;
  private outstanding = 0;
  /** The owners of the last send, in token order. */
  private sent: NodeClient[] = [];
  private existed = false;
  private done = false;

  constructor(
    router: Router,
    owner: HoldOwner,
    kind: HeldKind,
    key: Buffer,
    value: Buffer | null,
    expiresAt: number,
    version: number,
  ) {
    this.router = router;
    this.owner = owner;
    this.kind = kind;
    this.key = key;
    this.value = value;
    this.expiresAt = expiresAt;
    this.version = version;
    this.deadline = router.holds.scheduler.now() + router.holds.holdMs;
  }

  /**
   * Holds the write for the owners whose bit is set in `unreached` (a bit per index of
   * `owners`), as a write of ring `generation` (from Topology.writeStarted).
   */
  start(
    affinity: number,
    owners: readonly NodeClient[],
    unreached: number,
    generation: number,
  ): void {
    this.affinity = affinity;
    this.generation = generation;
    for (let i = 0; i < owners.length; i++) {
      const c = owners[i] as NodeClient;
      if ((unreached & (1 << i)) !== 0) this.missing.set(c.id, c);
    }
    const holds = this.router.holds;
    holds.add(this);
    const topology = this.router.topology;
    if (topology.generation !== this.generation && !topology.awaitingLeader) {
      // The ring changed while the write was on its way: it is judged by the new one now.
      this.ringChanged();
      return;
    }
    for (const id of this.missing.keys()) holds.ask(id);
  }

  /** The ring changed: owners it no longer counts drop out, the others get the write. */
  ringChanged(): void {
    if (this.done) return;
    const topology = this.router.topology;
    for (const id of [...this.missing.keys()]) if (!topology.inRing(id)) this.missing.delete(id);
    if (this.missing.size === 0) {
      this.finish(null);
      return;
    }
    // Routed by the new ring from now on: every owner of the key in it, the same version.
    const generation = topology.writeStarted();
    topology.writeEnded(this.generation);
    this.generation = generation;
    this.missing = new Map();
    for (const c of this.router.ownersOf(this.key)) this.missing.set(c.id, c);
    if (this.missing.size === 0) {
      this.finish(null);
      return;
    }
    this.round++;
    this.outstanding = 0;
    this.send();
  }

  tick(now: number): void {
    if (this.done) return;
    if (now >= this.deadline) {
      const ids = [...this.missing.keys()].join(", ");
      this.finish(
        new RingcacheError(
          "TRY_AGAIN",
          `the write reached some owners of the key but not ${ids}, which the ring still counts; it may have been applied: retry it`,
        ),
      );
      return;
    }
    for (const id of this.missing.keys()) this.router.holds.ask(id);
    if (this.outstanding === 0) this.send();
  }

  private send(): void {
    const round = this.round;
    const deciding = this.router.topology.deciding;
    this.sent = [...this.missing.values()];
    for (let i = 0; i < this.sent.length; i++) {
      const client = this.sent[i] as NodeClient;
      const token = round * 64 + i;
      // A follower sends to a node its own probes take for down: the leader counts it.
      const conn =
        client.connection(this.affinity) ??
        (deciding ? null : client.openConnection(this.affinity));
      if (conn === null) continue;
      this.sendTo(conn, token);
      this.outstanding++;
    }
  }

  private sendTo(conn: NodeConnection, token: number): void {
    if (this.kind === "put") {
      conn.put(this, token, this.key, this.value as Buffer, this.version, this.expiresAt);
      return;
    }
    if (this.kind === "del") encodeDel(conn.writer(), this.key, this.version);
    else encodeExpire(conn.writer(), this.key, this.expiresAt, this.version);
    conn.expect(this, token);
  }

  onNodeReply(token: number, reply: RespValue): void {
    if (this.done || Math.floor(token / 64) !== this.round) return;
    this.outstanding--;
    if (!this.satisfiedBy(reply)) return;
    const client = this.sent[token % 64];
    if (client !== undefined) this.missing.delete(client.id);
    if (this.missing.size === 0) this.finish(null);
  }

  /** Whether an owner's answer means it holds this write or a newer version. */
  private satisfiedBy(reply: RespValue): boolean {
    if (reply === 1 || reply === 0) {
      if (reply === 1) this.existed = true;
      return true;
    }
    try {
      const outcome = readWriteOutcome(reply);
      if (outcome.applied && outcome.existed) this.existed = true;
      // Refused as older: the owner holds a newer version, which serves as well.
      return outcome.applied || outcome.heldVersion >= this.version;
    } catch {
      return false;
    }
  }

  onNodeError(token: number): void {
    if (this.done || Math.floor(token / 64) !== this.round) return;
    this.outstanding--;
  }

  private finish(error: RingcacheError | null): void {
    if (this.done) return;
    this.done = true;
    this.router.holds.remove(this, error === null);
    this.owner.heldDone(error, this.generation, this.existed);
  }
}

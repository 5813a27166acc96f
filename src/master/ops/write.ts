// Replicated writes: every owner in parallel, one version.
//
//   write ─► every owner the ring counts, in parallel ──► done when each answered:
//              some owner holds a newer version ─► observe it, retry with a fresh version
//              every owner applied ─► success             none applied ─► error
//              some applied, some unreachable ─► held (ops/hold.ts) ─► success or TRYAGAIN
//
// What must stay true: a write carries a version above every version its owners hold when it
// is applied, so a later write is never dropped as older (docs/design.md, "Versions"); it is
// acknowledged only once every owner the ring counts holds it
// (docs/design.md, "Acknowledging a write").
import { performance } from "node:perf_hooks";
import { RingcacheError } from "../../errors.js";
import { encodeDel, encodeExpire, readWriteOutcome } from "../../protocol/internal/index.js";
import { RespReplyError, type RespValue } from "../../protocol/resp/index.js";
import type { NodeClient, NodeConnection, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import { HeldWrite, type HoldOwner } from "./hold.js";
import {
  UNWAITED,
  noOwners,
  replyToError,
  unreachable,
  unwaitedConnection,
  type OpSink,
} from "./op.js";

/** "put" a versioned value (RC.PUT), "del" a tombstone (RC.DEL), "expire" a new expiry. */
export type WriteKind = "put" | "del" | "expire";

export class WriteOp<C> implements ReplyTarget, HoldOwner {
  readonly router: Router;
  readonly kind: WriteKind;
  readonly key: Buffer;
  readonly value: Buffer | null;
  /** PUT and EXPIRE: absolute expiry in Unix ms, 0 for none. */
  readonly expiresAt: number;
  readonly sink: OpSink<WriteOp<C>>;
  readonly ctx: C;
  readonly index: number;
  readonly startedAt: number;
  readonly affinity: number;
  version = 0;
  attempts = 0;
  error: RingcacheError | null = null;
  /** Owners that applied the write. */
  applied = 0;
  /** DEL: some owner removed a live entry. EXPIRE: some owner held a live entry. */
  existed = false;
  private pending = 0;
  private failed = 0;
  /** The owners of this attempt, and which of them could not be reached (a bit per owner). */
  private owners: NodeClient[] = [];
  private unreached = 0;
  private staleMax = 0;
  private answerError: RingcacheError | null = null;
  private transportError: RingcacheError | null = null;
  private allTimeouts = true;
  /** From Router.noteWrite, on the first attempt. */
  private ticket = 0;
  /** From Topology.writeStarted, on the first attempt; handed back when the write ends. */
  private generation = 0;

  /** `key` and `value` must stay unchanged until the op is done. */
  constructor(
    router: Router,
    kind: WriteKind,
    key: Buffer,
    value: Buffer | null,
    expiresAt: number,
    sink: OpSink<WriteOp<C>>,
    ctx: C,
    index = 0,
  ) {
    this.router = router;
    this.kind = kind;
    this.key = key;
    this.value = value;
    this.expiresAt = expiresAt;
    this.sink = sink;
    this.ctx = ctx;
    this.index = index;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    this.attempts++;
    this.version = this.router.clock.next();
    const owners = this.router.ownersOf(this.key);
    if (this.attempts === 1) {
      this.ticket = this.router.noteWrite(this.key);
      this.generation = this.router.topology.writeStarted();
    }
    this.owners = owners;
    this.unreached = 0;
    this.applied = 0;
    this.existed = false;
    this.failed = 0;
    this.staleMax = 0;
    this.answerError = null;
    this.transportError = null;
    this.allTimeouts = true;
    if (owners.length === 0) {
      this.error = noOwners(this.router.topology);
      this.end();
      return this;
    }
    this.pending = owners.length;
    for (let i = 0; i < owners.length; i++) {
      const client = owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.pending--;
        this.failed++;
        this.transportError = client.downError;
        this.allTimeouts = false;
        this.unreached |= 1 << i;
        continue;
      }
      this.sendTo(conn, this, i);
    }
    if (this.pending === 0) {
      // Nothing sent: the write fails, and is applied nowhere.
      this.finish();
      return this;
    }
    // Owners not sent to (a bit per owner; R is small): see unwaitedConnection.
    const skipped = this.unreached;
    for (let i = 0; skipped !== 0 && i < owners.length; i++) {
      if ((skipped & (1 << i)) === 0) continue;
      const unwaited = unwaitedConnection(this.router, owners[i] as NodeClient, this.affinity);
      if (unwaited !== null) this.sendTo(unwaited, UNWAITED, 0);
    }
    return this;
  }

  private end(): void {
    this.router.topology.writeEnded(this.generation);
    this.sink.opDone(this);
  }

  /** Waits for the owners this attempt did not reach (docs/design.md, "Acknowledging a write"). */
  private hold(): void {
    new HeldWrite(
      this.router,
      this,
      this.kind,
      this.key,
      this.value,
      this.expiresAt,
      this.version,
    ).start(this.affinity, this.owners, this.unreached, this.generation);
  }

  heldDone(error: RingcacheError | null, generation: number, existed: boolean): void {
    this.generation = generation;
    this.error = error;
    if (existed) this.existed = true;
    this.end();
  }

  private sendTo(conn: NodeConnection, target: ReplyTarget, token: number): void {
    if (this.kind === "put") {
      conn.put(target, token, this.key, this.value as Buffer, this.version, this.expiresAt);
      return;
    }
    if (this.kind === "del") encodeDel(conn.writer(), this.key, this.version);
    else encodeExpire(conn.writer(), this.key, this.expiresAt, this.version);
    conn.expect(target, token);
  }

  onNodeReply(_token: number, reply: RespValue): void {
    if (reply === 1 || reply === 0) {
      this.applied++;
      if (reply === 1) this.existed = true;
    } else {
      try {
        const outcome = readWriteOutcome(reply);
        if (outcome.applied) {
          this.applied++;
          if (outcome.existed) this.existed = true;
        } else if (outcome.heldVersion > this.staleMax) {
          this.staleMax = outcome.heldVersion;
        }
      } catch (err) {
        this.failed++;
        this.answerError =
          reply instanceof RespReplyError ? replyToError(reply) : (err as RingcacheError);
      }
    }
    if (--this.pending === 0) this.finish();
  }

  onNodeError(token: number, error: RingcacheError): void {
    this.failed++;
    this.unreached |= 1 << token;
    this.transportError = error;
    if (error.code !== "TIMEOUT") this.allTimeouts = false;
    if (--this.pending === 0) this.finish();
  }

  private finish(): void {
    const router = this.router;
    if (this.staleMax > 0) {
      // An owner holds a newer version than this write carried: move the clock past it and
      // write again, so that this (later) write wins everywhere.
      router.clock.observe(this.staleMax);
      if (this.kind === "put" && router.supersededBy(this.ticket, this.key)) {
        // A later write of this master to the key (from this client's pipeline or another
        // client) is on its way: this one is ordered just before it and is done. Retrying it
        // with a fresh version would let it overtake that later write. Owners it did not reach
        // still get it, with its own version.
        router.counters.staleSuperseded++;
        if (this.unreached !== 0) this.hold();
        else this.end();
        return;
      }
      if (this.attempts <= router.maxStaleRetries) {
        router.counters.staleRetries++;
        this.start();
        return;
      }
      this.error = new RingcacheError(
        "STALE_VERSION",
        `write kept losing to newer versions after ${this.attempts} attempts`,
      );
    } else if (this.applied > 0) {
      if (this.unreached !== 0) {
        this.hold();
        return;
      }
      if (this.failed > 0) router.counters.replicationFailures++;
    } else if (this.answerError !== null) {
      this.error = this.answerError;
    } else {
      this.error = unreachable(this.transportError, this.allTimeouts);
    }
    this.end();
  }
}

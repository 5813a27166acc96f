// Read-modify-writes of one key (INCRBY, INCRBYFLOAT, APPEND, SETRANGE, GETSET, GETDEL, GETEX
// with an option): computed on the key's first live owner (RC.MODIFY, with a version), then
// the outcome copied to the other owners with the same version, RC.PUT of the new value or
// RC.DEL, acknowledged like any write (docs/design.md, "Acknowledging a write").
//
//   modify ─► RC.MODIFY on the first live owner ─► -STALE V: observe V, again with a newer version
//                                               ─► nothing changed: done
//                                               ─► RC.PUT / RC.DEL to the other owners
//                                                    └─ some did not apply it ─► held (hold.ts)
//
// GETDEL and GETSET leave the same on every owner whatever it held (a tombstone, the new
// value): the copies (RC.DEL, RC.PUT) leave with RC.MODIFY to the first owner, one round trip,
// and the first owner's answer (the old value) is the client's.
//
//   GETDEL / GETSET ─► RC.MODIFY on the first owner, the copies to the others, at once
//                        ├─ the first owner refused: again, all of it, with a newer version
//                        └─ some did not apply it ─► held (hold.ts)
//
// What must stay true: the first owner serialises the modifications of a key (one computes on
// what the one before left), and every copy carries the version the first owner applied, so a
// copy never overwrites a newer write on another owner.
import { performance } from "node:perf_hooks";
import { RingcacheError } from "../../errors.js";
import {
  EFFECT_DEL,
  EFFECT_NONE,
  EFFECT_PUT,
  StaleVersionError,
  encodeDel,
  encodeModify,
  readModifyReply,
  readWriteOutcome,
  type Modification,
  type ModifyResult,
} from "../../protocol/internal/index.js";
import type { RespValue } from "../../protocol/resp/index.js";
import { copy } from "../../redis/bytes.js";
import type { NodeClient, NodeConnection, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import { HeldWrite, type HoldOwner } from "./hold.js";
import {
  NO_OWNERS,
  UNWAITED,
  noOwners,
  unreachable,
  unwaitedConnection,
  type OpSink,
} from "./op.js";

/** Where a ModifyOp reports: answered() once its first owner's answer is in, then opDone(). */
export interface ModifySink<T> extends OpSink<T> {
  /**
   * The first owner answered and the copies to the other owners are written (or the operation
   * failed): requests sent from now on reach every owner after them. Called once, before
   * opDone.
   */
  answered(op: T): void;
}

export class ModifyOp<C> implements ReplyTarget, HoldOwner {
  readonly router: Router;
  readonly key: Buffer;
  readonly mod: Modification;
  /** The largest value the result may be (the master's --max-value-size). */
  readonly limit: number;
  readonly sink: ModifySink<ModifyOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  readonly affinity: number;
  error: RingcacheError | null = null;
  /** The command's result: an integer, bytes (a copy of its own) or null. */
  answer: number | bigint | Buffer | null = null;
  private version = 0;
  private attempts = 0;
  private owners: NodeClient[] = NO_OWNERS;
  private primary = -1;
  private pending = 0;
  /** What the other owners get (EFFECT_PUT or EFFECT_DEL), and the owners that did not. */
  private effect = EFFECT_NONE;
  private value: Buffer | null = null;
  private expiresAt = 0;
  private unreached = 0;
  /** From Topology.writeStarted, on the first attempt; handed back when the operation ends. */
  private generation = 0;
  /** The sink heard answered(). */
  private answered = false;
  /** GETDEL and GETSET: the copies leave with RC.MODIFY (tokens are owner indexes). */
  private readonly parallel: boolean;
  /** Parallel: the version the first owner refused the attempt with (0: none). */
  private staleMax = 0;
  /** Parallel: why the first owner did not answer (the modification may have been applied). */
  private primaryError: RingcacheError | null = null;

  /** `key` and the modification's bytes must stay unchanged until the op is done. */
  constructor(
    router: Router,
    key: Buffer,
    mod: Modification,
    limit: number,
    sink: ModifySink<ModifyOp<C>>,
    ctx: C,
  ) {
    this.router = router;
    this.key = key;
    this.mod = mod;
    this.limit = limit;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
    this.parallel = mod.op === "GETDEL" || mod.op === "GETSET";
    if (mod.op === "GETDEL") this.effect = EFFECT_DEL;
    else if (mod.op === "GETSET") {
      this.effect = EFFECT_PUT;
      this.value = mod.value;
    }
  }

  start(): this {
    this.attempts++;
    if (this.attempts === 1) this.generation = this.router.topology.writeStarted();
    this.version = this.router.clock.next();
    this.owners = this.router.ownersOf(this.key);
    this.primary = -1;
    if (this.parallel) return this.startParallel();
    for (let i = 0; i < this.owners.length; i++) {
      const conn = (this.owners[i] as NodeClient).connection(this.affinity);
      if (conn === null) continue;
      encodeModify(conn.writer(), this.key, this.version, this.limit, this.mod);
      conn.expect(this, -1);
      this.primary = i;
      return this;
    }
    this.error =
      this.owners.length === 0 ? noOwners(this.router.topology) : unreachable(null, false);
    this.end();
    return this;
  }

  /** GETDEL, GETSET: RC.MODIFY to the first reachable owner (it answers), copies to the rest. */
  private startParallel(): this {
    this.unreached = 0;
    this.pending = 0;
    this.staleMax = 0;
    this.primaryError = null;
    const owners = this.owners;
    for (let i = 0; i < owners.length; i++) {
      const client = owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.unreached |= 1 << i;
        continue;
      }
      if (this.primary < 0) {
        this.primary = i;
        encodeModify(conn.writer(), this.key, this.version, this.limit, this.mod);
        conn.expect(this, i);
      } else {
        // What the first owner will do, with the same version: no need to wait for it.
        this.copyTo(conn, this, i);
      }
      this.pending++;
    }
    if (this.primary < 0) {
      this.error = owners.length === 0 ? noOwners(this.router.topology) : unreachable(null, false);
      this.end();
      return this;
    }
    for (let i = 0; this.unreached !== 0 && i < owners.length; i++) {
      if ((this.unreached & (1 << i)) === 0) continue;
      const unwaited = unwaitedConnection(this.router, owners[i] as NodeClient, this.affinity);
      if (unwaited !== null) this.copyTo(unwaited, UNWAITED, 0);
    }
    return this;
  }

  private parallelReply(token: number, reply: RespValue): void {
    if (token !== this.primary) {
      // A copy: applied, or refused because the owner holds a newer version, as good. An
      // error answer (the owner's memory is full) is a replication failure, as for a write.
      try {
        readWriteOutcome(reply);
      } catch {
        this.router.counters.replicationFailures++;
      }
    } else {
      try {
        const answer = readModifyReply(reply).answer;
        this.answer = Buffer.isBuffer(answer) ? copy(answer) : answer;
      } catch (err) {
        // The answer must come from an attempt the first owner applied.
        if (err instanceof StaleVersionError) this.staleMax = err.heldVersion;
        else this.primaryError = err as RingcacheError;
      }
    }
    if (--this.pending === 0) this.parallelDone();
  }

  private parallelDone(): void {
    if (this.primaryError !== null) {
      this.error = this.primaryError;
      this.end();
      return;
    }
    if (this.staleMax > 0) {
      this.router.clock.observe(this.staleMax);
      if (this.attempts <= this.router.maxStaleRetries) {
        this.router.counters.staleRetries++;
        this.start();
        return;
      }
      this.error = keptLosing(this.attempts);
      this.end();
      return;
    }
    this.tellAnswered();
    this.copied();
  }

  onNodeReply(token: number, reply: RespValue): void {
    if (this.parallel) {
      this.parallelReply(token, reply);
      return;
    }
    if (token >= 0) {
      // A copy to another owner: applied, or refused because it holds a newer version. An
      // error answer (the owner's memory is full) is a replication failure, as for a write.
      try {
        readWriteOutcome(reply);
      } catch {
        this.router.counters.replicationFailures++;
      }
      if (--this.pending === 0) this.copied();
      return;
    }
    let result: ModifyResult;
    try {
      result = readModifyReply(reply);
    } catch (err) {
      if (err instanceof StaleVersionError) {
        this.router.clock.observe(err.heldVersion);
        if (this.attempts <= this.router.maxStaleRetries) {
          this.router.counters.staleRetries++;
          this.start();
          return;
        }
        this.error = keptLosing(this.attempts);
        this.end();
        return;
      }
      this.error = err as RingcacheError;
      this.end();
      return;
    }
    // The reply's bytes are views, valid during this call only.
    const answer = result.answer;
    this.answer = Buffer.isBuffer(answer) ? copy(answer) : answer;
    this.effect = result.effect;
    if (result.effect === EFFECT_NONE) {
      this.end();
      return;
    }
    this.value = result.value === null ? null : copy(result.value);
    this.expiresAt = result.expiresAt;
    this.unreached = 0;
    this.pending = 1;
    for (let i = 0; i < this.owners.length; i++) {
      if (i === this.primary) continue;
      const client = this.owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.unreached |= 1 << i;
        const unwaited = unwaitedConnection(this.router, client, this.affinity);
        if (unwaited !== null) this.copyTo(unwaited, UNWAITED, 0);
        continue;
      }
      this.copyTo(conn, this, i);
      this.pending++;
    }
    this.tellAnswered();
    if (--this.pending === 0) this.copied();
  }

  private copyTo(conn: NodeConnection, target: ReplyTarget, token: number): void {
    if (this.effect === EFFECT_DEL) {
      encodeDel(conn.writer(), this.key, this.version);
      conn.expect(target, token);
    } else {
      conn.put(target, token, this.key, this.value as Buffer, this.version, this.expiresAt);
    }
  }

  /** Every copy answered: done, or held for the owners that did not take it. */
  private copied(): void {
    if (this.unreached === 0) {
      this.end();
      return;
    }
    new HeldWrite(
      this.router,
      this,
      this.effect === EFFECT_DEL ? "del" : "put",
      this.key,
      this.value,
      this.expiresAt,
      this.version,
    ).start(this.affinity, this.owners, this.unreached, this.generation);
  }

  heldDone(error: RingcacheError | null, generation: number): void {
    this.generation = generation;
    this.error = error;
    this.end();
  }

  /** Tells the sink, once, that the first owner's answer is in. */
  private tellAnswered(): void {
    if (this.answered) return;
    this.answered = true;
    this.sink.answered(this);
  }

  private end(): void {
    this.tellAnswered();
    this.router.topology.writeEnded(this.generation);
    this.sink.opDone(this);
  }

  onNodeError(token: number, error: RingcacheError): void {
    if (this.parallel) {
      if (token === this.primary) this.primaryError = error;
      else this.unreached |= 1 << token;
      if (--this.pending === 0) this.parallelDone();
      return;
    }
    if (token >= 0) {
      this.unreached |= 1 << token;
      if (--this.pending === 0) this.copied();
      return;
    }
    // The modification may or may not have been applied: report it rather than apply it twice.
    this.error = error;
    this.end();
  }
}

function keptLosing(attempts: number): RingcacheError {
  return new RingcacheError(
    "STALE_VERSION",
    `modification kept losing to newer versions after ${attempts} attempts`,
  );
}

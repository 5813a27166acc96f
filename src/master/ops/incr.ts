// INCRBY: computed on the first live owner (RC.INCRBY, versioned), then copied to the other
// owners as RC.PUT with the same version, acknowledged like any write (docs/design.md,
// "Acknowledging a write").
//
//   incr ─► RC.INCRBY on the first live owner ─► RC.PUT of the result to the other owners
//                                                 └─ some did not apply it ─► held (hold.ts)
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import { StaleVersionError, encodeIncrBy, readIncrReply } from "../../protocol/internal/index.js";
import type { RespValue } from "../../protocol/resp/index.js";
import type { NodeClient, ReplyTarget } from "../pool.js";
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

export class IncrOp<C> implements ReplyTarget, HoldOwner {
  readonly router: Router;
  readonly key: Buffer;
  readonly delta: bigint;
  readonly sink: OpSink<IncrOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  readonly affinity: number;
  error: RingcacheError | null = null;
  /** The value after the increment. */
  result = 0n;
  private version = 0;
  private attempts = 0;
  private owners: NodeClient[] = NO_OWNERS;
  private primary = -1;
  private pending = 0;
  /** The copy of the result, and the owners that did not take it (a bit per owner). */
  private copy: Buffer | null = null;
  private copyExpiresAt = 0;
  private unreached = 0;
  /** From Topology.writeStarted, on the first attempt; handed back when the increment ends. */
  private generation = 0;

  constructor(router: Router, key: Buffer, delta: bigint, sink: OpSink<IncrOp<C>>, ctx: C) {
    this.router = router;
    this.key = key;
    this.delta = delta;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    this.attempts++;
    if (this.attempts === 1) this.generation = this.router.topology.writeStarted();
    this.version = this.router.clock.next();
    this.owners = this.router.ownersOf(this.key);
    this.primary = -1;
    for (let i = 0; i < this.owners.length; i++) {
      const conn = (this.owners[i] as NodeClient).connection(this.affinity);
      if (conn === null) continue;
      encodeIncrBy(conn.writer(), this.key, this.delta, this.version);
      conn.expect(this, -1);
      this.primary = i;
      return this;
    }
    this.error =
      this.owners.length === 0 ? noOwners(this.router.topology) : unreachable(null, false);
    this.end();
    return this;
  }

  onNodeReply(token: number, reply: RespValue): void {
    if (token >= 0) {
      // A copy to another owner: applied, or refused because it holds a newer version.
      if (--this.pending === 0) this.copied();
      return;
    }
    let expiresAt: number;
    try {
      const r = readIncrReply(reply);
      this.result = r.value;
      expiresAt = r.expiresAt;
    } catch (err) {
      if (err instanceof StaleVersionError && this.attempts <= this.router.maxStaleRetries) {
        this.router.clock.observe(err.heldVersion);
        this.router.counters.staleRetries++;
        this.start();
        return;
      }
      this.error = err as RingcacheError;
      this.end();
      return;
    }
    const value = Buffer.from(this.result.toString(), "latin1");
    this.copy = value;
    this.copyExpiresAt = expiresAt;
    this.unreached = 0;
    this.pending = 1;
    for (let i = 0; i < this.owners.length; i++) {
      if (i === this.primary) continue;
      const client = this.owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.unreached |= 1 << i;
        unwaitedConnection(this.router, client, this.affinity)?.put(
          UNWAITED,
          0,
          this.key,
          value,
          this.version,
          expiresAt,
        );
        continue;
      }
      conn.put(this, i, this.key, value, this.version, expiresAt);
      this.pending++;
    }
    if (--this.pending === 0) this.copied();
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
      "put",
      this.key,
      this.copy,
      this.copyExpiresAt,
      this.version,
    ).start(this.affinity, this.owners, this.unreached, this.generation);
  }

  heldDone(error: RingcacheError | null, generation: number): void {
    this.generation = generation;
    this.error = error;
    this.end();
  }

  private end(): void {
    this.router.topology.writeEnded(this.generation);
    this.sink.opDone(this);
  }

  onNodeError(token: number, error: RingcacheError): void {
    if (token >= 0) {
      this.unreached |= 1 << token;
      if (--this.pending === 0) this.copied();
      return;
    }
    // The increment may or may not have been applied: report it rather than apply it twice.
    this.error = error;
    this.end();
  }
}

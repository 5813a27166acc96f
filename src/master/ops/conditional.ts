// Commands with conditions: read the current entry (RC.GET), decide, then write.
//
//   SET key value NX|XX|GET|KEEPTTL ─► ReadOp "versioned" ─► held back, or WriteOp "put"
//   EXPIRE key t NX|XX|GT|LT, PERSIST ─► ReadOp "versioned" ─► held back, or WriteOp
//                                         "expire" ("del" for a time in the past)
//
// The read and the write are two steps: the client's connection is held meanwhile, so its
// later commands cannot overtake this one (see the holds in commands.ts).
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import type { Router } from "../router.js";
import { EXPIRE_GT, EXPIRE_LT, EXPIRE_NX, EXPIRE_XX } from "../../redis/expire.js";
import { SET_GET, SET_KEEPTTL, SET_NX, SET_XX } from "../../redis/set-options.js";
import { copy } from "../../redis/bytes.js";
import type { OpSink } from "./op.js";
import { ReadOp } from "./read.js";
import { WriteOp } from "./write.js";

export class SetOp<C> implements OpSink<ReadOp<null>>, OpSink<WriteOp<null>> {
  readonly router: Router;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  readonly sink: OpSink<SetOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  expiresAt: number;
  error: RingcacheError | null = null;
  /** GET: the value before the write (a copy), or null. */
  old: Buffer | null = null;
  /** Whether the write happened (false when NX/XX held it back). */
  written = false;

  constructor(
    router: Router,
    key: Buffer,
    value: Buffer,
    expiresAt: number,
    flags: number,
    sink: OpSink<SetOp<C>>,
    ctx: C,
  ) {
    this.router = router;
    this.key = key;
    this.value = value;
    this.expiresAt = expiresAt;
    this.flags = flags;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
  }

  start(): this {
    new ReadOp(this.router, this.key, "versioned", this, null).start();
    return this;
  }

  opDone(op: ReadOp<null> | WriteOp<null>): void {
    if (op.error !== null) {
      this.error = op.error;
      this.sink.opDone(this);
      return;
    }
    if (op instanceof WriteOp) {
      this.written = true;
      this.sink.opDone(this);
      return;
    }
    const held = op.versioned;
    const exists = held !== undefined && held.value !== null;
    if (exists && (this.flags & SET_GET) !== 0) this.old = copy(held.value);
    if (((this.flags & SET_NX) !== 0 && exists) || ((this.flags & SET_XX) !== 0 && !exists)) {
      this.sink.opDone(this);
      return;
    }
    if ((this.flags & SET_KEEPTTL) !== 0) {
      this.expiresAt = exists && held.pttl > 0 ? Date.now() + held.pttl : 0;
    }
    new WriteOp(this.router, "put", this.key, this.value, this.expiresAt, this, null).start();
  }
}

/** PERSIST: remove the expiry. */
export const EXPIRE_PERSIST = 16;

export class ExpireOp<C> implements OpSink<ReadOp<null>>, OpSink<WriteOp<null>> {
  readonly router: Router;
  readonly key: Buffer;
  /** Absolute expiry (Unix ms); at or before now the key is deleted. Ignored for PERSIST. */
  readonly when: number;
  readonly flags: number;
  readonly sink: OpSink<ExpireOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  error: RingcacheError | null = null;
  /** The command's integer reply: 1 when the expiry was set (or the key deleted), else 0. */
  result = 0;

  constructor(
    router: Router,
    key: Buffer,
    when: number,
    flags: number,
    sink: OpSink<ExpireOp<C>>,
    ctx: C,
  ) {
    this.router = router;
    this.key = key;
    this.when = when;
    this.flags = flags;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
  }

  start(): this {
    if (this.flags === 0) this.write();
    else new ReadOp(this.router, this.key, "versioned", this, null).start();
    return this;
  }

  opDone(op: ReadOp<null> | WriteOp<null>): void {
    if (op.error !== null) {
      this.error = op.error;
      this.sink.opDone(this);
      return;
    }
    if (op instanceof WriteOp) {
      this.result = op.existed ? 1 : 0;
      this.sink.opDone(this);
      return;
    }
    const held = op.versioned;
    if (held === undefined || held.value === null) return this.reply(0);
    const flags = this.flags;
    // Remaining TTL as an absolute time; -1: no expiry (infinite).
    const current = held.pttl < 0 ? -1 : Date.now() + held.pttl;
    if ((flags & EXPIRE_PERSIST) !== 0) {
      if (current === -1) return this.reply(0);
    } else if (
      ((flags & EXPIRE_NX) !== 0 && current !== -1) ||
      ((flags & EXPIRE_XX) !== 0 && current === -1) ||
      ((flags & EXPIRE_GT) !== 0 && (current === -1 || this.when <= current)) ||
      ((flags & EXPIRE_LT) !== 0 && current !== -1 && this.when >= current)
    ) {
      return this.reply(0);
    }
    this.write();
  }

  private write(): void {
    const router = this.router;
    if ((this.flags & EXPIRE_PERSIST) !== 0) {
      new WriteOp(router, "expire", this.key, null, 0, this, null).start();
    } else if (this.when <= Date.now()) {
      // An expiry in the past deletes the key (with a tombstone), as Redis does.
      new WriteOp(router, "del", this.key, null, 0, this, null).start();
    } else {
      new WriteOp(router, "expire", this.key, null, this.when, this, null).start();
    }
  }

  private reply(result: number): void {
    this.result = result;
    this.sink.opDone(this);
  }
}

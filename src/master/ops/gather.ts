// Multi-key commands: one read or write per key, gathered back in key order.
//
//   MGET k1 k2 k3 ─► ReadOp k1, ReadOp k2, ReadOp k3 ─► (replies in any order) ─► values[i]
//
// The per-key operations of one event-loop turn leave in one write per node (see pool.ts),
// so a gather costs one round trip per node, not per key.
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import type { Router } from "../router.js";
import { copy } from "../../redis/bytes.js";
import type { OpSink } from "./op.js";
import { ReadOp } from "./read.js";
import { WriteOp } from "./write.js";

/** TOUCH counts like EXISTS, marking each entry recently used on its owner. */
export type GatherKind = "mget" | "exists" | "touch" | "del" | "mset";

/** What a gather's per-key operations report into (the gather itself, whatever its C). */
interface Gathering {
  readonly kind: GatherKind;
  readonly values: (Buffer | null)[];
  count: number;
  childDone(error: RingcacheError | null): void;
}

export class GatherOp<C> implements Gathering {
  readonly router: Router;
  readonly kind: GatherKind;
  readonly sink: OpSink<GatherOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  /** The keys, and for MSET the values paired with them (copied at start). */
  private readonly keyArgs: readonly Buffer[];
  private readonly valueArgs: readonly Buffer[] | null;
  /** MSET: absolute expiry (Unix ms, 0 for none) per key, or null for none at all. */
  private readonly expiries: readonly number[] | null;
  /** MGET: each key's value (copies) or null, in key order. */
  readonly values: (Buffer | null)[];
  /** EXISTS, TOUCH and DEL: how many keys counted. */
  count = 0;
  error: RingcacheError | null = null;
  private remaining: number;

  /**
   * For MSET, `values[i]` pairs with `keys[i]`, and `expiries[i]` when given. The arrays may
   * hold views of a socket chunk: start() copies every key and value before it returns.
   */
  constructor(
    router: Router,
    kind: GatherKind,
    keys: readonly Buffer[],
    values: readonly Buffer[] | null,
    expiries: readonly number[] | null,
    sink: OpSink<GatherOp<C>>,
    ctx: C,
  ) {
    this.router = router;
    this.kind = kind;
    this.sink = sink;
    this.ctx = ctx;
    this.keyArgs = keys;
    this.valueArgs = values;
    this.expiries = expiries;
    this.remaining = keys.length;
    this.values = kind === "mget" ? new Array<Buffer | null>(keys.length).fill(null) : [];
    this.startedAt = performance.now();
  }

  /** Number of keys. */
  get keys(): number {
    return this.keyArgs.length;
  }

  start(): this {
    const { router, kind, keyArgs, valueArgs, expiries } = this;
    for (let i = 0; i < keyArgs.length; i++) {
      const key = copy(keyArgs[i] as Buffer);
      if (kind === "mget") {
        new ReadOp<Gathering>(router, key, "value", GATHER_READ, this, i).start();
      } else if (kind === "exists" || kind === "touch") {
        new ReadOp<Gathering>(router, key, kind, GATHER_READ, this, i).start();
      } else if (kind === "del") {
        new WriteOp<Gathering>(router, "del", key, null, 0, GATHER_WRITE, this, i).start();
      } else {
        const value = copy((valueArgs as readonly Buffer[])[i] as Buffer);
        const expiresAt = expiries === null ? 0 : (expiries[i] ?? 0);
        new WriteOp<Gathering>(router, "put", key, value, expiresAt, GATHER_WRITE, this, i).start();
      }
    }
    return this;
  }

  childDone(error: RingcacheError | null): void {
    if (error !== null && this.error === null) this.error = error;
    if (--this.remaining === 0) this.sink.opDone(this);
  }
}

const GATHER_READ: OpSink<ReadOp<Gathering>> = {
  opDone(op: ReadOp<Gathering>): void {
    const parent = op.ctx;
    if (op.error === null) {
      if (parent.kind === "mget") {
        if (op.value !== null) parent.values[op.index] = copy(op.value);
      } else if (op.exists) {
        parent.count++;
      }
    }
    parent.childDone(op.error);
  },
};

const GATHER_WRITE: OpSink<WriteOp<Gathering>> = {
  opDone(op: WriteOp<Gathering>): void {
    const parent = op.ctx;
    if (op.error === null && op.existed) parent.count++;
    parent.childDone(op.error);
  },
};

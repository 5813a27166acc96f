// Where the master's operations come back
// (docs/design.md, "A SET's path from socket to store and back"): each sink turns a finished
// operation into its command's reply bytes, completes the reserved slot, records the
// command's metrics, and releases a held connection. One sink per reply shape, built once:
// nothing is allocated per command but the reply itself. Replies are written with
// `this.out(slot)`, which speaks the slot's protocol (RESP2 or RESP3); a prebuilt null (NIL)
// is turned into the slot's form when the slot completes.
import type { RingcacheError } from "../../errors.js";
import { RespWriter } from "../../protocol/resp/index.js";
import { SET_GET } from "../../redis/set-options.js";
import { rangeOf } from "../../redis/strings.js";
import type { ClientConnection, DeferredReply } from "../../server/resp-server.js";
import type { BroadcastOp } from "../ops/broadcast.js";
import type { ExpireOp, SetOp } from "../ops/conditional.js";
import type { GatherOp } from "../ops/gather.js";
import type { ModifyOp, ModifySink } from "../ops/modify.js";
import type { OpSink } from "../ops/op.js";
import type { ReadOp } from "../ops/read.js";
import type { WriteOp } from "../ops/write.js";
import type { ErrorPending, Pending, RangePending } from "./context.js";

const OK = Buffer.from("+OK\r\n");
const NIL = Buffer.from("$-1\r\n");
const ZERO = Buffer.from(":0\r\n");
const ONE = Buffer.from(":1\r\n");
const EMPTY = Buffer.from("$0\r\n\r\n");
const STRING = Buffer.from("+string\r\n");
const NONE = Buffer.from("+none\r\n");

/** What the sinks report back to the dispatcher. */
export interface SinkHost {
  record(id: number, ok: boolean, startedAt: number): void;
  /** The multi-step command of `conn` is done: run what waited behind it. */
  release(conn: ClientConnection): void;
  /** The read-modify-write of `conn` holding `key` has its answer: run what waited for it. */
  releaseKey(conn: ClientConnection, key: Buffer): void;
}

export class MasterSinks {
  private readonly host: SinkHost;
  /** GET's and SET's ids: their hot sinks take the bare slot as context, with no id. */
  private readonly getId: number;
  private readonly setId: number;
  /** Scratch encoder: filled and taken within one call. Reached through out(slot). */
  private readonly scratch = new RespWriter();

  constructor(host: SinkHost, ids: { readonly get: number; readonly set: number }) {
    this.host = host;
    this.getId = ids.get;
    this.setId = ids.set;
  }

  /** The scratch encoder, set to the protocol `slot`'s reply is due in. */
  private out(slot: DeferredReply): RespWriter {
    const w = this.scratch;
    w.protocol = slot.protocol;
    return w;
  }

  private complete(slot: DeferredReply, id: number, startedAt: number, bytes: Buffer): void {
    this.host.record(id, true, startedAt);
    slot.complete(bytes);
  }

  /**
   * Completes `slot` with a reply a family's own sink built (the walks of keys.ts), recording
   * the command like every sink here.
   */
  done(slot: DeferredReply, id: number, startedAt: number, bytes: Buffer): void {
    this.complete(slot, id, startedAt, bytes);
  }

  /** Lets `conn`'s later commands run: the family command that held it is done. */
  release(conn: ClientConnection): void {
    this.host.release(conn);
  }

  /** Completes `slot` with the error's reply. */
  fail(slot: DeferredReply, id: number, startedAt: number, err: RingcacheError): void {
    this.host.record(id, false, startedAt);
    slot.complete(this.out(slot).error(err.respLine).take());
  }

  private integer(slot: DeferredReply, id: number, startedAt: number, n: number): void {
    this.complete(slot, id, startedAt, this.out(slot).integer(n).take());
  }

  readonly get: OpSink<ReadOp<DeferredReply>> = {
    opDone: (op) => {
      const slot = op.ctx;
      if (op.error !== null) return this.fail(slot, this.getId, op.startedAt, op.error);
      if (op.value === null) return this.complete(slot, this.getId, op.startedAt, NIL);
      this.complete(slot, this.getId, op.startedAt, this.out(slot).bulk(op.value).take());
    },
  };

  readonly set: OpSink<WriteOp<DeferredReply>> = {
    opDone: (op) => {
      const slot = op.ctx;
      if (op.error !== null) this.fail(slot, this.setId, op.startedAt, op.error);
      else this.complete(slot, this.setId, op.startedAt, OK);
    },
  };

  /** SET with NX, XX, GET or KEEPTTL: it held its connection. */
  readonly setCond: OpSink<SetOp<Pending>> = {
    opDone: (op) => {
      const { slot, conn } = op.ctx;
      const id = this.setId;
      if (op.error !== null) this.fail(slot, id, op.startedAt, op.error);
      else if ((op.flags & SET_GET) === 0) {
        this.complete(slot, id, op.startedAt, op.written ? OK : NIL);
      } else if (op.old === null) this.complete(slot, id, op.startedAt, NIL);
      else {
        this.complete(slot, id, op.startedAt, this.out(slot).bulk(op.old).take());
      }
      if (conn !== undefined && conn !== null) this.host.release(conn);
    },
  };

  /** MGET: the values in key order. */
  readonly mget: OpSink<GatherOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      const w = this.out(slot);
      w.arrayHeader(op.values.length);
      for (const v of op.values) w.bulk(v);
      this.complete(slot, id, op.startedAt, w.take());
    },
  };

  /** MSET, FLUSHALL, SETEX and PSETEX: +OK. */
  readonly ok: OpSink<GatherOp<Pending> | BroadcastOp<Pending> | WriteOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) this.fail(slot, id, op.startedAt, op.error);
      else this.complete(slot, id, op.startedAt, OK);
    },
  };

  /** DEL, UNLINK, EXISTS and TOUCH: how many keys. */
  readonly count: OpSink<GatherOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      this.integer(slot, id, op.startedAt, op.count);
    },
  };

  /** DBSIZE: the keys of every node. */
  readonly keys: OpSink<BroadcastOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      this.integer(slot, id, op.startedAt, op.keys);
    },
  };

  /**
   * The read-modify-writes (INCRBY, INCRBYFLOAT, APPEND, SETRANGE, GETSET, GETDEL, GETEX with
   * an option): their answer, an integer, bytes or nil.
   */
  readonly modify: ModifySink<ModifyOp<Pending>> = {
    answered: (op) => {
      const conn = op.ctx.conn;
      if (conn !== undefined && conn !== null) this.host.releaseKey(conn, op.key);
    },
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      const answer = op.answer;
      if (answer === null) return this.complete(slot, id, op.startedAt, NIL);
      const w = this.out(slot);
      if (Buffer.isBuffer(answer)) w.bulk(answer);
      else w.integer(answer);
      this.complete(slot, id, op.startedAt, w.take());
    },
  };

  readonly expire: OpSink<ExpireOp<Pending>> = {
    opDone: (op) => {
      const { slot, id, conn } = op.ctx;
      if (op.error !== null) this.fail(slot, id, op.startedAt, op.error);
      else this.complete(slot, id, op.startedAt, op.result === 1 ? ONE : ZERO);
      if (conn !== undefined && conn !== null) this.host.release(conn);
    },
  };

  /** TTL (seconds, rounded) and PTTL (ms): -2 for no key, -1 for no expiry. */
  readonly ttl = this.ttlSink(true);
  readonly pttl = this.ttlSink(false);

  /** EXPIRETIME (seconds, rounded) and PEXPIRETIME (ms): -2 for no key, -1 for no expiry. */
  readonly expireTime = this.expireTimeSink(true);
  readonly pexpireTime = this.expireTimeSink(false);

  /** SETNX: :1 when it set the key, :0 when the key existed. It held its connection. */
  readonly setnx: OpSink<SetOp<Pending>> = {
    opDone: (op) => {
      const { slot, id, conn } = op.ctx;
      if (op.error !== null) this.fail(slot, id, op.startedAt, op.error);
      else this.complete(slot, id, op.startedAt, op.written ? ONE : ZERO);
      if (conn !== undefined && conn !== null) this.host.release(conn);
    },
  };

  /** GETEX with no option: the value or nil. */
  readonly value: OpSink<ReadOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      if (op.value === null) return this.complete(slot, id, op.startedAt, NIL);
      this.complete(slot, id, op.startedAt, this.out(slot).bulk(op.value).take());
    },
  };

  /** STRLEN: the value's length, 0 for no key. */
  readonly strlen: OpSink<ReadOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      this.integer(slot, id, op.startedAt, op.integer);
    },
  };

  /** TYPE: every value is a string; none for no key. */
  readonly type: OpSink<ReadOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      this.complete(slot, id, op.startedAt, op.exists ? STRING : NONE);
    },
  };

  /** GETRANGE and SUBSTR: the bytes of the range, empty for no key. */
  readonly range: OpSink<ReadOp<RangePending>> = {
    opDone: (op) => {
      const { slot, id, start, end } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      const value = op.value;
      if (value === null) return this.complete(slot, id, op.startedAt, EMPTY);
      const [from, to] = rangeOf(value.length, start, end);
      const w = this.out(slot).bulkSlice(value, from, to - from);
      this.complete(slot, id, op.startedAt, w.take());
    },
  };

  /**
   * A command whose argument Redis checks only once the key exists (GETEX's expiry): nil for
   * no key, the argument's error for a key.
   */
  readonly nilOrError: OpSink<ReadOp<ErrorPending>> = {
    opDone: (op) => {
      const { slot, id, error } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      if (!op.exists) return this.complete(slot, id, op.startedAt, NIL);
      this.fail(slot, id, op.startedAt, error);
    },
  };

  private expireTimeSink(seconds: boolean): OpSink<ReadOp<Pending>> {
    return {
      opDone: (op) => {
        const { slot, id } = op.ctx;
        if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
        const held = op.versioned;
        let at: number;
        if (held === undefined || held.value === null || held.pttl === -2) at = -2;
        else at = held.expiresAt === undefined || held.expiresAt === 0 ? -1 : held.expiresAt;
        this.integer(
          slot,
          id,
          op.startedAt,
          at < 0 || !seconds ? at : Math.floor((at + 500) / 1000),
        );
      },
    };
  }

  private ttlSink(seconds: boolean): OpSink<ReadOp<Pending>> {
    return {
      opDone: (op) => {
        const { slot, id } = op.ctx;
        if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
        const held = op.versioned;
        let pttl: number;
        if (held === undefined || held.value === null) pttl = -2;
        else pttl = held.pttl < 0 ? -1 : held.pttl;
        const reply = pttl < 0 || !seconds ? pttl : Math.floor((pttl + 500) / 1000);
        this.integer(slot, id, op.startedAt, reply);
      },
    };
  }
}

// The master's string commands (docs/design.md, "Client interfaces"): GET, SET, SETEX, PSETEX,
// SETNX, MGET, MSET, INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, APPEND, SETRANGE, GETSET, GETDEL,
// GETEX, STRLEN, GETRANGE, SUBSTR. Each parses as Redis 7 does, checks sizes, and starts an
// operation with copies of what outlives the call; its sink replies. The read-modify-writes
// run on the key's first owner (ModifyOp), so they are atomic per key as INCRBY is.
import { RingcacheError } from "../../errors.js";
import type { Modification } from "../../protocol/internal/index.js";
import { copy } from "../../redis/bytes.js";
import { arityError } from "../../redis/errors.js";
import { INT64_MIN, notInteger, parseInt64 } from "../../redis/integers.js";
import { checkKeySize, checkValueSize } from "../../redis/limits.js";
import { notFloat, parseLongDouble } from "../../redis/long-double.js";
import { ONE_KEY, REPLIES_LATER, WRITES, type CommandRegistry } from "../../redis/registry.js";
import {
  PLAIN_SET,
  SET_NX,
  UNIT_EX,
  UNIT_PX,
  parseExpiry,
  parseGetExOptions,
  parseSetOptions,
} from "../../redis/set-options.js";
import { checkStringLength, parseIndex, parseOffset } from "../../redis/strings.js";
import type { ClientConnection } from "../../server/resp-server.js";
import { SetOp } from "../ops/conditional.js";
import { GatherOp } from "../ops/gather.js";
import { ModifyOp } from "../ops/modify.js";
import { ReadOp } from "../ops/read.js";
import { WriteOp } from "../ops/write.js";
import type { MasterContext, MasterHandler, Pending } from "./context.js";

const get: MasterHandler = (m, conn, args) => {
  new ReadOp(m.router, copy(args[1] as Buffer), "value", m.sinks.get, m.slot(conn)).start();
};

const set: MasterHandler = (m, conn, args, id) => {
  const key = args[1] as Buffer;
  const value = args[2] as Buffer;
  const opts = args.length === 3 ? PLAIN_SET : parseSetOptions(args, Date.now());
  checkKeySize(key, m.options.maxKeySize);
  checkValueSize(value, m.options.maxValueSize);
  if (opts.flags === 0) {
    new WriteOp(
      m.router,
      "put",
      copy(key),
      copy(value),
      opts.expiresAt,
      m.sinks.set,
      m.slot(conn),
    ).start();
    return;
  }
  // NX, XX, GET and KEEPTTL read before they write: the connection waits meanwhile.
  const ctx = { slot: m.slot(conn), id, conn };
  m.hold(conn);
  new SetOp(
    m.router,
    copy(key),
    copy(value),
    opts.expiresAt,
    opts.flags,
    m.sinks.setCond,
    ctx,
  ).start();
};

const mget: MasterHandler = (m, conn, args, id) => {
  new GatherOp(m.router, "mget", args.slice(1), null, null, m.sinks.mget, {
    slot: m.slot(conn),
    id,
  }).start();
};

const mset: MasterHandler = (m, conn, args, id) => {
  if (args.length % 2 === 0) throw arityError("mset");
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  for (let i = 1; i < args.length; i += 2) {
    checkKeySize(args[i] as Buffer, m.options.maxKeySize);
    checkValueSize(args[i + 1] as Buffer, m.options.maxValueSize);
    keys.push(args[i] as Buffer);
    values.push(args[i + 1] as Buffer);
  }
  new GatherOp(m.router, "mset", keys, values, null, m.sinks.ok, {
    slot: m.slot(conn),
    id,
  }).start();
};

/** SETEX key seconds value, PSETEX key ms value: SET with an expiry. */
function setex(name: string, unit: number): MasterHandler {
  return (m, conn, args, id) => {
    const key = args[1] as Buffer;
    const value = args[3] as Buffer;
    const expiresAt = parseExpiry(args[2] as Buffer, unit, Date.now(), name);
    checkKeySize(key, m.options.maxKeySize);
    checkValueSize(value, m.options.maxValueSize);
    const ctx: Pending = { slot: m.slot(conn), id };
    new WriteOp(m.router, "put", copy(key), copy(value), expiresAt, m.sinks.ok, ctx).start();
  };
}

/** SETNX: SET NX answering :1 or :0; it reads before it writes, holding the connection. */
const setnx: MasterHandler = (m, conn, args, id) => {
  const key = args[1] as Buffer;
  const value = args[2] as Buffer;
  checkKeySize(key, m.options.maxKeySize);
  checkValueSize(value, m.options.maxValueSize);
  const ctx: Pending = { slot: m.slot(conn), id, conn };
  m.hold(conn);
  new SetOp(m.router, copy(key), copy(value), 0, SET_NX, m.sinks.setnx, ctx).start();
};

/** Starts a read-modify-write of `key` on its first owner; `mod` holds copies. */
function modify(
  m: MasterContext,
  conn: ClientConnection,
  id: number,
  key: Buffer,
  mod: Modification,
): void {
  checkKeySize(key, m.options.maxKeySize);
  const ctx: Pending = { slot: m.slot(conn), id, conn };
  const owned = copy(key);
  // Until the first owner answers, the client's later commands on the key wait (holds.ts).
  m.holdKey(conn, owned);
  new ModifyOp(m.router, owned, mod, m.options.maxValueSize, m.sinks.modify, ctx).start();
}

function incr(m: MasterContext, conn: ClientConnection, id: number, key: Buffer, by: bigint): void {
  modify(m, conn, id, key, { op: "INCRBY", delta: by });
}

const incrbyfloat: MasterHandler = (m, conn, args, id) => {
  const incr = args[2] as Buffer;
  // The node reads it again; refusing it here saves the trip.
  if (parseLongDouble(incr) === null) throw notFloat();
  modify(m, conn, id, args[1] as Buffer, { op: "INCRBYFLOAT", incr: copy(incr) });
};

const append: MasterHandler = (m, conn, args, id) => {
  const value = args[2] as Buffer;
  checkStringLength(value.length, m.options.maxValueSize);
  modify(m, conn, id, args[1] as Buffer, { op: "APPEND", value: copy(value) });
};

/** SETRANGE key offset value: Redis refuses a negative offset, and a string grown too long. */
const setrange: MasterHandler = (m, conn, args, id) => {
  const offset = parseOffset(args[2] as Buffer);
  const value = args[3] as Buffer;
  // An empty value changes nothing whatever the offset: the node answers the length.
  if (value.length === 0) {
    modify(m, conn, id, args[1] as Buffer, { op: "SETRANGE", offset: 0n, value: copy(value) });
    return;
  }
  const end = offset + BigInt(value.length);
  checkStringLength(
    end > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(end),
    m.options.maxValueSize,
  );
  modify(m, conn, id, args[1] as Buffer, { op: "SETRANGE", offset, value: copy(value) });
};

const getset: MasterHandler = (m, conn, args, id) => {
  const value = args[2] as Buffer;
  checkValueSize(value, m.options.maxValueSize);
  modify(m, conn, id, args[1] as Buffer, { op: "GETSET", value: copy(value) });
};

const getdel: MasterHandler = (m, conn, args, id) => {
  modify(m, conn, id, args[1] as Buffer, { op: "GETDEL" });
};

/**
 * GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]. With no option it is a GET. As in Redis, a
 * malformed expiry is reported only when the key exists (no key: nil), and a time already past
 * deletes the key.
 */
const getex: MasterHandler = (m, conn, args, id) => {
  const key = args[1] as Buffer;
  const opts = parseGetExOptions(args);
  if (opts.persist) {
    modify(m, conn, id, key, { op: "GETEX", expiresAt: 0 });
    return;
  }
  if (opts.expire === null) {
    new ReadOp(m.router, copy(key), "value", m.sinks.value, { slot: m.slot(conn), id }).start();
    return;
  }
  const now = Date.now();
  let expiresAt: number;
  try {
    expiresAt = parseExpiry(opts.expire, opts.unit, now, "getex");
  } catch (err) {
    if (!(err instanceof RingcacheError)) throw err;
    const ctx = { slot: m.slot(conn), id, error: err };
    new ReadOp(m.router, copy(key), "exists", m.sinks.nilOrError, ctx).start();
    return;
  }
  modify(m, conn, id, key, expiresAt <= now ? { op: "GETDEL" } : { op: "GETEX", expiresAt });
};

const strlen: MasterHandler = (m, conn, args, id) => {
  const key = copy(args[1] as Buffer);
  new ReadOp(m.router, key, "strlen", m.sinks.strlen, { slot: m.slot(conn), id }).start();
};

/** GETRANGE and SUBSTR: the value is read and the range cut from it here. */
const getrange: MasterHandler = (m, conn, args, id) => {
  const start = parseIndex(args[2] as Buffer);
  const end = parseIndex(args[3] as Buffer);
  const key = copy(args[1] as Buffer);
  const ctx = { slot: m.slot(conn), id, start, end };
  new ReadOp(m.router, key, "value", m.sinks.range, ctx).start();
};

/** INCRBY's and DECRBY's delta, with Redis's texts. */
function delta(arg: Buffer, negate: boolean): bigint {
  const value = parseInt64(arg);
  if (value === null) throw notInteger();
  if (!negate) return value;
  if (value === INT64_MIN) throw new RingcacheError("BAD_REQUEST", "decrement would overflow");
  return -value;
}

/** The string family of the master's registry. */
export function stringCommands(registry: CommandRegistry<MasterHandler>): void {
  const data = REPLIES_LATER;
  const write = REPLIES_LATER | WRITES;
  // Commands on one key, args[1] (see holds.ts).
  const read1 = data | ONE_KEY;
  const write1 = write | ONE_KEY;
  registry.add({ name: "get", arity: 2, flags: read1, handler: get });
  registry.add({ name: "set", arity: -3, flags: write1, handler: set });
  registry.add({ name: "mget", arity: -2, flags: data, handler: mget });
  registry.add({ name: "mset", arity: -3, flags: write, handler: mset });
  registry.add({
    name: "incr",
    arity: 2,
    flags: write1,
    handler: (m, conn, args, id) => incr(m, conn, id, args[1] as Buffer, 1n),
  });
  registry.add({
    name: "decr",
    arity: 2,
    flags: write1,
    handler: (m, conn, args, id) => incr(m, conn, id, args[1] as Buffer, -1n),
  });
  registry.add({
    name: "incrby",
    arity: 3,
    flags: write1,
    handler: (m, conn, args, id) =>
      incr(m, conn, id, args[1] as Buffer, delta(args[2] as Buffer, false)),
  });
  registry.add({
    name: "decrby",
    arity: 3,
    flags: write1,
    handler: (m, conn, args, id) =>
      incr(m, conn, id, args[1] as Buffer, delta(args[2] as Buffer, true)),
  });
  registry.add({ name: "setex", arity: 4, flags: write1, handler: setex("setex", UNIT_EX) });
  registry.add({ name: "psetex", arity: 4, flags: write1, handler: setex("psetex", UNIT_PX) });
  registry.add({ name: "setnx", arity: 3, flags: write1, handler: setnx });
  registry.add({ name: "incrbyfloat", arity: 3, flags: write1, handler: incrbyfloat });
  registry.add({ name: "append", arity: 3, flags: write1, handler: append });
  registry.add({ name: "setrange", arity: 4, flags: write1, handler: setrange });
  registry.add({ name: "getset", arity: 3, flags: write1, handler: getset });
  registry.add({ name: "getdel", arity: 2, flags: write1, handler: getdel });
  registry.add({ name: "getex", arity: -2, flags: write1, handler: getex });
  registry.add({ name: "strlen", arity: 2, flags: read1, handler: strlen });
  registry.add({ name: "getrange", arity: 4, flags: read1, handler: getrange });
  registry.add({ name: "substr", arity: 4, flags: read1, handler: getrange });
}

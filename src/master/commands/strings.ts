// The master's string commands (docs/design.md, "Client interfaces"): GET, SET, MGET, MSET,
// INCR, DECR, INCRBY, DECRBY. Each parses as Redis 7 does, checks sizes, and starts an
// operation with copies of what outlives the call; its sink replies.
import { RingcacheError } from "../../errors.js";
import { copy } from "../../redis/bytes.js";
import { arityError } from "../../redis/errors.js";
import { INT64_MIN, notInteger, parseInt64 } from "../../redis/integers.js";
import { checkKeySize, checkValueSize } from "../../redis/limits.js";
import { REPLIES_LATER, WRITES, type CommandRegistry } from "../../redis/registry.js";
import { PLAIN_SET, parseSetOptions } from "../../redis/set-options.js";
import type { ClientConnection } from "../../server/resp-server.js";
import { SetOp } from "../ops/conditional.js";
import { GatherOp } from "../ops/gather.js";
import { IncrOp } from "../ops/incr.js";
import { ReadOp } from "../ops/read.js";
import { WriteOp } from "../ops/write.js";
import type { MasterContext, MasterHandler } from "./context.js";

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

function incr(m: MasterContext, conn: ClientConnection, id: number, key: Buffer, by: bigint): void {
  checkKeySize(key, m.options.maxKeySize);
  new IncrOp(m.router, copy(key), by, m.sinks.incr, { slot: m.slot(conn), id }).start();
}

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
  registry.add({ name: "get", arity: 2, flags: data, handler: get });
  registry.add({ name: "set", arity: -3, flags: write, handler: set });
  registry.add({ name: "mget", arity: -2, flags: data, handler: mget });
  registry.add({ name: "mset", arity: -3, flags: write, handler: mset });
  registry.add({
    name: "incr",
    arity: 2,
    flags: write,
    handler: (m, conn, args, id) => incr(m, conn, id, args[1] as Buffer, 1n),
  });
  registry.add({
    name: "decr",
    arity: 2,
    flags: write,
    handler: (m, conn, args, id) => incr(m, conn, id, args[1] as Buffer, -1n),
  });
  registry.add({
    name: "incrby",
    arity: 3,
    flags: write,
    handler: (m, conn, args, id) =>
      incr(m, conn, id, args[1] as Buffer, delta(args[2] as Buffer, false)),
  });
  registry.add({
    name: "decrby",
    arity: 3,
    flags: write,
    handler: (m, conn, args, id) =>
      incr(m, conn, id, args[1] as Buffer, delta(args[2] as Buffer, true)),
  });
}

// The master's keyspace commands (docs/design.md, "Client interfaces"): DEL, UNLINK, EXISTS,
// TOUCH, TYPE, the EXPIRE family, TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST. EXPIRE with
// NX/XX/GT/LT and PERSIST read before they write, so they hold their connection until done.
import { copy } from "../../redis/bytes.js";
import { parseExpireFlags, parseExpireTime } from "../../redis/expire.js";
import { ONE_KEY, REPLIES_LATER, WRITES, type CommandRegistry } from "../../redis/registry.js";
import { ExpireOp, EXPIRE_PERSIST } from "../ops/conditional.js";
import { GatherOp } from "../ops/gather.js";
import { ReadOp } from "../ops/read.js";
import type { MasterHandler, Pending } from "./context.js";

function gather(kind: "del" | "exists" | "touch"): MasterHandler {
  return (m, conn, args, id) => {
    new GatherOp(m.router, kind, args.slice(1), null, null, m.sinks.count, {
      slot: m.slot(conn),
      id,
    }).start();
  };
}

/** EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: in seconds or ms, from now or from the epoch. */
function expire(name: string, seconds: boolean, relative: boolean): MasterHandler {
  return (m, conn, args, id) => {
    const flags = parseExpireFlags(args);
    const when = parseExpireTime(args[2] as Buffer, seconds, relative ? Date.now() : 0, name);
    const ctx: Pending = { slot: m.slot(conn), id, conn: flags === 0 ? null : conn };
    if (flags !== 0) m.hold(conn);
    new ExpireOp(m.router, copy(args[1] as Buffer), when, flags, m.sinks.expire, ctx).start();
  };
}

const persist: MasterHandler = (m, conn, args, id) => {
  const ctx: Pending = { slot: m.slot(conn), id, conn };
  m.hold(conn);
  new ExpireOp(m.router, copy(args[1] as Buffer), 0, EXPIRE_PERSIST, m.sinks.expire, ctx).start();
};

/** TTL in seconds, PTTL in ms: from the entry's versioned read. */
function ttl(seconds: boolean): MasterHandler {
  return (m, conn, args, id) => {
    const sink = seconds ? m.sinks.ttl : m.sinks.pttl;
    new ReadOp(m.router, copy(args[1] as Buffer), "versioned", sink, {
      slot: m.slot(conn),
      id,
    }).start();
  };
}

/** EXPIRETIME in seconds, PEXPIRETIME in ms: the absolute expiry the owner holds. */
function expireTime(seconds: boolean): MasterHandler {
  return (m, conn, args, id) => {
    const sink = seconds ? m.sinks.expireTime : m.sinks.pexpireTime;
    new ReadOp(m.router, copy(args[1] as Buffer), "expiry", sink, {
      slot: m.slot(conn),
      id,
    }).start();
  };
}

/** TYPE: string, or none. */
const type: MasterHandler = (m, conn, args, id) => {
  new ReadOp(m.router, copy(args[1] as Buffer), "exists", m.sinks.type, {
    slot: m.slot(conn),
    id,
  }).start();
};

/** The keyspace family of the master's registry. */
export function keyspaceCommands(registry: CommandRegistry<MasterHandler>): void {
  const data = REPLIES_LATER;
  const write = REPLIES_LATER | WRITES;
  // Commands on one key, args[1] (see holds.ts).
  const read1 = data | ONE_KEY;
  const write1 = write | ONE_KEY;
  registry.add({ name: "del", arity: -2, flags: write, handler: gather("del") });
  registry.add({ name: "exists", arity: -2, flags: data, handler: gather("exists") });
  for (const [name, seconds, relative] of [
    ["expire", true, true],
    ["pexpire", false, true],
    ["expireat", true, false],
    ["pexpireat", false, false],
  ] as const) {
    registry.add({ name, arity: -3, flags: write1, handler: expire(name, seconds, relative) });
  }
  registry.add({ name: "ttl", arity: 2, flags: read1, handler: ttl(true) });
  registry.add({ name: "pttl", arity: 2, flags: read1, handler: ttl(false) });
  registry.add({ name: "persist", arity: 2, flags: write1, handler: persist });
  // UNLINK frees nothing in the background here: it is DEL.
  registry.add({ name: "unlink", arity: -2, flags: write, handler: gather("del") });
  registry.add({ name: "touch", arity: -2, flags: data, handler: gather("touch") });
  registry.add({ name: "type", arity: 2, flags: read1, handler: type });
  registry.add({ name: "expiretime", arity: 2, flags: read1, handler: expireTime(true) });
  registry.add({ name: "pexpiretime", arity: 2, flags: read1, handler: expireTime(false) });
}

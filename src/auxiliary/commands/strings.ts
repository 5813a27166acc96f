// An auxiliary node's plain string commands (docs/design.md, "Master ↔ auxiliary protocol"):
// GET, SET and STRLEN as Redis 7 answers them, so redis-cli can inspect a node (and a master
// asks STRLEN rather than fetch the value). A plain write takes a version from the node's own
// clock.
import type { RespWriter } from "../../protocol/resp/index.js";
import type { CommandRegistry } from "../../redis/registry.js";
import { WRITES } from "../../redis/registry.js";
import { SET_GET, SET_KEEPTTL, SET_NX, SET_XX, parseSetOptions } from "../../redis/set-options.js";
import type { AuxiliaryCommands, AuxiliaryHandler } from "./dispatcher.js";

const get: AuxiliaryHandler = (a, conn, args) => {
  const ref = a.ref;
  if (a.store.getRef(args[1] as Buffer, ref))
    conn.out.bulkSlice(ref.buffer, ref.offset, ref.length);
  else conn.out.nullBulk();
};

const set: AuxiliaryHandler = (a, conn, args) => {
  if (args.length === 3) {
    a.store.set(args[1] as Buffer, args[2] as Buffer, a.clock.next(), 0);
    a.changes++;
    conn.out.simple("OK");
  } else {
    setWithOptions(a, conn.out, args);
  }
};

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]. */
function setWithOptions(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const now = a.now();
  const { flags, expiresAt: asked } = parseSetOptions(args, now);
  const get = (flags & SET_GET) !== 0;
  const key = args[1] as Buffer;
  const live = a.store.meta(key, a.meta) && !a.meta.isTombstone;
  const expiresAt = (flags & SET_KEEPTTL) !== 0 && live ? a.meta.expiresAt : asked;
  // GET's old value must be copied before the write replaces it (store views die then).
  let old: Buffer | null = null;
  if (get && live) {
    const view = a.store.peek(key);
    old = view === undefined ? null : Buffer.from(view);
  }
  if (((flags & SET_NX) !== 0 && live) || ((flags & SET_XX) !== 0 && !live)) {
    if (get) out.bulk(old);
    else out.nullBulk();
    return;
  }
  const version = a.clock.next();
  if (expiresAt !== 0 && expiresAt <= now) a.store.delete(key, version);
  else a.store.set(key, args[2] as Buffer, version, expiresAt);
  a.changes++;
  if (get) out.bulk(old);
  else out.simple("OK");
}

const strlen: AuxiliaryHandler = (a, conn, args) => {
  const ref = a.ref;
  conn.out.integer(a.store.getRef(args[1] as Buffer, ref) ? ref.length : 0);
};

/** The string family of an auxiliary node's registry. */
export function stringCommands(registry: CommandRegistry<AuxiliaryHandler>): void {
  registry.add({ name: "get", arity: 2, flags: 0, handler: get });
  registry.add({ name: "set", arity: -3, flags: WRITES, handler: set });
  registry.add({ name: "strlen", arity: 2, flags: 0, handler: strlen });
}

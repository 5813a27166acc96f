// An auxiliary node's plain keyspace commands: DEL, EXISTS, TOUCH, TTL and PTTL as Redis 7
// answers them (docs/design.md, "Master ↔ auxiliary protocol").
import { WRITES, type CommandRegistry } from "../../redis/registry.js";
import type { AuxiliaryHandler } from "./dispatcher.js";

const del: AuxiliaryHandler = (a, conn, args) => {
  let removed = 0;
  for (let i = 1; i < args.length; i++) {
    if (a.store.delete(args[i] as Buffer, a.clock.next())) removed++;
  }
  a.changes++;
  conn.out.integer(removed);
};

const exists: AuxiliaryHandler = (a, conn, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (a.store.has(args[i] as Buffer)) n++;
  conn.out.integer(n);
};

/** TOUCH: like EXISTS, but each key found becomes the most recently used. */
const touch: AuxiliaryHandler = (a, conn, args) => {
  let n = 0;
  for (let i = 1; i < args.length; i++) if (a.store.getRef(args[i] as Buffer, a.ref)) n++;
  conn.out.integer(n);
};

/** TTL (seconds, rounded) and PTTL (ms): -2 for no key, -1 for no expiry. */
function ttl(seconds: boolean): AuxiliaryHandler {
  return (a, conn, args) => {
    const meta = a.meta;
    if (!a.store.meta(args[1] as Buffer, meta) || meta.isTombstone) {
      conn.out.integer(-2);
      return;
    }
    if (meta.expiresAt === 0) {
      conn.out.integer(-1);
      return;
    }
    const ms = Math.max(0, meta.expiresAt - a.now());
    conn.out.integer(seconds ? Math.floor((ms + 500) / 1000) : ms);
  };
}

/** The keyspace family of an auxiliary node's registry. */
export function keyspaceCommands(registry: CommandRegistry<AuxiliaryHandler>): void {
  registry.add({ name: "del", arity: -2, flags: WRITES, handler: del });
  registry.add({ name: "exists", arity: -2, flags: 0, handler: exists });
  registry.add({ name: "touch", arity: -2, flags: 0, handler: touch });
  registry.add({ name: "ttl", arity: 2, flags: 0, handler: ttl(true) });
  registry.add({ name: "pttl", arity: 2, flags: 0, handler: ttl(false) });
}

// An auxiliary node's internal commands, the RC.* the masters send
// (docs/design.md, "Master ↔ auxiliary protocol"); protocol/internal/ parses and encodes them
// for both ends. Every write carries the master's version: the node's clock observes it, and
// the store applies it only if it is newer than what the node holds, the flush floor included.
import { RingcacheError } from "../../errors.js";
import {
  parseExpire,
  parseFlush,
  parseGetCommand,
  parseKeyVersion,
  parseMCDelCount,
  parseMCDelEntry,
  parseMPutCount,
  parseMPutEntry,
  parseCDel,
  parsePageArg,
  parsePut,
  parseStats,
  takeScanTerm,
  writeGetReply,
  writeGetReplySlice,
  type PutArgs,
} from "../../protocol/internal/index.js";
import { checkPage } from "../../protocol/page.js";
import type { RespWriter } from "../../protocol/resp/index.js";
import { WRITES, type CommandRegistry } from "../../redis/registry.js";
import type { AuxiliaryCommands, AuxiliaryHandler } from "./dispatcher.js";
import { rcIncrBy, rcModify } from "./modify.js";

function rcPut(a: AuxiliaryCommands, out: RespWriter, put: PutArgs): void {
  a.clock.observe(put.version);
  if (put.version <= a.flushFloor) {
    out.integer(-a.blocking(put.key, put.version));
    return;
  }
  if (a.store.putIfNewer(put.key, put.value, put.version, put.expiresAt)) {
    a.changes++;
    out.integer(1);
  } else {
    out.integer(-a.store.currentVersion(put.key));
  }
}

function rcMPut(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const n = parseMPutCount(args);
  out.arrayHeader(n);
  for (let i = 0; i < n; i++) {
    try {
      rcPut(a, out, parseMPutEntry(args, i, a.put));
    } catch (err) {
      if (!(err instanceof RingcacheError)) throw err;
      out.error(err.respLine);
    }
  }
}

/** RC.GET; with WITHEXPIRY the reply adds the absolute expiry (0 for none or a tombstone). */
function rcGet(a: AuxiliaryCommands, out: RespWriter, key: Buffer, withExpiry: boolean): void {
  const ref = a.ref;
  const meta = a.meta;
  if (a.store.getRef(key, ref)) {
    writeGetReplySlice(
      out,
      ref.buffer,
      ref.offset,
      ref.length,
      ref.version,
      ref.expiresAt === 0 ? -1 : Math.max(0, ref.expiresAt - a.now()),
      withExpiry ? ref.expiresAt : -1,
    );
  } else if (a.store.meta(key, meta) && meta.isTombstone) {
    writeGetReply(out, null, meta.version, -2, withExpiry ? 0 : -1);
  } else {
    out.nullArray();
  }
}

function rcDel(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const { key, version } = parseKeyVersion(args, "rc.del");
  a.clock.observe(version);
  const held = a.blocking(key, version);
  if (held >= 0) {
    out.integer(-held);
    return;
  }
  const removed = a.store.delete(key, version);
  a.changes++;
  out.integer(removed ? 1 : 0);
}

function rcExpire(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const { key, expiresAt, version } = parseExpire(args);
  a.clock.observe(version);
  const held = a.blocking(key, version);
  if (held >= 0) {
    out.integer(-held);
    return;
  }
  const applied = a.store.setExpiry(key, Math.min(expiresAt, Number.MAX_SAFE_INTEGER), version);
  if (applied) a.changes++;
  out.integer(applied ? 1 : 0);
}

/**
 * RC.PUTPAGE: every entry as RC.PUT (a tombstone as RC.DEL) would apply it, after the whole
 * page was checked. Replies the number applied; entries refused because the node holds a
 * newer version are not errors. An entry the store cannot take (too large for it) makes the
 * reply an error, after the others were applied, so the sender keeps its copy.
 */
function rcPutPage(a: AuxiliaryCommands, out: RespWriter, page: Buffer): void {
  checkPage(page);
  const r = a.pageIn.reset(page);
  const floor = a.flushFloor;
  let applied = 0;
  let failed = 0;
  let first: RingcacheError | undefined;
  while (r.next()) {
    const version = r.version;
    a.clock.observe(version);
    if (version <= floor) continue;
    const key = r.key();
    try {
      if (r.tombstone) {
        if (a.store.currentVersion(key) >= version) continue;
        a.store.delete(key, version);
      } else if (!a.store.putIfNewer(key, r.value(), version, r.expiresAt)) {
        continue;
      }
      applied++;
    } catch (err) {
      if (!(err instanceof RingcacheError)) throw err;
      if (failed++ === 0) first = err;
    }
  }
  a.changes += applied;
  if (first !== undefined) {
    throw new RingcacheError(
      first.code,
      `${failed} entries of the page could not be stored (first: ${first.message})`,
    );
  }
  out.integer(applied);
}

/** RC.CDELPAGE: RC.CDEL of each entry's key and version, after the whole page was checked. */
function rcCDelPage(a: AuxiliaryCommands, out: RespWriter, page: Buffer): void {
  checkPage(page);
  const r = a.pageIn.reset(page);
  let removed = 0;
  while (r.next()) {
    if (a.store.deleteIfVersion(r.key(), r.version)) removed++;
  }
  a.changes += removed;
  out.integer(removed);
}

function rcCDel(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const { key, version, term } = parseCDel(args);
  a.fence(term);
  const removed = a.store.deleteIfVersion(key, version);
  if (removed) a.changes++;
  out.integer(removed ? 1 : 0);
}

function rcMCDel(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const n = parseMCDelCount(args);
  // Every version is checked before anything is removed: a bad entry changes nothing.
  const entries = Array.from({ length: n }, (_, i) => parseMCDelEntry(args, i));
  let removed = 0;
  for (const { key, version } of entries) {
    if (a.store.deleteIfVersion(key, version)) removed++;
  }
  a.changes += removed;
  out.integer(removed);
}

/**
 * The internal family of an auxiliary node's registry. Arity 0: each command's parser in
 * protocol/internal/ checks its arguments, with the texts both ends share.
 */
export function internalCommands(registry: CommandRegistry<AuxiliaryHandler>): void {
  const add = (name: string, flags: number, handler: AuxiliaryHandler): void => {
    registry.add({ name, arity: 0, flags, handler });
  };
  add("rc.put", WRITES, (a, conn, args) => rcPut(a, conn.out, parsePut(args, a.put)));
  add("rc.mput", WRITES, (a, conn, args) => rcMPut(a, conn.out, args));
  add("rc.get", 0, (a, conn, args) => {
    const { key, withExpiry } = parseGetCommand(args);
    rcGet(a, conn.out, key, withExpiry);
  });
  add("rc.del", WRITES, (a, conn, args) => rcDel(a, conn.out, args));
  add("rc.cdel", WRITES, (a, conn, args) => rcCDel(a, conn.out, args));
  add("rc.mcdel", WRITES, (a, conn, args) => rcMCDel(a, conn.out, args));
  add("rc.expire", WRITES, (a, conn, args) => rcExpire(a, conn.out, args));
  add("rc.incrby", WRITES, (a, conn, args) => rcIncrBy(a, conn.out, args));
  add("rc.modify", WRITES, (a, conn, args) => rcModify(a, conn.out, args));
  add("rc.scan", 0, (a, conn, args) => a.scan.scan(conn.out, args));
  // A move's steps: each carries its leader's term, and a step of an ended term is refused.
  add("rc.scanpage", 0, (a, conn, args) => {
    const fenced = takeScanTerm(args);
    a.fence(fenced.term);
    a.scan.scanPage(conn.out, fenced.args);
  });
  add("rc.putpage", WRITES, (a, conn, args) => {
    const { term, page } = parsePageArg(args, "rc.putpage");
    a.fence(term);
    rcPutPage(a, conn.out, page);
  });
  add("rc.cdelpage", WRITES, (a, conn, args) => {
    const { term, page } = parsePageArg(args, "rc.cdelpage");
    a.fence(term);
    rcCDelPage(a, conn.out, page);
  });
  add("rc.stats", 0, (a, conn, args) => {
    a.fence(parseStats(args));
    conn.out.bulkString(JSON.stringify(a.stats()));
  });
  add("rc.flush", WRITES, (a, conn, args) => {
    a.flush(parseFlush(args));
    conn.out.integer(1);
  });
}

// The master's keyspace walks (docs/design.md, "SCAN, KEYS and RANDOMKEY"): SCAN, KEYS and
// RANDOMKEY walk the cluster's keys in ring-hash order (ops/scan.ts); FLUSHDB is FLUSHALL (one
// database). Each parses as Redis 7.0 does; its sink below builds the reply.
import type { ClientConnection } from "../../server/resp-server.js";
import { RespWriter } from "../../protocol/resp/index.js";
import { copy } from "../../redis/bytes.js";
import { checkFlushAllArgs } from "../../redis/flushall.js";
import { MAX_PATTERN, patternTooLong } from "../../redis/pattern.js";
import { REPLIES_LATER, WRITES, type CommandRegistry } from "../../redis/registry.js";
import {
  SCAN_CURSOR_BUCKETS,
  formatScanCursor,
  isStringType,
  parseScanArgs,
} from "../../redis/scan.js";
import { BroadcastOp } from "../ops/broadcast.js";
import type { OpSink } from "../ops/op.js";
import { ScanOp } from "../ops/scan.js";
import type { MasterHandler, Pending } from "./context.js";
import type { MasterSinks } from "./sinks.js";

/** A walk's reply slot, and the sinks that record it. */
/**
 * A walk holds its connection (docs/design.md, "Client interfaces"): it takes several rounds
 * over the nodes, and a later write of the same client must not land in a round still to come.
 */
interface Walk extends Pending {
  readonly sinks: MasterSinks;
  readonly conn: ClientConnection;
}

/** Scratch encoder: filled and taken within one call. */
const w = new RespWriter();

const scanSink: OpSink<ScanOp<Walk>> = {
  opDone(op) {
    const { slot, id, sinks, conn } = op.ctx;
    if (op.error !== null) sinks.fail(slot, id, op.startedAt, op.error);
    else {
      w.arrayHeader(2);
      w.bulkString(formatScanCursor(op.at, op.hint));
      w.arrayHeader(op.keys);
      w.raw(op.body.take());
      sinks.done(slot, id, op.startedAt, w.take());
    }
    sinks.release(conn);
  },
};

const keysSink: OpSink<ScanOp<Walk>> = {
  opDone(op) {
    const { slot, id, sinks, conn } = op.ctx;
    if (op.error !== null) sinks.fail(slot, id, op.startedAt, op.error);
    else {
      w.arrayHeader(op.keys);
      w.raw(op.body.take());
      sinks.done(slot, id, op.startedAt, w.take());
    }
    sinks.release(conn);
  },
};

const randomKeySink: OpSink<ScanOp<Walk>> = {
  opDone(op) {
    const { slot, id, sinks, conn } = op.ctx;
    if (op.error !== null) sinks.fail(slot, id, op.startedAt, op.error);
    else {
      if (op.chosen === null) w.nullBulk();
      else w.bulk(op.chosen);
      sinks.done(slot, id, op.startedAt, w.take());
    }
    sinks.release(conn);
  },
};

/** A cursor's window hint as a width in buckets (0: none). */
function hintWindow(hint: number): number {
  return hint === 0 ? 0 : 2 ** (hint - 1);
}

const scan: MasterHandler = (m, conn, args, id) => {
  const q = parseScanArgs(args);
  if (q.match !== null && q.match.length > MAX_PATTERN) throw patternTooLong();
  const ctx: Walk = { slot: m.slot(conn), id, sinks: m.sinks, conn };
  m.hold(conn);
  const match = q.match === null ? null : copy(q.match);
  const type = q.type === null ? null : copy(q.type);
  const op = new ScanOp(
    m.router,
    "scan",
    q.cursor.bucket,
    hintWindow(q.cursor.hint),
    q.count,
    match,
    type,
    scanSink,
    ctx,
  );
  // Every value is a string: no key has another type, and the walk is over at once.
  if (type !== null && !isStringType(type)) {
    op.at = SCAN_CURSOR_BUCKETS;
    scanSink.opDone(op);
    return;
  }
  op.start();
};

const keys: MasterHandler = (m, conn, args, id) => {
  if ((args[1] as Buffer).length > MAX_PATTERN) throw patternTooLong();
  const ctx: Walk = { slot: m.slot(conn), id, sinks: m.sinks, conn };
  m.hold(conn);
  const pattern = copy(args[1] as Buffer);
  new ScanOp(m.router, "keys", 0, 64, 0, pattern, null, keysSink, ctx).start();
};

const randomkey: MasterHandler = (m, conn, _args, id) => {
  const ctx: Walk = { slot: m.slot(conn), id, sinks: m.sinks, conn };
  m.hold(conn);
  const from = Math.floor(Math.random() * SCAN_CURSOR_BUCKETS);
  new ScanOp(m.router, "random", from, 16, 0, null, null, randomKeySink, ctx).start();
};

const flushdb: MasterHandler = (m, conn, args, id) => {
  checkFlushAllArgs(args);
  new BroadcastOp(m.router, "flush", m.sinks.ok, { slot: m.slot(conn), id }).start();
};

/** The walks' family of the master's registry. */
export function keysCommands(registry: CommandRegistry<MasterHandler>): void {
  registry.add({ name: "scan", arity: -2, flags: REPLIES_LATER, handler: scan });
  registry.add({ name: "keys", arity: 2, flags: REPLIES_LATER, handler: keys });
  registry.add({ name: "randomkey", arity: 1, flags: REPLIES_LATER, handler: randomkey });
  registry.add({ name: "flushdb", arity: -1, flags: REPLIES_LATER | WRITES, handler: flushdb });
}

// Internal commands on single entries (put, get, delete, expire, increment), whole-node ones
// (flush, stats): each command's encoder (masters) beside its parser (auxiliary nodes).
import { RingcacheError } from "../../errors.js";
import { RespReplyError, type RespValue, type RespWriter } from "../resp/index.js";
import {
  B,
  arity,
  parseUint,
  parseVersion,
  readWriteOutcome,
  takeTerm,
  termArgs,
  unexpected,
  unwrap,
  writeTerm,
  type WriteOutcome,
} from "./wire.js";

// ---------------------------------------------------------------------------------------------
// RC.PUT / RC.MPUT

export interface PutArgs {
  key: Buffer;
  value: Buffer;
  version: number;
  expiresAt: number;
}

// The fixed parts of the commands a master sends most, written once.
const PUT_HEAD = Buffer.from("*5\r\n$6\r\nRC.PUT\r\n");
const DEL_HEAD = Buffer.from("*3\r\n$6\r\nRC.DEL\r\n");
const MPUT_NAME = Buffer.from("$7\r\nRC.MPUT\r\n");

export function encodePut(
  out: RespWriter,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
): void {
  out.raw(PUT_HEAD);
  encodePutEntry(out, key, value, version, expiresAt);
}

/**
 * The four bulks of one put (key, value, version, expiry), as RC.PUT and RC.MPUT carry them. A
 * master batches the puts of one event-loop turn to a node this way, then frames them with
 * encodePutFrame (one) or encodeMPutFrame (several).
 */
export function encodePutEntry(
  out: RespWriter,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
): void {
  out.bulk(key);
  out.bulk(value);
  out.bulkDecimal(version);
  out.bulkDecimal(expiresAt);
}

/** RC.PUT around one entry written by encodePutEntry. */
export function encodePutFrame(out: RespWriter, entry: Uint8Array): void {
  out.raw(PUT_HEAD);
  out.raw(entry);
}

/** RC.MPUT n around `n` entries written back to back by encodePutEntry. */
export function encodeMPutFrame(out: RespWriter, n: number, entries: Uint8Array): void {
  out.arrayHeader(2 + 4 * n);
  out.raw(MPUT_NAME);
  out.bulkDecimal(n);
  out.raw(entries);
}

/** Server side: args are views valid during the call; the store copies what it keeps. */
export function parsePut(args: Buffer[], into: PutArgs): PutArgs {
  arity(args, 5, "rc.put");
  into.key = args[1] as Buffer;
  into.value = args[2] as Buffer;
  into.version = parseVersion(args[3]);
  into.expiresAt = parseUint(args[4], "expiry");
  return into;
}

export interface PutEntry {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly version: number;
  readonly expiresAt: number;
}

export function encodeMPut(out: RespWriter, entries: readonly PutEntry[]): void {
  out.arrayHeader(2 + entries.length * 4);
  out.raw(MPUT_NAME);
  out.bulkDecimal(entries.length);
  for (const e of entries) encodePutEntry(out, e.key, e.value, e.version, e.expiresAt);
}

/** Server side: the number of entries, after checking the arity. Entry i is at args[2 + 4i]. */
export function parseMPutCount(args: Buffer[]): number {
  const n = parseUint(args[1], "entry count");
  if (args.length !== 2 + n * 4) {
    throw new RingcacheError("BAD_REQUEST", "wrong number of arguments for 'rc.mput' command");
  }
  return n;
}

export function parseMPutEntry(args: Buffer[], i: number, into: PutArgs): PutArgs {
  const at = 2 + i * 4;
  into.key = args[at] as Buffer;
  into.value = args[at + 1] as Buffer;
  into.version = parseVersion(args[at + 2]);
  into.expiresAt = parseUint(args[at + 3], "expiry");
  return into;
}

export function readMPutOutcomes(reply: RespValue): WriteOutcome[] {
  const items = unwrap(reply);
  if (!Array.isArray(items)) throw unexpected(reply);
  return items.map(readWriteOutcome);
}

// ---------------------------------------------------------------------------------------------
// RC.GET

export interface VersionedValue {
  /** null for a tombstone. A view into the decoded reply, valid only during the reply callback: copy what you keep. */
  readonly value: Buffer | null;
  readonly version: number;
  /** Remaining time to live in ms; -1 none; -2 for a tombstone. */
  readonly pttl: number;
  /** Asked WITHEXPIRY: the absolute expiry (Unix ms) the node holds, 0 for none. */
  readonly expiresAt?: number;
}

const WITHEXPIRY = Buffer.from("WITHEXPIRY");

/**
 * RC.GET key [WITHEXPIRY]: WITHEXPIRY adds the entry's absolute expiry to the reply, which
 * EXPIRETIME answers exactly (a remaining time would be off by the reply's trip).
 */
export function encodeGet(out: RespWriter, key: Uint8Array, withExpiry = false): void {
  out.arrayHeader(withExpiry ? 3 : 2);
  out.bulk(B.GET);
  out.bulk(key);
  if (withExpiry) out.bulk(WITHEXPIRY);
}

/** Server side of RC.GET: the key, and whether WITHEXPIRY was asked. */
export function parseGetCommand(args: Buffer[]): { key: Buffer; withExpiry: boolean } {
  if (args.length === 3 && (args[2] as Buffer).toString("latin1").toUpperCase() === "WITHEXPIRY") {
    return { key: args[1] as Buffer, withExpiry: true };
  }
  arity(args, 2, "rc.get");
  return { key: args[1] as Buffer, withExpiry: false };
}

export function parseGet(args: Buffer[]): Buffer {
  return parseGetCommand(args).key;
}

/**
 * Server side reply for RC.GET. `value` may be a view: it is copied into `out` at once. With
 * `expiresAt` (WITHEXPIRY) the reply has it fourth.
 */
export function writeGetReply(
  out: RespWriter,
  value: Uint8Array | null,
  version: number,
  pttl: number,
  expiresAt = -1,
): void {
  out.arrayHeader(expiresAt < 0 ? 3 : 4);
  out.bulk(value);
  out.integer(version);
  out.integer(pttl);
  if (expiresAt >= 0) out.integer(expiresAt);
}

/**
 * writeGetReply for a value lying in `source[offset, offset + length)` (a store's page); with
 * `expiresAt` (WITHEXPIRY) the reply has it fourth.
 */
export function writeGetReplySlice(
  out: RespWriter,
  source: Uint8Array,
  offset: number,
  length: number,
  version: number,
  pttl: number,
  expiresAt = -1,
): void {
  out.arrayHeader(expiresAt < 0 ? 3 : 4);
  out.bulkSlice(source, offset, length);
  out.integer(version);
  out.integer(pttl);
  if (expiresAt >= 0) out.integer(expiresAt);
}

/** undefined: the owner holds nothing for the key. */
export function readGetReply(reply: RespValue): VersionedValue | undefined {
  if (reply === null) return undefined;
  const items = unwrap(reply);
  if (!Array.isArray(items) || (items.length !== 3 && items.length !== 4)) throw unexpected(reply);
  const [value, version, pttl, expiresAt] = items;
  if (
    (value !== null && !Buffer.isBuffer(value)) ||
    typeof version !== "number" ||
    typeof pttl !== "number" ||
    (items.length === 4 && typeof expiresAt !== "number")
  ) {
    throw unexpected(reply);
  }
  if (typeof expiresAt === "number") return { value: value ?? null, version, pttl, expiresAt };
  return { value: value ?? null, version, pttl };
}

// ---------------------------------------------------------------------------------------------
// RC.DEL / RC.CDEL / RC.EXPIRE / RC.INCRBY / RC.FLUSH

export function encodeDel(out: RespWriter, key: Uint8Array, version: number): void {
  out.raw(DEL_HEAD);
  out.bulk(key);
  out.bulkDecimal(version);
}

/** RC.CDEL; a move's carries its leader's term (`TERM t` last; none for term 0). */
export function encodeCDel(out: RespWriter, key: Uint8Array, version: number, term = 0): void {
  out.arrayHeader(3 + termArgs(term));
  out.bulk(B.CDEL);
  out.bulk(key);
  out.bulkDecimal(version);
  writeTerm(out, term);
}

/** Server side of RC.CDEL: key, version and the move's term (0: none). */
export function parseCDel(args: Buffer[]): { key: Buffer; version: number; term: number } {
  const fenced = takeTerm(args, 3);
  const { key, version } = parseKeyVersion(fenced.args, "rc.cdel");
  return { key, version, term: fenced.term };
}

export interface KeyVersion {
  readonly key: Uint8Array;
  readonly version: number;
}

/** Many RC.CDEL in one command (a rebalance page): one command to parse, one reply. */
export function encodeMCDel(out: RespWriter, entries: readonly KeyVersion[]): void {
  out.arrayHeader(2 + entries.length * 2);
  out.bulk(B.MCDEL);
  out.bulkDecimal(entries.length);
  for (const e of entries) {
    out.bulk(e.key);
    out.bulkDecimal(e.version);
  }
}

/** Server side: the number of entries, after checking the arity. Entry i is at args[2 + 2i]. */
export function parseMCDelCount(args: Buffer[]): number {
  const n = parseUint(args[1], "entry count");
  if (args.length !== 2 + n * 2) {
    throw new RingcacheError("BAD_REQUEST", "wrong number of arguments for 'rc.mcdel' command");
  }
  return n;
}

/** Server side: entry i of RC.MCDEL (a fresh object; validate every entry before applying). */
export function parseMCDelEntry(args: Buffer[], i: number): { key: Buffer; version: number } {
  const at = 2 + i * 2;
  return { key: args[at] as Buffer, version: parseVersion(args[at + 1]) };
}

/** Server side for RC.DEL and RC.CDEL: [key, version]. */
export function parseKeyVersion(args: Buffer[], name: string): { key: Buffer; version: number } {
  arity(args, 3, name);
  return { key: args[1] as Buffer, version: parseVersion(args[2]) };
}

export function encodeExpire(
  out: RespWriter,
  key: Uint8Array,
  expiresAt: number,
  version: number,
): void {
  out.arrayHeader(4);
  out.bulk(B.EXPIRE);
  out.bulk(key);
  out.bulkDecimal(expiresAt);
  out.bulkDecimal(version);
}

export function parseExpire(args: Buffer[]): { key: Buffer; expiresAt: number; version: number } {
  arity(args, 4, "rc.expire");
  return {
    key: args[1] as Buffer,
    expiresAt: parseUint(args[2], "expiry"),
    version: parseVersion(args[3]),
  };
}

export function encodeIncrBy(
  out: RespWriter,
  key: Uint8Array,
  delta: bigint,
  version: number,
): void {
  out.arrayHeader(4);
  out.bulk(B.INCRBY);
  out.bulk(key);
  out.bulkString(delta.toString());
  out.bulkDecimal(version);
}

export function parseIncrBy(args: Buffer[]): { key: Buffer; delta: bigint; version: number } {
  arity(args, 4, "rc.incrby");
  const text = (args[2] as Buffer).toString("latin1");
  if (!/^-?\d{1,19}$/.test(text)) {
    throw new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
  }
  const delta = BigInt(text);
  if (delta < -(2n ** 63n) || delta >= 2n ** 63n) {
    throw new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
  }
  return { key: args[1] as Buffer, delta, version: parseVersion(args[3]) };
}

export interface IncrResult {
  readonly value: bigint;
  readonly expiresAt: number;
}

/** An owner holds a newer version than the write carried; the caller advances and retries. */
export class StaleVersionError extends RingcacheError {
  readonly heldVersion: number;
  constructor(heldVersion: number) {
    super("STALE_VERSION", `${heldVersion}`);
    this.heldVersion = heldVersion;
  }
}

export function readIncrReply(reply: RespValue): IncrResult {
  if (reply instanceof RespReplyError) {
    const m = /^STALE (\d+)/.exec(reply.message);
    if (m !== null) throw new StaleVersionError(Number(m[1]));
    throw new RingcacheError(
      reply.message.startsWith("WRONGTYPE") ? "WRONG_TYPE" : "NOT_INTEGER",
      reply.message.replace(/^[A-Z]+ /, ""),
    );
  }
  if (!Array.isArray(reply) || reply.length !== 2) throw unexpected(reply);
  const [value, expiresAt] = reply;
  if (!Buffer.isBuffer(value) || typeof expiresAt !== "number") throw unexpected(reply);
  return { value: BigInt(value.toString("latin1")), expiresAt };
}

export function encodeFlush(out: RespWriter, version: number): void {
  out.arrayHeader(2);
  out.bulk(B.FLUSH);
  out.bulkDecimal(version);
}

export function parseFlush(args: Buffer[]): number {
  arity(args, 2, "rc.flush");
  return parseVersion(args[1]);
}

// ---------------------------------------------------------------------------------------------
// RC.STATS

export interface NodeStats {
  readonly id: string;
  readonly entries: number;
  readonly bytes: number;
  readonly maxBytes: number;
  readonly tombstones: number;
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly expirations: number;
  readonly lastSnapshotAt: number;
  readonly startedAt: number;
  /** When this node's restored snapshot was written (0: none restored). */
  readonly restoredSnapshotAt: number;
  /** The largest bulk string the node accepts (0 or absent: not reported). */
  readonly maxBulk?: number;
}

/** RC.STATS; a move's (learning limits, vetting) carries its leader's term. */
export function encodeStats(out: RespWriter, term = 0): void {
  out.arrayHeader(1 + termArgs(term));
  out.bulk(B.STATS);
  writeTerm(out, term);
}

/** Server side of RC.STATS: the term it carries (0: none). */
export function parseStats(args: Buffer[]): number {
  const fenced = takeTerm(args, 1);
  arity(fenced.args, 1, "rc.stats");
  return fenced.term;
}

export function readStatsReply(reply: RespValue): NodeStats {
  const body = unwrap(reply);
  if (!Buffer.isBuffer(body)) throw unexpected(reply);
  return JSON.parse(body.toString("utf8")) as NodeStats;
}

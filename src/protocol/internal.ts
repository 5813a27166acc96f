// The internal commands between masters and auxiliary nodes. Each command's client-side
// encoder (used by masters) and server-side parser (used by auxiliary nodes) live together
// here, so both ends share one contract.
//
// Versions are hybrid-logical-clock numbers (see clock/hlc.ts); expiries are absolute Unix
// milliseconds, 0 meaning none. Both travel as decimal integers.
//
// command                                   reply
// RC.PUT key value version expiresAt        :1 applied | :-V not applied, V = newer or equal version held
// RC.MPUT n [key value version expiresAt]×n *n of the RC.PUT replies, in order
// RC.GET key                                *3 [value version pttl] live | *3 [nil version -2] tombstone | *-1 nothing
// RC.DEL key version                        :1 removed a live entry | :0 no live entry (tombstone kept) | :-V newer held
// RC.CDEL key version                       :1 removed (its version was exactly `version`) | :0 not
// RC.MCDEL n [key version]×n                :m the number removed (RC.CDEL of each, one reply)
// RC.EXPIRE key expiresAt version           :1 applied | :0 no live entry | :-V newer held
// RC.INCRBY key delta version               *2 [newValue expiresAt] | -ERR not an integer | -STALE V
// RC.SCAN cursor count [RANGES s e ...]     *2 [nextCursor *5n[key value version expiresAt tombstone]]
//                                           ranges: half-open [s, e) of the ring hash of the key
//                                           count: store slots visited per page, so a page may
//                                           hold fewer entries (even none); go on until cursor 0
// RC.SCANPAGE cursor count [RANGES s e ...] *2 [nextCursor $page]: RC.SCAN's entries as one
//                                           entry page (protocol/page.ts); a page also ends
//                                           early once it holds about SCAN_PAGE_BYTES
// RC.SCANPAGE cursor count RANGESID id      as above, with ranges this node was sent in full
//                                           before (id = rangesId of them); -ERR when it does
//                                           not hold them (any more): send them in full
// RC.PUTPAGE page                           :n applied; each entry as RC.PUT would apply it, a
//                                           tombstone as RC.DEL; the page is checked whole first
// RC.CDELPAGE page                          :n removed (RC.CDEL of each entry's key and version)
// RC.STATS                                  $json of the store's counters and limits
// RC.FLUSH version                          :1 everything at or below `version` is gone, and
//                                           writes at or below it are refused (a floor)
// BGSAVE / LASTSAVE                         as in Redis: start a snapshot / time of the last one
//
// Versions are positive: a refused write replies the held version negated, and :-0 would
// read as :0. A write at or below the flush floor is refused with the floor as the held version.
import { createHash } from "node:crypto";
import { RingcacheError } from "../errors.js";
import { RespReplyError, type RespValue, type RespWriter } from "./resp/index.js";

export const CMD = {
  PUT: "rc.put",
  MPUT: "rc.mput",
  GET: "rc.get",
  DEL: "rc.del",
  CDEL: "rc.cdel",
  MCDEL: "rc.mcdel",
  EXPIRE: "rc.expire",
  INCRBY: "rc.incrby",
  SCAN: "rc.scan",
  STATS: "rc.stats",
  FLUSH: "rc.flush",
  SCANPAGE: "rc.scanpage",
  PUTPAGE: "rc.putpage",
  CDELPAGE: "rc.cdelpage",
} as const;

/** A page from RC.SCANPAGE stops growing past about this many bytes. */
export const SCAN_PAGE_BYTES = 256 * 1024;

const B = {
  PUT: Buffer.from("RC.PUT"),
  MPUT: Buffer.from("RC.MPUT"),
  GET: Buffer.from("RC.GET"),
  DEL: Buffer.from("RC.DEL"),
  CDEL: Buffer.from("RC.CDEL"),
  MCDEL: Buffer.from("RC.MCDEL"),
  EXPIRE: Buffer.from("RC.EXPIRE"),
  INCRBY: Buffer.from("RC.INCRBY"),
  SCAN: Buffer.from("RC.SCAN"),
  STATS: Buffer.from("RC.STATS"),
  FLUSH: Buffer.from("RC.FLUSH"),
  RANGES: Buffer.from("RANGES"),
  SCANPAGE: Buffer.from("RC.SCANPAGE"),
  PUTPAGE: Buffer.from("RC.PUTPAGE"),
  RANGESID: Buffer.from("RANGESID"),
  CDELPAGE: Buffer.from("RC.CDELPAGE"),
};

// ---------------------------------------------------------------------------------------------
// Numbers on the wire

/** Parses a non-negative decimal integer argument (a version, an expiry, a cursor). */
export function parseUint(arg: Buffer | undefined, what: string): number {
  if (arg === undefined || arg.length === 0 || arg.length > 16) {
    throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
  }
  let n = 0;
  for (let i = 0; i < arg.length; i++) {
    const d = (arg[i] as number) - 48;
    if (d < 0 || d > 9) throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
    n = n * 10 + d;
  }
  if (!Number.isSafeInteger(n)) throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
  return n;
}

/**
 * Parses a write's version: a positive integer. 0 is refused because a refusal is replied as
 * the negated held version (`:-V`), and `:-0` would read as `:0`.
 */
export function parseVersion(arg: Buffer | undefined): number {
  const version = parseUint(arg, "version");
  if (version === 0) throw new RingcacheError("BAD_REQUEST", "invalid version");
  return version;
}

function arity(args: Buffer[], n: number, name: string): void {
  if (args.length !== n) {
    throw new RingcacheError("BAD_REQUEST", `wrong number of arguments for '${name}' command`);
  }
}

// ---------------------------------------------------------------------------------------------
// Write replies: a status integer shared by RC.PUT, RC.DEL and RC.EXPIRE

/** Outcome of a versioned write on one owner. */
export interface WriteOutcome {
  /** true when the write was applied. */
  readonly applied: boolean;
  /** RC.DEL: a live entry was removed. RC.EXPIRE: a live entry existed. */
  readonly existed: boolean;
  /** When not applied: the version the owner holds (>= the write's). */
  readonly heldVersion: number;
}

const APPLIED_EXISTED: WriteOutcome = { applied: true, existed: true, heldVersion: 0 };
const APPLIED_ABSENT: WriteOutcome = { applied: true, existed: false, heldVersion: 0 };

/** Reads a write status reply (`:1`, `:0`, `:-V`). Error replies are thrown as RingcacheError. */
export function readWriteOutcome(reply: RespValue): WriteOutcome {
  if (typeof reply === "number") {
    if (reply === 1) return APPLIED_EXISTED;
    if (reply === 0) return APPLIED_ABSENT;
    if (reply < 0) return { applied: false, existed: false, heldVersion: -reply };
  }
  throw unexpected(reply);
}

export function writeStatus(
  out: RespWriter,
  applied: boolean,
  existed: boolean,
  held: number,
): void {
  out.integer(applied ? (existed ? 1 : 0) : -held);
}

function unexpected(reply: RespValue): RingcacheError {
  if (reply instanceof RespReplyError) {
    return new RingcacheError(
      reply.message.startsWith("OOM") ? "OUT_OF_MEMORY" : "INTERNAL",
      reply.message.replace(/^[A-Z]+ /, ""),
    );
  }
  return new RingcacheError("INTERNAL", "unexpected reply from an auxiliary node");
}

/** Throws the reply's error when it is one; otherwise returns it. */
export function unwrap(reply: RespValue): RespValue {
  if (reply instanceof RespReplyError) throw unexpected(reply);
  return reply;
}

// ---------------------------------------------------------------------------------------------
// RC.PUT / RC.MPUT

export interface PutArgs {
  key: Buffer;
  value: Buffer;
  version: number;
  expiresAt: number;
}

export function encodePut(
  out: RespWriter,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
): void {
  out.arrayHeader(5);
  out.bulk(B.PUT);
  out.bulk(key);
  out.bulk(value);
  out.bulkDecimal(version);
  out.bulkDecimal(expiresAt);
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
  out.bulk(B.MPUT);
  out.bulkDecimal(entries.length);
  for (const e of entries) {
    out.bulk(e.key);
    out.bulk(e.value);
    out.bulkDecimal(e.version);
    out.bulkDecimal(e.expiresAt);
  }
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
}

export function encodeGet(out: RespWriter, key: Uint8Array): void {
  out.arrayHeader(2);
  out.bulk(B.GET);
  out.bulk(key);
}

export function parseGet(args: Buffer[]): Buffer {
  arity(args, 2, "rc.get");
  return args[1] as Buffer;
}

/** Server side reply for RC.GET. `value` may be a view: it is copied into `out` at once. */
export function writeGetReply(
  out: RespWriter,
  value: Uint8Array | null,
  version: number,
  pttl: number,
): void {
  out.arrayHeader(3);
  out.bulk(value);
  out.integer(version);
  out.integer(pttl);
}

/** writeGetReply for a value lying in `source[offset, offset + length)` (a store's page). */
export function writeGetReplySlice(
  out: RespWriter,
  source: Uint8Array,
  offset: number,
  length: number,
  version: number,
  pttl: number,
): void {
  out.arrayHeader(3);
  out.bulkSlice(source, offset, length);
  out.integer(version);
  out.integer(pttl);
}

/** undefined: the owner holds nothing for the key. */
export function readGetReply(reply: RespValue): VersionedValue | undefined {
  if (reply === null) return undefined;
  const items = unwrap(reply);
  if (!Array.isArray(items) || items.length !== 3) throw unexpected(reply);
  const [value, version, pttl] = items;
  if (
    (value !== null && !Buffer.isBuffer(value)) ||
    typeof version !== "number" ||
    typeof pttl !== "number"
  ) {
    throw unexpected(reply);
  }
  return { value: value ?? null, version, pttl };
}

// ---------------------------------------------------------------------------------------------
// RC.DEL / RC.CDEL / RC.EXPIRE / RC.INCRBY / RC.FLUSH

export function encodeDel(out: RespWriter, key: Uint8Array, version: number): void {
  out.arrayHeader(3);
  out.bulk(B.DEL);
  out.bulk(key);
  out.bulkDecimal(version);
}

export function encodeCDel(out: RespWriter, key: Uint8Array, version: number): void {
  out.arrayHeader(3);
  out.bulk(B.CDEL);
  out.bulk(key);
  out.bulkDecimal(version);
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
// RC.SCAN

/** Half-open ranges [start, end) over the uint32 ring-hash space; a range with start >= end wraps. */
export interface HashRange {
  readonly start: number;
  readonly end: number;
}

export interface ScannedEntry {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly expiresAt: number;
  readonly tombstone: boolean;
}

export interface ScanPage {
  readonly cursor: number;
  readonly entries: ScannedEntry[];
}

/**
 * A scan's RANGES arguments, encoded once for the pages of a move. A move sends them in full
 * with its first page and names them by `id` after that: with the default 4096 vnodes a
 * sender's ranges are about a thousand pairs (33 KB), which the sender spent about 250 µs
 * decoding for every page of about 256 entries.
 */
export interface PreparedRanges {
  readonly count: number;
  readonly bytes: Buffer;
  readonly id: string;
}

export function prepareRanges(ranges: readonly HashRange[], into: RespWriter): PreparedRanges {
  writeRanges(into, ranges);
  return { count: ranges.length, bytes: into.take(), id: rangesId(ranges) };
}

/**
 * The name of a list of ranges, the same at both ends: a digest of the bounds, in order. A
 * node keeps the ranges it was sent in full under this name, so a master cannot name ranges
 * other than the ones it sent.
 */
export function rangesId(ranges: readonly HashRange[]): string {
  const bounds = new Float64Array(ranges.length * 2);
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i] as HashRange;
    bounds[2 * i] = r.start;
    bounds[2 * i + 1] = r.end;
  }
  return createHash("sha256").update(bounds).digest("base64url").slice(0, 22);
}

function writeRanges(out: RespWriter, ranges: readonly HashRange[]): void {
  out.bulk(B.RANGES);
  for (const r of ranges) {
    out.bulkDecimal(r.start);
    out.bulkDecimal(r.end);
  }
}

export function encodeScan(
  out: RespWriter,
  cursor: number,
  count: number,
  ranges?: readonly HashRange[] | PreparedRanges,
): void {
  encodeScanAs(out, B.SCAN, cursor, count, ranges);
}

/**
 * RC.SCANPAGE: RC.SCAN's arguments, the entries as one page. With `byId`, prepared ranges go
 * by their id (RANGESID), for a node that was sent them in full before.
 */
export function encodeScanPage(
  out: RespWriter,
  cursor: number,
  count: number,
  ranges?: readonly HashRange[] | PreparedRanges,
  byId = false,
): void {
  encodeScanAs(out, B.SCANPAGE, cursor, count, ranges, byId);
}

function encodeScanAs(
  out: RespWriter,
  name: Buffer,
  cursor: number,
  count: number,
  ranges?: readonly HashRange[] | PreparedRanges,
  byId = false,
): void {
  const n = ranges === undefined ? 0 : "bytes" in ranges ? ranges.count : ranges.length;
  const named = byId && ranges !== undefined && "bytes" in ranges;
  out.arrayHeader(3 + (ranges === undefined ? 0 : named ? 2 : 1 + n * 2));
  out.bulk(name);
  out.bulkDecimal(cursor);
  out.bulkDecimal(count);
  if (ranges === undefined) return;
  if (!("bytes" in ranges)) writeRanges(out, ranges);
  else if (byId) {
    out.bulk(B.RANGESID);
    out.bulkString(ranges.id);
  } else out.raw(ranges.bytes);
}

/** RC.SCAN's cursor and count, after checking the arity. */
function parseScanHead(args: Buffer[]): { cursor: number; count: number } {
  if (args.length < 3) {
    throw new RingcacheError("BAD_REQUEST", "wrong number of arguments for 'rc.scan' command");
  }
  const cursor = parseUint(args[1], "cursor");
  const count = parseUint(args[2], "count");
  if (count < 1 || count > 100_000) {
    throw new RingcacheError("BAD_REQUEST", "count must be from 1 to 100000");
  }
  return { cursor, count };
}

export function parseScan(args: Buffer[]): {
  cursor: number;
  count: number;
  ranges: HashRange[] | undefined;
} {
  const { cursor, count } = parseScanHead(args);
  if (args.length === 3) return { cursor, count, ranges: undefined };
  if (
    (args[3] as Buffer).toString("latin1").toUpperCase() !== "RANGES" ||
    (args.length - 4) % 2 !== 0
  ) {
    throw new RingcacheError("BAD_REQUEST", "syntax error");
  }
  const ranges: HashRange[] = [];
  for (let i = 4; i < args.length; i += 2) {
    const start = parseUint(args[i], "range start");
    const end = parseUint(args[i + 1], "range end");
    if (start > 2 ** 32 || end > 2 ** 32) {
      throw new RingcacheError("BAD_REQUEST", "range out of bounds");
    }
    ranges.push({ start, end });
  }
  return { cursor, count, ranges };
}

/** Whether a ring hash falls in any of the ranges. */
export function inRanges(hash: number, ranges: readonly HashRange[]): boolean {
  for (const r of ranges) {
    if (r.start < r.end ? hash >= r.start && hash < r.end : hash >= r.start || hash < r.end) {
      return true;
    }
  }
  return false;
}

/**
 * Ranges prepared for many lookups: split at 2^32 so none wraps, sorted and merged, searched by
 * bisection. A rebalance scans with thousands of ranges (every vnode arc that moves), where
 * `inRanges` would cost a pass over all of them per entry.
 */
export class RangeSet {
  /** Sorted, disjoint, non-adjacent: starts[i] < ends[i] <= starts[i + 1]. */
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;

  constructor(ranges: readonly HashRange[]) {
    const parts: [number, number][] = [];
    for (const r of ranges) {
      if (r.start < r.end) parts.push([r.start, r.end]);
      else {
        if (r.start < 2 ** 32) parts.push([r.start, 2 ** 32]);
        if (r.end > 0) parts.push([0, r.end]);
      }
    }
    parts.sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const p of parts) {
      const last = merged[merged.length - 1];
      if (last !== undefined && p[0] <= last[1]) last[1] = Math.max(last[1], p[1]);
      else merged.push([p[0], p[1]]);
    }
    this.starts = Float64Array.from(merged, (p) => p[0]);
    this.ends = Float64Array.from(merged, (p) => p[1]);
  }

  /** Whether a ring hash falls in any of the ranges. */
  has(hash: number): boolean {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length;
    // The last range starting at or before `hash`.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= hash) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && hash < (this.ends[lo - 1] as number);
  }
}

/** How many lists of ranges a node keeps for RANGESID (moves from a few masters at once). */
const KEPT_RANGE_SETS = 8;

/**
 * Parses RC.SCAN, keeping the RangeSet of its RANGES for the next call. A move sends the same
 * ranges (often thousands) with every page, and parsing them again for each page was a large
 * share of a sender's work. The arguments are compared byte for byte with the ones kept, so
 * other ranges are always parsed afresh. Every list parsed is also kept under its rangesId
 * (the last KEPT_RANGE_SETS of them), for the pages that name it with RANGESID instead.
 */
export class ScanParser {
  /** The RANGES arguments (from the keyword on) that `set` was built from, concatenated. */
  private region: Buffer = Buffer.alloc(0);
  private offsets: number[] = [];
  private lengths: number[] = [];
  private set: RangeSet | undefined = undefined;
  /**
   * Once the kept arguments arrived back to back in one buffer: the bytes from the first one's
   * start to the last one's end (their RESP headers between them), and each one's offset there.
   */
  private span: Buffer | undefined = undefined;
  private spanAt: number[] = [];
  /** RangeSets by rangesId, oldest first. */
  private readonly byId = new Map<string, RangeSet>();

  parse(args: Buffer[]): { cursor: number; count: number; ranges: RangeSet | undefined } {
    const { cursor, count } = parseScanHead(args);
    if (args.length === 3) return { cursor, count, ranges: undefined };
    if (args.length === 5 && (args[3] as Buffer).toString("latin1").toUpperCase() === "RANGESID") {
      const set = this.byId.get((args[4] as Buffer).toString("latin1"));
      if (set === undefined) {
        throw new RingcacheError("BAD_REQUEST", "unknown RANGESID; send the ranges with RANGES");
      }
      return { cursor, count, ranges: set };
    }
    if (this.set !== undefined && this.matches(args)) return { cursor, count, ranges: this.set };
    const ranges = parseScan(args).ranges as HashRange[];
    this.set = new RangeSet(ranges);
    const id = rangesId(ranges);
    this.byId.delete(id);
    this.byId.set(id, this.set);
    if (this.byId.size > KEPT_RANGE_SETS) this.byId.delete(this.byId.keys().next().value as string);
    const parts = args.slice(3);
    this.region = Buffer.concat(parts);
    this.offsets = [];
    this.lengths = [];
    let at = 0;
    for (const a of parts) {
      this.offsets.push(at);
      this.lengths.push(a.length);
      at += a.length;
    }
    this.span = undefined;
    return { cursor, count, ranges: this.set };
  }

  private matches(args: Buffer[]): boolean {
    const n = this.lengths.length;
    if (args.length - 3 !== n) return false;
    const first = args[3] as Buffer;
    const start = first.byteOffset;
    let together = true;
    for (let i = 0; i < n; i++) {
      const a = args[i + 3] as Buffer;
      if (a.length !== this.lengths[i]) return false;
      together &&= a.buffer === first.buffer && a.byteOffset >= start;
    }
    const last = args[args.length - 1] as Buffer;
    const bytes = last.byteOffset + last.length - start;
    // The arguments lie as the kept ones did: one comparison of the bytes from the first to the
    // last covers each of them (at the same offsets, with the same lengths).
    if (together && this.span !== undefined && this.span.length === bytes) {
      let same = true;
      for (let i = 0; same && i < n; i++) {
        same = (args[i + 3] as Buffer).byteOffset - start === this.spanAt[i];
      }
      if (same) return this.span.equals(Buffer.from(first.buffer, start, bytes));
    }
    for (let i = 0; i < n; i++) {
      const at = this.offsets[i] as number;
      const kept = this.region.subarray(at, at + (this.lengths[i] as number));
      if (!kept.equals(args[i + 3] as Buffer)) return false;
    }
    if (together) {
      this.span = Buffer.from(Buffer.from(first.buffer, start, bytes));
      this.spanAt = args.slice(3).map((a) => a.byteOffset - start);
    }
    return true;
  }
}

export function readScanReply(reply: RespValue): ScanPage {
  const items = unwrap(reply);
  if (!Array.isArray(items) || items.length !== 2) throw unexpected(reply);
  const [cursor, flat] = items;
  if (typeof cursor !== "number" || !Array.isArray(flat) || flat.length % 5 !== 0) {
    throw unexpected(reply);
  }
  const entries: ScannedEntry[] = [];
  for (let i = 0; i < flat.length; i += 5) {
    const key = flat[i];
    const value = flat[i + 1];
    const version = flat[i + 2];
    const expiresAt = flat[i + 3];
    const tombstone = flat[i + 4];
    if (
      !Buffer.isBuffer(key) ||
      !Buffer.isBuffer(value) ||
      typeof version !== "number" ||
      typeof expiresAt !== "number" ||
      typeof tombstone !== "number"
    ) {
      throw unexpected(reply);
    }
    entries.push({ key, value, version, expiresAt, tombstone: tombstone === 1 });
  }
  return { cursor, entries };
}

// ---------------------------------------------------------------------------------------------
// RC.SCANPAGE / RC.PUTPAGE / RC.CDELPAGE

export interface ScannedPage {
  readonly cursor: number;
  /** The entry page, copied out of the decoder's input. */
  readonly page: Buffer;
}

/** RC.SCANPAGE's reply, its page copied (the decoder's views are valid only in the callback). */
export function readScanPageReply(reply: RespValue): ScannedPage {
  const items = unwrap(reply);
  if (!Array.isArray(items) || items.length !== 2) throw unexpected(reply);
  const [cursor, page] = items;
  if (typeof cursor !== "number" || !Buffer.isBuffer(page)) throw unexpected(reply);
  return { cursor, page: Buffer.from(page) };
}

/**
 * RC.PUTPAGE up to its page, for NodeLink.requestWithBulk, which hands the page's slices to the
 * socket uncopied.
 */
export function encodePutPageHead(out: RespWriter): void {
  out.arrayHeader(2);
  out.bulk(B.PUTPAGE);
}

export function encodeCDelPageHead(out: RespWriter): void {
  out.arrayHeader(2);
  out.bulk(B.CDELPAGE);
}

/** Server side of RC.PUTPAGE and RC.CDELPAGE: the page argument (a view, valid during the call). */
export function parsePageArg(args: Buffer[], name: string): Buffer {
  arity(args, 2, name);
  return args[1] as Buffer;
}

/** Reads an integer reply (RC.PUTPAGE's, RC.CDELPAGE's, RC.MCDEL's count). */
export function readCount(reply: RespValue): number {
  const n = unwrap(reply);
  if (typeof n !== "number") throw unexpected(reply);
  return n;
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

export function encodeStats(out: RespWriter): void {
  out.arrayHeader(1);
  out.bulk(B.STATS);
}

export function readStatsReply(reply: RespValue): NodeStats {
  const body = unwrap(reply);
  if (!Buffer.isBuffer(body)) throw unexpected(reply);
  return JSON.parse(body.toString("utf8")) as NodeStats;
}

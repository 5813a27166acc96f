// Internal commands that stream a node's entries: RC.SCAN and RC.SCANPAGE (by hash ranges),
// and the pages a move carries to the new owners (RC.PUTPAGE, RC.CDELPAGE).
import { createHash } from "node:crypto";
import { RingcacheError } from "../../errors.js";
import type { RespValue, RespWriter } from "../resp/index.js";
import { B, arity, parseUint, takeTerm, termArgs, unexpected, unwrap, writeTerm } from "./wire.js";

/** A page from RC.SCANPAGE stops growing past about this many bytes. */
export const SCAN_PAGE_BYTES = 256 * 1024;

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
 * by their id (RANGESID), for a node that was sent them in full before. A move's scan carries
 * its leader's term (`TERM t` after the count; none for term 0).
 */
export function encodeScanPage(
  out: RespWriter,
  cursor: number,
  count: number,
  ranges?: readonly HashRange[] | PreparedRanges,
  byId = false,
  term = 0,
): void {
  encodeScanAs(out, B.SCANPAGE, cursor, count, ranges, byId, term);
}

function encodeScanAs(
  out: RespWriter,
  name: Buffer,
  cursor: number,
  count: number,
  ranges?: readonly HashRange[] | PreparedRanges,
  byId = false,
  term = 0,
): void {
  const n = ranges === undefined ? 0 : "bytes" in ranges ? ranges.count : ranges.length;
  const named = byId && ranges !== undefined && "bytes" in ranges;
  out.arrayHeader(3 + termArgs(term) + (ranges === undefined ? 0 : named ? 2 : 1 + n * 2));
  out.bulk(name);
  out.bulkDecimal(cursor);
  out.bulkDecimal(count);
  writeTerm(out, term);
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

  /**
   * How the hashes [start, end) lie against the ranges: OUTSIDE none is in a range, INSIDE all
   * are, PARTLY some are (a bucket scan then checks each key's hash).
   */
  coverage(start: number, end: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] as number) <= start) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && start < (this.ends[lo - 1] as number)) {
      return end <= (this.ends[lo - 1] as number) ? RANGES_INSIDE : RANGES_PARTLY;
    }
    return lo < starts.length && (starts[lo] as number) < end ? RANGES_PARTLY : RANGES_OUTSIDE;
  }
}

/** RangeSet.coverage's answers. */
export const RANGES_OUTSIDE = 0;
export const RANGES_PARTLY = 1;
export const RANGES_INSIDE = 2;

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
 * socket uncopied. The move's term goes before the page (`RC.PUTPAGE TERM t page`).
 */
export function encodePutPageHead(out: RespWriter, term = 0): void {
  out.arrayHeader(2 + termArgs(term));
  out.bulk(B.PUTPAGE);
  writeTerm(out, term);
}

export function encodeCDelPageHead(out: RespWriter, term = 0): void {
  out.arrayHeader(2 + termArgs(term));
  out.bulk(B.CDELPAGE);
  writeTerm(out, term);
}

/**
 * Server side of RC.PUTPAGE and RC.CDELPAGE: the move's term (0: none) and the page argument
 * (a view, valid during the call).
 */
export function parsePageArg(args: Buffer[], name: string): { term: number; page: Buffer } {
  const fenced = takeTerm(args, 1);
  arity(fenced.args, 2, name);
  return { term: fenced.term, page: fenced.args[1] as Buffer };
}

/**
 * Server side of RC.SCANPAGE's term: `TERM t` after the count, taken out of the arguments the
 * scan parser reads (term 0 when absent).
 */
export function takeScanTerm(args: Buffer[]): { term: number; args: Buffer[] } {
  return takeTerm(args, 3);
}

/** Reads an integer reply (RC.PUTPAGE's, RC.CDELPAGE's, RC.MCDEL's count). */
export function readCount(reply: RespValue): number {
  const n = unwrap(reply);
  if (typeof n !== "number") throw unexpected(reply);
  return n;
}

// SCAN's grammar, as Redis 7.0 parses it (docs/design.md, "SCAN, KEYS and RANDOMKEY"):
// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, options in any order, the last of
// each kept; and the cursor's layout, which is ringcache's own.
//
// Cursor (an unsigned 64-bit decimal, as Redis's): 0 starts a walk, and a reply's 0 ends it.
// Any other cursor is
//
//   cursor = hint x 65536 + bucket     bucket: the scan bucket to go on from (1..65535)
//                                      hint:   0 none, h >= 1: a window of 2^(h-1) buckets
//
// A scan bucket is the top 16 bits of a key's ring hash, so the cursor names a place in an
// order that no ring change moves: any master can go on from it, under any ring. The hint
// carries the last window's key density, so that the next call asks for about COUNT keys.
import { RingcacheError } from "../errors.js";
import { notInteger, parseInt64 } from "./integers.js";
import { syntaxError } from "./errors.js";

/** Scan buckets in a walk: a cursor's bucket is below this. */
export const SCAN_CURSOR_BUCKETS = 0x10000;
/** The largest window hint: 2^16 buckets, the whole ring. */
export const SCAN_MAX_HINT = 17;

export interface ScanCursor {
  /** The bucket to go on from (0 at the start). */
  readonly bucket: number;
  /** The window hint (0: none). */
  readonly hint: number;
}

export interface ScanArgs {
  readonly cursor: ScanCursor;
  /** COUNT, 10 by default (Redis's). */
  readonly count: number;
  /** MATCH's pattern, or null. */
  readonly match: Buffer | null;
  /** TYPE's name, or null. */
  readonly type: Buffer | null;
}

const INVALID_CURSOR = "invalid cursor";

/**
 * Parses a cursor as Redis's strtoul does (an optional sign, decimal digits; the empty string
 * is 0), then as ringcache's layout: a cursor no master could have made is refused with
 * Redis's text.
 */
export function parseScanCursor(arg: Buffer): ScanCursor {
  let i = 0;
  let negative = false;
  if (arg.length > 0 && (arg[0] === 0x2b || arg[0] === 0x2d)) {
    negative = arg[0] === 0x2d;
    i = 1;
    if (arg.length === 1) throw new RingcacheError("BAD_REQUEST", INVALID_CURSOR);
  }
  let value = 0;
  for (; i < arg.length; i++) {
    const d = (arg[i] as number) - 48;
    if (d < 0 || d > 9) throw new RingcacheError("BAD_REQUEST", INVALID_CURSOR);
    value = value * 10 + d;
    // Past the layout's range: refused whether or not it fits 64 bits.
    if (value >= (SCAN_MAX_HINT + 1) * SCAN_CURSOR_BUCKETS) {
      throw new RingcacheError("BAD_REQUEST", INVALID_CURSOR);
    }
  }
  if (negative && value !== 0) throw new RingcacheError("BAD_REQUEST", INVALID_CURSOR);
  const bucket = value % SCAN_CURSOR_BUCKETS;
  const hint = (value - bucket) / SCAN_CURSOR_BUCKETS;
  if (hint > SCAN_MAX_HINT) throw new RingcacheError("BAD_REQUEST", INVALID_CURSOR);
  return { bucket, hint };
}

/** The cursor of a walk that goes on from `bucket` with window hint `hint`; 0 at the end. */
export function formatScanCursor(bucket: number, hint: number): string {
  if (bucket >= SCAN_CURSOR_BUCKETS) return "0";
  return String(hint * SCAN_CURSOR_BUCKETS + bucket);
}

/** Parses `SCAN cursor [MATCH p] [COUNT n] [TYPE t]` (args[0] is the name); Redis's errors. */
export function parseScanArgs(args: readonly Buffer[]): ScanArgs {
  const cursor = parseScanCursor(args[1] as Buffer);
  let count = 10;
  let match: Buffer | null = null;
  let type: Buffer | null = null;
  for (let i = 2; i < args.length;) {
    const left = args.length - i;
    const word = (args[i] as Buffer).toString("latin1").toLowerCase();
    if (word === "count" && left >= 2) {
      const n = parseInt64(args[i + 1] as Buffer);
      if (n === null) throw notInteger();
      if (n < 1n) throw syntaxError();
      count = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
      i += 2;
    } else if (word === "match" && left >= 2) {
      match = args[i + 1] as Buffer;
      i += 2;
    } else if (word === "type" && left >= 2) {
      type = args[i + 1] as Buffer;
      i += 2;
    } else {
      throw syntaxError();
    }
  }
  return { cursor, count, match, type };
}

/** Whether values of TYPE `name` exist here: every value is a string (case-insensitive). */
export function isStringType(name: Buffer): boolean {
  return name.toString("latin1").toLowerCase() === "string";
}

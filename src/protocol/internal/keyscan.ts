// RC.KEYSCAN: the keys of whole scan buckets, which a master's SCAN, KEYS and RANDOMKEY walk the
// cluster by (docs/design.md, "SCAN, KEYS and RANDOMKEY"). A scan bucket is the top 16 bits of
// a key's ring hash, so the order does not depend on which nodes are in the ring.
//
//   RC.KEYSCAN from to count [TOMBS] [TYPE type] [MATCH pattern] [RANGES s e ...]
//   ─► *3 [:next :examined *n [key …]]                without TOMBS: live keys only
//   ─► *3 [:next :examined *2n [key :version …]]      with TOMBS
//
// - Buckets [from, to), 0 <= from < to <= 65536, in order; each one answered whole.
// - RANGES: only keys whose ring hash is in one of the half-open ranges (none: every key).
// - count (1..100000): the node stops after the bucket in which it has looked at `count`
//   entries of the ranges (MATCH and TYPE apply after, so a reply may hold fewer, even none).
// - next: the bucket to go on from; `to` when the node got there. examined: the entries of the
//   ranges it looked at (live and tombstones, before MATCH and TYPE): the master sizes its
//   windows by it, and SCAN's COUNT counts it, as Redis's COUNT counts work, not matches.
// - TOMBS: every key with its version, tombstones too with theirs negated (a master merging
//   several owners needs them to hide an older live copy); without it only live keys come, no
//   versions: the reply is the keys alone.
// - MATCH: Redis's glob (redis/pattern.ts); TYPE: Redis's type names, case-insensitive (every
//   value here is a string).
import { RingcacheError } from "../../errors.js";
import type { RespValue, RespWriter } from "../resp/index.js";
import { parseUint, unexpected, unwrap } from "./wire.js";

export const KEYSCAN = "rc.keyscan";
const KEYSCAN_BULK = Buffer.from("RC.KEYSCAN");
const TOMBS = Buffer.from("TOMBS");
const TYPE = Buffer.from("TYPE");
const MATCH = Buffer.from("MATCH");
const RANGES = Buffer.from("RANGES");

/** Scan buckets: a key's bucket is hashKey(key) >>> 16. */
export const KEYSCAN_BUCKETS = 0x10000;
/** The most entries one RC.KEYSCAN may be asked to look at. */
export const KEYSCAN_MAX_COUNT = 100_000;

export interface KeyScanOptions {
  /** Include tombstones (negated versions). */
  readonly tombs: boolean;
  /** TYPE's argument, or null. */
  readonly type: Buffer | null;
  /** MATCH's argument, or null. */
  readonly match: Buffer | null;
}

/**
 * Encodes RC.KEYSCAN. `ranges` holds `count` pairs flat (start, end, start, end …); with
 * rangeCount -1 no RANGES is sent (every key).
 */
export function encodeKeyScan(
  out: RespWriter,
  from: number,
  to: number,
  count: number,
  options: KeyScanOptions,
  ranges: ArrayLike<number>,
  rangeCount: number,
): void {
  const extra =
    (options.tombs ? 1 : 0) +
    (options.type === null ? 0 : 2) +
    (options.match === null ? 0 : 2) +
    (rangeCount < 0 ? 0 : 1 + 2 * rangeCount);
  out.arrayHeader(4 + extra);
  out.bulk(KEYSCAN_BULK);
  out.bulkDecimal(from);
  out.bulkDecimal(to);
  out.bulkDecimal(count);
  if (options.tombs) out.bulk(TOMBS);
  if (options.type !== null) {
    out.bulk(TYPE);
    out.bulk(options.type);
  }
  if (options.match !== null) {
    out.bulk(MATCH);
    out.bulk(options.match);
  }
  if (rangeCount < 0) return;
  out.bulk(RANGES);
  for (let i = 0; i < 2 * rangeCount; i++) out.bulkDecimal(ranges[i] as number);
}

export interface KeyScanArgs {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly tombs: boolean;
  readonly type: Buffer | null;
  readonly match: Buffer | null;
  /** Flat pairs [start, end) of the ring hash, or null for every key. */
  readonly ranges: number[] | null;
}

/** Server side: parses RC.KEYSCAN's arguments (views of the request, valid during the call). */
export function parseKeyScan(args: Buffer[]): KeyScanArgs {
  if (args.length < 4) {
    throw new RingcacheError("BAD_REQUEST", "wrong number of arguments for 'rc.keyscan' command");
  }
  const from = parseUint(args[1], "from");
  const to = parseUint(args[2], "to");
  const count = parseUint(args[3], "count");
  if (!(from < to && to <= KEYSCAN_BUCKETS)) {
    throw new RingcacheError("BAD_REQUEST", "buckets must satisfy from < to <= 65536");
  }
  if (count < 1 || count > KEYSCAN_MAX_COUNT) {
    throw new RingcacheError("BAD_REQUEST", `count must be from 1 to ${KEYSCAN_MAX_COUNT}`);
  }
  let tombs = false;
  let type: Buffer | null = null;
  let match: Buffer | null = null;
  let ranges: number[] | null = null;
  let i = 4;
  while (i < args.length) {
    const word = args[i] as Buffer;
    if (isWord(word, TOMBS)) {
      tombs = true;
      i++;
    } else if (isWord(word, TYPE) && i + 1 < args.length) {
      type = args[i + 1] as Buffer;
      i += 2;
    } else if (isWord(word, MATCH) && i + 1 < args.length) {
      match = args[i + 1] as Buffer;
      i += 2;
    } else if (isWord(word, RANGES) && (args.length - i - 1) % 2 === 0) {
      ranges = [];
      for (let j = i + 1; j < args.length; j++) {
        const bound = parseUint(args[j], "range bound");
        if (bound > 2 ** 32) throw new RingcacheError("BAD_REQUEST", "range out of bounds");
        ranges.push(bound);
      }
      i = args.length;
    } else {
      throw new RingcacheError("BAD_REQUEST", "syntax error");
    }
  }
  return { from, to, count, tombs, type, match, ranges };
}

/** Whether `arg` is the upper-case `word`, in any case (no string made). */
function isWord(arg: Buffer, word: Buffer): boolean {
  if (arg.length !== word.length) return false;
  for (let i = 0; i < arg.length; i++) {
    let c = arg[i] as number;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (c !== word[i]) return false;
  }
  return true;
}

/** What RC.KEYSCAN answered: views into the reply, valid during the reply's callback only. */
export interface KeyScanReply {
  readonly next: number;
  readonly examined: number;
  /** Without TOMBS the keys; with it key, version, key, version … (negative: a tombstone). */
  readonly flat: readonly RespValue[];
}

/**
 * Reads RC.KEYSCAN's reply (`tombs`: it was asked with TOMBS); throws on anything else, an
 * error reply included.
 */
export function readKeyScanReply(reply: RespValue, tombs: boolean): KeyScanReply {
  const items = unwrap(reply);
  if (!Array.isArray(items) || items.length !== 3) throw unexpected(reply);
  const [next, examined, flat] = items;
  if (
    typeof next !== "number" ||
    typeof examined !== "number" ||
    !Array.isArray(flat) ||
    (tombs && flat.length % 2 !== 0)
  ) {
    throw unexpected(reply);
  }
  const step = tombs ? 2 : 1;
  for (let i = 0; i < flat.length; i += step) {
    if (!Buffer.isBuffer(flat[i]) || (tombs && typeof flat[i + 1] !== "number")) {
      throw unexpected(reply);
    }
  }
  return { next, examined, flat };
}

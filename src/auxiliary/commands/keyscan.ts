// RC.KEYSCAN on an auxiliary node (docs/design.md, "SCAN, KEYS and RANDOMKEY"): the keys of
// whole scan buckets, walked through the store's scan index (Store.scanBucket), filtered by the
// ring-hash ranges the master sent, then by TYPE and MATCH.
//
//   for b in [from, to):  empty bucket ─► skip (one read)
//                         outside every range ─► skip; inside one ─► every key of the bucket;
//                         partly ─► the keys whose hashKey is in a range
//   stop after the bucket in which `count` entries of the ranges were looked at
import { KEYSCAN, parseKeyScan } from "../../protocol/internal/keyscan.js";
import {
  RANGES_INSIDE,
  RANGES_OUTSIDE,
  RANGES_PARTLY,
  RangeSet,
} from "../../protocol/internal/scan.js";
import { RespWriter } from "../../protocol/resp/index.js";
import { KeyPattern } from "../../redis/pattern.js";
import type { CommandRegistry } from "../../redis/registry.js";
import { hashKeyAt } from "../../ring/hash.js";
import { SCAN_BUCKET_BITS, type BucketVisitor, type Store } from "../../store/index.js";
import type { AuxiliaryHandler } from "./dispatcher.js";

const BUCKET_SPAN = 2 ** (32 - SCAN_BUCKET_BITS);

/** One node's RC.KEYSCAN: its scratch is reused, so a scan allocates only its reply. */
export class KeyScanner {
  /** The keys and versions of the reply, before their count is known. */
  private readonly body = new RespWriter();
  private entries = 0;
  private examined = 0;
  private tombs = false;
  /** The ranges, when they came sorted and disjoint (as a master sends them): flat pairs. */
  private flat: number[] | null = null;
  /** The ranges otherwise, sorted and merged. */
  private ranges: RangeSet | null = null;
  /** The bucket being walked is partly in the ranges: check each key's hash. */
  private partly = false;
  private pattern: KeyPattern | null = null;
  /** The last MATCH argument compiled, and its pattern (a client scans with one pattern). */
  private lastMatch: Buffer = Buffer.alloc(0);
  private lastPattern: KeyPattern | null = null;

  private readonly visitor: BucketVisitor = (bytes, offset, length, version, tomb) => {
    if (this.partly && !this.has(hashKeyAt(bytes, offset, length))) return;
    this.examined++;
    if (tomb && !this.tombs) return;
    if (this.pattern !== null && !this.pattern.matches(bytes, offset, length)) return;
    this.body.bulkSlice(bytes, offset, length);
    if (this.tombs) this.body.integer(tomb ? -version : version);
    this.entries++;
  };

  /** Answers RC.KEYSCAN from `store` into `out`. */
  run(store: Store, out: RespWriter, args: Buffer[]): void {
    const q = parseKeyScan(args);
    this.body.take(); // what a failed scan left
    this.entries = 0;
    this.examined = 0;
    this.tombs = q.tombs;
    this.flat = null;
    this.ranges = null;
    if (q.ranges !== null) {
      if (sortedDisjoint(q.ranges)) this.flat = q.ranges;
      else this.ranges = new RangeSet(pairs(q.ranges));
    }
    const all = this.flat === null && this.ranges === null;
    this.pattern = q.match === null ? null : this.compile(q.match);
    let b = q.from;
    // Every value is a string: another type holds no key, and the walk is done at once.
    if (q.type !== null && q.type.toString("latin1").toLowerCase() !== "string") b = q.to;
    try {
      while (b < q.to) {
        if (store.bucketUsed(b)) {
          const cover = all ? RANGES_INSIDE : this.coverage(b * BUCKET_SPAN, (b + 1) * BUCKET_SPAN);
          if (cover !== RANGES_OUTSIDE) {
            this.partly = cover === RANGES_PARTLY;
            store.scanBucket(b, this.visitor);
          }
        }
        b++;
        if (this.examined >= q.count) break;
      }
    } finally {
      this.flat = null;
      this.ranges = null;
      this.pattern = null;
    }
    out.arrayHeader(3);
    out.integer(b);
    out.integer(this.examined);
    out.arrayHeader(this.tombs ? this.entries * 2 : this.entries);
    out.raw(this.body.take());
  }

  /** How the hashes [start, end) lie against the request's ranges (RangeSet.coverage). */
  private coverage(start: number, end: number): number {
    const flat = this.flat;
    if (flat === null) return (this.ranges as RangeSet).coverage(start, end);
    const i = lastStartAtOrBefore(flat, start);
    if (i >= 0 && start < (flat[i + 1] as number)) {
      return end <= (flat[i + 1] as number) ? RANGES_INSIDE : RANGES_PARTLY;
    }
    const next = i + 2;
    return next < flat.length && (flat[next] as number) < end ? RANGES_PARTLY : RANGES_OUTSIDE;
  }

  /** Whether a ring hash is in one of the request's ranges. */
  private has(hash: number): boolean {
    const flat = this.flat;
    if (flat === null) return (this.ranges as RangeSet).has(hash);
    const i = lastStartAtOrBefore(flat, hash);
    return i >= 0 && hash < (flat[i + 1] as number);
  }

  private compile(match: Buffer): KeyPattern | null {
    if (this.lastPattern === null || !this.lastMatch.equals(match)) {
      this.lastMatch = Buffer.from(match);
      this.lastPattern = new KeyPattern(match);
    }
    return this.lastPattern.matchesAll ? null : this.lastPattern;
  }
}

/** Flat pairs each non-empty, ascending and apart: searchable as they are. */
function sortedDisjoint(flat: readonly number[]): boolean {
  for (let i = 0; i < flat.length; i += 2) {
    if (!((flat[i] as number) < (flat[i + 1] as number))) return false;
    if (i > 0 && (flat[i] as number) < (flat[i - 1] as number)) return false;
  }
  return true;
}

/** The index (even) of the last pair starting at or before `x`, or -2. */
function lastStartAtOrBefore(flat: readonly number[], x: number): number {
  let lo = 0;
  let hi = flat.length / 2;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((flat[2 * mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return 2 * (lo - 1);
}

function pairs(flat: number[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    out.push({ start: flat[i] as number, end: flat[i + 1] as number });
  }
  return out;
}

/** The scan family of an auxiliary node's registry: RC.KEYSCAN, parsed by its own parser. */
export function keyScanCommands(registry: CommandRegistry<AuxiliaryHandler>): void {
  const scanner = new KeyScanner();
  registry.add({
    name: KEYSCAN,
    arity: 0,
    flags: 0,
    handler: (a, conn, args) => scanner.run(a.store, conn.out, args),
  });
}

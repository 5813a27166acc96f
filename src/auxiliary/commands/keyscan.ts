// RC.KEYSCAN on an auxiliary node (docs/design.md, "SCAN, KEYS and RANDOMKEY"): the keys of
// whole scan buckets, walked through the store's scan index (Store.scanBucket), filtered by the
// ring-hash ranges the master sent, then by TYPE and MATCH.
//
//   for b in [from, to):  empty bucket ─► skip (one read)
//                         outside every range ─► skip; inside one ─► every key of the bucket;
//                         partly ─► the keys whose hashKey is in a range
//   stop after the bucket in which `count` entries of the ranges were looked at
import { KEYSCAN, parseKeyScan } from "../../protocol/internal/keyscan.js";
import { RANGES_OUTSIDE, RANGES_PARTLY, RangeSet } from "../../protocol/internal/scan.js";
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
  private ranges: RangeSet | null = null;
  /** The bucket being walked is partly in the ranges: check each key's hash. */
  private partly = false;
  private pattern: KeyPattern | null = null;
  /** The last MATCH argument compiled, and its pattern (a client scans with one pattern). */
  private lastMatch: Buffer = Buffer.alloc(0);
  private lastPattern: KeyPattern | null = null;

  private readonly visitor: BucketVisitor = (bytes, offset, length, version, tomb) => {
    if (this.partly && !(this.ranges as RangeSet).has(hashKeyAt(bytes, offset, length))) return;
    this.examined++;
    if (tomb && !this.tombs) return;
    if (this.pattern !== null && !this.pattern.matches(bytes, offset, length)) return;
    this.body.bulkSlice(bytes, offset, length);
    this.body.integer(tomb ? -version : version);
    this.entries++;
  };

  /** Answers RC.KEYSCAN from `store` into `out`. */
  run(store: Store, out: RespWriter, args: Buffer[]): void {
    const q = parseKeyScan(args);
    this.body.take(); // what a failed scan left
    this.entries = 0;
    this.examined = 0;
    this.tombs = q.tombs;
    this.ranges = q.ranges === null ? null : new RangeSet(pairs(q.ranges));
    this.pattern = q.match === null ? null : this.compile(q.match);
    let b = q.from;
    // Every value is a string: another type holds no key, and the walk is done at once.
    if (q.type !== null && q.type.toString("latin1").toLowerCase() !== "string") b = q.to;
    try {
      while (b < q.to) {
        if (store.bucketUsed(b)) {
          const cover =
            this.ranges === null ? 2 : this.ranges.coverage(b * BUCKET_SPAN, (b + 1) * BUCKET_SPAN);
          if (cover !== RANGES_OUTSIDE) {
            this.partly = cover === RANGES_PARTLY;
            store.scanBucket(b, this.visitor);
          }
        }
        b++;
        if (this.examined >= q.count) break;
      }
    } finally {
      this.ranges = null;
      this.pattern = null;
    }
    out.arrayHeader(2);
    out.integer(b);
    out.arrayHeader(this.entries * 2);
    out.raw(this.body.take());
  }

  private compile(match: Buffer): KeyPattern | null {
    if (this.lastPattern === null || !this.lastMatch.equals(match)) {
      this.lastMatch = Buffer.from(match);
      this.lastPattern = new KeyPattern(match);
    }
    return this.lastPattern.matchesAll ? null : this.lastPattern;
  }
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

// The consistent-hash ring: which auxiliary nodes own a key.
//
//          0 ─────────────────────────────────────────────── 2^32-1
//   hash:        h
//   vnodes:  a·  │   b·      a·        c·     b·         c·
//                └──► owners(h, 2) = [b, a]: the first 2 DISTINCT nodes at or after h,
//                     wrapping past 2^32-1 back to 0.
//
// Each member places `vnodes x weight` points at murmur3_32("<id>#<i>"); a key sits at
// hashKey(key), which hashes only its `{tag}` when it has one (ring/hash.ts). A hash h belongs
// to the first point at or after it (clockwise), so a point owns the arc (previous point,
// point]. The points hash their whole string: a member id may hold braces.
//
// The ring is a pure function of its member set: members are put in a canonical order (by
// id), points are sorted by (position, member), so equal positions are broken by member id and
// two masters that see the same members, weights and vnodes build identical rings and agree on
// the same `epoch`, whatever order they learnt the members in. Adding a member only adds its
// points, so it only takes arcs from others; removing one only gives its arcs to its
// successors: no key moves between two members that stay.
//
// Why 4096 vnodes per member by default, not the 160 of ketama: a member's share of the ring
// is the sum of the arcs before its points, and with independent hashed positions that sum
// has a relative standard deviation of sqrt((1 - 1/N) / vnodes) whatever the hash: 7.7% at
// 160 vnodes, so the most loaded of 20 members typically holds 1.15x the mean. Measured with
// murmur3 over 320 random sets of 20 members (docs/benchmarks.md): at 160 vnodes the median
// max/mean is 1.14x and 94% of the sets exceed 1.10x; at 1024, 5 sets still do; at 4096 the
// worst is 1.06x. So 4096 is the smallest power of two that keeps every member within 1.10x
// of the mean for any set of up to 20 members. The cost: 6 bytes per point (24 KiB per
// member), under a millisecond of build time per member, and lookups only ~10% slower than
// at 160 vnodes thanks to the bucket index (a plain binary search over 40960 points ran at a
// third of the indexed speed).
//
// The ring's part in routing and replication: docs/design.md, "Ring and replication".

import { createHash } from "node:crypto";
import { hashKey, murmur3_32 } from "./hash.js";

export interface Member {
  readonly id: string;
  /** Relative capacity; scales the member's vnode count. Finite and > 0; default 1. */
  readonly weight?: number;
}

export interface RingOptions {
  /** Points per member of weight 1 (a member gets max(1, round(vnodes x weight))). */
  readonly vnodes?: number;
  /**
   * Hash of bytes to uint32, used for keys and for vnode positions (tests inject one to place
   * points by hand). Default: `hashKey` for keys, murmur3_32 of the whole string for points.
   */
  readonly hash?: (bytes: Uint8Array) => number;
}

export const DEFAULT_VNODES = 4096;

/** Members are indexed by Uint16 in the owner array. */
const MAX_MEMBERS = 0x10000;
/** Guard against a typo in a weight or vnodes allocating gigabytes. */
const MAX_POINTS = 1 << 24;
const TWO_POW_32 = 0x1_0000_0000;

const encoder = new TextEncoder();

export class Ring {
  /** Signature of the member set (ids, weights, vnodes): 16 hex digits. */
  readonly epoch: string;
  /** The members in canonical order (sorted by id), each with its weight. */
  readonly members: readonly Member[];
  /** Number of members. */
  readonly size: number;
  /** Number of points (vnodes of all members) on the ring. */
  readonly points: number;
  /** Points per member of weight 1. */
  readonly vnodes: number;

  /** Sorted ascending; ties ordered by owner index. */
  readonly #positions: Uint32Array;
  /** Parallel to #positions: index into #ids of the point's member. */
  readonly #owners: Uint16Array;
  /** Member ids in canonical order. */
  readonly #ids: readonly string[];
  /**
   * #bucket[b] = first point index whose position >>> #shift is >= b, for b in [0, 2^bits].
   * A lookup binary-searches only #positions[#bucket[b] .. #bucket[b + 1]].
   */
  readonly #bucket: Uint32Array;
  readonly #shift: number;
  readonly #hash: (bytes: Uint8Array) => number;
  readonly #options: RingOptions;
  /** Scratch of the owner walk: the owner indexes it collected; valid until the next walk. */
  readonly #seen: Int32Array;

  /** Builds the ring of exactly these members. Throws RangeError on a bad member or option. */
  static of(members: readonly Member[], options: RingOptions = {}): Ring {
    return new Ring(members, options);
  }

  private constructor(members: readonly Member[], options: RingOptions) {
    const vnodes = options.vnodes ?? DEFAULT_VNODES;
    if (!Number.isSafeInteger(vnodes) || vnodes < 1) {
      throw new RangeError(`ring vnodes must be a positive integer, got ${String(vnodes)}`);
    }
    if (members.length >= MAX_MEMBERS) {
      throw new RangeError(`a ring holds at most ${MAX_MEMBERS - 1} members`);
    }
    const canonical = canonicalMembers(members);
    const hash = options.hash ?? hashKey;
    const pointHash = options.hash ?? murmur3_32;
    const counts = canonical.map((m) => Math.max(1, Math.round(vnodes * m.weight)));
    const total = counts.reduce((a, b) => a + b, 0);
    if (total > MAX_POINTS) {
      throw new RangeError(
        `ring would have ${total} points (vnodes x weights); at most ${MAX_POINTS}`,
      );
    }

    // Sort key: position * 2^16 + owner index, exact in a double (< 2^48), so one native
    // numeric sort orders points by position and breaks ties by member id.
    const keys = new Float64Array(total);
    let k = 0;
    for (let m = 0; m < canonical.length; m++) {
      const idBytes = encoder.encode(canonical[m]!.id);
      const buf = new Uint8Array(idBytes.length + 12);
      buf.set(idBytes, 0);
      buf[idBytes.length] = 0x23; // '#'
      for (let i = 0; i < counts[m]!; i++) {
        const end = writeDecimal(buf, idBytes.length + 1, i);
        keys[k++] = (pointHash(buf.subarray(0, end)) >>> 0) * MAX_MEMBERS + m;
      }
    }
    keys.sort();

    const positions = new Uint32Array(total);
    const owners = new Uint16Array(total);
    for (let i = 0; i < total; i++) {
      const key = keys[i]!;
      const owner = key % MAX_MEMBERS;
      owners[i] = owner;
      positions[i] = (key - owner) / MAX_MEMBERS;
    }

    // About two points per bucket: lookups cost one bucket read and one or two comparisons.
    const bits = Math.min(16, Math.max(1, Math.ceil(Math.log2(Math.max(1, total))) - 1));
    const shift = 32 - bits;
    const bucket = new Uint32Array((1 << bits) + 1);
    let p = 0;
    for (let b = 0; b <= 1 << bits; b++) {
      const lowest = b * 2 ** shift;
      while (p < total && positions[p]! < lowest) p++;
      bucket[b] = p;
    }

    this.#positions = positions;
    this.#owners = owners;
    this.#ids = canonical.map((m) => m.id);
    this.#bucket = bucket;
    this.#shift = shift;
    this.vnodes = vnodes;
    this.#hash = hash;
    this.#options = options;
    this.#seen = new Int32Array(canonical.length);
    this.members = Object.freeze(
      canonical.map((m) => Object.freeze({ id: m.id, weight: m.weight })),
    );
    this.size = canonical.length;
    this.points = total;
    this.epoch = signature(canonical, vnodes);
  }

  /** The first `r` distinct owners of `key`, primary first (fewer if fewer members). New array. */
  owners(key: Uint8Array, r: number): string[] {
    return this.ownersOfHash(this.#hash(key), r);
  }

  /** The first `r` distinct owners of a ring position, primary first. New array. */
  ownersOfHash(hash: number, r: number): string[] {
    const out: string[] = [];
    this.ownerIdsInto(hash, r, out);
    return out;
  }

  /**
   * Writes the first `r` distinct owners of a ring position into out[0 .. n) and returns n
   * (min(r, size)); entries of `out` past n are left as they were. Allocates nothing once
   * `out` has grown to r entries: this is the router's per-request call.
   */
  ownerIdsInto(hash: number, r: number, out: string[]): number {
    const n = this.#walk(hash, r);
    const seen = this.#seen;
    const ids = this.#ids;
    for (let i = 0; i < n; i++) out[i] = ids[seen[i]!]!;
    return n;
  }

  /** The owner of a ring position, or undefined on an empty ring. */
  primaryOfHash(hash: number): string | undefined {
    if (this.points === 0) return undefined;
    return this.#ids[this.#owners[this.#find(hash >>> 0)]!];
  }

  /** The key hash this ring routes by (the injected one, or `hashKey`). */
  hashOf(key: Uint8Array): number {
    return this.#hash(key) >>> 0;
  }

  /** Fraction of the hash space each member is primary for; sums to 1 on a non-empty ring. */
  shares(): Map<string, number> {
    const arcs = new Float64Array(this.size);
    const positions = this.#positions;
    const total = this.points;
    for (let i = 0; i < total; i++) {
      const previous = i === 0 ? positions[total - 1]! - TWO_POW_32 : positions[i - 1]!;
      arcs[this.#owners[i]!]! += positions[i]! - previous;
    }
    const out = new Map<string, number>();
    for (let m = 0; m < this.size; m++) out.set(this.#ids[m]!, arcs[m]! / TWO_POW_32);
    return out;
  }

  /** The ring of the same members without `id` (this ring if `id` is not a member). */
  without(id: string): Ring {
    if (!this.#ids.includes(id)) return this;
    return Ring.of(
      this.members.filter((m) => m.id !== id),
      this.#options,
    );
  }

  /** The ring with `member` added, or with its weight replaced if its id is already a member. */
  with(member: Member): Ring {
    return Ring.of([...this.members.filter((m) => m.id !== member.id), member], this.#options);
  }

  /** Index of the first point at or after `hash` (a uint32), wrapping to 0. Ring not empty. */
  #find(hash: number): number {
    const b = hash >>> this.#shift;
    let lo = this.#bucket[b]!;
    let hi = this.#bucket[b + 1]!;
    const positions = this.#positions;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (positions[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === positions.length ? 0 : lo;
  }

  /** Collects the first min(r, size) distinct owner indexes from `hash` into #seen. */
  #walk(hash: number, r: number): number {
    const want = r >= this.size ? this.size : Math.floor(r);
    if (!(want > 0)) return 0;
    const seen = this.#seen;
    const owners = this.#owners;
    const total = owners.length;
    let i = this.#find(hash >>> 0);
    seen[0] = owners[i]!;
    let n = 1;
    // Every member has at least one point, so the walk finds `want` owners within one lap.
    while (n < want) {
      if (++i === total) i = 0;
      const owner = owners[i]!;
      let dup = false;
      for (let j = 0; j < n; j++) {
        if (seen[j] === owner) {
          dup = true;
          break;
        }
      }
      if (!dup) seen[n++] = owner;
    }
    return n;
  }

  /**
   * Splits the hashes [start, end) (0 <= start < end <= 2^32) where their owners change: writes
   * into `out` the hashes inside (start, end) at which a new arc begins (a point's position + 1),
   * ascending, and returns how many. Every hash of [start, b0), [b0, b1) … [bn, end) has the
   * owners of that piece's first hash. Allocates nothing once `out` has grown.
   */
  boundariesIn(start: number, end: number, out: number[]): number {
    const positions = this.#positions;
    const total = positions.length;
    if (total === 0) return 0;
    // The first point at or after `start`: it ends the arc `start` is in.
    let lo = this.#bucket[start >>> this.#shift]!;
    while (lo < total && positions[lo]! < start) lo++;
    let n = 0;
    let last = start;
    for (let i = lo; i < total; i++) {
      const boundary = positions[i]! + 1;
      if (boundary >= end) break;
      if (boundary > last) {
        out[n++] = boundary;
        last = boundary;
      }
    }
    return n;
  }

  /** The sorted point positions (ties: lower member id first). A copy. */
  positions(): Uint32Array {
    return this.#positions.slice();
  }
}

interface CanonicalMember {
  readonly id: string;
  readonly weight: number;
}

function canonicalMembers(members: readonly Member[]): CanonicalMember[] {
  const out: CanonicalMember[] = [];
  for (const m of members) {
    if (typeof m.id !== "string" || m.id.length === 0) {
      throw new RangeError("ring member id must be a non-empty string");
    }
    const weight = m.weight ?? 1;
    if (!Number.isFinite(weight) || weight <= 0) {
      throw new RangeError(
        `ring member "${m.id}": weight must be a finite number > 0, got ${String(weight)}`,
      );
    }
    out.push({ id: m.id, weight });
  }
  // Code-unit order: the same in every JS engine and locale.
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.id === out[i - 1]!.id) {
      throw new RangeError(`ring member "${out[i]!.id}" appears twice`);
    }
  }
  return out;
}

/** Writes the decimal digits of a non-negative integer at buf[at..]; returns the end offset. */
function writeDecimal(buf: Uint8Array, at: number, value: number): number {
  let digits = 1;
  for (let v = value; v >= 10; v = Math.floor(v / 10)) digits++;
  let v = value;
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

/** Versioned so that a change of the position derivation also changes every epoch. */
function signature(members: readonly CanonicalMember[], vnodes: number): string {
  const text = JSON.stringify(["ringcache-ring/1", vnodes, members.map((m) => [m.id, m.weight])]);
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

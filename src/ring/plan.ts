// The difference between two rings, as the hash ranges whose owner set changed.
//
// The rebalancer moves exactly the entries whose owner set changed: `plan` lists those ranges
// with the ordered owner lists before and after, `incoming` tells a node what it must receive
// and from whom, `outgoing` what it no longer owns once the move is done, and auxiliary
// nodes select the entries of a range with `rangeContains` on `hashKey(key)`.
//
// Ranges are half-open over the uint32 hash space:
//
//   start < end    [start, end)                       0 <= start < end <= 2^32
//   end <= start   [start, 2^32) and [0, end)         wraps past 2^32-1; 1 <= end <= start
//
// The whole space is { start: 0, end: 2^32 }. Within each ring the owners change only just
// after a point (a point owns the arc up to and including its position), so the union of both
// rings' `position + 1` splits the space into pieces on which neither ring's owners change.
// How a move uses it: docs/design.md, "Moves and drained writes".

import type { Ring } from "./ring.js";

export interface HashRange {
  /** First hash of the range (uint32). */
  readonly start: number;
  /** One past the last hash, in [1, 2^32]; <= start when the range wraps past 2^32-1. */
  readonly end: number;
}

export interface RangeMove extends HashRange {
  /** Owners of the range before the change, primary first. */
  readonly before: readonly string[];
  /** Owners of the range after the change, primary first. */
  readonly after: readonly string[];
}

export interface IncomingRange extends HashRange {
  /** The previous owners that hold the entries, primary first (empty: nobody had them). */
  readonly from: readonly string[];
}

export interface OutgoingRange extends HashRange {
  /** The owners that take over, primary first. */
  readonly to: readonly string[];
}

const TWO_POW_32 = 0x1_0000_0000;

/**
 * The ranges whose set of `r` owners differs between `from` and `to`, in order of `start`
 * (a wrapping range last), adjacent ranges with the same before and after lists merged. A range
 * whose owners only changed order is not listed: every owner already holds its entries.
 */
export function plan(from: Ring, to: Ring, r: number): RangeMove[] {
  if (!Number.isSafeInteger(r) || r < 1) {
    throw new RangeError(`replication factor must be a positive integer, got ${String(r)}`);
  }
  const starts = pieceStarts(from, to);
  const before: string[] = [];
  const after: string[] = [];
  const moves: MutableMove[] = [];
  let last: MutableMove | undefined;
  for (let j = 0; j < starts.length; j++) {
    const start = starts[j]!;
    const end = j + 1 < starts.length ? starts[j + 1]! : TWO_POW_32;
    const nb = from.ownerIdsInto(start, r, before);
    const na = to.ownerIdsInto(start, r, after);
    if (sameSet(before, nb, after, na)) continue;
    if (
      last !== undefined &&
      last.end === start &&
      sameList(last.before, before, nb) &&
      sameList(last.after, after, na)
    ) {
      last.end = end;
    } else {
      last = { start, end, before: before.slice(0, nb), after: after.slice(0, na) };
      moves.push(last);
    }
  }
  return joinAcrossZero(
    moves,
    (a, b) => sameLists(a.before, b.before) && sameLists(a.after, b.after),
  );
}

/** Whether the set of `r` owners of `hash` differs between the two rings. Allocates nothing. */
export function ownersChanged(from: Ring, to: Ring, hash: number, r: number): boolean {
  const nb = from.ownerIdsInto(hash, r, scratchBefore);
  const na = to.ownerIdsInto(hash, r, scratchAfter);
  return !sameSet(scratchBefore, nb, scratchAfter, na);
}

/** The ranges `nodeId` gains in `moves`, with the owners to copy them from. */
export function incoming(moves: readonly RangeMove[], nodeId: string): IncomingRange[] {
  const out: { start: number; end: number; from: readonly string[] }[] = [];
  for (const m of moves) {
    if (m.after.includes(nodeId) && !m.before.includes(nodeId)) {
      appendRun(out, { start: m.start, end: m.end, from: m.before }, (a, b) =>
        sameLists(a.from, b.from),
      );
    }
  }
  return joinAcrossZero(out, (a, b) => sameLists(a.from, b.from));
}

/** The ranges `nodeId` loses in `moves`, with the owners that take them over. */
export function outgoing(moves: readonly RangeMove[], nodeId: string): OutgoingRange[] {
  const out: { start: number; end: number; to: readonly string[] }[] = [];
  for (const m of moves) {
    if (m.before.includes(nodeId) && !m.after.includes(nodeId)) {
      appendRun(out, { start: m.start, end: m.end, to: m.after }, (a, b) => sameLists(a.to, b.to));
    }
  }
  return joinAcrossZero(out, (a, b) => sameLists(a.to, b.to));
}

/** Whether the range holds `hash` (taken as a uint32). */
export function rangeContains(range: HashRange, hash: number): boolean {
  const h = hash >>> 0;
  return range.start < range.end
    ? h >= range.start && h < range.end
    : h >= range.start || h < range.end;
}

/** Number of hashes in the range. */
export function rangeSize(range: HashRange): number {
  return range.start < range.end ? range.end - range.start : TWO_POW_32 - range.start + range.end;
}

interface MutableMove {
  start: number;
  end: number;
  readonly before: readonly string[];
  readonly after: readonly string[];
}

const scratchBefore: string[] = [];
const scratchAfter: string[] = [];

/** 0 and every `position + 1` (mod 2^32) of both rings, sorted, without duplicates. */
function pieceStarts(a: Ring, b: Ring): Uint32Array {
  const pa = a.positions();
  const pb = b.positions();
  const all = new Uint32Array(pa.length + pb.length + 1);
  let n = 0;
  all[n++] = 0;
  for (let i = 0; i < pa.length; i++) all[n++] = (pa[i]! + 1) >>> 0;
  for (let i = 0; i < pb.length; i++) all[n++] = (pb[i]! + 1) >>> 0;
  all.sort();
  let u = 0;
  for (let i = 0; i < n; i++) {
    if (i === 0 || all[i] !== all[u - 1]) all[u++] = all[i]!;
  }
  return all.subarray(0, u);
}

function sameSet(a: readonly string[], na: number, b: readonly string[], nb: number): boolean {
  if (na !== nb) return false;
  for (let i = 0; i < na; i++) {
    let found = false;
    for (let j = 0; j < nb; j++) {
      if (a[i] === b[j]) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

/** Whether the first n entries of `scratch` equal `list`. */
function sameList(list: readonly string[], scratch: readonly string[], n: number): boolean {
  if (list.length !== n) return false;
  for (let i = 0; i < n; i++) if (list[i] !== scratch[i]) return false;
  return true;
}

function sameLists(a: readonly string[], b: readonly string[]): boolean {
  return sameList(a, b, b.length);
}

/** Appends `item`, or extends the last run when it ends where `item` starts and `same` holds. */
function appendRun<T extends { start: number; end: number }>(
  runs: T[],
  item: T,
  same: (a: T, b: T) => boolean,
): void {
  const last = runs[runs.length - 1];
  if (last !== undefined && last.end === item.start && same(last, item)) last.end = item.end;
  else runs.push(item);
}

/**
 * Runs sorted by start: when the first starts at 0 and the last ends at 2^32 with the same
 * change, they are one range across the wrap; the joined range replaces the last.
 */
function joinAcrossZero<T extends { start: number; end: number }>(
  runs: T[],
  same: (a: T, b: T) => boolean,
): T[] {
  if (runs.length < 2) return runs;
  const first = runs[0]!;
  const last = runs[runs.length - 1]!;
  if (first.start === 0 && last.end === TWO_POW_32 && same(first, last)) {
    last.end = first.end;
    runs.shift();
  }
  return runs;
}

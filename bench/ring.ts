// Ring benchmark: lookups, candidate hashes, balance and movement.
// Run: npm run bench:ring, or npm run build && node dist/bench/ring.js  (~20 s; prints tables)
//
// Every throughput figure is the median of 7 timed slices of at least 100 ms; the tasks of one
// table take turns slice by slice, so the ratios between rows hold even on a loaded machine.

import { randomBytes } from "node:crypto";
import { fnv1a32, hashKey, murmur3_32, xxhash32 } from "../src/ring/hash.js";
import { plan, rangeSize } from "../src/ring/plan.js";
import { DEFAULT_VNODES, Ring, type Member } from "../src/ring/ring.js";

const ROUNDS = 7;
const ROUND_MS = 100;
const TWO_POW_32 = 2 ** 32;

type HashFn = (b: Uint8Array) => number;
type Pass = (keys: readonly Uint8Array[]) => number;

// One loop per candidate, so that each call site sees a single function (a shared loop would
// go polymorphic and favour whichever candidate ran first).
const candidates: readonly (readonly [string, HashFn, Pass])[] = [
  [
    "fnv1a32",
    fnv1a32,
    (keys) => {
      let acc = 0;
      for (const key of keys) acc ^= fnv1a32(key);
      return acc;
    },
  ],
  [
    "murmur3_32",
    (b) => murmur3_32(b),
    (keys) => {
      let acc = 0;
      for (const key of keys) acc ^= murmur3_32(key);
      return acc;
    },
  ],
  [
    "xxhash32",
    (b) => xxhash32(b),
    (keys) => {
      let acc = 0;
      for (const key of keys) acc ^= xxhash32(key);
      return acc;
    },
  ],
];

let sink = 0;

interface Task {
  readonly name: string;
  /** Operations done by one call of `pass`. */
  readonly perPass: number;
  readonly pass: () => number;
}

/**
 * Median operations per second of each task. The tasks take turns, one timed slice each per
 * round, so that load from other processes falls on all of them alike.
 */
function race(tasks: readonly Task[]): Map<string, number> {
  for (const task of tasks) for (let i = 0; i < 3; i++) sink ^= task.pass(); // warm up
  const rates = new Map<string, number[]>(tasks.map((t) => [t.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const task of tasks) {
      let ops = 0;
      const t0 = process.hrtime.bigint();
      let elapsed = 0;
      while (elapsed < ROUND_MS * 1e6) {
        sink ^= task.pass();
        ops += task.perPass;
        elapsed = Number(process.hrtime.bigint() - t0);
      }
      rates.get(task.name)!.push(ops / (elapsed / 1e9));
    }
  }
  return new Map([...rates].map(([name, xs]) => [name, median(xs)]));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function randomKeys(count: number, length: number): Uint8Array[] {
  const pool = randomBytes(count * length);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) keys.push(pool.subarray(i * length, (i + 1) * length));
  return keys;
}

function members(n: number, prefix = "a"): Member[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}` }));
}

function maxOverMean(ring: Ring): number {
  let max = 0;
  for (const share of ring.shares().values()) max = Math.max(max, share);
  return max * ring.size;
}

function fmt(x: number, digits = 1): string {
  return x.toFixed(digits);
}

function table(title: string, head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    "| " +
    cells.map((x, c) => (c === 0 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join(" | ") +
    " |";
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log(
    "| " +
      widths.map((w, c) => (c === 0 ? "-".repeat(w) : "-".repeat(w - 1) + ":")).join(" | ") +
      " |",
  );
  for (const r of rows) console.log(line(r));
}

// --- lookups -------------------------------------------------------------------------------
function lookups(): void {
  const keys = randomKeys(1 << 16, 16);
  const hashes = keys.map(hashKey);
  const out: string[] = [];
  const tasks: Task[] = [];
  const sizes = [160, DEFAULT_VNODES];
  for (const vnodes of sizes) {
    const ring = Ring.of(members(10), { vnodes });
    tasks.push(
      {
        name: `into/${vnodes}`,
        perPass: keys.length,
        pass: () => {
          let acc = 0;
          for (const key of keys) acc += ring.ownerIdsInto(hashKey(key), 2, out);
          return acc;
        },
      },
      {
        name: `alloc/${vnodes}`,
        perPass: keys.length,
        pass: () => {
          let acc = 0;
          for (const key of keys) acc += ring.owners(key, 2).length;
          return acc;
        },
      },
      {
        name: `primary/${vnodes}`,
        perPass: hashes.length,
        pass: () => {
          let acc = 0;
          for (const h of hashes) acc += ring.primaryOfHash(h)!.length;
          return acc;
        },
      },
    );
  }
  const rates = race(tasks);
  const cell = (name: string): string => fmt(rates.get(name)! / 1e6, 2);
  table(
    "Lookups, 16-byte keys, r = 2 (million lookups/s)",
    ["ring", "hash + ownerIdsInto", "owners (allocating)", "primaryOfHash (no hash)"],
    sizes.map((v) => [
      `10 nodes x ${v}`,
      cell(`into/${v}`),
      cell(`alloc/${v}`),
      cell(`primary/${v}`),
    ]),
  );
}

// --- hash throughput and quality ------------------------------------------------------------
function hashes(): void {
  const lengths = [8, 16, 40];
  const sets = lengths.map((len) => randomKeys(1 << 14, len));
  const tasks: Task[] = [];
  for (const [name, , pass] of candidates) {
    sets.forEach((keys, i) =>
      tasks.push({ name: `${name}/${lengths[i]}`, perPass: keys.length, pass: () => pass(keys) }),
    );
  }
  const rates = race(tasks);
  const rows = candidates.map(([name, fn]) => [
    name,
    ...lengths.map((len) => fmt(rates.get(`${name}/${len}`)! / 1e6)),
    ...quality(fn),
  ]);
  table(
    "Candidate hashes: million hashes/s by key size, and distribution quality",
    [
      "hash",
      "8 B",
      "16 B",
      "40 B",
      "seq. keys chi2/df",
      "avalanche max bias",
      "vnode max/mean (160, N=10)",
    ],
    rows,
  );
  console.log(
    "\nchi2/df: 1M keys `key:<i>` into 1024 buckets by top 10 bits (random: 1.00 +- 0.04).\n" +
      "avalanche: over 20k random 16-byte keys and each input bit, the worst |P(output bit\n" +
      "flips) - 0.5| (random: ~0.01). vnode max/mean: median over 25 random sets of 10 ids.",
  );
}

function quality(fn: HashFn): string[] {
  // Sequential keys, the shape of ids that applications use.
  const enc = new TextEncoder();
  const buckets = new Float64Array(1024);
  const n = 1 << 20;
  for (let i = 0; i < n; i++) buckets[fn(enc.encode(`key:${i}`)) >>> 22]!++;
  const expected = n / 1024;
  let chi2 = 0;
  for (const c of buckets) chi2 += (c - expected) ** 2 / expected;

  // Avalanche: flipping one input bit should flip each output bit with probability 1/2.
  const samples = 20_000;
  const flips = new Float64Array(128 * 32);
  const key = new Uint8Array(16);
  const pool = randomBytes(samples * 16);
  for (let s = 0; s < samples; s++) {
    key.set(pool.subarray(s * 16, s * 16 + 16));
    const h0 = fn(key);
    for (let bit = 0; bit < 128; bit++) {
      key[bit >> 3]! ^= 1 << (bit & 7);
      const diff = (fn(key) ^ h0) >>> 0;
      key[bit >> 3]! ^= 1 << (bit & 7);
      for (let o = 0; o < 32; o++) if ((diff >>> o) & 1) flips[bit * 32 + o]!++;
    }
  }
  let bias = 0;
  for (const f of flips) bias = Math.max(bias, Math.abs(f / samples - 0.5));

  const vnodeRatios: number[] = [];
  for (let t = 0; t < 25; t++) {
    const ids = Array.from({ length: 10 }, () => ({ id: randomBytes(6).toString("hex") }));
    vnodeRatios.push(maxOverMean(Ring.of(ids, { vnodes: 160, hash: fn })));
  }
  return [fmt(chi2 / 1023, 2), fmt(bias, 3), fmt(median(vnodeRatios), 3)];
}

// --- balance ---------------------------------------------------------------------------------
function balance(): void {
  const rows: string[][] = [];
  const sets = 40;
  for (const n of [3, 5, 10, 20]) {
    const row = [String(n)];
    for (const vnodes of [160, 1024, DEFAULT_VNODES]) {
      const ratios: number[] = [];
      for (let t = 0; t < sets; t++) {
        const ids = t === 0 ? members(n) : members(n, `${randomBytes(4).toString("hex")}-`);
        ratios.push(maxOverMean(Ring.of(ids, { vnodes })));
      }
      const over = ratios.filter((x) => x > 1.1).length;
      row.push(
        `${fmt(ratios[0]!, 3)} / ${fmt(median(ratios), 3)} / ${fmt(Math.max(...ratios), 3)} (${over})`,
      );
    }
    rows.push(row);
  }
  table(
    `Balance: max/mean of exact hash-space shares, equal weights, murmur3 (${sets} member sets)`,
    ["N", "160 vnodes", "1024 vnodes", `${DEFAULT_VNODES} vnodes (default)`],
    rows,
  );
  console.log(
    "\nEach cell: ids a1..aN / median / worst over the sets (number of sets above 1.10).",
  );
}

// --- movement --------------------------------------------------------------------------------
function movement(): void {
  const rows: string[][] = [];
  const keys = randomKeys(200_000, 16).map(hashKey);
  for (const n of [3, 5, 10, 20]) {
    const ring = Ring.of(members(n));
    const added = ring.with({ id: "new" });
    const removed = ring.without("a1");
    const row = [String(n)];
    for (const r of [1, 2]) {
      const addShare = movedShare(ring, added, r);
      const removeShare = movedShare(ring, removed, r);
      const ideal = r / (n + 1);
      const idealRemove = Math.min(r, n) / n;
      row.push(`${fmt(addShare / ideal, 3)}x`, `${fmt(removeShare / idealRemove, 3)}x`);
    }
    let sampled = 0;
    for (const h of keys) if (ring.primaryOfHash(h) !== added.primaryOfHash(h)) sampled++;
    row.push(`${fmt((100 * sampled) / keys.length, 2)}% (ideal ${fmt(100 / (n + 1), 2)}%)`);
    rows.push(row);
  }
  table(
    `Movement: keys moved on adding / removing one node, over the ideal (${DEFAULT_VNODES} vnodes)`,
    ["N", "add r=1", "remove r=1", "add r=2", "remove r=2", "sampled keys moved on add, r=1"],
    rows,
  );
  console.log(
    "\nMoved = hash space whose owner set changed (plan), as a multiple of the ideal r/(N+1)\n" +
      "on add and r/N on remove. Sampled: 200k random keys whose primary changed.",
  );
}

function movedShare(from: Ring, to: Ring, r: number): number {
  let moved = 0;
  for (const m of plan(from, to, r)) {
    // Entries copied: each new owner of the range receives it.
    const gained = m.after.filter((id) => !m.before.includes(id)).length;
    moved += rangeSize(m) * gained;
  }
  return moved / TWO_POW_32;
}

function planCost(): void {
  const rows: string[][] = [];
  for (const n of [3, 10, 20]) {
    const ring = Ring.of(members(n));
    const added = ring.with({ id: "new" });
    const rates = race([
      { name: "build", perPass: 1, pass: () => Ring.of(members(n)).points },
      { name: "plan", perPass: 1, pass: () => plan(ring, added, 2).length },
    ]);
    const build = rates.get("build")!;
    const planRate = rates.get("plan")!;
    rows.push([
      String(n),
      String(ring.points),
      fmt(1000 / build, 2),
      fmt(1000 / planRate, 2),
      String(plan(ring, added, 2).length),
    ]);
  }
  table(
    `Build and plan cost (${DEFAULT_VNODES} vnodes, r = 2, add one node)`,
    ["N", "points", "Ring.of ms", "plan ms", "ranges"],
    rows,
  );
}

console.log(`ringcache ring benchmark (node ${process.version})`);
lookups();
hashes();
balance();
movement();
planCost();
if (sink === 0.5) console.log(sink); // keeps results alive

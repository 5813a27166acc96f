import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { hashKey, murmur3_32, placedPart } from "../../src/ring/hash.js";
import {
  incoming,
  outgoing,
  ownersChanged,
  plan,
  rangeContains,
  rangeSize,
  type RangeMove,
} from "../../src/ring/plan.js";
import { Ring, type RingOptions } from "../../src/ring/ring.js";

const TWO_POW_32 = 2 ** 32;

const idArb = fc.string({ minLength: 1, maxLength: 12 });
/** Between min and max distinct ids, the count drawn uniformly (not biased to small sizes). */
const ids = (min: number, max: number): fc.Arbitrary<string[]> =>
  fc.integer({ min, max }).chain((n) => fc.uniqueArray(idArb, { minLength: n, maxLength: n }));
const weightArb = fc.constantFrom(0.5, 1, 1.5, 2, 3);
const uint32 = fc.integer({ min: 0, max: 0xffffffff });

/** Members with weights, and the same members in another order. */
const membersAndPermutation = fc
  .uniqueArray(fc.record({ id: idArb, weight: weightArb }), {
    minLength: 0,
    maxLength: 12,
    selector: (m) => m.id,
  })
  .chain((members) =>
    fc.tuple(
      fc.constant(members),
      fc.shuffledSubarray(members, { minLength: members.length, maxLength: members.length }),
    ),
  );

/** A coarse hash puts many points on the same positions, exercising the tie-break. */
function options(vnodes: number, coarse: boolean): RingOptions {
  return coarse ? { vnodes, hash: (b) => (hashKey(b) & 0xfff00000) >>> 0 } : { vnodes };
}

function maxOverMean(ring: Ring): number {
  return Math.max(...ring.shares().values()) * ring.size;
}

describe("ring: a pure function of the member set", () => {
  it("builds the same ring and epoch from any permutation of the members", () => {
    fc.assert(
      fc.property(
        membersAndPermutation,
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        fc.array(uint32, { minLength: 20, maxLength: 20 }),
        ([members, shuffled], vnodes, coarse, hashes) => {
          const a = Ring.of(members, options(vnodes, coarse));
          const b = Ring.of(shuffled, options(vnodes, coarse));
          assert.equal(a.epoch, b.epoch);
          assert.deepEqual(a.positions(), b.positions());
          assert.deepEqual(a.members, b.members);
          for (const h of hashes) {
            for (let r = 1; r <= a.size; r++) {
              assert.deepEqual(a.ownersOfHash(h, r), b.ownersOfHash(h, r));
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("changes the epoch with any change of member, weight or vnodes", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: idArb, weight: weightArb }), {
          minLength: 1,
          maxLength: 8,
          selector: (m) => m.id,
        }),
        idArb,
        fc.nat(),
        fc.constantFrom("add", "remove", "reweight", "vnodes"),
        (members, newId, pick, change) => {
          const vnodes = 32;
          const base = Ring.of(members, { vnodes });
          const victim = members[pick % members.length]!;
          let changed: Ring;
          if (change === "add") {
            fc.pre(!members.some((m) => m.id === newId));
            changed = Ring.of([...members, { id: newId }], { vnodes });
          } else if (change === "remove") {
            changed = base.without(victim.id);
          } else if (change === "reweight") {
            changed = base.with({ id: victim.id, weight: victim.weight + 0.25 });
          } else {
            changed = Ring.of(members, { vnodes: vnodes + 1 });
          }
          assert.notEqual(changed.epoch, base.epoch);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("ring: balance with the default vnodes", () => {
  it("keeps the largest share within 1.10x of the mean for 3-20 equal members", () => {
    fc.assert(
      fc.property(ids(3, 20), (names) => {
        const ring = Ring.of(names.map((id) => ({ id })));
        const ratio = maxOverMean(ring);
        assert.ok(ratio <= 1.1, `max/mean ${ratio.toFixed(4)} for ${names.length} members`);
      }),
      { numRuns: 50 },
    );
  });

  it("spreads 1M real keys as the shares say (max/mean <= 1.10)", () => {
    const rings = [3, 10, 20].map((n) =>
      Ring.of(Array.from({ length: n }, (_, i) => ({ id: `a${i + 1}` }))),
    );
    const counts = rings.map((ring) => new Map(ring.members.map((m) => [m.id, 0])));
    const keys = 1_000_000;
    const buf = new Uint8Array(32);
    const encoder = new TextEncoder();
    for (let i = 0; i < keys; i++) {
      const { written } = encoder.encodeInto(`user:${i}`, buf);
      const h = hashKey(buf.subarray(0, written));
      for (let k = 0; k < rings.length; k++) {
        const owner = rings[k]!.primaryOfHash(h)!;
        counts[k]!.set(owner, counts[k]!.get(owner)! + 1);
      }
    }
    for (let k = 0; k < rings.length; k++) {
      const ring = rings[k]!;
      const shares = ring.shares();
      let max = 0;
      for (const [id, count] of counts[k]!) {
        max = Math.max(max, count);
        // A key lands on a member with probability equal to its share: the count is
        // binomial, and 6 standard deviations is a bound the hash must meet every time.
        const p = shares.get(id)!;
        const sd = Math.sqrt(keys * p * (1 - p));
        assert.ok(Math.abs(count - keys * p) < 6 * sd, `${id}: ${count} keys, share ${p}`);
      }
      const ratio = max / (keys / ring.size);
      assert.ok(ratio <= 1.1, `max/mean ${ratio.toFixed(4)} over ${ring.size} members`);
    }
  });

  it("gives each member a share within 10% of its weight's", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ id: idArb, weight: fc.constantFrom(0.75, 1, 1.5, 2, 2.5, 3) }), {
          minLength: 2,
          maxLength: 10,
          selector: (m) => m.id,
        }),
        (members) => {
          const ring = Ring.of(members);
          const total = members.reduce((s, m) => s + m.weight, 0);
          const shares = ring.shares();
          for (const m of members) {
            const ratio = shares.get(m.id)! / (m.weight / total);
            assert.ok(Math.abs(ratio - 1) <= 0.1, `${m.id} (weight ${m.weight}): ${ratio}`);
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

/** Hash space moved (copies made), as a multiple of the ideal `ideal` fraction. */
function movedOverIdeal(moves: readonly RangeMove[], ideal: number): number {
  let moved = 0;
  for (const m of moves) {
    const gained = m.after.filter((id) => !m.before.includes(id)).length;
    moved += rangeSize(m) * gained;
  }
  return moved / TWO_POW_32 / ideal;
}

const setOf = (xs: readonly string[]): Set<string> => new Set(xs);
const minus = (a: readonly string[], b: readonly string[]): string[] =>
  a.filter((x) => !b.includes(x));

describe("ring: minimal movement", () => {
  it("moves only keys to a joining member, within 1.1x of the ideal", () => {
    fc.assert(
      fc.property(
        ids(3, 20),
        idArb,
        fc.array(uint32, { minLength: 500, maxLength: 500 }),
        (names, joiner, hashes) => {
          fc.pre(!names.includes(joiner));
          const before = Ring.of(names.map((id) => ({ id })));
          const after = before.with({ id: joiner });
          const n = names.length;
          for (const r of [1, 2]) {
            const moves = plan(before, after, r);
            for (const m of moves) {
              assert.ok(m.after.includes(joiner) && !m.before.includes(joiner));
              assert.deepEqual(minus(m.after, m.before), [joiner], "only the joiner receives");
            }
            const ratio = movedOverIdeal(moves, r / (n + 1));
            assert.ok(ratio <= 1.1 && ratio >= 1 / 1.1, `r=${r}: moved ${ratio.toFixed(4)}x ideal`);
            // Independently of plan: owner sets differ only by the joiner taking one place.
            for (const h of hashes) {
              const was = before.ownersOfHash(h, r);
              const now = after.ownersOfHash(h, r);
              const gained = minus(now, was);
              const lost = minus(was, now);
              if (gained.length === 0) continue;
              assert.deepEqual(gained, [joiner]);
              assert.ok(lost.length <= 1);
              assert.deepEqual(
                now.filter((id) => id !== joiner),
                was.slice(0, now.length - 1),
              );
            }
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it("moves only a leaving member's keys, within 1.1x of the ideal", () => {
    fc.assert(
      fc.property(
        ids(3, 20),
        fc.nat(),
        fc.array(uint32, { minLength: 500, maxLength: 500 }),
        (names, pick, hashes) => {
          const leaver = names[pick % names.length]!;
          const before = Ring.of(names.map((id) => ({ id })));
          const after = before.without(leaver);
          const n = names.length;
          for (const r of [1, 2]) {
            const moves = plan(before, after, r);
            for (const m of moves) {
              assert.ok(m.before.includes(leaver) && !m.after.includes(leaver));
              assert.deepEqual(minus(m.before, m.after), [leaver], "survivors keep their keys");
              assert.equal(minus(m.after, m.before).length, 1, "one member takes the copy over");
            }
            const ratio = movedOverIdeal(moves, r / n);
            assert.ok(ratio <= 1.1 && ratio >= 1 / 1.1, `r=${r}: moved ${ratio.toFixed(4)}x ideal`);
            for (const h of hashes) {
              const was = before.ownersOfHash(h, r);
              const now = after.ownersOfHash(h, r);
              if (setOf(was).has(leaver)) {
                assert.deepEqual(minus(was, now), [leaver]);
              } else {
                assert.deepEqual(now, was);
              }
            }
          }
        },
      ),
      { numRuns: 20 },
    );
  });
});

/** Two member sets drawn from one pool of ids, so that they overlap. */
const ringPair = fc
  .record({
    pool: fc.uniqueArray(idArb, { minLength: 1, maxLength: 8 }),
    vnodes: fc.integer({ min: 1, max: 40 }),
    coarse: fc.boolean(),
  })
  .chain(({ pool, vnodes, coarse }) => {
    const side = fc
      .subarray(pool)
      .chain((chosen) =>
        fc.tuple(...chosen.map((id) => fc.record({ id: fc.constant(id), weight: weightArb }))),
      );
    return fc.record({
      from: side,
      to: side,
      vnodes: fc.constant(vnodes),
      coarse: fc.constant(coarse),
      r: fc.integer({ min: 1, max: 4 }),
      hashes: fc.array(uint32, { minLength: 60, maxLength: 60 }),
    });
  });

describe("plan: agrees with the rings it compares", () => {
  it("lists exactly the hashes whose owner set changed, with their owners", () => {
    fc.assert(
      fc.property(ringPair, ({ from: fromMembers, to: toMembers, vnodes, coarse, r, hashes }) => {
        const from = Ring.of(fromMembers, options(vnodes, coarse));
        const to = Ring.of(toMembers, options(vnodes, coarse));
        const moves = plan(from, to, r);

        // Shape: sorted, disjoint, only the last may wrap, neighbours with one change merged.
        for (let i = 0; i < moves.length; i++) {
          const m = moves[i]!;
          if (i < moves.length - 1) assert.ok(m.start < m.end && m.end <= moves[i + 1]!.start);
          if (i > 0) {
            const p = moves[i - 1]!;
            const same =
              p.end === m.start &&
              JSON.stringify([p.before, p.after]) === JSON.stringify([m.before, m.after]);
            assert.ok(!same, "adjacent ranges with the same change are merged");
          }
        }

        const probes = [...hashes, 0, 0xffffffff];
        for (const m of moves)
          probes.push(m.start, (m.start + 0xffffffff) >>> 0, m.end >>> 0, (m.end - 1) >>> 0);
        const members = new Set([...from.members, ...to.members].map((m) => m.id));
        const gains = new Map([...members].map((id) => [id, incoming(moves, id)]));
        const losses = new Map([...members].map((id) => [id, outgoing(moves, id)]));

        for (const h of probes) {
          const was = from.ownersOfHash(h, r);
          const now = to.ownersOfHash(h, r);
          const hit = moves.filter((m) => rangeContains(m, h));
          assert.ok(hit.length <= 1, "ranges are disjoint");
          const changed = ownersChanged(from, to, h, r);
          assert.equal(changed, hit.length === 1, `hash ${h}`);
          const sameSet = was.length === now.length && was.every((id) => now.includes(id));
          assert.equal(changed, !sameSet);
          if (hit.length === 1) {
            assert.deepEqual(hit[0]!.before, was);
            assert.deepEqual(hit[0]!.after, now);
          }
          for (const id of members) {
            const gained = now.includes(id) && !was.includes(id);
            const inRanges = gains.get(id)!.filter((g) => rangeContains(g, h));
            assert.equal(inRanges.length, gained ? 1 : 0, `${id} gains ${h}`);
            if (gained) assert.deepEqual(inRanges[0]!.from, was);
            const lost = was.includes(id) && !now.includes(id);
            const outRanges = losses.get(id)!.filter((g) => rangeContains(g, h));
            assert.equal(outRanges.length, lost ? 1 : 0, `${id} loses ${h}`);
            if (lost) assert.deepEqual(outRanges[0]!.to, now);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** Redis Cluster's hash-tag rule, written as its description reads, over a string of bytes. */
function tagOf(key: string): string {
  const open = key.indexOf("{");
  if (open === -1) return key;
  const close = key.indexOf("}", open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/** Bytes drawn mostly from a small alphabet with braces, so tags of every shape come up. */
const braceBytes = fc
  .array(fc.constantFrom(0x7b, 0x7d, 0x61, 0x62, 0x3a, 0x00, 0xff), { maxLength: 16 })
  .map((a) => Buffer.from(a));

describe("hash tags: placement", () => {
  it("hashes a key as murmur3_32 of its tag by the rule as written", () => {
    fc.assert(
      fc.property(braceBytes, (key) => {
        const tag = Buffer.from(tagOf(key.toString("latin1")), "latin1");
        assert.equal(hashKey(key), murmur3_32(tag));
        const { start, end } = placedPart(key);
        assert.deepEqual(key.subarray(start, end), tag);
      }),
      { numRuns: 2000 },
    );
  });

  it("gives keys that share a tag the same owners on random rings", () => {
    fc.assert(
      fc.property(
        ids(1, 8),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 3 }),
        fc.uint8Array({ minLength: 1, maxLength: 12 }).filter((t) => !t.includes(0x7d)),
        fc.array(fc.tuple(braceBytes, braceBytes), { minLength: 1, maxLength: 8 }),
        (members, vnodes, r, tag, wraps) => {
          const ring = Ring.of(
            members.map((id) => ({ id })),
            { vnodes },
          );
          // The first `{` of each key opens the tag: the prefix holds none.
          const keys = wraps.map(([before, after]) =>
            Buffer.concat([
              before.filter((b) => b !== 0x7b),
              Buffer.from([0x7b]),
              tag,
              Buffer.from([0x7d]),
              after,
            ]),
          );
          const owners = ring.owners(keys[0]!, r);
          for (const key of keys) assert.deepEqual(ring.owners(key, r), owners);
          assert.deepEqual(owners, ring.owners(tag, r));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("ring: boundaries of a hash range", () => {
  it("cuts [start, end) into pieces whose hashes each have one owner list", () => {
    fc.assert(
      fc.property(
        ids(1, 6),
        fc.integer({ min: 1, max: 40 }),
        fc.boolean(),
        uint32,
        fc.integer({ min: 1, max: 2 ** 32 }),
        (members, vnodes, coarse, a, span) => {
          const ring = Ring.of(
            members.map((id) => ({ id })),
            options(vnodes, coarse),
          );
          const start = a;
          const end = Math.min(2 ** 32, start + span);
          const out: number[] = [];
          const n = ring.boundariesIn(start, end, out);
          const cuts = [start, ...out.slice(0, n), end];
          for (let i = 0; i + 1 < cuts.length; i++) {
            const lo = cuts[i]!;
            const hi = cuts[i + 1]!;
            assert.ok(lo < hi, `pieces ascend: ${lo} < ${hi}`);
            const owners = ring.ownersOfHash(lo, 3);
            for (const h of [hi - 1, Math.floor((lo + hi) / 2)]) {
              assert.deepEqual(ring.ownersOfHash(h, 3), owners, `${h} in [${lo}, ${hi})`);
            }
          }
          // Every point inside the range starts a piece after it.
          for (const p of ring.positions()) {
            if (p + 1 > start && p + 1 < end)
              assert.ok(out.slice(0, n).includes(p + 1), `point ${p}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

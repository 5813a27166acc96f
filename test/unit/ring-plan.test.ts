import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  incoming,
  outgoing,
  ownersChanged,
  plan,
  rangeContains,
  rangeSize,
  type RangeMove,
} from "../../src/ring/plan.js";
import { Ring, type Member } from "../../src/ring/ring.js";

const decoder = new TextDecoder();
const TWO_POW_32 = 2 ** 32;

/** "<n>#<i>" lands at n + i: every point of these tests is placed by hand. */
function byHand(bytes: Uint8Array): number {
  const s = decoder.decode(bytes);
  const sep = s.indexOf("#");
  return (Number(s.slice(0, sep)) + Number(s.slice(sep + 1))) >>> 0;
}

function ring(...members: (string | Member)[]): Ring {
  return Ring.of(
    members.map((m) => (typeof m === "string" ? { id: m } : m)),
    { vnodes: 1, hash: byHand },
  );
}

const move = (start: number, end: number, before: string[], after: string[]): RangeMove => ({
  start,
  end,
  before,
  after,
});

describe("plan", () => {
  // Points at 10, 20, 30: "20" owns [11, 21), "30" owns [21, 31), "10" the rest.
  const base = ring("10", "20", "30");

  it("is empty between equal rings", () => {
    assert.deepEqual(plan(base, ring("30", "20", "10"), 2), []);
  });

  it("gives a joining member the arc before its point (r = 1)", () => {
    assert.deepEqual(plan(base, ring("10", "20", "25", "30"), 1), [move(21, 26, ["30"], ["25"])]);
  });

  it("lists every range whose owner set changed, with ordered owners (r = 2)", () => {
    const moves = plan(base, ring("10", "20", "25", "30"), 2);
    assert.deepEqual(moves, [
      move(11, 21, ["20", "30"], ["20", "25"]),
      move(21, 26, ["30", "10"], ["25", "30"]),
    ]);
    assert.deepEqual(incoming(moves, "25"), [
      { start: 11, end: 21, from: ["20", "30"] },
      { start: 21, end: 26, from: ["30", "10"] },
    ]);
    assert.deepEqual(outgoing(moves, "30"), [{ start: 11, end: 21, to: ["20", "25"] }]);
    assert.deepEqual(outgoing(moves, "10"), [{ start: 21, end: 26, to: ["25", "30"] }]);
    assert.deepEqual(incoming(moves, "20"), []);
  });

  it("hands a leaving member's arc to its successor", () => {
    assert.deepEqual(plan(base, ring("10", "30"), 1), [move(11, 21, ["20"], ["30"])]);
    const moves = plan(base, ring("10", "30"), 2);
    assert.deepEqual(
      moves,
      [move(31, 11, ["10", "20"], ["10", "30"]), move(11, 21, ["20", "30"], ["30", "10"])].sort(
        (a, b) => a.start - b.start,
      ),
    );
    // "30" already held [11, 21) as second owner, so only "10" receives it.
    assert.deepEqual(incoming(moves, "10"), [{ start: 11, end: 21, from: ["20", "30"] }]);
    assert.deepEqual(incoming(moves, "30"), [{ start: 31, end: 11, from: ["10", "20"] }]);
  });

  it("follows a weight change", () => {
    // Weight 2 gives "20" a second point at 21: it takes [21, 22) from "30".
    assert.deepEqual(plan(base, ring("10", { id: "20", weight: 2 }, "30"), 1), [
      move(21, 22, ["30"], ["20"]),
    ]);
    // Weight back to 1: the reverse move.
    assert.deepEqual(plan(ring("10", { id: "20", weight: 2 }, "30"), base, 1), [
      move(21, 22, ["20"], ["30"]),
    ]);
  });

  it("joins a change that spans 2^32-1 -> 0 into one wrapping range", () => {
    const from = ring("100", "200", "4294967000");
    const moves = plan(from, ring("200", "4294967000"), 1);
    assert.deepEqual(moves, [move(4294967001, 101, ["100"], ["200"])]);
    assert.equal(rangeSize(moves[0]!), TWO_POW_32 - 4294967001 + 101);
    assert.ok(rangeContains(moves[0]!, 0xffffffff));
    assert.ok(rangeContains(moves[0]!, 0));
    assert.ok(rangeContains(moves[0]!, 100));
    assert.ok(!rangeContains(moves[0]!, 101));
    assert.ok(!rangeContains(moves[0]!, 4294967000));
  });

  it("keeps a point at 2^32-1 from making an empty range", () => {
    const from = ring("10", "4294967295");
    assert.deepEqual(plan(from, ring("10"), 1), [move(11, TWO_POW_32, ["4294967295"], ["10"])]);
  });

  it("covers the whole space from or to an empty ring", () => {
    const all = plan(Ring.of([]), base, 1);
    assert.deepEqual(all, [
      move(11, 21, [], ["20"]),
      move(21, 31, [], ["30"]),
      move(31, 11, [], ["10"]),
    ]);
    assert.equal(
      all.reduce((n, m) => n + rangeSize(m), 0),
      TWO_POW_32,
    );
    assert.deepEqual(incoming(all, "10"), [{ start: 31, end: 11, from: [] }]);
    assert.deepEqual(plan(ring("10"), Ring.of([]), 1), [move(0, TWO_POW_32, ["10"], [])]);
    assert.deepEqual(plan(Ring.of([]), Ring.of([]), 1), []);
  });

  it("does not list a range whose owners only changed order", () => {
    // "b" gains a second point at 5, ahead of "a" at 10: for [0, 6) and [31, 2^32) the owners
    // go from [a, b] to [b, a]. Both already hold those entries, so nothing moves there.
    const positions: Record<string, number> = { "a#0": 10, "b#0": 20, "b#1": 5, "c#0": 30 };
    const hash = (bytes: Uint8Array): number => positions[decoder.decode(bytes)]!;
    const from = Ring.of([{ id: "a" }, { id: "b" }, { id: "c" }], { vnodes: 1, hash });
    const to = Ring.of([{ id: "a" }, { id: "b", weight: 2 }, { id: "c" }], { vnodes: 1, hash });
    assert.deepEqual(from.ownersOfHash(0, 2), ["a", "b"]);
    assert.deepEqual(to.ownersOfHash(0, 2), ["b", "a"]);
    assert.equal(ownersChanged(from, to, 0, 2), false);
    assert.deepEqual(plan(from, to, 2), [move(21, 31, ["c", "a"], ["c", "b"])]);
    // With r = 1 the primary is the owner set: those ranges do move.
    assert.deepEqual(plan(from, to, 1), [move(31, 6, ["a"], ["b"])]);
  });

  it("rejects a replication factor that is not a positive integer", () => {
    for (const r of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => plan(base, base, r), /replication factor/);
    }
  });
});

describe("ownersChanged", () => {
  it("agrees with the plan by hand", () => {
    const from = ring("10", "20", "30");
    const to = ring("10", "20", "25", "30");
    assert.equal(ownersChanged(from, to, 20, 1), false);
    assert.equal(ownersChanged(from, to, 21, 1), true);
    assert.equal(ownersChanged(from, to, 25, 1), true);
    assert.equal(ownersChanged(from, to, 26, 1), false);
    assert.equal(ownersChanged(from, to, 11, 2), true);
    assert.equal(ownersChanged(from, to, 26, 2), false);
    assert.equal(ownersChanged(from, from, 15, 3), false);
  });
});

describe("incoming / outgoing", () => {
  it("merge adjacent ranges that come from the same owners, across 0 too", () => {
    const moves = [
      move(0, 10, ["a"], ["b"]),
      move(10, 20, ["a"], ["b", "c"]),
      move(30, 40, ["a"], ["b"]),
      move(40, TWO_POW_32, ["a"], ["c", "b"]),
    ];
    assert.deepEqual(incoming(moves, "b"), [{ start: 30, end: 20, from: ["a"] }]);
    assert.deepEqual(incoming(moves, "c"), [
      { start: 10, end: 20, from: ["a"] },
      { start: 40, end: TWO_POW_32, from: ["a"] },
    ]);
    assert.deepEqual(outgoing(moves, "a"), [
      { start: 0, end: 10, to: ["b"] },
      { start: 10, end: 20, to: ["b", "c"] },
      { start: 30, end: 40, to: ["b"] },
      { start: 40, end: TWO_POW_32, to: ["c", "b"] },
    ]);
  });
});

describe("rangeContains / rangeSize", () => {
  it("treats [start, end) as half-open, wrapping when end <= start", () => {
    const plain = { start: 5, end: 9 };
    assert.deepEqual(
      [4, 5, 8, 9].map((h) => rangeContains(plain, h)),
      [false, true, true, false],
    );
    assert.equal(rangeSize(plain), 4);
    const whole = { start: 0, end: TWO_POW_32 };
    assert.ok(rangeContains(whole, 0) && rangeContains(whole, 0xffffffff));
    assert.equal(rangeSize(whole), TWO_POW_32);
    const top = { start: 0xfffffff0, end: TWO_POW_32 };
    assert.ok(rangeContains(top, 0xffffffff) && !rangeContains(top, 0));
    const wrap = { start: 0xfffffff0, end: 3 };
    assert.deepEqual(
      [0xffffffef, 0xfffffff0, 0xffffffff, 0, 2, 3].map((h) => rangeContains(wrap, h)),
      [false, true, true, true, true, false],
    );
    assert.equal(rangeSize(wrap), 16 + 3);
    assert.ok(rangeContains(wrap, -1), "a negative int32 is its uint32 value");
  });
});

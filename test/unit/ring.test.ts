import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { hashKey } from "../../src/ring/hash.js";
import { DEFAULT_VNODES, Ring, type Member } from "../../src/ring/ring.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string): Uint8Array => encoder.encode(s);
const TWO_POW_32 = 2 ** 32;

/**
 * A hash that lets the tests place points by hand (groupcache's trick): the vnode string
 * "<n>#<i>" lands at n + i, and a key "<n>" at n.
 */
function byHand(bytes: Uint8Array): number {
  const s = decoder.decode(bytes);
  const sep = s.indexOf("#");
  if (sep < 0) return Number(s) >>> 0;
  return (Number(s.slice(0, sep)) + Number(s.slice(sep + 1))) >>> 0;
}

/** A hash from a table, for collisions. */
function table(positions: Record<string, number>): (bytes: Uint8Array) => number {
  return (bytes) => {
    const p = positions[decoder.decode(bytes)];
    if (p === undefined) throw new Error(`no position for ${decoder.decode(bytes)}`);
    return p;
  };
}

const ids = (...xs: string[]): Member[] => xs.map((id) => ({ id }));

describe("Ring, points placed by hand", () => {
  const ring = Ring.of(ids("30", "10", "20"), { vnodes: 1, hash: byHand });

  it("places vnode i of a member at hash(`<id>#<i>`)", () => {
    assert.deepEqual([...ring.positions()], [10, 20, 30]);
    const two = Ring.of(ids("10", "20"), { vnodes: 2, hash: byHand });
    assert.deepEqual([...two.positions()], [10, 11, 20, 21]);
  });

  it("gives a hash to the first point at or after it", () => {
    const cases: [string, string][] = [
      ["0", "10"],
      ["9", "10"],
      ["10", "10"],
      ["11", "20"],
      ["20", "20"],
      ["21", "30"],
      ["30", "30"],
    ];
    for (const [key, owner] of cases) {
      assert.deepEqual(ring.owners(text(key), 1), [owner], `key ${key}`);
      assert.equal(ring.primaryOfHash(Number(key)), owner, `hash ${key}`);
    }
  });

  it("wraps past the last point to the first", () => {
    assert.deepEqual(ring.owners(text("31"), 1), ["10"]);
    assert.equal(ring.primaryOfHash(0xffffffff), "10");
    assert.deepEqual(ring.ownersOfHash(0xffffffff, 3), ["10", "20", "30"]);
    assert.deepEqual(ring.ownersOfHash(25, 3), ["30", "10", "20"]);
  });

  it("takes a negative int32 hash as its uint32 value", () => {
    assert.equal(ring.primaryOfHash(-1), "10"); // 0xffffffff
    assert.deepEqual(ring.ownersOfHash(-1, 2), ["10", "20"]);
  });

  it("lists the first r distinct members clockwise, skipping repeats", () => {
    const two = Ring.of(ids("10", "20"), { vnodes: 2, hash: byHand }); // 10 11 20 21
    assert.deepEqual(two.ownersOfHash(5, 2), ["10", "20"]);
    assert.deepEqual(two.ownersOfHash(11, 2), ["10", "20"]);
    assert.deepEqual(two.ownersOfHash(12, 2), ["20", "10"]);
    assert.deepEqual(two.ownersOfHash(22, 2), ["10", "20"]);
  });

  it("returns fewer owners when r exceeds the members, none for r <= 0", () => {
    assert.deepEqual(ring.ownersOfHash(15, 5), ["20", "30", "10"]);
    assert.deepEqual(ring.ownersOfHash(15, 0), []);
    assert.deepEqual(ring.ownersOfHash(15, -1), []);
  });

  it("writes owners into a caller's array and says how many", () => {
    const out = ["x", "y", "z"];
    assert.equal(ring.ownerIdsInto(15, 2, out), 2);
    assert.deepEqual(out, ["20", "30", "z"]);
    assert.equal(ring.ownerIdsInto(31, 1, out), 1);
    assert.deepEqual(out, ["10", "30", "z"]);
  });

  it("measures each member's share of the hash space", () => {
    const shares = ring.shares();
    assert.equal(shares.get("10"), (TWO_POW_32 - 30 + 10) / TWO_POW_32);
    assert.equal(shares.get("20"), 10 / TWO_POW_32);
    assert.equal(shares.get("30"), 10 / TWO_POW_32);
  });

  it("routes keys with the injected hash", () => {
    assert.equal(ring.hashOf(text("15")), 15);
  });
});

describe("Ring, equal positions", () => {
  const hash = table({ "b#0": 100, "a#0": 100, "c#0": 50 });

  it("orders members on one position by id, whatever the insertion order", () => {
    for (const members of [ids("a", "b", "c"), ids("c", "b", "a"), ids("b", "c", "a")]) {
      const ring = Ring.of(members, { vnodes: 1, hash });
      assert.deepEqual([...ring.positions()], [50, 100, 100]);
      assert.equal(ring.primaryOfHash(100), "a");
      assert.deepEqual(ring.ownersOfHash(60, 2), ["a", "b"]);
      assert.deepEqual(ring.ownersOfHash(101, 3), ["c", "a", "b"]);
      assert.equal(ring.shares().get("b"), 0);
    }
  });
});

describe("Ring membership", () => {
  it("keeps members in id order with their weights", () => {
    const ring = Ring.of([{ id: "b", weight: 2 }, { id: "a" }], { vnodes: 8 });
    assert.deepEqual(ring.members, [
      { id: "a", weight: 1 },
      { id: "b", weight: 2 },
    ]);
    assert.equal(ring.size, 2);
    assert.equal(ring.points, 24);
    assert.equal(ring.vnodes, 8);
  });

  it("scales the vnode count by weight, at least one point each", () => {
    const hash = byHand;
    assert.deepEqual(
      [...Ring.of([{ id: "10", weight: 2 }, { id: "20" }], { vnodes: 1, hash }).positions()],
      [10, 11, 20],
    );
    assert.equal(Ring.of([{ id: "a", weight: 1.5 }], { vnodes: 10 }).points, 15);
    assert.equal(Ring.of([{ id: "a", weight: 0.001 }], { vnodes: 10 }).points, 1);
  });

  it("gives a heavier member a proportionally larger share", () => {
    const shares = Ring.of([{ id: "a1" }, { id: "a2", weight: 3 }]).shares();
    assert.ok(Math.abs(shares.get("a1")! / 0.25 - 1) < 0.1, String(shares.get("a1")));
    assert.ok(Math.abs(shares.get("a2")! / 0.75 - 1) < 0.1, String(shares.get("a2")));
  });

  it("defaults to DEFAULT_VNODES points per member and to hashKey", () => {
    const ring = Ring.of(ids("a1", "a2", "a3"));
    assert.equal(ring.vnodes, DEFAULT_VNODES);
    assert.equal(ring.points, 3 * DEFAULT_VNODES);
    const positions = new Set(ring.positions());
    for (const vnode of ["a1#0", "a2#17", `a3#${DEFAULT_VNODES - 1}`]) {
      assert.ok(positions.has(hashKey(text(vnode))), vnode);
    }
    assert.ok(!positions.has(hashKey(text(`a3#${DEFAULT_VNODES}`))));
    const key = text("user:1001");
    assert.deepEqual(ring.owners(key, 2), ring.ownersOfHash(hashKey(key), 2));
  });

  it("has an empty form that owns nothing", () => {
    const ring = Ring.of([]);
    assert.deepEqual(ring.owners(text("k"), 2), []);
    assert.equal(ring.primaryOfHash(123), undefined);
    assert.equal(ring.ownerIdsInto(123, 2, []), 0);
    assert.equal(ring.shares().size, 0);
    assert.equal(ring.size, 0);
    assert.match(ring.epoch, /^[0-9a-f]{16}$/);
  });

  it("adds, reweights and removes members, leaving the original as it was", () => {
    const base = Ring.of(ids("a", "b"), { vnodes: 16 });
    const added = base.with({ id: "c" });
    assert.deepEqual(
      added.members.map((m) => m.id),
      ["a", "b", "c"],
    );
    assert.equal(added.vnodes, 16);
    const heavier = added.with({ id: "b", weight: 2 });
    assert.deepEqual(heavier.members[1], { id: "b", weight: 2 });
    assert.equal(heavier.points, 64);
    const back = heavier.without("c").with({ id: "b" });
    assert.equal(back.epoch, base.epoch);
    assert.deepEqual(back.positions(), base.positions());
    assert.equal(base.without("zz"), base);
    assert.equal(base.size, 2);
  });

  it("rejects members and options it cannot place", () => {
    assert.throws(() => Ring.of(ids("a", "a")), {
      name: "RangeError",
      message: /"a" appears twice/,
    });
    assert.throws(() => Ring.of(ids("")), /non-empty string/);
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => Ring.of([{ id: "a", weight }]), /weight must be a finite number > 0/);
    }
    for (const vnodes of [0, 1.5, -3, Number.NaN]) {
      assert.throws(() => Ring.of(ids("a"), { vnodes }), /vnodes must be a positive integer/);
    }
    assert.throws(() => Ring.of([{ id: "a", weight: 1e9 }], { vnodes: 1000 }), /points .* at most/);
  });
});

describe("Ring epoch", () => {
  const base = Ring.of(ids("a1", "a2", "a3"), { vnodes: 64 });

  it("is pinned for a known member set (same build, same routing)", () => {
    assert.equal(Ring.of(ids("a1", "a2", "a3")).epoch, "e7c5f8af8227b027");
  });

  it("does not depend on the order members were given in", () => {
    assert.equal(Ring.of(ids("a3", "a1", "a2"), { vnodes: 64 }).epoch, base.epoch);
    assert.equal(
      Ring.of([{ id: "a2", weight: 1 }, { id: "a3" }, { id: "a1" }], { vnodes: 64 }).epoch,
      base.epoch,
    );
  });

  it("changes with any member, weight or vnodes change", () => {
    const variants = [
      Ring.of(ids("a1", "a2"), { vnodes: 64 }),
      Ring.of(ids("a1", "a2", "a3", "a4"), { vnodes: 64 }),
      Ring.of(ids("a1", "a2", "a4"), { vnodes: 64 }),
      Ring.of([{ id: "a1" }, { id: "a2" }, { id: "a3", weight: 2 }], { vnodes: 64 }),
      Ring.of([{ id: "a1" }, { id: "a2" }, { id: "a3", weight: 1.0001 }], { vnodes: 64 }),
      Ring.of(ids("a1", "a2", "a3"), { vnodes: 65 }),
      Ring.of(ids("a1", "a2", "a3 "), { vnodes: 64 }),
      Ring.of([]),
    ];
    const epochs = new Set([base.epoch, ...variants.map((r) => r.epoch)]);
    assert.equal(epochs.size, variants.length + 1);
  });
});

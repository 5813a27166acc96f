import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Random } from "../../src/loadgen/random.js";
import { OP_GET, OP_SET, Workload, writeDecimal } from "../../src/loadgen/workload.js";
import { ZipfSampler } from "../../src/loadgen/zipf.js";

/** Pearson's chi-square statistic of observed counts against expected probabilities. */
function chiSquare(observed: ArrayLike<number>, probabilities: ArrayLike<number>, total: number) {
  let chi = 0;
  for (let i = 0; i < observed.length; i++) {
    const expected = (probabilities[i] ?? 0) * total;
    chi += ((observed[i] ?? 0) - expected) ** 2 / expected;
  }
  return chi;
}

describe("Random", () => {
  it("is reproducible from its seed and differs between seeds", () => {
    const a = new Random(42);
    const b = new Random(42);
    const c = new Random(43);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    const seqB = Array.from({ length: 8 }, () => b.nextUint32());
    const seqC = Array.from({ length: 8 }, () => c.nextUint32());
    assert.deepEqual(seqA, seqB);
    assert.notDeepEqual(seqA, seqC);
  });

  it("draws uniform floats in [0, 1) and integers in [0, n)", () => {
    const random = new Random(7);
    const buckets = new Float64Array(20);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) {
      const x = random.next();
      assert.ok(x >= 0 && x < 1);
      const k = random.nextInt(20);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 20);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    // 19 degrees of freedom: 43.8 is the 0.1% critical value.
    const chi = chiSquare(buckets, new Float64Array(20).fill(1 / 20), draws);
    assert.ok(chi < 43.8, `chi-square ${chi.toFixed(1)} says nextInt is not uniform`);
    // Beyond 2^32 the full 53-bit draw is used.
    const big = 2 ** 40;
    for (let i = 0; i < 1000; i++) {
      const k = random.nextInt(big);
      assert.ok(Number.isInteger(k) && k >= 0 && k < big);
    }
  });
});

describe("ZipfSampler", () => {
  for (const skew of [0.5, 0.99, 1, 1.5]) {
    it(`matches the exact Zipf probabilities (N=50, s=${skew})`, () => {
      const size = 50;
      const draws = 200_000;
      const sampler = new ZipfSampler(size, skew, new Random(1234));
      const counts = new Float64Array(size);
      for (let i = 0; i < draws; i++) {
        const rank = sampler.sample();
        assert.ok(Number.isInteger(rank) && rank >= 0 && rank < size, `rank ${rank}`);
        counts[rank] = (counts[rank] ?? 0) + 1;
      }
      const p = ZipfSampler.probabilities(size, skew);
      // 49 degrees of freedom: 85.4 is the 0.1% critical value.
      const chi = chiSquare(counts, p, draws);
      assert.ok(chi < 85.4, `chi-square ${chi.toFixed(1)} for s=${skew}`);
      // The head of the distribution, directly: rank 1 is 2^s times as frequent as rank 2.
      const ratio = (counts[0] ?? 0) / (counts[1] ?? 1);
      assert.ok(Math.abs(ratio / 2 ** skew - 1) < 0.05, `rank 1 / rank 2 = ${ratio.toFixed(3)}`);
    });
  }

  it("handles very large key spaces without tables, hot keys first", () => {
    const size = 1e12;
    const sampler = new ZipfSampler(size, 0.99, new Random(99));
    let top10 = 0;
    for (let i = 0; i < 50_000; i++) {
      const rank = sampler.sample();
      assert.ok(rank >= 0 && rank < size && Number.isInteger(rank));
      if (rank < 10) top10++;
    }
    // With s = 0.99 over 10^12 keys the ten hottest still take roughly 10% of draws.
    assert.ok(top10 > 2_500 && top10 < 10_000, `top 10 keys got ${top10} of 50000`);
  });

  it("refuses bad parameters", () => {
    assert.throws(() => new ZipfSampler(0, 1, new Random(1)), RangeError);
    assert.throws(() => new ZipfSampler(10, 0, new Random(1)), RangeError);
    assert.throws(() => new ZipfSampler(10, Number.NaN, new Random(1)), RangeError);
  });
});

describe("Workload", () => {
  const base = {
    keyspace: 1000,
    keyPrefix: "key:",
    distribution: "uniform" as const,
    zipfSkew: 0.99,
    readRatio: 0.9,
    valueSizeMin: 100,
    valueSizeMax: 100,
  };

  it("names keys like redis-benchmark: prefix and 12 zero-padded digits", () => {
    const w = new Workload(base, new Random(1));
    assert.equal(w.keyLength, 16);
    assert.equal(w.keyString(42), "key:000000000042");
    assert.equal(w.keyString(999_999_999_999), "key:999999999999");
    const buf = Buffer.alloc(20, "#");
    assert.equal(w.writeKey(buf, 2, 7), 18);
    assert.equal(buf.toString("latin1"), "##key:000000000007##");
    const custom = new Workload({ ...base, keyPrefix: "" }, new Random(1));
    assert.equal(custom.keyString(5), "000000000005");
  });

  it("mixes reads and writes by the read ratio", () => {
    for (const readRatio of [0, 0.25, 0.9, 1]) {
      const w = new Workload({ ...base, readRatio }, new Random(5));
      let reads = 0;
      const draws = 40_000;
      for (let i = 0; i < draws; i++) if (w.nextOp() === OP_GET) reads++;
      if (readRatio === 0 || readRatio === 1) assert.equal(reads, readRatio * draws);
      else
        assert.ok(Math.abs(reads / draws - readRatio) < 0.01, `${reads / draws} vs ${readRatio}`);
    }
    assert.notEqual(OP_GET, OP_SET);
  });

  it("draws value sizes over the whole range and keys over the whole key space", () => {
    const w = new Workload(
      { ...base, keyspace: 10, valueSizeMin: 64, valueSizeMax: 67 },
      new Random(3),
    );
    const sizes = new Set<number>();
    const keys = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      sizes.add(w.nextValueSize());
      keys.add(w.nextKey());
    }
    assert.deepEqual([...sizes].sort(), [64, 65, 66, 67]);
    assert.deepEqual(
      [...keys].sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const buf = Buffer.alloc(70);
    assert.equal(w.writeValue(buf, 3, 66), 69);
    assert.equal(buf.subarray(3, 69).toString(), "x".repeat(66));
  });

  it("writes decimals", () => {
    const buf = Buffer.alloc(16);
    for (const n of [0, 7, 10, 99, 100, 123_456_789, 2 ** 40]) {
      const end = writeDecimal(buf, 1, n);
      assert.equal(buf.toString("latin1", 1, end), String(n));
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CLOCK_EPOCH_MS, HybridClock, versionTimeMs } from "../../src/clock/hlc.js";

describe("HybridClock", () => {
  it("issues strictly increasing versions, even when the wall clock stands still", () => {
    const clock = new HybridClock(3, () => CLOCK_EPOCH_MS + 1000);
    let last = -1;
    for (let i = 0; i < 10_000; i++) {
      const v = clock.next();
      assert.ok(v > last, `version ${v} not above ${last}`);
      assert.equal(v % 16, 3);
      last = v;
    }
    assert.ok(Number.isSafeInteger(last));
  });

  it("never runs backwards when the wall clock does", () => {
    let now = CLOCK_EPOCH_MS + 50_000;
    const clock = new HybridClock(0, () => now);
    const a = clock.next();
    now -= 10_000;
    const b = clock.next();
    assert.ok(b > a);
  });

  it("issues versions above anything it observed", () => {
    const slow = new HybridClock(1, () => CLOCK_EPOCH_MS + 1000);
    const fast = new HybridClock(2, () => CLOCK_EPOCH_MS + 9000);
    const remote = fast.next();
    assert.ok(slow.next() < remote);
    slow.observe(remote);
    assert.ok(slow.next() > remote);
  });

  it("breaks ties between masters by tag", () => {
    const now = () => CLOCK_EPOCH_MS + 5;
    const a = new HybridClock(4, now).next();
    const b = new HybridClock(5, now).next();
    assert.notEqual(a, b);
    assert.equal(versionTimeMs(a), CLOCK_EPOCH_MS + 5);
  });

  it("stays within 2^53 for centuries' worth of milliseconds it will meet", () => {
    const clock = new HybridClock(15, () => Date.UTC(2090, 0, 1));
    assert.ok(Number.isSafeInteger(clock.next()));
  });

  it("ignores versions that are not safe integers", () => {
    const clock = new HybridClock(0, () => CLOCK_EPOCH_MS + 10);
    clock.observe(Number.NaN);
    clock.observe(-5);
    assert.equal(versionTimeMs(clock.next()), CLOCK_EPOCH_MS + 10);
  });

  it("rejects a tag outside 0..15", () => {
    assert.throws(() => new HybridClock(16), /clock tag/);
  });
});

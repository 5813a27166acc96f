import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HealthState } from "../../src/master/health.js";

describe("HealthState", () => {
  it("starts unknown, out of the ring, and comes up on the first success", () => {
    const h = new HealthState(3, 0);
    assert.equal(h.state, "unknown");
    assert.equal(h.inRing, false);
    assert.equal(h.success(10), "unknown");
    assert.equal(h.state, "up");
    assert.equal(h.inRing, true);
    assert.equal(h.since, 10);
    assert.equal(h.success(20), undefined, "no change when already up");
  });

  it("goes suspect on a failure and down after K consecutive failures", () => {
    const h = new HealthState(3, 0);
    h.success(0);
    assert.equal(h.failure(1, "timeout"), "up");
    assert.equal(h.state, "suspect");
    assert.equal(h.inRing, true, "a suspect node stays in the ring");
    assert.equal(h.failure(2, "timeout"), undefined);
    assert.equal(h.failures, 2);
    assert.equal(h.failure(3, "timeout"), "suspect");
    assert.equal(h.state, "down");
    assert.equal(h.inRing, false);
    assert.equal(h.lastError, "timeout");
    assert.equal(h.failure(4, "timeout"), undefined, "stays down");
  });

  it("forgets failures on a success", () => {
    const h = new HealthState(3, 0);
    h.success(0);
    h.failure(1, "x");
    h.failure(2, "x");
    assert.equal(h.success(3), "suspect");
    assert.equal(h.failures, 0);
    h.failure(4, "x");
    h.failure(5, "x");
    assert.equal(h.state, "suspect", "two failures after the success are not three");
  });

  it("goes down at once when the connection is refused", () => {
    const h = new HealthState(5, 0);
    h.success(0);
    assert.equal(h.failure(1, "ECONNREFUSED", true), "up");
    assert.equal(h.state, "down");
    const fresh = new HealthState(5, 0);
    assert.equal(fresh.failure(1, "ECONNREFUSED", true), "unknown");
    assert.equal(fresh.state, "down");
  });

  it("takes an unknown node down after K failures without passing through suspect", () => {
    const h = new HealthState(2, 0);
    assert.equal(h.failure(1, "x"), undefined);
    assert.equal(h.state, "unknown");
    assert.equal(h.failure(2, "x"), "unknown");
    assert.equal(h.state, "down");
    assert.equal(h.success(3), "down");
    assert.equal(h.state, "up");
  });

  it("with K = 1 a single failure is down", () => {
    const h = new HealthState(1, 0);
    h.success(0);
    assert.equal(h.failure(1, "x"), "up");
    assert.equal(h.state, "down");
  });

  it("refuses a nonsense threshold", () => {
    assert.throws(() => new HealthState(0, 0), RangeError);
  });
});

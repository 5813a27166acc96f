// The per-address limiter of wrong secrets, on a hand-driven clock.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthLimiter, DROP } from "../../src/server/auth-limiter.js";

function limiter(options: ConstructorParameters<typeof AuthLimiter>[0] = {}) {
  const clock = { now: 1_000_000 };
  const l = new AuthLimiter({ stepMs: 100, maxDelayMs: 500, ...options, now: () => clock.now });
  return { l, clock };
}

describe("AuthLimiter", () => {
  it("spaces out wrong answers to one address, n x step after the previous one, capped", () => {
    const { l } = limiter();
    // All at one instant (a pipeline, or many connections): due at 100, 300, 600, 1000, 1500,
    // then every 500 ms (the cap).
    assert.deepEqual(
      Array.from({ length: 7 }, () => l.failure("10.0.0.1")),
      [100, 300, 600, 1000, 1500, 2000, 2500],
    );
  });

  it("keeps the count when the same address comes back (a new connection)", () => {
    const { l, clock } = limiter();
    l.failure("10.0.0.1");
    l.failure("10.0.0.1");
    clock.now += 5000; // both answered long ago
    assert.equal(l.failure("10.0.0.1"), 300);
    // Another address starts at the first step; an IPv4 address seen as IPv6 is the same one.
    assert.equal(l.failure("10.0.0.2"), 100);
    assert.equal(l.failure("::ffff:10.0.0.2"), 300);
  });

  it("forgets an address quiet for longer than forgetAfterMs", () => {
    const { l, clock } = limiter({ forgetAfterMs: 60_000 });
    for (let i = 0; i < 5; i++) l.failure("10.0.0.1");
    clock.now += 60_001;
    assert.equal(l.failure("10.0.0.1"), 100);
  });

  it("drops attempts past the backlog instead of queueing more answers", () => {
    const { l } = limiter({ maxBacklogMs: 1000 });
    assert.deepEqual(
      Array.from({ length: 5 }, () => l.failure("10.0.0.1")),
      [100, 300, 600, 1000, DROP],
    );
    assert.equal(l.dropped, 1);
  });

  it("remembers at most maxAddresses, forgetting the least recently failed", () => {
    const { l } = limiter({ maxAddresses: 3 });
    for (const a of ["a", "b", "c"]) l.failure(a);
    l.failure("a"); // a is now the most recent
    l.failure("d"); // evicts b
    assert.equal(l.size, 3);
    assert.equal(l.failure("b"), 100); // b starts over
    assert.ok(l.failure("a") > 100); // a kept its count
  });
});

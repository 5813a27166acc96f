import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ERRORS, RingcacheError, toRingcacheError } from "../../src/errors.js";

describe("error catalogue", () => {
  it("maps a code to its RESP prefix and HTTP status", () => {
    const err = new RingcacheError(
      "OUT_OF_MEMORY",
      "command not allowed when used memory > 'maxmemory'.",
    );
    assert.equal(err.respLine, "OOM command not allowed when used memory > 'maxmemory'.");
    assert.equal(err.httpStatus, 507);
  });

  it("wraps foreign errors as INTERNAL, keeping the cause", () => {
    const cause = new TypeError("boom");
    const err = toRingcacheError(cause);
    assert.equal(err.code, "INTERNAL");
    assert.equal(err.cause, cause);
    assert.equal(toRingcacheError(err), err);
  });

  it("uses RESP prefixes that are single words", () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.match(spec.resp, /^[A-Z]+$/, code);
      assert.ok(spec.http >= 400 && spec.http < 600, code);
    }
  });
});

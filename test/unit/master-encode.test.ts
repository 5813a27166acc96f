// The master's hot-path encoders must write exactly what the shared contract writes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { delCommand, putCommand } from "../../src/master/encode.js";
import { encodeDel, encodePut } from "../../src/protocol/internal.js";
import { RespWriter } from "../../src/protocol/resp/index.js";

const version = fc.oneof(
  fc.constantFrom(1, 9, 10, 99, 100, 999_999_999, 1_000_000_000, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
);
const expiry = fc.oneof(fc.constant(0), version);

describe("master encoders", () => {
  it("putCommand writes what encodePut writes", () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), version, expiry, (key, value, v, e) => {
        const a = new RespWriter();
        const b = new RespWriter();
        putCommand(a, key, value, v, e);
        encodePut(b, key, value, v, e);
        assert.deepEqual(a.take(), b.take());
      }),
      { numRuns: 2000 },
    );
  });

  it("delCommand writes what encodeDel writes", () => {
    fc.assert(
      fc.property(fc.uint8Array(), version, (key, v) => {
        const a = new RespWriter();
        const b = new RespWriter();
        delCommand(a, key, v);
        encodeDel(b, key, v);
        assert.deepEqual(a.take(), b.take());
      }),
      { numRuns: 2000 },
    );
  });
});

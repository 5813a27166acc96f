// The master's hot-path encoders must write exactly what the shared contract writes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { delCommand, mputFrame, putCommand, putEntry, putFrame } from "../../src/master/encode.js";
import { encodeDel, encodeMPut, encodePut } from "../../src/protocol/internal.js";
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

  it("putFrame and mputFrame around putEntry write what encodePut and encodeMPut write", () => {
    const entry = fc.record({
      key: fc.uint8Array(),
      value: fc.uint8Array(),
      version,
      expiresAt: expiry,
    });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), (entries) => {
        const body = new RespWriter();
        for (const e of entries) putEntry(body, e.key, e.value, e.version, e.expiresAt);
        const a = new RespWriter();
        const b = new RespWriter();
        if (entries.length === 1) {
          const e = entries[0] as (typeof entries)[number];
          putFrame(a, body.take());
          encodePut(b, e.key, e.value, e.version, e.expiresAt);
        } else {
          mputFrame(a, entries.length, body.take());
          encodeMPut(b, entries);
        }
        assert.deepEqual(a.take(), b.take());
      }),
      { numRuns: 500 },
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

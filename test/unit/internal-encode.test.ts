// The internal encoders write their commands' fixed parts from precomputed bytes: they must write
// exactly the RESP array of bulks the command is (docs/design.md, "Master ↔ auxiliary protocol").
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  encodeDel,
  encodeMPut,
  encodeMPutFrame,
  encodePut,
  encodePutEntry,
  encodePutFrame,
} from "../../src/protocol/internal/index.js";
import { RespWriter } from "../../src/protocol/resp/index.js";

const version = fc.oneof(
  fc.constantFrom(1, 9, 10, 99, 100, 999_999_999, 1_000_000_000, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
);
const expiry = fc.oneof(fc.constant(0), version);

/** The command as a plain RESP array of bulks, numbers in decimal. */
function command(...args: (string | number | Uint8Array)[]): Buffer {
  const w = new RespWriter();
  w.arrayHeader(args.length);
  for (const a of args) w.bulk(typeof a === "number" ? Buffer.from(String(a)) : Buffer.from(a));
  return w.take();
}

interface Entry {
  key: Uint8Array;
  value: Uint8Array;
  version: number;
  expiresAt: number;
}

describe("internal encoders", () => {
  it("encodePut writes RC.PUT key value version expiresAt", () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), version, expiry, (key, value, v, e) => {
        const a = new RespWriter();
        encodePut(a, key, value, v, e);
        assert.deepEqual(a.take(), command("RC.PUT", key, value, v, e));
      }),
      { numRuns: 2000 },
    );
  });

  it("encodePutFrame and encodeMPutFrame around encodePutEntry write RC.PUT and RC.MPUT", () => {
    const entry = fc.record({
      key: fc.uint8Array(),
      value: fc.uint8Array(),
      version,
      expiresAt: expiry,
    });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 40 }), (entries: Entry[]) => {
        const body = new RespWriter();
        for (const e of entries) encodePutEntry(body, e.key, e.value, e.version, e.expiresAt);
        const framed = new RespWriter();
        const whole = new RespWriter();
        const flat = entries.flatMap((e) => [e.key, e.value, e.version, e.expiresAt]);
        if (entries.length === 1) {
          encodePutFrame(framed, body.take());
          assert.deepEqual(framed.take(), command("RC.PUT", ...flat));
        } else {
          encodeMPutFrame(framed, entries.length, body.take());
          encodeMPut(whole, entries);
          const expected = command("RC.MPUT", entries.length, ...flat);
          assert.deepEqual(framed.take(), expected);
          assert.deepEqual(whole.take(), expected);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("encodeDel writes RC.DEL key version", () => {
    fc.assert(
      fc.property(fc.uint8Array(), version, (key, v) => {
        const a = new RespWriter();
        encodeDel(a, key, v);
        assert.deepEqual(a.take(), command("RC.DEL", key, v));
      }),
      { numRuns: 2000 },
    );
  });
});

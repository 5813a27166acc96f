// Redis's integer grammar (src/redis/integers.ts) against its definition: an argument is an
// integer exactly when it is the canonical decimal spelling of a value in the int64 range.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { INT64_MAX, INT64_MIN, parseInt64, parseSmallInt } from "../../src/redis/integers.js";

/** The definition: canonical decimal text (what BigInt prints) of an int64. */
function expected(text: string): bigint | null {
  if (!/^-?[0-9]+$/.test(text)) return null;
  const value = BigInt(text);
  if (value.toString() !== text) return null; // leading zeros, "-0"
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

const parse = (text: string): bigint | null => parseInt64(Buffer.from(text, "latin1"));

describe("parseInt64 (property)", () => {
  it("reads back every int64 it is given in canonical form", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: INT64_MIN, max: INT64_MAX }), (n) => {
        assert.equal(parse(n.toString()), n);
      }),
      { numRuns: 2000 },
    );
  });

  it("refuses values just past the range, whatever their size", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 21n }), (d) => {
        assert.equal(parse((INT64_MAX + d).toString()), null);
        assert.equal(parse((INT64_MIN - d).toString()), null);
      }),
    );
  });

  it("agrees with the definition on any short text of digits, signs and noise", () => {
    const char = fc.constantFrom(..."0123456789-+ .xe\0".split(""));
    fc.assert(
      fc.property(fc.array(char, { maxLength: 22 }), (chars) => {
        const text = chars.join("");
        assert.equal(parse(text), expected(text), JSON.stringify(text));
      }),
      { numRuns: 5000 },
    );
  });

  it("reads the same short integers as numbers (parseSmallInt), and nothing longer", () => {
    const char = fc.constantFrom(..."0123456789-+ .x".split(""));
    fc.assert(
      fc.property(fc.array(char, { maxLength: 18 }), (chars) => {
        const text = chars.join("");
        const big = expected(text);
        const digits = text.replace(/^-/, "").length;
        const want = big === null || digits > 15 ? null : Number(big);
        assert.equal(parseSmallInt(Buffer.from(text, "latin1")), want, JSON.stringify(text));
      }),
      { numRuns: 5000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: -(10 ** 15) + 1, max: 10 ** 15 - 1 }), (n) => {
        assert.equal(parseSmallInt(Buffer.from(String(n))), n);
      }),
    );
  });

  it("agrees with the definition on long digit strings around the int64 edges", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.stringMatching(/^[0-9]{17,21}$/), (negative, digits) => {
        const text = (negative ? "-" : "") + digits;
        assert.equal(parse(text), expected(text), text);
      }),
    );
  });
});

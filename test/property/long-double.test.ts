// INCRBYFLOAT's 80-bit arithmetic (src/redis/long-double.ts) against redis-server 7.0 itself:
// random pairs of numbers (decimal and hexadecimal, tiny and huge, exact ties, junk) stored and
// incremented on a real server, whose replies ours must equal byte for byte.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { RespWriter } from "../../src/protocol/resp/index.js";
import { incrByFloat, parseLongDouble } from "../../src/redis/long-double.js";
import { rawReplies } from "../helpers/raw-resp.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";

const digits = (min: number, max: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(..."0123456789"), minLength: min, maxLength: max });

/** Decimal spellings: signs, points, exponents near the 80-bit range's ends. */
const decimal: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom("", "", "-", "+"),
    digits(0, 24),
    fc.option(digits(0, 24), { nil: undefined }),
    fc.option(
      fc.tuple(
        fc.constantFrom("e", "E"),
        fc.constantFrom("", "-", "+"),
        fc.oneof(
          fc.integer({ min: 0, max: 40 }),
          fc.integer({ min: 300, max: 330 }),
          fc.integer({ min: 4925, max: 4965 }),
        ),
      ),
      { nil: undefined },
    ),
  )
  .map(([sign, int, frac, exp]) => {
    let text = sign + int;
    if (frac !== undefined) text += `.${frac}`;
    if (exp !== undefined) text += `${exp[0]}${exp[1]}${exp[2]}`;
    return text;
  });

/** Binary fractions: exact values whose 18th decimal is a tie, and hexadecimal spellings. */
const binary: fc.Arbitrary<string> = fc.oneof(
  fc
    .tuple(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.integer({ min: 0, max: 70 }))
    .map(([m, s]) => {
      // m / 2^s written out exactly in decimal.
      const neg = m < 0;
      const scaled = BigInt(Math.abs(m)) * 10n ** BigInt(s);
      const q = (scaled >> BigInt(s)).toString().padStart(s + 1, "0");
      const text = s === 0 ? q : `${q.slice(0, q.length - s)}.${q.slice(q.length - s)}`;
      return (neg ? "-" : "") + text;
    }),
  fc
    .tuple(
      fc.constantFrom("", "-"),
      fc.constantFrom("0x", "0X"),
      fc.string({
        unit: fc.constantFrom(..."0123456789abcdefABCDEF"),
        minLength: 1,
        maxLength: 20,
      }),
      fc.option(fc.integer({ min: -16500, max: 16400 }), { nil: undefined }),
    )
    .map(([sign, x, hex, p]) => `${sign}${x}${hex}${p === undefined ? "" : `p${p}`}`),
);

/** What is not quite a number, and the words strtold knows. */
const odd: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "inf",
    "-inf",
    "Infinity",
    "infinit",
    "nan",
    "NaN(1)",
    " 1",
    "1 ",
    "1e",
    "1e+",
    ".",
    "-",
    "0x",
    "0x.p1",
    "0x1p",
    "1.5.2",
    "1e-5000",
    "1e5000",
    "0e99999",
    "1e-4951",
    "1e-4952",
    "3.6451995318824746025e-4951",
    "1.18973149535723176502e+4932",
    "1.18973149535723176508e+4932",
  ),
  fc.string({ unit: fc.constantFrom(..."0123456789.-+eExXpP abc\t"), maxLength: 12 }),
);

const number = fc.oneof(
  { weight: 5, arbitrary: decimal },
  { weight: 3, arbitrary: binary },
  { weight: 1, arbitrary: odd },
);

/** The reply ours gives for INCRBYFLOAT of `incr` on a key holding `current`. */
function ours(current: string | null, incr: string): Buffer {
  const w = new RespWriter();
  try {
    const text = incrByFloat(
      current === null ? null : Buffer.from(current, "latin1"),
      Buffer.from(incr, "latin1"),
    );
    w.bulkString(text);
  } catch (err) {
    w.error(`ERR ${(err as Error).message}`);
  }
  return w.take();
}

describe(
  "INCRBYFLOAT's long double arithmetic against redis-server",
  {
    skip: skipUnless("redis-server"),
  },
  () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedisServer();
    });
    after(async () => {
      await redis.stop();
    });

    it("gives Redis's reply for any stored value and increment", async () => {
      const pair = fc.tuple(fc.option(number, { nil: null, freq: 4 }), number);
      await fc.assert(
        fc.asyncProperty(fc.array(pair, { minLength: 1, maxLength: 40 }), async (pairs) => {
          const script: string[][] = [];
          for (const [current, incr] of pairs) {
            script.push(current === null ? ["DEL", "k"] : ["SET", "k", current]);
            script.push(["INCRBYFLOAT", "k", incr]);
          }
          const replies = await rawReplies(redis.port, script);
          pairs.forEach(([current, incr], i) => {
            const expected = replies[i * 2 + 1] as Buffer;
            assert.equal(
              ours(current, incr).toString("latin1"),
              expected.toString("latin1"),
              `SET k ${JSON.stringify(current)}; INCRBYFLOAT k ${JSON.stringify(incr)}`,
            );
          });
        }),
        { numRuns: 150 },
      );
    });

    it("keeps agreeing along a chain of increments on one key", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(number, { minLength: 1, maxLength: 30 }), async (incrs) => {
          const script = [["DEL", "c"], ...incrs.map((x) => ["INCRBYFLOAT", "c", x])];
          const replies = await rawReplies(redis.port, script);
          let current: string | null = null;
          incrs.forEach((incr, i) => {
            const mine = ours(current, incr);
            assert.equal(
              mine.toString("latin1"),
              (replies[i + 1] as Buffer).toString("latin1"),
              `${JSON.stringify(current)} + ${JSON.stringify(incr)}`,
            );
            if (mine[0] === 0x24) current = mine.toString("latin1").split("\r\n")[1] as string;
          });
        }),
        { numRuns: 60 },
      );
    });
  },
);

describe("parseLongDouble", () => {
  it("refuses what strtold does not read whole, and texts of 5120 bytes or more", () => {
    for (const text of [
      "",
      " 1",
      "1\u0000",
      "nan",
      "0x",
      "1e",
      "--1",
      "+-1",
      "1e5000",
      "1e-5000",
    ]) {
      assert.equal(parseLongDouble(Buffer.from(text, "latin1")), null, JSON.stringify(text));
    }
    assert.notEqual(parseLongDouble(Buffer.from(`${"0".repeat(5118)}1`)), null);
    assert.equal(parseLongDouble(Buffer.from(`${"0".repeat(5119)}1`)), null);
    assert.notEqual(parseLongDouble(Buffer.from(`1${"0".repeat(5000)}e-5000`)), null);
  });
});

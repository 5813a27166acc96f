// MATCH patterns against Redis itself: for random patterns over a small alphabet (every
// special byte included), redis-server's KEYS and KeyPattern select the same keys
// (docs/design.md, "SCAN, KEYS and RANDOMKEY").
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { KeyPattern, MAX_PATTERN } from "../../src/redis/pattern.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";

const ALPHABET = [0x61, 0x62, 0x2d, 0x5d, 0x5b, 0x5e, 0x5c, 0x2a, 0x3f, 0xe9, 0x00];
const bytesOf = (max: number): fc.Arbitrary<Buffer> =>
  fc.array(fc.constantFrom(...ALPHABET), { maxLength: max }).map((a) => Buffer.from(a));

describe("KeyPattern against redis-server's KEYS", { skip: skipUnless("redis-server") }, () => {
  let redis: RedisServer;
  let client: RespTestClient;
  let keys: Buffer[];

  before(async () => {
    redis = await startRedisServer();
    client = await RespTestClient.connect(redis.port);
    const unique = new Map<string, Buffer>();
    for (const k of fc.sample(bytesOf(6), { numRuns: 400, seed: 3 })) {
      unique.set(k.toString("hex"), k);
    }
    keys = [...unique.values()];
    await client.pipeline(keys.map((k) => ["SET", k, "v"]));
  });

  after(async () => {
    client?.close();
    await redis?.stop();
  });

  it("selects the same keys for random patterns", async () => {
    const patterns = fc.sample(bytesOf(8), { numRuns: 1500, seed: 11 });
    patterns.push(
      ...["*", "", "a*", "[a-]*", "[]", "[^]", "[^a]*", "\\", "*\\*", "[b-a]?"].map((p) =>
        Buffer.from(p),
      ),
    );
    const replies = await client.pipeline(patterns.map((p) => ["KEYS", p]));
    patterns.forEach((pattern, i) => {
      const reply = replies[i] as Buffer[];
      const expected = reply.map((k) => k.toString("hex")).sort();
      const compiled = new KeyPattern(pattern);
      const actual = keys
        .filter((k) => compiled.matches(k, 0, k.length))
        .map((k) => k.toString("hex"))
        .sort();
      assert.deepEqual(actual, expected, `pattern ${JSON.stringify(pattern.toString("latin1"))}`);
    });
  });

  it("matches a key where it lies in a larger buffer, never past its end", () => {
    const p = new KeyPattern(Buffer.from("a?c"));
    const buf = Buffer.from("xxabcdd");
    assert.equal(p.matches(buf, 2, 3), true);
    assert.equal(p.matches(buf, 2, 2), false);
    assert.equal(new KeyPattern(Buffer.from("ab*")).matches(buf, 2, 2), true);
    assert.equal(new KeyPattern(Buffer.from("*")).matchesAll, true);
    assert.equal(new KeyPattern(Buffer.from("**")).matchesAll, false);
    // Redis's quirk: the empty key matches only "" and "*".
    assert.equal(new KeyPattern(Buffer.from("**")).matches(buf, 0, 0), false);
    assert.equal(new KeyPattern(Buffer.from("*")).matches(buf, 0, 0), true);
    assert.equal(new KeyPattern(Buffer.from("*a")).matchesAll, false);
  });

  it("refuses a pattern past MAX_PATTERN bytes, and compiles one of that size", () => {
    assert.throws(() => new KeyPattern(Buffer.alloc(MAX_PATTERN + 1, 0x5b)), /pattern is longer/);
    const n = Math.floor(MAX_PATTERN / 3);
    const sets = new KeyPattern(Buffer.from("[a]".repeat(n)));
    assert.equal(sets.matches(Buffer.alloc(n, 0x61), 0, n), true);
    assert.equal(sets.matches(Buffer.alloc(n, 0x62), 0, n), false);
  });

  it("takes linear-ish time on a pattern that makes naive recursion explode", () => {
    const key = Buffer.alloc(5000, 0x61);
    const pattern = new KeyPattern(Buffer.from(`${"*a".repeat(50)}b`));
    const started = process.hrtime.bigint();
    assert.equal(pattern.matches(key, 0, key.length), false);
    // No wall-clock bound: finishing at all is the check (naive recursion would not).
    assert.ok(process.hrtime.bigint() > started);
  });
});

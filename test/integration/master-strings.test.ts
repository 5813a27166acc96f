// The string and keyspace commands beyond GET and SET (SETEX, PSETEX, SETNX, GETSET, GETDEL,
// GETEX, APPEND, STRLEN, GETRANGE, SUBSTR, SETRANGE, INCRBYFLOAT, UNLINK, TOUCH, TYPE,
// EXPIRETIME, PEXPIRETIME) through a master in front of three auxiliary nodes (R=2): replies
// byte for byte as redis-server 7.0 gives them, for a script of every case and error and for
// random sequences; atomicity of the read-modify-writes under concurrent clients on two
// masters; and the clients people use.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { Redis } from "ioredis";
import { TestCluster } from "../helpers/cluster.js";
import { scriptLikeRedis } from "../helpers/like-redis.js";
import { diffReplies, pipelined, rawReplies } from "../helpers/raw-resp.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";

const BIN = "a\r\nb\u0000c\u00ff";

// Deterministic replies only: expiries are absolute, or read back with TTL in whole seconds
// right after they are set.
const SCRIPT: string[][] = [
  ["FLUSHALL"],
  // SETEX, PSETEX
  ["SETEX"],
  ["SETEX", "k", "10"],
  ["SETEX", "k", "10", "v", "x"],
  ["SETEX", "k", "0", "v"],
  ["SETEX", "k", "-1", "v"],
  ["SETEX", "k", "x", "v"],
  ["SETEX", "k", "1.5", "v"],
  ["SETEX", "k", "9223372036854775", "v"],
  ["SETEX", "k", "9223372036854775807", "v"],
  ["SETEX", "k", "9223372036854775808", "v"],
  ["SETEX", "k", "100", "v"],
  ["GET", "k"],
  ["TTL", "k"],
  ["PSETEX", "k", "0", "v"],
  ["PSETEX", "k", "-5", "v"],
  ["PSETEX", "k", "9223372036854775807", "v"],
  ["PSETEX", "k", "200000", "v2"],
  ["GET", "k"],
  ["TTL", "k"],
  ["SETEX", "bin", "100", BIN],
  ["GET", "bin"],
  // SETNX
  ["SETNX"],
  ["SETNX", "k"],
  ["SETNX", "k", "v", "x"],
  ["SETNX", "k", "v3"],
  ["GET", "k"],
  ["SETNX", "nx", "first"],
  ["SETNX", "nx", "second"],
  ["GET", "nx"],
  ["TTL", "nx"],
  // GETSET
  ["GETSET"],
  ["GETSET", "gs"],
  ["GETSET", "gs", "a", "b"],
  ["GETSET", "gs", "a"],
  ["GETSET", "gs", "b"],
  ["GET", "gs"],
  ["SET", "gs2", "v", "EX", "100"],
  ["GETSET", "gs2", "w"],
  ["TTL", "gs2"],
  ["GETSET", "gs2", ""],
  ["GET", "gs2"],
  // GETDEL
  ["GETDEL"],
  ["GETDEL", "gs", "x"],
  ["GETDEL", "gs"],
  ["GETDEL", "gs"],
  ["EXISTS", "gs"],
  ["GETDEL", "bin"],
  ["GET", "bin"],
  // GETEX
  ["GETEX"],
  ["SET", "ge", "v", "EX", "100"],
  ["GETEX", "ge"],
  ["TTL", "ge"],
  ["GETEX", "ge", "PERSIST"],
  ["TTL", "ge"],
  ["GETEX", "ge", "PERSIST", "persist"],
  ["GETEX", "ge", "EX", "200"],
  ["TTL", "ge"],
  ["GETEX", "ge", "px", "300000"],
  ["TTL", "ge"],
  ["GETEX", "ge", "EXAT", "4000000000"],
  ["EXPIRETIME", "ge"],
  ["GETEX", "ge", "PXAT", "4000000000123"],
  ["PEXPIRETIME", "ge"],
  ["EXPIRETIME", "ge"],
  ["GETEX", "ge", "EX", "10", "EX", "20"],
  ["TTL", "ge"],
  ["GETEX", "ge", "EX"],
  ["GETEX", "ge", "EX", "0"],
  ["GETEX", "ge", "EX", "-1"],
  ["GETEX", "ge", "EX", "x"],
  ["GETEX", "ge", "PX", "0"],
  ["GETEX", "ge", "EX", "9223372036854775807"],
  ["GETEX", "ge", "EX", "9223372036854775"],
  ["GETEX", "ge", "PX", "9223372036854775000"],
  ["GETEX", "ge", "EXAT", "9223372036854776"],
  ["GETEX", "ge", "EXAT", "0"],
  ["GETEX", "ge", "EX", "10", "PX", "10"],
  ["GETEX", "ge", "PERSIST", "EX", "10"],
  ["GETEX", "ge", "EX", "10", "PERSIST"],
  ["GETEX", "ge", "NX"],
  ["GETEX", "ge", "XX"],
  ["GETEX", "ge", "KEEPTTL"],
  ["GETEX", "ge", "GET"],
  ["GETEX", "ge", "foo"],
  ["GETEX", "ge", "EX", "10", "foo"],
  ["GETEX", "nokey", "EX", "0"],
  ["GETEX", "nokey", "EX", "x"],
  ["GETEX", "nokey", "EXAT", "9223372036854776"],
  ["GETEX", "nokey", "EX", "10"],
  ["GETEX", "nokey", "PERSIST"],
  ["GETEX", "nokey"],
  ["GETEX", "nokey", "foo"],
  ["EXISTS", "nokey"],
  ["GETEX", "ge", "EXAT", "1"],
  ["EXISTS", "ge"],
  ["SET", "ge", "again"],
  ["GETEX", "ge", "PXAT", "1"],
  ["GET", "ge"],
  // APPEND
  ["APPEND"],
  ["APPEND", "ap"],
  ["APPEND", "ap", "x", "y"],
  ["APPEND", "ap", "hello"],
  ["APPEND", "ap", " world"],
  ["GET", "ap"],
  ["APPEND", "ap", ""],
  ["APPEND", "ap2", ""],
  ["EXISTS", "ap2"],
  ["APPEND", "apbin", BIN],
  ["APPEND", "apbin", BIN],
  ["GET", "apbin"],
  ["SET", "apttl", "v", "EXAT", "4000000000"],
  ["APPEND", "apttl", "w"],
  ["EXPIRETIME", "apttl"],
  ["SET", "num", "5"],
  ["APPEND", "num", "0"],
  ["INCR", "num"],
  ["APPEND", "num", "x"],
  ["INCR", "num"],
  // STRLEN
  ["STRLEN"],
  ["STRLEN", "ap", "x"],
  ["STRLEN", "ap"],
  ["STRLEN", "none"],
  ["STRLEN", "apbin"],
  ["STRLEN", "ap2"],
  // GETRANGE, SUBSTR
  ["GETRANGE"],
  ["GETRANGE", "ap", "0"],
  ["GETRANGE", "ap", "0", "1", "2"],
  ["GETRANGE", "ap", "0", "-1"],
  ["GETRANGE", "ap", "0", "4"],
  ["GETRANGE", "ap", "-5", "-1"],
  ["GETRANGE", "ap", "-1", "-5"],
  ["GETRANGE", "ap", "-1", "-1"],
  ["GETRANGE", "ap", "5", "3"],
  ["GETRANGE", "ap", "3", "3"],
  ["GETRANGE", "ap", "100", "200"],
  ["GETRANGE", "ap", "-100", "100"],
  ["GETRANGE", "ap", "-100", "-50"],
  ["GETRANGE", "ap", "x", "1"],
  ["GETRANGE", "ap", "0", "y"],
  ["GETRANGE", "ap", "0", "1.0"],
  ["GETRANGE", "none", "0", "-1"],
  ["GETRANGE", "none", "x", "1"],
  ["GETRANGE", "ap", "0", "9223372036854775807"],
  ["GETRANGE", "ap", "-9223372036854775808", "-1"],
  ["GETRANGE", "ap", "0", "9223372036854775808"],
  ["GETRANGE", "apbin", "1", "-2"],
  ["SUBSTR", "ap", "0", "4"],
  ["SUBSTR", "ap", "-3", "-1"],
  ["SUBSTR", "ap", "1"],
  ["SUBSTR", "none", "0", "1"],
  ["SUBSTR", "ap", "a", "1"],
  // SETRANGE
  ["SETRANGE"],
  ["SETRANGE", "sr", "0"],
  ["SETRANGE", "sr", "0", "a", "b"],
  ["SETRANGE", "sr", "-1", "x"],
  ["SETRANGE", "sr", "x", "x"],
  ["SETRANGE", "sr", "1.5", "x"],
  ["SETRANGE", "sr", "9223372036854775808", "x"],
  ["SETRANGE", "sr", "-1", ""],
  ["SETRANGE", "sr", "5", ""],
  ["EXISTS", "sr"],
  ["SETRANGE", "sr", "3", "abc"],
  ["GET", "sr"],
  ["SETRANGE", "sr", "1", "XY"],
  ["GET", "sr"],
  ["SETRANGE", "sr", "0", BIN],
  ["GET", "sr"],
  ["SETRANGE", "sr", "10", ""],
  ["SETRANGE", "sr", "99999999999", ""],
  ["SETRANGE", "sr", "536870912", "x"],
  ["SETRANGE", "sr", "536870911", "xy"],
  ["SETRANGE", "sr", "99999999999", "x"],
  ["SETRANGE", "sr", "9223372036854775807", "x"],
  ["SETRANGE", "none2", "536870912", "x"],
  ["EXISTS", "none2"],
  ["GET", "sr"],
  ["SET", "srttl", "v", "PXAT", "4000000000999"],
  ["SETRANGE", "srttl", "0", "w"],
  ["PEXPIRETIME", "srttl"],
  // INCRBYFLOAT
  ["INCRBYFLOAT"],
  ["INCRBYFLOAT", "f"],
  ["INCRBYFLOAT", "f", "1", "2"],
  ["INCRBYFLOAT", "f", "0.1"],
  ["INCRBYFLOAT", "f", "0.2"],
  ["INCRBYFLOAT", "f", "-0.3"],
  ["GET", "f"],
  ["INCRBYFLOAT", "f", "1e308"],
  ["INCRBYFLOAT", "f", "5.0e3"],
  ["INCRBYFLOAT", "f", "-1e308"],
  ["INCRBYFLOAT", "f", "inf"],
  ["INCRBYFLOAT", "f", "-infinity"],
  ["INCRBYFLOAT", "f", "nan"],
  ["INCRBYFLOAT", "f", "x"],
  ["INCRBYFLOAT", "f", ""],
  ["INCRBYFLOAT", "f", " 1"],
  ["INCRBYFLOAT", "f", "1 "],
  ["INCRBYFLOAT", "f", "1e5000"],
  ["INCRBYFLOAT", "f", "0x10"],
  ["INCRBYFLOAT", "f", "0.000003814697265625"],
  ["INCRBYFLOAT", "ap", "1"],
  ["SET", "fl", "10.50"],
  ["INCRBYFLOAT", "fl", "0.1"],
  ["SET", "fl", "inf"],
  ["INCRBYFLOAT", "fl", "1"],
  ["SET", "fl", "9223372036854775807"],
  ["INCRBYFLOAT", "fl", "1"],
  ["INCR", "fl"],
  ["SET", "fl2", "3", "EXAT", "4000000000"],
  ["INCRBYFLOAT", "fl2", "1.5"],
  ["EXPIRETIME", "fl2"],
  ["INCRBYFLOAT", "fl3", "-0"],
  ["INCRBYFLOAT", "fl4", "-1e-30"],
  // UNLINK, TOUCH, TYPE
  ["UNLINK"],
  ["UNLINK", "ap", "sr", "none", "ap"],
  ["EXISTS", "ap", "sr"],
  ["TOUCH"],
  ["TOUCH", "fl", "fl", "none", "f"],
  ["TOUCH", "none"],
  ["TYPE"],
  ["TYPE", "fl"],
  ["TYPE", "none"],
  ["TYPE", "fl", "x"],
  // EXPIRETIME, PEXPIRETIME
  ["EXPIRETIME"],
  ["EXPIRETIME", "none"],
  ["EXPIRETIME", "fl"],
  ["EXPIRETIME", "fl", "x"],
  ["SET", "et", "v", "EXAT", "4000000000"],
  ["EXPIRETIME", "et"],
  ["PEXPIRETIME", "et"],
  ["SET", "et", "v", "PXAT", "4000000000499"],
  ["EXPIRETIME", "et"],
  ["SET", "et", "v", "PXAT", "4000000000500"],
  ["EXPIRETIME", "et"],
  ["PEXPIRETIME", "et"],
  ["PEXPIREAT", "et", "4100000000000"],
  ["PEXPIRETIME", "et"],
  ["PERSIST", "et"],
  ["PEXPIRETIME", "et"],
  ["PEXPIRETIME", "none"],
  ["PEXPIRETIME"],
  ["getex", "fl", "persist"],
  ["Strlen", "fl"],
  // A write right behind a read-modify-write of its key finds every owner modified.
  ["SET", "pk", "0"],
  ["GETDEL", "pk"],
  ["UNLINK", "pk", "a"],
  ["SET", "pk", "5"],
  ["INCR", "pk"],
  ["EXPIRE", "pk", "100"],
  ["GETEX", "pk", "PXAT", "1"],
  ["DEL", "pk"],
  ["APPEND", "pk", "x"],
  ["DEL", "pk"],
];

describe("master string and keyspace commands", () => {
  let cluster: TestCluster;
  let port: number;

  before(async () => {
    // Replies, not fault timing: a request timeout a loaded machine cannot miss.
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      requestTimeout: "3s",
      masterArgs: ["--max-value-size", "64kb"],
    });
    port = cluster.master().port;
  });
  after(async () => {
    await cluster.stop();
  });

  describe("RESP like Redis 7", { skip: skipUnless("redis-server") }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedisServer();
    });
    after(async () => {
      await redis.stop();
    });

    scriptLikeRedis(SCRIPT, () => ({ redis: redis.port, tested: port }));

    it("answers random sequences of these commands as redis-server does", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 30 }), async (cmds) => {
          const script = [["FLUSHALL"], ...cmds];
          const expected = await rawReplies(redis.port, script);
          const actual = await rawReplies(port, script);
          assert.deepEqual(diffReplies(script, expected, actual), []);
        }),
        { numRuns: 120 },
      );
    });

    it("answers random sequences pipelined in one write as redis-server does", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), async (cmds) => {
          const script = [["FLUSHALL"], ...cmds];
          const expected = await pipelined(redis.port, script);
          const actual = await pipelined(port, script);
          if (!actual.equals(expected)) {
            // Say which command differs: the same sequence, one command at a time.
            const a = await rawReplies(port, script);
            const e = await rawReplies(redis.port, script);
            const diffs = diffReplies(script, e, a);
            assert.fail(
              `pipelined replies differ: ${diffs.length > 0 ? diffs.join("\n") : JSON.stringify([expected.toString("latin1"), actual.toString("latin1")])}`,
            );
          }
        }),
        { numRuns: 40 },
      );
    });
  });

  it("refuses strings past --max-value-size with a text that names it", async () => {
    const replies = await rawReplies(port, [
      ["SETRANGE", "big", String(64 * 1024), "x"],
      ["SETRANGE", "big", String(64 * 1024 - 1), "x"],
      ["APPEND", "big", "y"],
      ["STRLEN", "big"],
      ["GETSET", "big", "z".repeat(64 * 1024 + 1)],
      ["APPEND", "big2", "z".repeat(64 * 1024 + 1)],
      ["EXISTS", "big2"],
    ]);
    assert.deepEqual(
      replies.map((r) => r.toString("latin1")),
      [
        "-ERR string exceeds maximum allowed size (max-value-size, 65536 bytes)\r\n",
        ":65536\r\n",
        "-ERR string exceeds maximum allowed size (max-value-size, 65536 bytes)\r\n",
        ":65536\r\n",
        "-ERR value is larger than max-value-size (65536 bytes)\r\n",
        "-ERR string exceeds maximum allowed size (max-value-size, 65536 bytes)\r\n",
        ":0\r\n",
      ],
    );
  });

  it("serves ioredis: setex, getdel, getex, append, incrbyfloat", async () => {
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    try {
      await client.connect();
      assert.equal(await client.setex("io:s", 100, "v"), "OK");
      const ttl = await client.ttl("io:s");
      assert.ok(ttl > 98 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await client.getdel("io:s"), "v");
      assert.equal(await client.getdel("io:s"), null);
      await client.set("io:g", "x");
      assert.equal(await client.getex("io:g", "EX", 50), "x");
      const ttl2 = await client.ttl("io:g");
      assert.ok(ttl2 > 48 && ttl2 <= 50, `ttl ${ttl2}`);
      assert.equal(await client.getex("io:g", "PERSIST"), "x");
      assert.equal(await client.ttl("io:g"), -1);
      assert.equal(await client.append("io:a", "ab"), 2);
      assert.equal(await client.append(Buffer.from("io:a"), Buffer.from([0, 255])), 4);
      assert.deepEqual(await client.getBuffer("io:a"), Buffer.from([0x61, 0x62, 0, 255]));
      assert.equal(await client.incrbyfloat("io:f", "0.1"), "0.1");
      assert.equal(await client.incrbyfloat("io:f", 0.2), "0.3");
      await assert.rejects(client.incrbyfloat("io:a", 1), /value is not a valid float/);
      const pipe = client.pipeline();
      for (let i = 0; i < 100; i++) pipe.append("io:p", "x");
      pipe.strlen("io:p");
      const results = (await pipe.exec()) ?? [];
      assert.deepEqual(
        results.map(([, v]) => v),
        [...Array.from({ length: 100 }, (_, i) => i + 1), 100],
      );
    } finally {
      client.disconnect();
    }
  });

  it("leaves every owner the same after pipelined writes right behind modifications", async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `pipe:${i}`);
    const script: string[][] = [];
    for (const k of keys) {
      script.push(["SET", k, "5"], ["INCR", k], ["EXPIRE", k, "100"], ["APPEND", k, "x"]);
      script.push(["PEXPIRE", k, "200000"], ["GETSET", k, "v"], ["EXPIRE", k, "300"]);
    }
    await pipelined(port, script);
    for (const k of keys) {
      const held = await ownersOf(k);
      assert.equal(held.length, 2, `the R=2 owners of ${k}`);
      for (const h of held) {
        assert.equal(h.value, "v", k);
        assert.ok(h.pttl > 290_000 && h.pttl <= 300_000, `${k}: pttl ${h.pttl}`);
      }
      assert.equal(held[0]?.version, held[1]?.version, k);
    }
  });

  it("hands every value on once: GETSET and GETDEL of many clients on two masters", async () => {
    const clients = Array.from(
      { length: 8 },
      (_, i) =>
        new Redis({ port: cluster.master(i % 2).port, host: "127.0.0.1", maxRetriesPerRequest: 1 }),
    );
    try {
      await clients[0]?.del("race:getset");
      const returned: (string | null)[] = [];
      const written: string[] = [];
      await Promise.all(
        clients.map(async (c, i) => {
          for (let r = 0; r < 100; r++) {
            const p = c.pipeline();
            const token = `${i}.${r}`;
            written.push(token);
            p.getset("race:getset", token);
            // Now and then a GETDEL takes the value out instead of the next GETSET.
            if (r % 10 === 9) p.getdel("race:getset");
            for (const [err, v] of (await p.exec()) ?? []) {
              assert.equal(err, null);
              returned.push(v as string | null);
            }
          }
        }),
      );
      const last = await clients[0]?.get("race:getset");
      const seen = [...returned.filter((v) => v !== null), ...(last === null ? [] : [last])];
      const counts = new Map<string, number>();
      for (const v of seen) counts.set(v as string, (counts.get(v as string) ?? 0) + 1);
      for (const [v, n] of counts) assert.equal(n, 1, `${v} handed on ${n} times`);
      // Every value written comes back exactly once: from the GETSET or GETDEL after it,
      // whichever client sent that, or as the last value.
      assert.deepEqual([...counts.keys()].sort(), [...written].sort());
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  /** What each auxiliary node holds for `key` (RC.GET), for the nodes that hold it. */
  async function ownersOf(
    key: string,
  ): Promise<{ value: string; version: number; pttl: number }[]> {
    const out: { value: string; version: number; pttl: number }[] = [];
    for (const a of cluster.auxiliaries) {
      const direct = new Redis({ port: a.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
      try {
        const reply = (await direct.call("RC.GET", key)) as [string | null, number, number] | null;
        if (reply !== null && reply[0] !== null) {
          out.push({ value: reply[0], version: reply[1], pttl: reply[2] });
        }
      } finally {
        direct.disconnect();
      }
    }
    return out;
  }

  it("loses no APPEND nor INCRBYFLOAT of many clients on two masters", async () => {
    const clients = Array.from(
      { length: 8 },
      (_, i) =>
        new Redis({
          port: cluster.master(i % 2).port,
          host: "127.0.0.1",
          maxRetriesPerRequest: 1,
        }),
    );
    try {
      await clients[0]?.del("race:append", "race:float");
      const rounds = 150;
      await Promise.all(
        clients.map(async (c, i) => {
          for (let r = 0; r < rounds; r++) {
            // A pipeline of a few per round: requests of one client overlap too.
            const p = c.pipeline();
            p.append("race:append", `<${i}.${r}>`);
            p.incrbyfloat("race:float", "0.5");
            p.incrbyfloat("race:float", "0.25");
            const results = (await p.exec()) ?? [];
            for (const [err] of results) assert.equal(err, null);
          }
        }),
      );
      const value = (await clients[1]?.get("race:append")) ?? "";
      for (let i = 0; i < clients.length; i++) {
        for (let r = 0; r < rounds; r++) {
          assert.ok(value.includes(`<${i}.${r}>`), `<${i}.${r}> is missing`);
        }
      }
      const pieces = value.match(/<\d+\.\d+>/g) ?? [];
      assert.equal(pieces.length, clients.length * rounds);
      assert.equal(await clients[0]?.get("race:float"), String(clients.length * rounds * 0.75));
      // Every owner holds the same: the copies carried the first owner's result.
      const expected = new Map([
        ["race:append", value],
        ["race:float", String(clients.length * rounds * 0.75)],
      ]);
      for (const [k, want] of expected) {
        const copies = await Promise.all(
          cluster.auxiliaries.map(async (a) => {
            const direct = new Redis({ port: a.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
            try {
              return await direct.get(k);
            } finally {
              direct.disconnect();
            }
          }),
        );
        const held = copies.filter((c) => c !== null);
        assert.deepEqual(held, [want, want], `the R=2 owners of ${k}`);
      }
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Random commands over a few keys: values with binary bytes, offsets and indexes of every sign
// and size, expiries only as absolute times (read back exactly with EXPIRETIME).

const key = fc.constantFrom("a", "b", "c", "k\u0000\u00ff");
const value = fc.string({
  unit: fc.constantFrom("x", "y", "0", "1", ".", "-", "\u0000", "\r", "\n", "\u00ff", "é"),
  maxLength: 8,
});
const smallInt = fc.integer({ min: -12, max: 40 }).map(String);
const index = fc.oneof(
  { weight: 4, arbitrary: smallInt },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "9223372036854775807",
      "-9223372036854775808",
      "9223372036854775808",
      "1.5",
      "x",
    ),
  },
);
const offset = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -3, max: 30 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("536870912", "99999999999", "9223372036854775807", "-1", "x"),
  },
);
const float = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map(String),
  fc
    .tuple(fc.integer({ min: -999, max: 999 }), fc.integer({ min: 0, max: 99999 }))
    .map(([i, f]) => `${i}.${f}`),
  fc.constantFrom("0.1", "-0.1", "1e10", "1.5e-7", "inf", "nan", "x", "", "0x1p-3", "3.0"),
);
const absolute = fc.constantFrom(
  ["EXAT", "4000000000"],
  ["PXAT", "4000000000123"],
  ["PXAT", "4000000000500"],
  ["EXAT", "1"],
  ["PXAT", "1"],
);

const command: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(key, value).map(([k, v]) => ["SET", k, v]),
  fc.tuple(key, value, absolute).map(([k, v, t]) => ["SET", k, v, ...t]),
  fc.tuple(key, fc.integer({ min: -10, max: 10 })).map(([k, n]) => ["SET", k, String(n)]),
  key.map((k) => ["GET", k]),
  fc.tuple(key, value).map(([k, v]) => ["SETNX", k, v]),
  fc.tuple(key, value).map(([k, v]) => ["GETSET", k, v]),
  key.map((k) => ["GETDEL", k]),
  key.map((k) => ["GETEX", k]),
  key.map((k) => ["GETEX", k, "PERSIST"]),
  fc.tuple(key, absolute).map(([k, t]) => ["GETEX", k, ...t]),
  fc
    .tuple(key, fc.constantFrom("EX", "PX", "EXAT"), fc.constantFrom("0", "-1", "x"))
    .map(([k, u, n]) => ["GETEX", k, u, n]),
  fc.tuple(key, value).map(([k, v]) => ["APPEND", k, v]),
  key.map((k) => ["STRLEN", k]),
  fc
    .tuple(fc.constantFrom("GETRANGE", "SUBSTR"), key, index, index)
    .map(([c, k, s, e]) => [c, k, s, e]),
  fc.tuple(key, offset, value).map(([k, o, v]) => ["SETRANGE", k, o, v]),
  fc.tuple(key, float).map(([k, f]) => ["INCRBYFLOAT", k, f]),
  fc.tuple(key, fc.integer({ min: -5, max: 5 })).map(([k, n]) => ["INCRBY", k, String(n)]),
  fc
    .tuple(
      fc.constantFrom("UNLINK", "DEL", "TOUCH", "EXISTS"),
      fc.array(key, { minLength: 1, maxLength: 3 }),
    )
    .map(([c, ks]) => [c, ...ks]),
  fc
    .tuple(fc.constantFrom("TYPE", "EXPIRETIME", "PEXPIRETIME", "PERSIST"), key)
    .map(([c, k]) => [c, k]),
);

// SCAN, KEYS, RANDOMKEY and FLUSHDB through real masters: replies byte for byte as redis-server
// 7.0's where they are deterministic (an empty or one-key database, every error), and the
// clients people use: redis-cli --scan, ioredis's scanStream.
// docs/design.md, "SCAN, KEYS and RANDOMKEY"
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { RespReplyError } from "../../src/protocol/resp/index.js";
import { TestCluster } from "../helpers/cluster.js";
import { scriptLikeRedis } from "../helpers/like-redis.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { skipUnless, which } from "../helpers/tools.js";

const run = promisify(execFile);

/** Deterministic on any server: errors, and walks of a database of no key or of one. */
const SCRIPT: string[][] = [
  ["FLUSHALL"],
  ["SCAN", "0"],
  ["SCAN", ""],
  ["SCAN", "-0"],
  ["SCAN", "+0"],
  ["SCAN", "0", "COUNT", "100", "MATCH", "*", "TYPE", "string"],
  ["SCAN"],
  ["SCAN", "abc"],
  ["SCAN", " 1"],
  ["SCAN", "1 "],
  ["SCAN", "1.5"],
  ["SCAN", "+"],
  ["SCAN", "-"],
  ["SCAN", "18446744073709551616"],
  ["SCAN", "0", "COUNT"],
  ["SCAN", "0", "COUNT", "0"],
  ["SCAN", "0", "COUNT", "-1"],
  ["SCAN", "0", "COUNT", "abc"],
  ["SCAN", "0", "COUNT", "9223372036854775808"],
  ["SCAN", "0", "MATCH"],
  ["SCAN", "0", "TYPE"],
  ["SCAN", "0", "BOGUS", "1"],
  ["SCAN", "0", "count", "5", "match", "x*", "BOGUS"],
  ["KEYS"],
  ["KEYS", "*"],
  ["KEYS", "a", "b"],
  ["RANDOMKEY"],
  ["RANDOMKEY", "x"],
  ["SET", "k", "v"],
  ["SCAN", "0"],
  ["SCAN", "0", "MATCH", "k"],
  ["SCAN", "0", "MATCH", "x*"],
  ["SCAN", "0", "TYPE", "string"],
  ["SCAN", "0", "TYPE", "STRING"],
  ["SCAN", "0", "TYPE", "hash"],
  ["SCAN", "0", "TYPE", "nosuchtype"],
  ["SCAN", "0", "COUNT", "1", "COUNT", "1000"],
  ["KEYS", "*"],
  ["KEYS", "?"],
  ["KEYS", "[a-k]"],
  ["KEYS", "nothing*"],
  ["RANDOMKEY"],
  ["FLUSHDB", "foo"],
  ["FLUSHDB", "ASYNC", "SYNC"],
  ["FLUSHDB", "sync"],
  ["DBSIZE"],
  ["RANDOMKEY"],
  ["SET", "{tag}1", "v"],
  ["FLUSHDB", "ASYNC"],
  ["FLUSHDB"],
  ["KEYS", "*"],
];

describe("SCAN, KEYS, RANDOMKEY and FLUSHDB through masters", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ masters: 2, auxiliary: 3, replicas: 2 });
    await cluster.waitRing(3);
  });
  after(async () => {
    await cluster.stop();
  });

  describe("like Redis 7.0", { skip: skipUnless("redis-server") }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedisServer();
    });
    after(async () => {
      await redis.stop();
    });

    scriptLikeRedis(SCRIPT, () => ({ redis: redis.port, tested: cluster.master().port }));
  });

  describe("over many keys", () => {
    const N = 3000;
    const all = new Set<string>();
    let c: RespTestClient;

    before(async () => {
      c = await RespTestClient.connect(cluster.master().port);
      await c.call("FLUSHALL");
      const commands: string[][] = [];
      for (let i = 0; i < N; i++) {
        const key = i % 10 === 0 ? `{user${i % 13}}:k${i}` : `key:${i}`;
        all.add(key);
        commands.push(["SET", key, `v${i}`]);
      }
      for (let i = 0; i < commands.length; i += 500) await c.pipeline(commands.slice(i, i + 500));
    });
    after(() => c.close());

    /** A full walk, each call through the next master; checks no key comes twice. */
    async function walk(...options: string[]): Promise<{ keys: Set<string>; calls: number }> {
      const clients = await Promise.all(cluster.masters.map((m) => RespTestClient.connect(m.port)));
      const keys = new Set<string>();
      let cursor = "0";
      let calls = 0;
      try {
        do {
          const reply = (await (clients[calls % clients.length] as RespTestClient).call(
            "SCAN",
            cursor,
            ...options,
          )) as [Buffer, Buffer[]];
          calls++;
          for (const k of reply[1]) {
            assert.ok(!keys.has(k.toString()), `${k.toString()} twice`);
            keys.add(k.toString());
          }
          cursor = reply[0].toString();
          assert.match(cursor, /^\d+$/);
        } while (cursor !== "0");
      } finally {
        for (const x of clients) x.close();
      }
      return { keys, calls };
    }

    it("walks every key exactly once, with cursors taken across masters, for any COUNT", async () => {
      for (const count of [1, 10, 250, 10000]) {
        const { keys, calls } = await walk("COUNT", String(count));
        assert.deepEqual(keys, all, `COUNT ${count}`);
        if (count === 10000) assert.equal(calls, 1);
        if (count === 10) assert.ok(calls > N / 100, `${calls} calls at COUNT 10`);
      }
    });

    it("filters by MATCH and TYPE", async () => {
      const tagged = await walk("MATCH", "{user1[0-2]}:*", "COUNT", "50");
      assert.deepEqual(tagged.keys, new Set([...all].filter((k) => /^\{user1[0-2]\}:/.test(k))));
      assert.ok(tagged.keys.size > 0);
      assert.deepEqual((await walk("TYPE", "string", "COUNT", "500")).keys, all);
      assert.equal((await walk("TYPE", "list")).keys.size, 0);
      assert.equal((await walk("MATCH", "no-such-*", "COUNT", "100")).keys.size, 0);
    });

    it("answers KEYS with every matching key, and RANDOMKEY with a live one", async () => {
      const keys = (await c.call("KEYS", "*")) as Buffer[];
      assert.equal(keys.length, N);
      assert.deepEqual(new Set(keys.map((k) => k.toString())), all);
      const some = (await c.call("KEYS", "key:1??")) as Buffer[];
      assert.deepEqual(
        new Set(some.map((k) => k.toString())),
        new Set([...all].filter((k) => /^key:1..$/.test(k))),
      );
      const picks = new Set<string>();
      for (let i = 0; i < 50; i++) {
        const k = (await c.call("RANDOMKEY")) as Buffer;
        assert.ok(all.has(k.toString()), k.toString());
        picks.add(k.toString());
      }
      assert.ok(picks.size > 10, `${picks.size} distinct keys in 50 picks`);
    });

    it(
      "serves redis-cli --scan and --scan --pattern",
      { skip: skipUnless("redis-cli") },
      async () => {
        const cli = which("redis-cli") as string;
        const port = String(cluster.master(1).port);
        const lines = (out: string): string[] => out.split("\n").filter((l) => l !== "");
        const everything = lines((await run(cli, ["-p", port, "--scan"])).stdout);
        assert.equal(everything.length, N);
        assert.deepEqual(new Set(everything), all);
        const matched = lines(
          (await run(cli, ["-p", port, "--scan", "--pattern", "key:2*"])).stdout,
        );
        const expected = [...all].filter((k) => k.startsWith("key:2"));
        assert.equal(matched.length, expected.length);
        assert.deepEqual(new Set(matched), new Set(expected));
      },
    );

    it("serves ioredis's scanStream", async () => {
      const redis = new Redis({ port: cluster.master().port, lazyConnect: true });
      try {
        await redis.connect();
        const keys: string[] = [];
        for await (const batch of redis.scanStream({ match: "key:*", count: 200 })) {
          keys.push(...(batch as string[]));
        }
        assert.equal(keys.length, new Set(keys).size);
        assert.deepEqual(new Set(keys), new Set([...all].filter((k) => k.startsWith("key:"))));
      } finally {
        redis.disconnect();
      }
    });

    it("refuses a pattern too long to compile cheaply, and keeps serving", async () => {
      const long = Buffer.alloc(256 * 1024 + 1, 0x2a);
      for (const command of [
        ["SCAN", "0", "MATCH", long],
        ["KEYS", long],
      ]) {
        const reply = await c.call(...command);
        assert.ok(reply instanceof RespReplyError, String(reply));
        assert.match(reply.message, /^ERR pattern is longer than 262144 bytes/);
      }
      assert.equal(await c.call("PING"), "PONG");
    });

    it("empties the database with FLUSHDB, as FLUSHALL does", async () => {
      assert.equal(await c.call("FLUSHDB"), "OK");
      assert.equal(await c.call("DBSIZE"), 0);
      assert.deepEqual(await c.call("SCAN", "0"), [Buffer.from("0"), []]);
      assert.equal(await c.call("RANDOMKEY"), null);
    });
  });
});

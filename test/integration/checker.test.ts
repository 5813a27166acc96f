// The checker itself must be able to fail: run it against a real redis-server, once clean and
// once with each kind of violation injected, and check that it reports exactly that.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import { Checker, decodeValue, encodeValue, summarize, type KvClient } from "../helpers/checker.js";
import { connectRedis, kvOverRedis } from "../helpers/redis-client.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";

const workload = {
  writers: 8,
  keysPerWriter: 50,
  readRatio: 0.5,
  deleteRatio: 0.1,
  valueBytes: 32,
};

describe("checker", { skip: skipUnless("redis-server") }, () => {
  let server: RedisServer;
  let redis: Redis;

  before(async () => {
    server = await startRedisServer();
    redis = connectRedis(server.port);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  it("encodes values it can verify, and rejects tampered ones", () => {
    const v = encodeValue("k1", 7, 10);
    assert.deepEqual(decodeValue("k1", v), { seq: 7 });
    assert.deepEqual(decodeValue("k2", v), { error: "foreign" });
    const flipped = Buffer.from(v);
    flipped.writeUInt8((flipped.at(-1) as number) ^ 1, flipped.length - 1);
    assert.deepEqual(decodeValue("k1", flipped), { error: "checksum" });
  });

  it("passes a correct store", async () => {
    await redis.flushall();
    const checker = new Checker(workload);
    const kv = kvOverRedis(redis);
    await checker.run([kv], 600);
    await checker.verify([kv]);
    const r = checker.report();
    assert.ok(r.writes.ok > 100, summarize(r));
    assert.equal(
      r.staleReads + r.phantoms + r.checksumFailures + r.lostWrites + r.resurrected,
      0,
      summarize(r),
    );
  });

  it("catches lost writes and resurrected deletes", async () => {
    await redis.flushall();
    const checker = new Checker(workload);
    const kv = kvOverRedis(redis);
    await checker.run([kv], 400);
    // Lose everything, and bring back one deleted key.
    await redis.flushall();
    await checker.verify([kv]);
    assert.ok(checker.report().lostWrites > 0);

    const checker2 = new Checker({ ...workload, deleteRatio: 0.9, readRatio: 0 });
    const remembered = new Map<string, Buffer>();
    const resurrecting: KvClient = {
      set: async (k, v) => {
        remembered.set(k, v);
        await kv.set(k, v);
      },
      get: async (k) => (await kv.get(k)) ?? remembered.get(k) ?? null,
      del: (k) => kv.del(k),
    };
    await checker2.run([resurrecting], 300);
    await checker2.verify([resurrecting]);
    assert.ok(checker2.report().resurrected > 0, summarize(checker2.report()));
  });

  it("catches stale reads and corrupt values", async () => {
    await redis.flushall();
    const checker = new Checker({ ...workload, deleteRatio: 0 });
    const kv = kvOverRedis(redis);
    const first = new Map<string, Buffer>();
    const stale: KvClient = {
      set: async (k, v) => {
        if (!first.has(k)) first.set(k, v);
        await kv.set(k, v);
      },
      // Serves the first value ever written: stale once a key is rewritten.
      get: async (k) => first.get(k) ?? kv.get(k),
      del: (k) => kv.del(k),
    };
    await checker.run([stale], 500);
    assert.ok(checker.report().staleReads > 0, summarize(checker.report()));

    const corrupt: KvClient = {
      ...kv,
      get: async (k) => {
        const v = await kv.get(k);
        if (v === null) return v;
        const c = Buffer.from(v);
        c.writeUInt8((c.at(0) as number) ^ 0xff, 0);
        return c;
      },
    };
    const checker2 = new Checker({ ...workload, deleteRatio: 0 });
    await checker2.run([kv], 200);
    await checker2.verify([corrupt]);
    assert.ok(checker2.report().checksumFailures > 0);
  });

  it("allows an indeterminate write to land late, but nothing older", async () => {
    await redis.flushall();
    const kv = kvOverRedis(redis);
    const late: { key: string; value: Buffer }[] = [];
    let n = 0;
    // Every 5th write times out at the client but is applied later, after newer writes.
    const flaky: KvClient = {
      ...kv,
      set: async (k, v) => {
        if (++n % 5 === 0) {
          late.push({ key: k, value: v });
          throw new Error("Command timed out");
        }
        await kv.set(k, v);
      },
    };
    const checker = new Checker({ ...workload, deleteRatio: 0, readRatio: 0.3 });
    await checker.run([flaky], 300);
    for (const { key, value } of late) await kv.set(key, value);
    await checker.verify([kv]);
    const r = checker.report();
    assert.ok(r.writes.indeterminate > 0);
    assert.equal(r.lostWrites + r.staleReads, 0, summarize(r));
  });
});

// The plain commands of an auxiliary node answer exactly like Redis 7: the same commands go to
// a real redis-server and to the node, and every reply (error texts included) must be equal.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { diffReplies, maskHelloReplies, rawReplies } from "../helpers/raw-resp.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { skipUnless } from "../helpers/tools.js";

// Deterministic commands only (no ids, times or memory figures in the replies).
const SCRIPT: string[][] = [
  ["PING"],
  ["PING", "hello"],
  ["PING", "a", "b"],
  ["ECHO", "x"],
  ["ECHO"],
  ["GET"],
  ["GET", "a", "b"],
  ["GET", "missing"],
  ["SET", "k"],
  ["SET", "k", "v"],
  ["GET", "k"],
  ["SET", "k", "v2", "GET"],
  ["SET", "k", "v3", "NX"],
  ["SET", "k", "v3", "NX", "GET"],
  ["SET", "other", "v", "XX"],
  ["SET", "k", "v", "EX", "0"],
  ["SET", "k", "v", "EX", "-1"],
  ["SET", "k", "v", "EX", "abc"],
  ["SET", "k", "v", "EX", "1.5"],
  ["SET", "k", "v", "EX", "9999999999999999"],
  ["SET", "k", "v", "PX", "0"],
  ["SET", "k", "v", "EXAT", "0"],
  ["SET", "k", "v", "FOO"],
  ["SET", "k", "v", "NX", "XX"],
  ["SET", "k", "v", "EX", "10", "PX", "10"],
  ["SET", "k", "v", "KEEPTTL", "EX", "10"],
  ["SET", "k", "v", "EX"],
  ["SET", "k", "v", "ex", "100"],
  ["SET", "k", "v", "KEEPTTL"],
  ["TTL", "k"],
  ["SET", "k", "v"],
  ["TTL", "k"],
  ["PTTL", "k"],
  ["TTL", "missing"],
  ["PTTL", "missing"],
  ["TTL"],
  ["TTL", "a", "b"],
  ["PTTL"],
  ["EXISTS"],
  ["EXISTS", "k", "k", "missing"],
  ["DEL"],
  ["DEL", "k", "missing"],
  ["DEL", "k"],
  ["DBSIZE"],
  ["DBSIZE", "x"],
  ["SET", "past", "v", "PXAT", "1"],
  ["GET", "past"],
  ["EXISTS", "past"],
  ["FOO"],
  ["FOO", "a", "b"],
  ["flushall", "x"],
  ["FLUSHALL", "ASYNC"],
  ["FLUSHALL"],
  ["DBSIZE"],
  ["SELECT", "0"],
  ["SELECT", "1"],
  ["SELECT", "x"],
  ["CLIENT", "SETNAME", "n1"],
  ["CLIENT", "GETNAME"],
  ["CLIENT", "NOPE"],
  ["AUTH", "x"],
  ["HELLO", "x"],
  ["INFO", "nosuchsection"],
  ["QUIT"],
];

describe("auxiliary node: Redis 7 compatibility", { skip: skipUnless("redis-server") }, () => {
  let redis: RedisServer;
  let node: AuxiliaryHandle;

  before(async () => {
    // One database, like a ringcache node (SELECT 1 is out of range on both).
    [redis, node] = await Promise.all([startRedisServer(["--databases", "1"]), startAuxiliary()]);
  });
  after(async () => {
    await Promise.all([redis.stop(), node.destroy()]);
  });

  it("replies to every command of the script exactly as redis-server does", async () => {
    const a = await RespTestClient.connect(redis.port);
    const b = await RespTestClient.connect(node.port);
    try {
      for (const command of SCRIPT) {
        const [expected, actual] = await Promise.all([a.call(...command), b.call(...command)]);
        assert.deepEqual(actual, expected, `reply to ${command.join(" ")}`);
      }
    } finally {
      a.close();
      b.close();
    }
  });

  it("replies byte for byte as redis-server does, in RESP2 and after HELLO 3", async () => {
    // HELLO's id and version differ between any two servers: masked.
    for (const script of [SCRIPT, [["HELLO", "3"], ...SCRIPT]]) {
      const expected = maskHelloReplies(script, await rawReplies(redis.port, script));
      const actual = maskHelloReplies(script, await rawReplies(node.port, script));
      assert.deepEqual(diffReplies(script, expected, actual), []);
    }
  });
});

// Hash tags against Redis Cluster itself: for keys of every tag shape, redis-server (in cluster
// mode) answers CLUSTER KEYSLOT, CRC16 of the part of the key it places by. ringcache places
// by murmur3_32 of `placedPart(key)`, so CRC16 of that part must be Redis's slot: the same
// rule picks the same bytes (docs/design.md, "Ring and replication").
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { placedPart } from "../../src/ring/hash.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";

/** CRC16-CCITT (XMODEM): polynomial 0x1021, initial 0, as Redis Cluster's key slots use. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

describe(
  "hash tags: the bytes Redis Cluster places a key by",
  { skip: skipUnless("redis-server") },
  () => {
    let redis: RedisServer;
    let client: RespTestClient;
    let dir: string;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "ringcache-keyslot-"));
      redis = await startRedisServer([
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        join(dir, "nodes.conf"),
        "--dir",
        dir,
      ]);
      client = await RespTestClient.connect(redis.port);
    });

    after(async () => {
      client?.close();
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("agrees with CLUSTER KEYSLOT on keys of every tag shape", async () => {
      const keys = fc.sample(
        fc
          .array(fc.constantFrom(0x7b, 0x7d, 0x61, 0x62, 0x7a, 0x3a, 0x00, 0xff), { maxLength: 14 })
          .map((a) => Buffer.from(a)),
        { numRuns: 1500, seed: 7 },
      );
      keys.push(Buffer.from("{user1000}.following"), Buffer.from("foo{}{bar}"));
      keys.push(Buffer.from("foo{{bar}}zap"), Buffer.from("foo{bar}{zap}"));
      for (const key of keys) {
        const slot = await client.call("CLUSTER", "KEYSLOT", key);
        const { start, end } = placedPart(key);
        assert.equal(
          slot,
          crc16(key.subarray(start, end)) & 16383,
          JSON.stringify(key.toString("latin1")),
        );
      }
    });
  },
);

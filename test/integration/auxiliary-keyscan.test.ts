// RC.KEYSCAN on a real auxiliary node (docs/design.md, "SCAN, KEYS and RANDOMKEY"): whole scan
// buckets in order, the ranges, COUNT, MATCH, TYPE and TOMBS, and clear errors for bad input.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  encodeKeyScan,
  encodePut,
  encodeDel,
  readKeyScanReply,
  type KeyScanOptions,
} from "../../src/protocol/internal/index.js";
import { RespReplyError, RespWriter, type RespValue } from "../../src/protocol/resp/index.js";
import { KeyPattern } from "../../src/redis/pattern.js";
import { hashKey } from "../../src/ring/hash.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { RespTestClient } from "../helpers/resp-client.js";

const PLAIN: KeyScanOptions = { tombs: false, type: null, match: null };
const bucketOf = (key: Buffer): number => hashKey(key) >>> 16;

async function rc(client: RespTestClient, encode: (w: RespWriter) => void): Promise<RespValue> {
  const w = new RespWriter();
  encode(w);
  const [reply] = await client.send(w.take(), 1);
  return reply ?? null;
}

interface Walked {
  readonly keys: Map<string, number>;
  readonly calls: number;
}

/** Walks buckets [from, to) to the end, checking that every reply holds whole buckets in order. */
async function walk(
  c: RespTestClient,
  options: KeyScanOptions,
  count: number,
  ranges: number[] | null,
  from = 0,
  to = 0x10000,
): Promise<Walked> {
  const keys = new Map<string, number>();
  let at = from;
  let calls = 0;
  while (at < to) {
    const reply = readKeyScanReply(
      await rc(c, (w) =>
        encodeKeyScan(
          w,
          at,
          to,
          count,
          options,
          ranges ?? [],
          ranges === null ? -1 : ranges.length / 2,
        ),
      ),
      options.tombs,
    );
    calls++;
    assert.ok(reply.next > at && reply.next <= to, `next ${reply.next} after ${at}`);
    const step = options.tombs ? 2 : 1;
    for (let i = 0; i < reply.flat.length; i += step) {
      const key = reply.flat[i] as Buffer;
      const b = bucketOf(key);
      assert.ok(
        b >= at && b < reply.next,
        `${key.toString()} in bucket ${b}, not in [${at}, ${reply.next})`,
      );
      assert.ok(!keys.has(key.toString("latin1")), `${key.toString()} twice`);
      // Without TOMBS no versions come: 0 stands for "live".
      keys.set(key.toString("latin1"), options.tombs ? (reply.flat[i + 1] as number) : 0);
    }
    at = reply.next;
  }
  return { keys, calls };
}

describe("auxiliary node: RC.KEYSCAN", () => {
  let node: AuxiliaryHandle;
  let c: RespTestClient;
  /** Every key written, with its version. */
  const versions = new Map<string, number>();
  /** The same keys as a walk without TOMBS reports them (no versions: 0). */
  const all = new Map<string, number>();

  before(async () => {
    node = await startAuxiliary({ args: ["--max-memory", "64mb"] });
    c = await RespTestClient.connect(node.port);
    const w = new RespWriter();
    let n = 0;
    for (let i = 0; i < 3000; i++) {
      const key = i % 10 === 0 ? `{tag${i % 7}}:k${i}` : `key:${i}`;
      encodePut(w, Buffer.from(key), Buffer.from(`v${i}`), 1000 + i, 0);
      versions.set(key, 1000 + i);
      all.set(key, 0);
      n++;
    }
    encodeDel(w, Buffer.from("gone"), 99);
    await c.send(w.take(), n + 1);
  });

  after(async () => {
    c.close();
    await node.destroy();
  });

  it("walks every live key once, in bucket order, for any count", async () => {
    for (const count of [1, 7, 100, 5000]) {
      const { keys, calls } = await walk(c, PLAIN, count, null);
      assert.deepEqual(keys, all, `count ${count}`);
      if (count === 1) assert.ok(calls > 1000, `${calls} calls at count 1`);
      if (count === 5000) assert.equal(calls, 1);
    }
  });

  it("keeps to the ranges, whole or cutting buckets", async () => {
    // Bounds inside buckets and on their edges; one range spans many buckets whole.
    const ranges = [5 * 65536 + 100, 900 * 65536, 2 ** 31, 2 ** 31 + 12345, 4000000000, 2 ** 32];
    const inRanges = (h: number): boolean => {
      for (let i = 0; i < ranges.length; i += 2)
        if (h >= ranges[i]! && h < ranges[i + 1]!) return true;
      return false;
    };
    const expected = new Map([...all].filter(([k]) => inRanges(hashKey(Buffer.from(k, "latin1")))));
    assert.ok(expected.size > 0 && expected.size < all.size);
    for (const count of [3, 1000]) {
      const { keys } = await walk(c, PLAIN, count, ranges);
      assert.deepEqual(keys, expected);
    }
    // A window of buckets: only its keys.
    const { keys } = await walk(c, PLAIN, 50, ranges, 1000, 40000);
    assert.deepEqual(
      keys,
      new Map(
        [...expected].filter(([k]) => {
          const b = bucketOf(Buffer.from(k, "latin1"));
          return b >= 1000 && b < 40000;
        }),
      ),
    );
  });

  it("filters by MATCH and TYPE on the node, and adds tombstones on request", async () => {
    const pattern = Buffer.from("{tag[1-3]}*");
    const compiled = new KeyPattern(pattern);
    const { keys } = await walk(c, { tombs: false, type: null, match: pattern }, 100, null);
    assert.deepEqual(
      keys,
      new Map([...all].filter(([k]) => compiled.matches(Buffer.from(k), 0, k.length))),
    );
    assert.ok(keys.size > 0);
    const strings = await walk(
      c,
      { tombs: false, type: Buffer.from("STRING"), match: null },
      5000,
      null,
    );
    assert.equal(strings.keys.size, all.size);
    const hashes = await walk(
      c,
      { tombs: false, type: Buffer.from("hash"), match: null },
      5000,
      null,
    );
    assert.equal(hashes.keys.size, 0);
    assert.equal(hashes.calls, 1);
    const withTombs = await walk(c, { tombs: true, type: null, match: null }, 5000, null);
    assert.deepEqual(withTombs.keys, new Map([...versions, ["gone", -99]]));
  });

  it("answers bad arguments with an error and keeps serving", async () => {
    const bad: (string | number)[][] = [
      ["RC.KEYSCAN", 0, 10],
      ["RC.KEYSCAN", 10, 10, 5],
      ["RC.KEYSCAN", 0, 65537, 5],
      ["RC.KEYSCAN", 0, 10, 0],
      ["RC.KEYSCAN", 0, 10, 100001],
      ["RC.KEYSCAN", "x", 10, 5],
      ["RC.KEYSCAN", 0, 10, 5, "MATCH"],
      ["RC.KEYSCAN", 0, 10, 5, "RANGES", 1],
      ["RC.KEYSCAN", 0, 10, 5, "RANGES", 1, 4294967297],
      ["RC.KEYSCAN", 0, 10, 5, "BOGUS"],
    ];
    for (const args of bad) {
      const reply = await c.call(...args);
      assert.ok(reply instanceof RespReplyError, `${args.join(" ")}: ${String(reply)}`);
    }
    assert.equal(await c.call("PING"), "PONG");
  });
});

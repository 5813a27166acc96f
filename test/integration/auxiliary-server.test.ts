// An auxiliary node as a real process: plain commands through ioredis and redis-cli, the
// internal RC.* commands through the encoders and readers masters use, HTTP endpoints,
// AUTH, connection limits and configuration errors.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import {
  StaleVersionError,
  encodeCDel,
  encodeMCDel,
  encodeDel,
  encodeExpire,
  encodeFlush,
  encodeGet,
  encodeIncrBy,
  encodeMPut,
  encodePut,
  encodeCDelPageHead,
  encodePutPageHead,
  encodeScan,
  encodeScanPage,
  prepareRanges,
  encodeStats,
  inRanges,
  readGetReply,
  readIncrReply,
  readMPutOutcomes,
  readScanPageReply,
  readScanReply,
  readStatsReply,
  readWriteOutcome,
  type ScannedEntry,
} from "../../src/protocol/internal/index.js";
import { PageReader, PageWriter } from "../../src/protocol/page.js";
import { RespReplyError, RespWriter, type RespValue } from "../../src/protocol/resp/index.js";
import { hashKey } from "../../src/ring/hash.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { freePorts } from "../helpers/ports.js";
import { runCli, tempDir } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { skipUnless, which } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const run = promisify(execFile);

/** RC.PUTPAGE or RC.CDELPAGE of a whole page, as a master sends it (head, then the page). */
function pageCommand(head: (w: RespWriter) => void, page: Uint8Array) {
  return (w: RespWriter): void => {
    head(w);
    w.bulk(page);
  };
}

async function rc(client: RespTestClient, encode: (w: RespWriter) => void) {
  const w = new RespWriter();
  encode(w);
  const [reply] = await client.send(w.take(), 1);
  return reply ?? null;
}

describe("auxiliary node: RESP round trips", () => {
  let node: AuxiliaryHandle;
  let redis: Redis;
  let client: RespTestClient;

  before(async () => {
    node = await startAuxiliary({ args: ["--max-memory", "64mb"] });
    redis = new Redis({ port: node.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    client = await RespTestClient.connect(node.port);
  });
  after(async () => {
    redis.disconnect();
    client.close();
    await node.destroy();
  });

  it("serves plain commands like Redis", async () => {
    assert.equal(await redis.ping(), "PONG");
    assert.equal(await redis.set("k1", "v1"), "OK");
    assert.equal(await redis.get("k1"), "v1");
    assert.equal(await redis.set("k2", "v2", "EX", 100), "OK");
    const ttl = await redis.ttl("k2");
    assert.ok(ttl >= 99 && ttl <= 100, `ttl ${ttl}`);
    const pttl = await redis.pttl("k2");
    assert.ok(pttl > 98_000 && pttl <= 100_000, `pttl ${pttl}`);
    assert.equal(await redis.ttl("k1"), -1);
    assert.equal(await redis.ttl("nope"), -2);
    assert.equal(await redis.exists("k1", "k2", "nope", "k1"), 3);
    assert.equal(await redis.set("k1", "x", "NX"), null);
    assert.equal(await redis.set("nope", "x", "XX"), null);
    assert.equal(await redis.set("k1", "v1b", "GET"), "v1");
    assert.equal(await redis.dbsize(), 2);
    assert.equal(await redis.del("k1", "nope"), 1);
    assert.equal(await redis.get("k1"), null);
    assert.equal(await redis.set("gone", "x", "PX", 30), "OK");
    await waitFor("PX expiry", async () => (await redis.get("gone")) === null);
    const binKey = Buffer.from([0, 255, 13, 10, 0]);
    const binValue = Buffer.from([1, 0, 13, 10, 255, 254]);
    await redis.set(binKey, binValue);
    assert.deepEqual(await redis.getBuffer(binKey), binValue);
    const info = await redis.info();
    assert.match(info, /# Server\r\n/);
    assert.match(info, /loading:0\r\n/);
    assert.match(info, /db0:keys=2,expires=1,avg_ttl=0\r\n/);
    assert.match(info, /maxmemory:67108864\r\n/);
    assert.match(info, /keyspace_hits:\d+\r\n/);
    assert.match(await redis.info("keyspace"), /^# Keyspace\r\ndb0:keys=2/);
  });

  it("keeps replies in order across a deep pipeline and many clients", async () => {
    const pipe = redis.pipeline();
    for (let i = 0; i < 2000; i++) pipe.set(`p${i}`, `value-${i}`);
    for (let i = 0; i < 2000; i++) pipe.get(`p${i}`);
    const results = (await pipe.exec()) ?? [];
    for (let i = 0; i < 2000; i++) assert.equal(results[2000 + i]?.[1], `value-${i}`);
    const clients = Array.from(
      { length: 20 },
      () => new Redis({ port: node.port, host: "127.0.0.1", maxRetriesPerRequest: 1 }),
    );
    try {
      await Promise.all(
        clients.map(async (c, n) => {
          const p = c.pipeline();
          for (let i = 0; i < 200; i++) p.set(`c${n}:${i}`, `${n}-${i}`).get(`c${n}:${i}`);
          const r = (await p.exec()) ?? [];
          for (let i = 0; i < 200; i++) assert.equal(r[2 * i + 1]?.[1], `${n}-${i}`);
        }),
      );
    } finally {
      for (const c of clients) c.disconnect();
    }
  });

  it("answers redis-cli", { skip: skipUnless("redis-cli") }, async () => {
    const cli = which("redis-cli") as string;
    const p = ["-p", String(node.port)];
    assert.equal((await run(cli, [...p, "SET", "cli", "hello"])).stdout.trim(), "OK");
    assert.equal((await run(cli, [...p, "GET", "cli"])).stdout.trim(), "hello");
    assert.match((await run(cli, [...p, "INFO", "memory"])).stdout, /used_memory:\d+/);
    assert.match((await run(cli, [...p, "DBSIZE"])).stdout, /^\d+\n$/);
  });

  it("applies versioned puts only when newer, in single and batched form", async () => {
    const key = Buffer.from("vk");
    let reply = await rc(client, (w) => encodePut(w, key, Buffer.from("v10"), 10, 0));
    assert.deepEqual(readWriteOutcome(reply), { applied: true, existed: true, heldVersion: 0 });
    reply = await rc(client, (w) => encodePut(w, key, Buffer.from("v5"), 5, 0));
    assert.deepEqual(readWriteOutcome(reply), { applied: false, existed: false, heldVersion: 10 });
    reply = await rc(client, (w) => encodePut(w, key, Buffer.from("v10b"), 10, 0));
    assert.equal(readWriteOutcome(reply).applied, false, "an equal version is not newer");
    const got = readGetReply(await rc(client, (w) => encodeGet(w, key)));
    assert.equal(got?.value?.toString(), "v10");
    assert.equal(got?.version, 10);
    assert.equal(got?.pttl, -1);

    const expiresAt = Date.now() + 60_000;
    const outcomes = readMPutOutcomes(
      await rc(client, (w) =>
        encodeMPut(w, [
          { key: Buffer.from("m1"), value: Buffer.from("a"), version: 20, expiresAt },
          { key, value: Buffer.from("old"), version: 9, expiresAt: 0 },
          { key: Buffer.from("m2"), value: Buffer.from("b"), version: 21, expiresAt: 0 },
        ]),
      ),
    );
    assert.deepEqual(
      outcomes.map((o) => [o.applied, o.heldVersion]),
      [
        [true, 0],
        [false, 10],
        [true, 0],
      ],
    );
    const m1 = readGetReply(await rc(client, (w) => encodeGet(w, Buffer.from("m1"))));
    assert.ok(m1 !== undefined && m1.pttl > 58_000 && m1.pttl <= 60_000, `pttl ${m1?.pttl}`);
    assert.equal(
      readGetReply(await rc(client, (w) => encodeGet(w, Buffer.from("none")))),
      undefined,
    );
  });

  it("deletes with versions: tombstones block older puts; conditional delete", async () => {
    const key = Buffer.from("dk");
    await rc(client, (w) => encodePut(w, key, Buffer.from("x"), 100, 0));
    let o = readWriteOutcome(await rc(client, (w) => encodeDel(w, key, 50)));
    assert.deepEqual([o.applied, o.heldVersion], [false, 100]);
    o = readWriteOutcome(await rc(client, (w) => encodeDel(w, key, 101)));
    assert.deepEqual([o.applied, o.existed], [true, true]);
    const tomb = readGetReply(await rc(client, (w) => encodeGet(w, key)));
    assert.deepEqual(tomb, { value: null, version: 101, pttl: -2 });
    o = readWriteOutcome(await rc(client, (w) => encodePut(w, key, Buffer.from("late"), 100, 0)));
    assert.deepEqual([o.applied, o.heldVersion], [false, 101]);
    // A delete of an absent key still leaves a tombstone.
    o = readWriteOutcome(await rc(client, (w) => encodeDel(w, Buffer.from("never"), 7)));
    assert.deepEqual([o.applied, o.existed], [true, false]);
    assert.equal(
      readGetReply(await rc(client, (w) => encodeGet(w, Buffer.from("never"))))?.version,
      7,
    );

    const ck = Buffer.from("ck");
    await rc(client, (w) => encodePut(w, ck, Buffer.from("x"), 200, 0));
    assert.equal(await rc(client, (w) => encodeCDel(w, ck, 199)), 0);
    assert.equal(await rc(client, (w) => encodeCDel(w, ck, 200)), 1);
    assert.equal(
      readGetReply(await rc(client, (w) => encodeGet(w, ck))),
      undefined,
      "no tombstone",
    );

    // RC.MCDEL: each entry removed only at its exact version; the reply counts the removed.
    const m = ["m1", "m2", "m3"].map((k) => Buffer.from(k));
    for (const k of m) await rc(client, (w) => encodePut(w, k, Buffer.from("x"), 300, 0));
    const batch = [
      { key: m[0] as Buffer, version: 300 },
      { key: m[1] as Buffer, version: 299 },
      { key: m[2] as Buffer, version: 300 },
      { key: Buffer.from("absent"), version: 300 },
    ];
    assert.equal(await rc(client, (w) => encodeMCDel(w, batch)), 2);
    assert.equal(readGetReply(await rc(client, (w) => encodeGet(w, m[0] as Buffer))), undefined);
    assert.equal(readGetReply(await rc(client, (w) => encodeGet(w, m[1] as Buffer)))?.version, 300);
    assert.equal(readGetReply(await rc(client, (w) => encodeGet(w, m[2] as Buffer))), undefined);
  });

  it("changes expiry and increments with versions", async () => {
    const key = Buffer.from("ek");
    await rc(client, (w) => encodePut(w, key, Buffer.from("41"), 300, 0));
    const at = Date.now() + 30_000;
    let o = readWriteOutcome(await rc(client, (w) => encodeExpire(w, key, at, 301)));
    assert.deepEqual([o.applied, o.existed], [true, true]);
    o = readWriteOutcome(await rc(client, (w) => encodeExpire(w, key, at, 250)));
    assert.deepEqual([o.applied, o.heldVersion], [false, 301]);
    o = readWriteOutcome(await rc(client, (w) => encodeExpire(w, Buffer.from("zz"), at, 5)));
    assert.deepEqual([o.applied, o.existed], [true, false]);

    const inc = readIncrReply(await rc(client, (w) => encodeIncrBy(w, key, 1n, 302)));
    assert.equal(inc.value, 42n);
    assert.equal(inc.expiresAt, at, "INCRBY keeps the TTL");
    assert.throws(
      () => readIncrReply(null),
      (e: unknown) => e instanceof Error,
    );
    const stale = await rc(client, (w) => encodeIncrBy(w, key, 1n, 302));
    assert.throws(
      () => readIncrReply(stale),
      (e: unknown) => e instanceof StaleVersionError && e.heldVersion === 302,
    );
    const fresh = readIncrReply(await rc(client, (w) => encodeIncrBy(w, Buffer.from("n"), -5n, 5)));
    assert.deepEqual(fresh, { value: -5n, expiresAt: 0 });
    await rc(client, (w) => encodePut(w, Buffer.from("txt"), Buffer.from("abc"), 9, 0));
    const bad = await rc(client, (w) => encodeIncrBy(w, Buffer.from("txt"), 1n, 10));
    assert.ok(bad instanceof RespReplyError);
    assert.equal(bad.message, "ERR value is not an integer or out of range");
    await rc(client, (w) =>
      encodePut(w, Buffer.from("big"), Buffer.from("9223372036854775807"), 9, 0),
    );
    const over = await rc(client, (w) => encodeIncrBy(w, Buffer.from("big"), 1n, 10));
    assert.ok(over instanceof RespReplyError);
    assert.equal(over.message, "ERR increment or decrement would overflow");
  });

  it("scans every entry exactly once, with versions, filtered by hash ranges", async () => {
    const c = await RespTestClient.connect(node.port);
    try {
      const w = new RespWriter();
      const n = 3000;
      for (let i = 0; i < n; i++)
        encodePut(w, Buffer.from(`scan:${i}`), Buffer.from(`v${i}`), 1000 + i, 0);
      await c.send(w.take(), n);
      const seen = new Map<string, ScannedEntry>();
      let cursor = 0;
      let pages = 0;
      do {
        const page = readScanReply(await rc(c, (x) => encodeScan(x, cursor, 500)));
        for (const e of page.entries) {
          const k = e.key.toString();
          assert.ok(!seen.has(k), `${k} seen twice`);
          seen.set(k, e);
        }
        cursor = page.cursor;
        pages++;
      } while (cursor !== 0);
      assert.ok(pages > 1);
      for (let i = 0; i < n; i++) {
        const e = seen.get(`scan:${i}`);
        assert.equal(e?.value.toString(), `v${i}`);
        assert.equal(e?.version, 1000 + i);
      }
      assert.equal(seen.get("dk")?.tombstone, true);
      // Ranges: only keys whose ring hash falls inside come back.
      const ranges = [
        { start: 0, end: 2 ** 30 },
        { start: 3 * 2 ** 30, end: 100 }, // wraps
      ];
      let inside = 0;
      cursor = 0;
      do {
        const page = readScanReply(await rc(c, (x) => encodeScan(x, cursor, 1000, ranges)));
        for (const e of page.entries) {
          assert.ok(inRanges(hashKey(e.key), ranges));
          inside++;
        }
        cursor = page.cursor;
      } while (cursor !== 0);
      const expected = [...seen.values()].filter((e) => inRanges(hashKey(e.key), ranges)).length;
      assert.equal(inside, expected);
      assert.ok(inside > 0 && inside < seen.size);
    } finally {
      c.close();
    }
  });

  it("pages: RC.SCANPAGE returns what RC.SCAN does; RC.PUTPAGE and RC.CDELPAGE apply by version", async () => {
    const c = await RespTestClient.connect(node.port);
    try {
      const w = new RespWriter();
      const n = 2000;
      for (let i = 0; i < n; i++) {
        encodePut(w, Buffer.from(`pg:${i}`), Buffer.from(`value ${i}`), 5000 + i, 0);
      }
      await c.send(w.take(), n);
      await rc(c, (x) => encodeDel(x, Buffer.from("pg:gone"), 9000));
      const ranges = [{ start: 2 ** 31, end: 2 ** 30 }]; // wraps: three quarters of the ring
      const scanAll = async (
        encode: typeof encodeScan,
        read: (reply: unknown) => ScannedEntry[] & { next?: number },
      ): Promise<Map<string, ScannedEntry>> => {
        const all = new Map<string, ScannedEntry>();
        let cursor = 0;
        do {
          const reply = await rc(c, (x) => encode(x, cursor, 700, ranges));
          const entries = read(reply);
          for (const e of entries) {
            assert.ok(!all.has(e.key.toString()), "an entry came twice");
            all.set(e.key.toString(), e);
          }
          cursor = entries.next as number;
        } while (cursor !== 0);
        return all;
      };
      const viaScan = await scanAll(encodeScan, (reply) => {
        const page = readScanReply(reply as RespValue);
        return Object.assign(page.entries, { next: page.cursor });
      });
      const readPage = (reply: unknown): ScannedEntry[] & { next?: number } => {
        const { cursor, page } = readScanPageReply(reply as RespValue);
        const out: ScannedEntry[] = [];
        const e = new PageReader().reset(page);
        while (e.next()) {
          out.push({
            key: Buffer.from(e.key()),
            value: Buffer.from(e.value()),
            version: e.version,
            expiresAt: e.expiresAt,
            tombstone: e.tombstone,
          });
        }
        return Object.assign(out, { next: cursor });
      };
      const viaPages = await scanAll(encodeScanPage, readPage);
      // The first page sends the ranges in full, the others name them (RANGESID).
      const prepared = prepareRanges(ranges, new RespWriter());
      const viaIds = await scanAll(
        (x, cursor, count) => encodeScanPage(x, cursor, count, prepared, cursor !== 0),
        readPage,
      );
      assert.deepEqual(viaIds, viaScan);
      const never = prepareRanges([{ start: 1, end: 2 }], new RespWriter());
      const refused = await rc(c, (x) => encodeScanPage(x, 0, 10, never, true));
      assert.ok(refused instanceof RespReplyError);
      assert.equal(refused.message, "ERR unknown RANGESID; send the ranges with RANGES");
      // The ranges hold three quarters of the ring: of the keys written here, some but not all.
      const ours = [...viaScan.keys()].filter((k) => k.startsWith("pg:")).length;
      assert.ok(ours > n / 2 && ours < n, `${ours} of ${n}`);
      assert.deepEqual(viaPages, viaScan);

      // RC.PUTPAGE: newer entries apply, older ones and ones at the held version do not,
      // a tombstone deletes with its version.
      const page = new PageWriter();
      page.add(Buffer.from("pg:1"), Buffer.from("newer"), 9001, 0, false); // applies
      page.add(Buffer.from("pg:2"), Buffer.from("older"), 4000, 0, false); // 5002 held
      page.add(Buffer.from("pg:3"), Buffer.alloc(0), 9002, 0, true); // deletes
      page.add(Buffer.from("pg:new"), Buffer.from("fresh"), 9003, 0, false); // applies
      page.add(Buffer.from("pg:gone"), Buffer.from("back"), 8999, 0, false); // tombstone 9000
      const body = Buffer.from(page.view());
      assert.equal(await rc(c, pageCommand(encodePutPageHead, body)), 3);
      const get = async (k: string) =>
        readGetReply(await rc(c, (x) => encodeGet(x, Buffer.from(k))));
      assert.equal((await get("pg:1"))?.value?.toString(), "newer");
      assert.equal((await get("pg:2"))?.value?.toString(), "value 2");
      assert.deepEqual(await get("pg:3"), { value: null, version: 9002, pttl: -2 });
      assert.equal((await get("pg:new"))?.version, 9003);
      assert.equal((await get("pg:gone"))?.value, null);
      // Applying the same page again changes nothing.
      assert.equal(await rc(c, pageCommand(encodePutPageHead, body)), 0);

      // RC.CDELPAGE: removes an entry only at its exact version, and only live entries.
      const drop = new PageWriter();
      drop.add(Buffer.from("pg:1"), Buffer.alloc(0), 9001, 0, false); // removed
      drop.add(Buffer.from("pg:4"), Buffer.alloc(0), 1, 0, false); // 5004 held: kept
      drop.add(Buffer.from("pg:3"), Buffer.alloc(0), 9002, 0, true); // a tombstone: kept
      assert.equal(await rc(c, pageCommand(encodeCDelPageHead, drop.view())), 1);
      assert.equal(await get("pg:1"), undefined);
      assert.equal((await get("pg:4"))?.version, 5004);
      assert.equal((await get("pg:3"))?.version, 9002);

      // A bad page is refused whole: its good entries are not applied either.
      const bad = new PageWriter();
      bad.add(Buffer.from("pg:5"), Buffer.from("not applied"), 9100, 0, false);
      bad.add(Buffer.from("pg:6"), Buffer.from("x"), 9101, 0, false);
      const cut = Buffer.from(bad.view()).subarray(0, bad.length - 1);
      const broken = Buffer.from(bad.view());
      broken[broken.length - 30] = 7; // the flags of the second entry (25 + 4 + 1 bytes)
      const replies = await c.pipeline([
        ["RC.PUTPAGE", cut],
        ["RC.PUTPAGE", broken],
        ["RC.CDELPAGE", cut],
        ["RC.PUTPAGE"],
        ["RC.SCANPAGE", "1", "10"],
        ["PING"],
      ]);
      const messages = replies.map((r) => (r instanceof RespReplyError ? r.message : r));
      assert.deepEqual(messages, [
        "ERR invalid page: entry 1 is cut short",
        "ERR invalid page: entry 1 has unknown flags",
        "ERR invalid page: entry 1 is cut short",
        "ERR wrong number of arguments for 'rc.putpage' command",
        "ERR invalid cursor",
        "PONG",
      ]);
      assert.equal((await get("pg:5"))?.value?.toString(), "value 5");
    } finally {
      c.close();
    }
  });

  it("reports stats, and a flush floor removes older data and refuses older puts", async () => {
    const stats = readStatsReply(await rc(client, (w) => encodeStats(w)));
    assert.equal(stats.id, "a1");
    assert.ok(stats.entries > 3000);
    assert.equal(stats.maxBytes, 64 * 1024 * 1024);
    const c = await RespTestClient.connect(node.port);
    try {
      // Every version so far (masters' and this node's clock) is below the floor, except one
      // written by a clock far ahead: it survives.
      const floor = 2 ** 51;
      const future = 2 ** 52;
      await rc(c, (w) => encodePut(w, Buffer.from("future"), Buffer.from("f"), future, 0));
      assert.equal(await rc(c, (w) => encodeFlush(w, floor)), 1);
      assert.equal(await redis.dbsize(), 1);
      assert.equal(await redis.get("future"), "f");
      const o = readWriteOutcome(
        await rc(c, (w) => encodePut(w, Buffer.from("old"), Buffer.from("o"), floor - 1, 0)),
      );
      assert.deepEqual([o.applied, o.heldVersion], [false, floor]);
      const ok = readWriteOutcome(
        await rc(c, (w) => encodePut(w, Buffer.from("new"), Buffer.from("n"), floor + 1, 0)),
      );
      assert.equal(ok.applied, true);
    } finally {
      c.close();
    }
  });

  it("refuses malformed internal commands with clear errors", async () => {
    const replies = await client.pipeline([
      ["RC.PUT", "k", "v", "abc", "0"],
      ["RC.PUT", "k", "v", "0", "0"],
      ["RC.PUT", "k", "v"],
      ["RC.MPUT", "2", "k", "v", "1", "0"],
      ["RC.SCAN", "0", "0"],
      ["RC.GET", "k", "extra"],
      ["PING"],
    ]);
    const messages = replies.map((r) => (r instanceof RespReplyError ? r.message : r));
    assert.deepEqual(messages, [
      "ERR invalid version",
      "ERR invalid version",
      "ERR wrong number of arguments for 'rc.put' command",
      "ERR wrong number of arguments for 'rc.mput' command",
      "ERR count must be from 1 to 100000",
      "ERR wrong number of arguments for 'rc.get' command",
      "PONG",
    ]);
  });

  it("serves /metrics, /healthz, /readyz and 404s", async () => {
    const metrics = await (await fetch(node.url("/metrics"))).text();
    for (const name of [
      'ringcache_requests_total{command="set",result="ok"',
      "ringcache_request_duration_seconds_bucket",
      "ringcache_store_hits_total",
      "ringcache_store_misses_total",
      "ringcache_store_evictions_total",
      "ringcache_store_expirations_total",
      "ringcache_store_entries",
      "ringcache_store_bytes",
      "ringcache_store_max_bytes",
      "ringcache_snapshot_duration_seconds",
      "ringcache_snapshot_last_success_timestamp_seconds",
      "ringcache_snapshot_failures_total",
      "ringcache_snapshot_unsaved_changes",
      "ringcache_snapshot_bytes",
      "ringcache_connections",
      "nodejs_eventloop_lag_seconds",
      'ringcache_store_eviction_info{policy="lru",node="a1",role="auxiliary"} 1',
      'ringcache_snapshot_interval_seconds{node="a1",role="auxiliary"} 10',
    ]) {
      assert.ok(metrics.includes(name), `missing ${name}`);
    }
    assert.match(
      metrics,
      /ringcache_requests_total\{command="rc\.put",result="error",node="a1",role="auxiliary"\} [1-9]/,
    );
    assert.match(
      metrics,
      /^ringcache_build_info\{version="\d+\.\d+\.\d+[^"]*",node="a1",role="auxiliary"\} 1$/m,
    );
    const health = await fetch(node.url("/healthz"));
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, "ok");
    assert.equal((await fetch(node.url("/readyz"))).status, 200);
    const missing = await fetch(node.url("/nope"));
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, "NOT_FOUND");
  });

  it("closes a connection that speaks HTTP to the RESP port", async () => {
    const socket = connect({ port: node.port, host: "127.0.0.1" });
    socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise<void>((resolve) => socket.once("close", () => resolve()));
    assert.equal(await redis.ping(), "PONG");
  });
});

describe("auxiliary node: security and limits", () => {
  it("requires AUTH when a secret is set", async () => {
    const node = await startAuxiliary({ secret: "s3cret", args: ["--max-clients", "3"] });
    const c = await RespTestClient.connect(node.port);
    try {
      const [denied, wrong, ok, after] = await c.pipeline([
        ["GET", "k"],
        ["AUTH", "nope"],
        ["AUTH", "s3cret"],
        ["SET", "k", "v"],
      ]);
      assert.ok(denied instanceof RespReplyError);
      assert.equal(denied.message, "NOAUTH Authentication required.");
      assert.ok(wrong instanceof RespReplyError);
      assert.equal(wrong.message, "WRONGPASS invalid username-password pair or user is disabled.");
      assert.equal(ok, "OK");
      assert.equal(after, "OK");
      // Max clients: the 4th connection is refused with Redis's error.
      const more = await Promise.all([1, 2].map(() => RespTestClient.connect(node.port)));
      const extra = connect({ port: node.port, host: "127.0.0.1" });
      const text = await new Promise<string>((resolve) => {
        let got = "";
        extra.on("data", (d: Buffer) => (got += d.toString()));
        extra.on("close", () => resolve(got));
      });
      assert.equal(text, "-ERR max number of clients reached\r\n");
      for (const m of more) m.close();
      assert.ok(!node.process.logText().includes("s3cret"), "the secret never reaches the log");
    } finally {
      c.close();
      await node.destroy();
    }
  });

  it("closes idle connections", async () => {
    const node = await startAuxiliary({ args: ["--idle-timeout", "200ms"] });
    try {
      const c = await RespTestClient.connect(node.port);
      assert.equal(await c.call("PING"), "PONG");
      await new Promise<void>((resolve) => c.socket.once("close", () => resolve()));
    } finally {
      await node.destroy();
    }
  });

  it("rejects bad configuration with one message naming the field, exit code 2", async () => {
    const dir = tempDir();
    const [port, http] = (await freePorts(2)) as [number, number];
    const base = ["auxiliary", "--id", "a9", "--data-dir", dir, "--http-port", String(http)];
    let r = await runCli([...base, "--port", "99999"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--port.*RINGCACHE_PORT.*an integer from 0 to 65535/);
    r = await runCli([...base, "--port", String(port), "--host", "0.0.0.0"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refusing to bind 0\.0\.0\.0.*--secret/);
    r = await runCli([...base, "--port", String(port)], { RINGCACHE_MAX_MEMORY: "lots" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-memory \(RINGCACHE_MAX_MEMORY/);
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "eviction: random\n");
    r = await runCli([...base, "--port", String(port), "--config", file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--eviction.*one of lru, noeviction/);
    r = await runCli([...base, "--port", String(port), "--advertise", "nohostport"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--advertise/);
  });

  it("reads its settings from a YAML file and RINGCACHE_* variables", async () => {
    const dir = tempDir();
    const file = join(dir, "a.yaml");
    writeFileSync(file, "max-memory: 32mb\neviction: noeviction\n");
    const node = await startAuxiliary({
      dataDir: join(dir, "data"),
      args: ["--config", file],
      env: { RINGCACHE_MAX_CLIENTS: "77" },
    });
    const redis = new Redis({ port: node.port, host: "127.0.0.1" });
    try {
      const info = await redis.info();
      assert.match(info, /maxmemory:33554432\r\n/);
      assert.match(info, /maxmemory_policy:noeviction\r\n/);
      assert.match(info, /maxclients:77\r\n/);
    } finally {
      redis.disconnect();
      await node.destroy();
    }
  });
});

describe("auxiliary node: registration", () => {
  it("registers with every master, with the secret as a bearer token", async () => {
    const { createServer } = await import("node:http");
    const seen: { auth: string | undefined; body: Record<string, unknown> }[] = [];
    const master = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        if (req.url === "/v1/internal/register" && req.method === "POST") {
          seen.push({
            auth: req.headers.authorization,
            body: JSON.parse(body) as Record<string, unknown>,
          });
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => master.listen(0, "127.0.0.1", resolve));
    const address = master.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    // The second master is down: registration with it fails quietly and is retried.
    const [down] = (await freePorts(1)) as [number];
    const node = await startAuxiliary({
      id: "reg1",
      secret: "tok",
      args: ["--masters", `127.0.0.1:${port},127.0.0.1:${down}`],
    });
    try {
      await waitFor("a registration", () => seen.length > 0);
      assert.deepEqual(seen[0], {
        auth: "Bearer tok",
        body: { id: "reg1", host: "127.0.0.1", port: node.port, httpPort: node.httpPort },
      });
    } finally {
      await node.destroy();
      master.close();
    }
  });
});

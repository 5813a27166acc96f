// Rebalancing under concurrent reads and writes, checked by the invariant checker: a node
// joining a 3-node cluster, and kill -9 of each auxiliary node in turn with R=2. Keys are scaled
// to 20k (100k with RINGCACHE_SOAK=1) so the recovery suite fits a loaded 2-core machine.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import { Checker, summarize, type KvClient } from "../helpers/checker.js";
import { TestCluster } from "../helpers/cluster.js";
import { connectRedis, kvOverRedis } from "../helpers/redis-client.js";
import { RespTestClient } from "../helpers/resp-client.js";
import {
  HitReader,
  PRELOAD_KEYS,
  countMissing,
  nodeCounts,
  preload,
  recoveryView,
  waitRebalanced,
} from "../helpers/recovery.js";

/** Health settings that tell a node busy with a move from a dead one on a loaded machine. */
const TIMING = { healthInterval: "200ms", requestTimeout: "1s" } as const;

const WORKLOAD = {
  writers: 8,
  keysPerWriter: 200,
  readRatio: 0.5,
  deleteRatio: 0.05,
  valueBytes: 32,
} as const;

function assertClean(checker: Checker): void {
  const r = checker.report();
  console.log(`  checker: ${summarize(r)}`);
  assert.equal(r.lostWrites, 0, r.examples.join("\n"));
  assert.equal(r.staleReads, 0, r.examples.join("\n"));
  assert.equal(r.resurrected, 0, r.examples.join("\n"));
  assert.equal(r.phantoms, 0, r.examples.join("\n"));
  assert.equal(r.checksumFailures, 0, r.examples.join("\n"));
  assert.ok(r.writes.ok > 0 && r.reads.ok > 0);
}

describe("a 4th auxiliary node joins 3 (R=2)", () => {
  let cluster: TestCluster;
  let redis: Redis;
  let kv: KvClient;

  before(async () => {
    cluster = await TestCluster.start({ masters: 2, auxiliary: 3, replicas: 2, ...TIMING });
    redis = connectRedis(cluster.master(0).port);
    kv = kvOverRedis(redis);
    await preload(cluster.master(0).port, PRELOAD_KEYS);
  });
  after(async () => {
    redis.disconnect();
    await cluster.stop();
  });

  it("moves about a quarter of the entries, loses nothing and causes no miss", async () => {
    let before = 0;
    for (const a of cluster.auxiliaries) before += (await nodeCounts(a)).entries;
    const movesBefore = (await recoveryView(cluster.master(0))).rebalance?.movesCompleted ?? 0;
    const checker = new Checker(WORKLOAD);
    const load = checker.run([kv], 60_000);
    const reader = new HitReader(cluster.master(1).port, PRELOAD_KEYS);
    const started = Date.now();
    await cluster.addAuxiliary("a4");
    const view = await waitRebalanced(cluster.master(0), 4, movesBefore + 1);
    const elapsed = Date.now() - started;
    await reader.stop();
    checker.stop();
    await load;
    const second = connectRedis(cluster.master(1).port);
    try {
      await checker.verify([kv, kvOverRedis(second)]);
    } finally {
      second.disconnect();
    }

    const moved = view.rebalance?.keysMovedThisMove ?? 0;
    const share = moved / before;
    let after = 0;
    const counts: string[] = [];
    for (const a of cluster.auxiliaries) {
      const c = await nodeCounts(a);
      after += c.entries;
      counts.push(`${a.id}=${c.entries}`);
    }
    console.log(
      `  join: ${moved} of ${before} entries moved (${(share * 100).toFixed(1)}%) in ${elapsed} ms; ` +
        `entries after: ${counts.join(" ")}; hit reads ${reader.reads - reader.misses}/${reader.reads}, ` +
        `read errors ${reader.errors}`,
    );
    assert.ok(share > 0.225 && share < 0.275, `moved ${(share * 100).toFixed(1)}% of entries`);
    assert.equal(reader.misses, 0, "existing keys missed during the move");
    assert.ok(reader.reads > 0);
    // Former holders were emptied of what they no longer own: still R copies of each key.
    assert.ok(Math.abs(after - before) < before * 0.05, `entries ${before} -> ${after}`);
    assert.equal(await countMissing(cluster.master(1).port, PRELOAD_KEYS), 0);
    assertClean(checker);
    // Both masters route by one ring.
    assert.equal(
      (await recoveryView(cluster.master(1))).epoch,
      (await recoveryView(cluster.master(0))).epoch,
    );
  });
});

describe("kill -9 of each auxiliary node in turn (R=2)", () => {
  let cluster: TestCluster;
  let redis: Redis;
  let kv: KvClient;

  before(async () => {
    cluster = await TestCluster.start({ masters: 1, auxiliary: 3, replicas: 2, ...TIMING });
    redis = connectRedis(cluster.master(0).port);
    kv = kvOverRedis(redis);
    await preload(cluster.master(0).port, PRELOAD_KEYS);
  });
  after(async () => {
    redis.disconnect();
    await cluster.stop();
  });

  it("restores R copies from the survivors and loses no acknowledged write", async () => {
    const checker = new Checker(WORKLOAD);
    const load = checker.run([kv], 120_000);
    const master = cluster.master(0);
    let moves = (await recoveryView(master)).rebalance?.movesCompleted ?? 0;
    for (const aux of [...cluster.auxiliaries]) {
      const killedAt = Date.now();
      await aux.kill9();
      await waitRebalanced(master, 2, ++moves, 30_000);
      const restoredMs = Date.now() - killedAt;
      // Every key has R = 2 copies again, on the two survivors.
      let copies = 0;
      for (const a of cluster.auxiliaries) if (a !== aux) copies += (await nodeCounts(a)).entries;
      const view = await recoveryView(master);
      console.log(
        `  kill -9 ${aux.id}: R copies restored in ${restoredMs} ms ` +
          `(${view.rebalance?.keysMovedThisMove ?? 0} entries copied, ${copies} copies on survivors)`,
      );
      assert.ok(copies >= 2 * PRELOAD_KEYS, `${copies} copies for ${PRELOAD_KEYS} keys`);
      assert.ok(restoredMs < 30_000);
      await aux.restart();
      await waitRebalanced(master, 3, ++moves, 30_000);
    }
    checker.stop();
    await load;
    await checker.verify([kv]);
    assert.equal(await countMissing(master.port, PRELOAD_KEYS), 0);
    assertClean(checker);
  });
});

describe("a move to nodes that accept only small bulks (R=1)", () => {
  it("sends pages within each node's --max-bulk, and entries larger than it alone", async () => {
    const limit = ["--max-bulk", "2kb"];
    const cluster = await TestCluster.start({
      masters: 1,
      auxiliary: 3,
      replicas: 1,
      auxiliaryArgs: limit,
      ...TIMING,
    });
    const redis = connectRedis(cluster.master(0).port);
    try {
      // Values up to the limit: many entries of a page exceed 2 KB with their key and header.
      const n = 600;
      const value = (i: number): string => String(i % 10).repeat((i * 37) % 2040);
      const pipeline = redis.pipeline();
      for (let i = 0; i < n; i++) pipeline.set(`big:${i}`, value(i));
      for (const [err] of (await pipeline.exec()) ?? []) assert.equal(err, null);
      const movesBefore = (await recoveryView(cluster.master(0))).rebalance?.movesCompleted ?? 0;
      const a4 = await cluster.addAuxiliary("a4");
      const view = await waitRebalanced(cluster.master(0), 4, movesBefore + 1);
      const moved = view.rebalance?.keysMovedThisMove ?? 0;
      const held = (await nodeCounts(a4)).entries;
      console.log(`  small bulks: ${moved} of ${n} entries moved; a4 holds ${held}`);
      assert.ok(moved > n * 0.15 && moved < n * 0.35, `moved ${moved}`);
      assert.equal(held, moved);
      let total = 0;
      for (const a of cluster.auxiliaries) total += (await nodeCounts(a)).entries;
      assert.equal(total, n, "each entry is held once");
      const got = await redis.mget(...Array.from({ length: n }, (_, i) => `big:${i}`));
      for (let i = 0; i < n; i++) assert.equal(got[i], value(i), `big:${i}`);
    } finally {
      redis.disconnect();
      await cluster.stop();
    }
  });
});

describe("a move whose senders forget its ranges (R=1)", () => {
  it("sends the ranges in full again when a sender refuses their id, and loses nothing", async () => {
    const cluster = await TestCluster.start({
      masters: 1,
      auxiliary: 3,
      replicas: 1,
      // Slow enough that the senders are made to forget the ranges while pages are still due.
      masterArgs: ["--rebalance-share", "5"],
      ...TIMING,
    });
    const master = cluster.master(0);
    const senders = await Promise.all(
      cluster.auxiliaries.map((a) => RespTestClient.connect(a.port)),
    );
    try {
      await preload(master.port, PRELOAD_KEYS);
      const movesBefore = (await recoveryView(master)).rebalance?.movesCompleted ?? 0;
      await cluster.addAuxiliary("a4");
      // A node keeps the last 8 lists of ranges it was sent in full: 9 others push the move's
      // out, so the master's next page by id is refused.
      let moving = true;
      const forget = (async () => {
        for (let round = 0; moving; round++) {
          for (let i = 0; i < 9; i++) {
            const bounds = [String(round * 9 + i), String(round * 9 + i + 1)];
            await Promise.all(
              senders.map((c) => c.call("RC.SCANPAGE", "0", "1", "RANGES", ...bounds)),
            );
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      try {
        await waitRebalanced(master, 4, movesBefore + 1, 120_000);
      } finally {
        moving = false;
        await forget;
      }
      const refused = master.process.logText().split("scan by ranges id refused").length - 1;
      console.log(`  forgotten ranges: ${refused} sender task(s) went back to full ranges`);
      assert.ok(refused > 0, "no page was refused: the test did not reach the fallback");
      assert.equal(await countMissing(master.port, PRELOAD_KEYS), 0);
      let total = 0;
      for (const a of cluster.auxiliaries) total += (await nodeCounts(a)).entries;
      assert.equal(total, PRELOAD_KEYS, "each entry is held once");
    } finally {
      for (const c of senders) c.close();
      await cluster.stop();
    }
  });
});

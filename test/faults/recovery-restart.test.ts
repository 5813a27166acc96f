// Recovery across departures and restarts, under the invariant checker: a graceful shutdown
// with R=1, a node returning with a stale snapshot (within and beyond the tombstone lifetime),
// the whole system stopped and started again, and the leader killed in the middle of a move.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { Checker, summarize, type KvClient } from "../helpers/checker.js";
import { TestCluster, type MasterHandle } from "../helpers/cluster.js";
import { connectRedis, kvOverRedis } from "../helpers/redis-client.js";
import {
  PRELOAD_KEYS,
  countMissing,
  nodeCounts,
  preload,
  preloadValue,
  recoveryView,
  waitRebalanced,
} from "../helpers/recovery.js";
import { sleep, waitFor } from "../helpers/wait.js";

const TIMING = { healthInterval: "200ms", requestTimeout: "1s" } as const;
const WORKLOAD = {
  writers: 8,
  keysPerWriter: 200,
  readRatio: 0.5,
  deleteRatio: 0.05,
  valueBytes: 32,
} as const;

describe("SIGTERM of an auxiliary node with R=1", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 1,
      discovery: "register",
      ...TIMING,
    });
    await preload(cluster.master(0).port, PRELOAD_KEYS);
  });
  after(async () => {
    await cluster.stop();
  });

  it("hands its entries to their new owners and exits 0; nothing acknowledged is lost", async () => {
    const redis = [connectRedis(cluster.master(0).port), connectRedis(cluster.master(1).port)];
    const kv = redis.map(kvOverRedis);
    try {
      const checker = new Checker(WORKLOAD);
      const load = checker.run(kv, 60_000);
      await sleep(300);
      const held = (await nodeCounts(cluster.aux(1))).entries;
      const started = Date.now();
      const exit = await cluster.aux(1).stop();
      const ms = Date.now() - started;
      assert.deepEqual(exit, { code: 0, signal: null });
      await waitRebalanced(cluster.master(0), 2, 1);
      await sleep(300);
      checker.stop();
      await load;
      await checker.verify(kv);
      const r = checker.report();
      const view = await recoveryView(cluster.master(0));
      console.log(
        `  SIGTERM a2 (R=1): held ${held} entries, exited 0 after ${ms} ms, ` +
          `${view.rebalance?.keysMovedThisMove ?? 0} entries handed off; checker: ${summarize(r)}`,
      );
      assert.equal(r.lostWrites, 0, r.examples.join("\n"));
      assert.equal(r.staleReads, 0, r.examples.join("\n"));
      assert.equal(r.resurrected, 0, r.examples.join("\n"));
      assert.ok(r.writes.ok > 0);
      assert.equal(await countMissing(cluster.master(1).port, PRELOAD_KEYS), 0);
    } finally {
      for (const r of redis) r.disconnect();
    }
  });
});

describe("an auxiliary node returning with a stale snapshot (R=2)", () => {
  const N = 3000;
  let cluster: TestCluster;
  let redis: Redis;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 1,
      auxiliary: 3,
      replicas: 2,
      ...TIMING,
      masterArgs: ["--tombstone-ttl", "3s"],
      auxiliaryArgs: ["--tombstone-ttl", "3s", "--snapshot-interval", "200ms"],
    });
    redis = connectRedis(cluster.master(0).port);
  });
  after(async () => {
    redis.disconnect();
    await cluster.stop();
  });

  /**
   * Writes N keys, lets a2 snapshot them, kills a2, overwrites half and deletes a quarter,
   * waits `awayMs`, brings a2 back, and checks every node and every read.
   */
  async function staleRound(round: number, awayMs: number): Promise<void> {
    const key = (i: number): string => `stale:${round}:${i}`;
    for (let at = 0; at < N; at += 500) {
      const p = redis.pipeline();
      for (let i = at; i < at + 500; i++) p.set(key(i), `old-${i}`);
      await p.exec();
    }
    await sleep(600); // a2's snapshot holds the old values
    const a2 = cluster.auxById("a2");
    const master = cluster.master(0);
    let moves = (await recoveryView(master)).rebalance?.movesCompleted ?? 0;
    await a2.kill9();
    await waitRebalanced(master, 2, ++moves);
    const p = redis.pipeline();
    for (let i = 0; i < N; i++) {
      if (i % 4 === 0) p.del(key(i));
      else if (i % 2 === 1) p.set(key(i), `new-${i}`);
    }
    await p.exec();
    await sleep(awayMs);
    // Reads during the return must never see an old value or a deleted key.
    let stale = 0;
    let reads = 0;
    let reading = true;
    const reader = (async () => {
      const r = new Redis({ port: master.port, maxRetriesPerRequest: 1 });
      try {
        while (reading) {
          const values = await r.mget(Array.from({ length: N }, (_, i) => key(i)));
          values.forEach((v, i) => {
            reads++;
            if (i % 4 === 0 ? v !== null : i % 2 === 1 ? v !== `new-${i}` : v !== `old-${i}`) {
              stale++;
            }
          });
        }
      } finally {
        r.disconnect();
      }
    })();
    await a2.restart();
    await waitRebalanced(master, 3, moves + 1);
    reading = false;
    await reader;
    // Every node holds only current values: no stale copy waits to be read.
    let staleHeld = 0;
    for (const aux of cluster.auxiliaries) {
      const direct = new Redis({ port: aux.port, maxRetriesPerRequest: 0 });
      try {
        const p = direct.pipeline();
        for (let i = 0; i < N; i++) p.get(key(i));
        const values = ((await p.exec()) ?? []).map(([err, v]) => {
          if (err !== null) throw err;
          return v as string | null;
        });
        values.forEach((v, i) => {
          if (v === null) return;
          if (i % 4 === 0 || (i % 2 === 1 && v !== `new-${i}`)) staleHeld++;
        });
      } finally {
        direct.disconnect();
      }
    }
    console.log(
      `  stale snapshot, away ${awayMs} ms (tombstone lifetime 3 s): ${reads} reads during the ` +
        `return, ${stale} stale or resurrected; ${staleHeld} stale copies held by nodes`,
    );
    assert.equal(stale, 0);
    assert.equal(staleHeld, 0);
    assert.ok(reads >= N);
  }

  it("within the tombstone lifetime: merged by version, no stale read, no resurrected delete", async () => {
    await staleRound(1, 0);
  });

  it("beyond the tombstone lifetime: its snapshot entries are dropped on rejoin", async () => {
    await staleRound(2, 4000);
  });
});

describe("the whole system stopped and started again", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      discovery: "register",
      ...TIMING,
      keepData: true,
    });
    await preload(cluster.master(0).port, PRELOAD_KEYS);
  });
  after(async () => {
    await cluster.stop();
  });

  it("brings back everything written before the stop, and no deleted key", async () => {
    const master = cluster.master(0);
    // A move first, so that the masters' backups hold records to replay.
    await cluster.aux(2).kill9();
    await waitRebalanced(master, 2, 1);
    await cluster.aux(2).restart();
    await waitRebalanced(master, 3, 2);
    const redis = connectRedis(master.port);
    const deleted: string[] = [];
    try {
      for (let i = 0; i < PRELOAD_KEYS; i += 10) deleted.push(`pre:${i}`);
      for (let at = 0; at < deleted.length; at += 500) {
        await redis.del(...deleted.slice(at, at + 500));
      }
    } finally {
      redis.disconnect();
    }
    const started = Date.now();
    await Promise.all(cluster.masters.map((m) => m.terminate()));
    const exits = await Promise.all(cluster.auxiliaries.map((a) => a.stop()));
    for (const e of exits) assert.equal(e.code, 0);
    await Promise.all(cluster.auxiliaries.map((a) => a.restart()));
    await Promise.all(cluster.masters.map((m) => m.restart()));
    // Nodes register again one by one: the leader moves data at each step; wait until done.
    await cluster.waitRing(3);
    await waitRebalanced(cluster.master(0), 3, 0);
    await waitRebalanced(cluster.master(1), 3, 0);
    const restartMs = Date.now() - started;
    const check = new Redis({ port: cluster.master(1).port });
    let resurrected = 0;
    let wrong = 0;
    try {
      for (let at = 0; at < PRELOAD_KEYS; at += 1000) {
        const keys = Array.from({ length: 1000 }, (_, j) => `pre:${at + j}`);
        const values = await check.mget(keys);
        values.forEach((v, j) => {
          const i = at + j;
          if (i % 10 === 0) {
            if (v !== null) resurrected++;
          } else if (v !== preloadValue(i)) wrong++;
        });
      }
    } finally {
      check.disconnect();
    }
    console.log(
      `  whole restart: ${PRELOAD_KEYS} keys, ${deleted.length} deleted before the stop; back in ` +
        `${restartMs} ms: ${wrong} missing or wrong, ${resurrected} resurrected`,
    );
    assert.equal(wrong, 0);
    assert.equal(resurrected, 0);
  });
});

describe("the leader master killed in the middle of a rebalance", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({ masters: 2, auxiliary: 3, replicas: 2, ...TIMING });
    await preload(cluster.master(1).port, PRELOAD_KEYS * 2);
  });
  after(async () => {
    await cluster.stop();
  });

  it("is finished by the next master", async () => {
    const m1 = cluster.master(0);
    const m2 = cluster.master(1);
    assert.equal((await recoveryView(m2)).leader, "m1");
    const client = connectRedis(m2.port);
    try {
      await leaderLoss(m1, m2, kvOverRedis(client));
    } finally {
      client.disconnect();
    }
  });

  async function leaderLoss(m1: MasterHandle, m2: MasterHandle, kv: KvClient): Promise<void> {
    const checker = new Checker(WORKLOAD);
    const load = checker.run([kv], 60_000);
    const joining = cluster.addAuxiliary("a4");
    await waitFor(
      "m1 to start moving",
      async () => (await recoveryView(m1)).rebalance?.running === true,
      { timeoutMs: 20_000, intervalMs: 10 },
    );
    await m1.kill9();
    const killedAt = Date.now();
    await joining;
    const view = await waitRebalanced(m2, 4, 1);
    const ms = Date.now() - killedAt;
    checker.stop();
    await load;
    await checker.verify([kv]);
    const r = checker.report();
    const a4 = (await nodeCounts(cluster.auxById("a4"))).entries;
    console.log(
      `  leader killed mid-move: m2 (${view.leader}) finished it ${ms} ms after the kill, ` +
        `${view.rebalance?.keysMovedThisMove ?? 0} entries copied; a4 holds ${a4}; checker: ${summarize(r)}`,
    );
    assert.equal(view.leader, "m2");
    assert.ok((view.rebalance?.movesCompleted ?? 0) >= 1);
    assert.ok(a4 > PRELOAD_KEYS * 2 * 2 * 0.2, `a4 holds ${a4}`);
    assert.equal(await countMissing(m2.port, PRELOAD_KEYS * 2), 0);
    assert.equal(r.lostWrites, 0, r.examples.join("\n"));
    assert.equal(r.staleReads, 0, r.examples.join("\n"));
  }
});

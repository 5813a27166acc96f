// Coordination through etcd (docs/design.md, "Coordination through etcd"), against a real local
// etcd: the leader killed, etcd stopped and back, nodes and masters found in etcd, and bad etcd
// settings at start. The scenarios shared with built-in coordination run in both modes in
// coordination.test.ts and master-failover.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { hashKey } from "../../src/ring/hash.js";
import { Ring } from "../../src/ring/ring.js";
import { startAuxiliary } from "../helpers/auxiliary.js";
import { TestCluster, type MasterHandle } from "../helpers/cluster.js";
import { EtcdServer } from "../helpers/etcd.js";
import { ledAt, median } from "../helpers/leader.js";
import { freePort } from "../helpers/ports.js";
import { runCli, tempDir } from "../helpers/process.js";
import {
  countMissing,
  preload,
  recoveryView,
  waitRebalanced,
  type RecoveryView,
} from "../helpers/recovery.js";
import { skipUnless } from "../helpers/tools.js";
import { sleep, underLoad, waitFor } from "../helpers/wait.js";

const NEEDS_ETCD = { skip: skipUnless("etcd") };
/** The masters' lease TTL and health interval in these tests. */
const TTL_MS = 2000;
const INTERVAL_MS = 200;

const view = (m: MasterHandle): Promise<RecoveryView> => recoveryView(m);

/** Keys preloaded before the leader is killed mid-move. */
const PRELOADED = 20_000;

function etcdCluster(
  masters: number,
  auxiliary = 3,
  masterArgs: readonly string[] = [],
): Promise<TestCluster> {
  return TestCluster.start({
    masterArgs,
    masters,
    auxiliary,
    replicas: 2,
    coordination: "etcd",
    discovery: "etcd",
    healthInterval: `${INTERVAL_MS}ms`,
    requestTimeout: "500ms",
    leaseTtl: `${TTL_MS / 1000}s`,
  });
}

describe("etcd: the leader killed with -9", NEEDS_ETCD, () => {
  let cluster: TestCluster;

  before(async () => {
    // Moves paced to a few seconds, so that the leader can be killed while one runs.
    cluster = await etcdCluster(3, 3, ["--rebalance-share", "5"]);
    await preload(cluster.master(0).port, PRELOADED);
  });
  after(async () => {
    await cluster?.stop();
  });

  it("another master leads within the lease TTL and a health interval, and resumes the move", async () => {
    const failovers: number[] = [];
    for (let round = 0; round < 3; round++) {
      const v = await waitFor("one leader all masters agree on", async () => {
        const views = await Promise.all(cluster.masters.map(view));
        const leader = views[0]?.leader;
        return leader !== null &&
          views.every((x) => x.leader === leader && x.coordination?.connected)
          ? views[0]
          : undefined;
      });
      const leader = cluster.masters.find((m) => m.id === v.leader) as MasterHandle;
      const term = v.coordination?.term ?? 0;
      const others = cluster.masters.filter((m) => m !== leader);
      const killedAt = Date.now();
      await leader.kill9();
      // The next leader: the live master whose election key is the oldest.
      const next = await waitFor(
        "another master to lead",
        async () => {
          const vs = await Promise.all(others.map(view));
          const l = vs[0]?.leader;
          return l !== null && l !== undefined && l !== leader.id && vs.every((x) => x.leader === l)
            ? { id: l, term: vs[0]?.coordination?.term ?? 0 }
            : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 20 },
      );
      const successor = others.find((m) => m.id === next.id) as MasterHandle;
      const at = await ledAt(successor, next.id, killedAt);
      failovers.push(at - killedAt);
      assert.ok(next.term > term, `the new term ${next.term} is greater than ${term}`);
      // The killed master comes back as a follower (its old key is gone or going).
      await leader.restart();
    }
    console.log(
      `[coordination-etcd] failover after kill -9 of the leader (TTL ${TTL_MS} ms, interval ${INTERVAL_MS} ms): ` +
        `${failovers.map((ms) => `${ms} ms`).join(", ")}; median ${median(failovers)} ms, worst ${Math.max(...failovers)} ms`,
    );
    // The lease lives TTL after the last renewal, etcd revokes expired leases every 500 ms, and
    // the successor assesses every interval: nominally within TTL + 500 ms + an interval.
    for (const ms of failovers) assert.ok(ms <= underLoad(TTL_MS + 500 + INTERVAL_MS), `${ms} ms`);

    // Moves resume under the new leader: a node joins, the leader dies while the move runs
    // (paced to a few seconds), and its successor finishes it from the sources it published.
    const v = await view(cluster.master(0));
    const leader = cluster.masters.find((m) => m.id === v.leader) as MasterHandle;
    await cluster.addAuxiliary("a4");
    await waitFor(
      `${leader.id} to be moving data to a4`,
      async () => {
        const lv = await view(leader);
        return lv.nodes.some((n) => n.id === "a4" && n.share > 0) && lv.rebalance?.running === true;
      },
      { timeoutMs: 15_000, intervalMs: 10 },
    );
    await leader.kill9();
    const survivors = cluster.masters.filter((m) => m !== leader);
    const led = await waitFor(
      "the survivors to agree on a new leader",
      async () => {
        const vs = await Promise.all(survivors.map(view));
        const l = vs[0]?.leader;
        return l !== null && l !== undefined && l !== leader.id && vs.every((x) => x.leader === l)
          ? l
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const successor = survivors.find((m) => m.id === led) as MasterHandle;
    const done = await waitRebalanced(successor, 4, 1);
    assert.deepEqual(done.coordination?.sources, []);
    assert.equal(await countMissing(successor.port, PRELOADED), 0, "preloaded keys lost");
    await leader.restart();
  });
});

describe("etcd: unreachable, then back", NEEDS_ETCD, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await etcdCluster(2, 3);
  });
  after(async () => {
    await cluster?.stop();
  });

  it("keeps serving on the ring it has, changes no ring, says so, and recovers by itself", async () => {
    const [m1, m2] = [cluster.master(0), cluster.master(1)];
    const etcd = cluster.etcd as NonNullable<TestCluster["etcd"]>;
    const before = await view(m1);
    assert.equal(before.coordination?.kind, "etcd");
    assert.equal(before.coordination?.connected, true);
    const epoch = before.epoch;
    await etcd.kill();
    const stoppedAt = Date.now();
    for (const m of [m1, m2]) {
      await waitFor(
        `${m.id} to say coordination is disconnected`,
        async () => {
          const v = await view(m);
          return v.coordination?.connected === false && v.leader === null;
        },
        { timeoutMs: underLoad(TTL_MS / 2 + INTERVAL_MS) },
      );
    }
    const metrics = await (await fetch(m1.url("/metrics"))).text();
    assert.match(metrics, /^ringcache_master_coordination_connected\{kind="etcd"\} 0$/m);
    const status = await runCli(["status", "--url", m2.url("")]);
    assert.match(status.stdout, /coordination: etcd\s+DISCONNECTED/);

    // Reads and writes go on, through both masters, by the ring they have.
    const c1 = new Redis({ port: m1.port, maxRetriesPerRequest: 1 });
    const c2 = new Redis({ port: m2.port, maxRetriesPerRequest: 1 });
    try {
      for (let i = 0; i < 50; i++) assert.equal(await c1.set(`off:${i}`, `v${i}`), "OK");
      for (let i = 0; i < 50; i++) assert.equal(await c2.get(`off:${i}`), `v${i}`);

      // A node dies: both masters see it down, and neither changes its ring.
      await cluster.auxById("a3").kill9();
      await cluster.waitNodeState("a3", "down", 10_000, 0);
      await cluster.waitNodeState("a3", "down", 10_000, 1);
      await sleep(INTERVAL_MS * 5);
      for (const m of [m1, m2]) {
        const v = await view(m);
        assert.equal(v.epoch, epoch, `${m.id} changed its ring while etcd was away`);
        assert.ok(
          v.nodes.some((n) => n.id === "a3" && n.share > 0),
          `${m.id} dropped a3`,
        );
      }
      // Reads fail over to the live owner; writes to keys a3 does not own go on.
      for (let i = 0; i < 50; i++) assert.equal(await c2.get(`off:${i}`), `v${i}`);
      const ring = Ring.of(
        ["a1", "a2", "a3"].map((id) => ({ id })),
        { vnodes: before.nodes.length > 0 ? (await m1.view()).vnodes : 4096 },
      );
      let written = 0;
      for (let i = 0; written < 20; i++) {
        const key = `off2:${i}`;
        if (ring.ownersOfHash(hashKey(Buffer.from(key)), 2).includes("a3")) continue;
        assert.equal(await c1.set(key, "w"), "OK");
        assert.equal(await c2.get(key), "w");
        written++;
      }

      // etcd back: the leader takes a3 out by itself.
      await etcd.restart();
      const backAt = Date.now();
      const changed = await waitFor(
        "a ring without a3 on both masters",
        async () => {
          const vs = await Promise.all([view(m1), view(m2)]);
          return vs.every((v) => v.nodes.some((n) => n.id === "a3" && n.share === 0))
            ? vs
            : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 20 },
      );
      const leader = cluster.masters.find((m) => m.id === changed[0]?.leader) ?? m1;
      const ringChangedAt = await waitFor("the leader's ring change", () => {
        for (const e of leader.process.logEvents("ring changed")) {
          const at = Date.parse(e.time);
          if (at >= backAt) return at;
        }
        return undefined;
      });
      console.log(
        `[coordination-etcd] etcd away ${backAt - stoppedAt} ms; first ring change ${ringChangedAt - backAt} ms after it answered again`,
      );
      await waitFor("both masters connected again", async () => {
        const vs = await Promise.all([view(m1), view(m2)]);
        return vs.every((v) => v.coordination?.connected === true && v.leader !== null);
      });
      for (let i = 0; i < 50; i++) assert.equal(await c2.get(`off:${i}`), `v${i}`);
    } finally {
      c1.disconnect();
      c2.disconnect();
    }
  });
});

describe("etcd: masters and nodes found in etcd", NEEDS_ETCD, () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await etcdCluster(2, 3);
  });
  after(async () => {
    await cluster?.stop();
  });

  it("need neither --auxiliary nor --peers, and route by one ring", async () => {
    for (const m of cluster.masters) {
      assert.ok(!m.process.args.includes("--auxiliary") && !m.process.args.includes("--peers"));
      await waitFor(`${m.id} to see every node registered in etcd and up`, async () => {
        const v = await m.view();
        return (
          JSON.stringify(v.nodes.map((n) => [n.id, n.source, n.state, n.inRing])) ===
          JSON.stringify([
            ["a1", "registered", "up", true],
            ["a2", "registered", "up", true],
            ["a3", "registered", "up", true],
          ])
        );
      });
    }
    const [v1, v2] = [await view(cluster.master(0)), await view(cluster.master(1))];
    assert.deepEqual(v1.coordination?.livePeers, ["m2"]);
    assert.deepEqual(v2.coordination?.livePeers, ["m1"]);
    const c1 = new Redis({ port: cluster.master(0).port, maxRetriesPerRequest: 1 });
    const c2 = new Redis({ port: cluster.master(1).port, maxRetriesPerRequest: 1 });
    try {
      for (let i = 0; i < 50; i++) await c1.set(`found:${i}`, `v${i}`);
      const values = await c2.mget(Array.from({ length: 50 }, (_, i) => `found:${i}`));
      assert.deepEqual(
        values,
        Array.from({ length: 50 }, (_, i) => `v${i}`),
      );
      assert.equal((await cluster.master(0).view()).epoch, (await cluster.master(1).view()).epoch);
    } finally {
      c1.disconnect();
      c2.disconnect();
    }
  });
});

describe("etcd: an auxiliary node learns the leader's term", NEEDS_ETCD, () => {
  let etcd: EtcdServer;
  before(async () => {
    etcd = await EtcdServer.start();
  });
  after(async () => {
    await etcd?.destroy();
  });

  it("from the oldest election key, whatever order the keys' names come in", async () => {
    // Two candidates, the older one's key named last: a node that started after both reads
    // them in key order and must take the older one's create revision for the term, not the
    // first it read (it keeps the highest term it has seen, so that would fence the leader).
    const prefix = "/ringcache/term-order";
    const leaderTerm = await etcd.put(`${prefix}/election/ffff`, "m1");
    const laterTerm = await etcd.put(`${prefix}/election/0001`, "m2");
    assert.ok(laterTerm > leaderTerm);
    const node = await startAuxiliary({ args: etcd.flags(prefix) });
    try {
      const stats = JSON.parse(String(await rcStats(node.port))) as { term: number };
      assert.equal(stats.term, leaderTerm);
    } finally {
      await node.stop();
    }
  });
});

/** RC.STATS of the auxiliary node on `port`, as it answers. */
async function rcStats(port: number): Promise<unknown> {
  const redis = new Redis({ port, maxRetriesPerRequest: 0 });
  try {
    return await redis.call("RC.STATS");
  } finally {
    redis.disconnect();
  }
}

describe("etcd: bad settings at start", () => {
  const dir = tempDir("ringcache-etcd-config-");

  it("an endpoint nobody answers stops a master with exit code 2 and one clear message", async () => {
    const port = await freePort();
    const http = await freePort();
    const run = await runCli([
      "master",
      ...["--id", "m1", "--port", String(port), "--http-port", String(http)],
      ...["--data-dir", `${dir}/m1`, "--coordination", "etcd"],
      ...["--etcd-endpoints", `127.0.0.1:${await freePort()}`, "--etcd-password", "p4ss-secret"],
      ...["--etcd-username", "root"],
    ]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^ringcache: cannot reach etcd at 127\.0\.0\.1:\d+ within 5 s/m);
    assert.doesNotMatch(run.stdout + run.stderr, /p4ss-secret/);
  });

  it("bad endpoint syntax and a missing TLS file stop a node with exit code 2", async () => {
    const aux = await runCli([
      "auxiliary",
      ...["--id", "a1", "--data-dir", `${dir}/a1`, "--coordination", "etcd"],
      ...["--etcd-endpoints", "nohost"],
    ]);
    assert.equal(aux.code, 2, aux.stderr);
    assert.match(aux.stderr, /invalid --etcd-endpoints .*host:port/);
    const tls = await runCli([
      "master",
      ...["--id", "m1", "--data-dir", `${dir}/m1`, "--coordination", "etcd"],
      ...["--etcd-endpoints", "127.0.0.1:2379", "--etcd-ca-file", `${dir}/missing-ca.pem`],
    ]);
    assert.equal(tls.code, 2, tls.stderr);
    assert.match(tls.stderr, /cannot read --etcd-ca-file .*missing-ca\.pem/);
    const none = await runCli([
      "master",
      ...["--id", "m1", "--data-dir", `${dir}/m1`, "--coordination", "etcd"],
    ]);
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--coordination etcd needs --etcd-endpoints/);
  });
});

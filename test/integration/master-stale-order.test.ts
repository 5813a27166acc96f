// A write refused by an owner as older (another master's clock ran ahead) is retried with a
// fresh version, except when a later write of this master to the same key is already on its
// way: then the retry would overtake it, and a client's pipelined SET k v1, SET k v2 would end
// with v1. Real auxiliary node; the router's clock is pinned so the versions are known.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HybridClock } from "../../src/clock/hlc.js";
import { createLogger } from "../../src/log.js";
import { HealthChecker } from "../../src/master/health.js";
import { Membership } from "../../src/master/membership.js";
import { NodePool } from "../../src/master/pool.js";
import type { OpSink } from "../../src/master/ops/op.js";
import { WriteOp } from "../../src/master/ops/write.js";
import { Router } from "../../src/master/router.js";
import { Topology } from "../../src/master/topology.js";
import { readGetReply } from "../../src/protocol/internal/index.js";
import { hashKey } from "../../src/ring/hash.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { waitFor } from "../helpers/wait.js";

const logger = createLogger({ node: "test", role: "master", level: "silent" });
const PINNED_MS = Date.now();

describe("a stale write and a later write of the same master to the key", () => {
  let node: AuxiliaryHandle;
  let direct: RespTestClient;
  let membership: Membership;
  let pool: NodePool;
  let checker: HealthChecker;
  let router: Router;
  let topology: Topology;

  before(async () => {
    node = await startAuxiliary({ id: "a1" });
    direct = await RespTestClient.connect(node.port);
    membership = new Membership({
      healthFailures: 3,
      healthIntervalMs: 60_000,
      requestTimeoutMs: 2000,
      logger,
    });
    pool = new NodePool({
      connectionsPerNode: 1,
      requestTimeoutMs: 2000,
      logger,
      listener: membership,
    });
    checker = new HealthChecker({ intervalMs: 60_000, deadlineMs: 2000, logger }, membership);
    membership.attach(pool, checker);
    topology = new Topology(membership, { vnodes: 160, replicas: 1, logger });
    router = new Router(topology, new HybridClock(1, () => PINNED_MS));
    membership.add({ id: "a1", host: "127.0.0.1", port: node.port }, "config");
    await checker.probeAll();
    assert.equal(topology.ring.size, 1);
  });
  after(async () => {
    checker.stop();
    pool.close();
    direct.close();
    await node.stop();
  });

  async function put(ops: [string, string][]): Promise<WriteOp<null>[]> {
    const done: WriteOp<null>[] = [];
    const sink: OpSink<WriteOp<null>> = { opDone: (op) => done.push(op) };
    for (const [key, value] of ops) {
      new WriteOp(router, "put", Buffer.from(key), Buffer.from(value), 0, sink, null).start();
    }
    await waitFor("the writes", () => done.length === ops.length);
    return done;
  }

  async function held(key: string): Promise<{ value: string; version: number }> {
    const got = readGetReply(await direct.call("RC.GET", key));
    assert.ok(got !== undefined && got.value !== null);
    return { value: got.value.toString(), version: got.version };
  }

  it("does not let the retry of the first overtake the second", async () => {
    // The versions the router's next two writes will carry (same pinned clock, same tag).
    const twin = new HybridClock(1, () => PINNED_MS);
    twin.observe(router.clock.next());
    const v1 = twin.next();
    const v2 = twin.next();
    // Another master's write, newer than v1 but older than v2.
    const other = v1 + 1;
    assert.ok(other < v2);
    assert.equal(await direct.call("RC.PUT", "k", "other", String(other), "0"), 1);
    const superseded = router.counters.staleSuperseded;
    const [first, second] = await put([
      ["k", "v1"],
      ["k", "v2"],
    ]);
    assert.equal(first?.error, null);
    assert.equal(second?.error, null);
    assert.equal(router.counters.staleSuperseded, superseded + 1);
    assert.deepEqual(await held("k"), { value: "v2", version: v2 });
  });

  it("still retries a stale write that nothing of this master supersedes, and it wins", async () => {
    const twin = new HybridClock(1, () => PINNED_MS);
    twin.observe(router.clock.next());
    const v1 = twin.next();
    // A version far ahead of this master's clock: the write must be retried past it.
    const other = v1 + 16 * 50;
    assert.equal(await direct.call("RC.PUT", "solo", "other", String(other), "0"), 1);
    const retries = router.counters.staleRetries;
    const [only] = await put([["solo", "mine"]]);
    assert.equal(only?.error, null);
    assert.equal(router.counters.staleRetries, retries + 1);
    const now = await held("solo");
    assert.equal(now.value, "mine");
    assert.ok(now.version > other);
  });

  it("retries when the later write went to another key in the same bucket", async () => {
    // Different keys never supersede each other, whatever their buckets.
    const twin = new HybridClock(1, () => PINNED_MS);
    twin.observe(router.clock.next());
    const v1 = twin.next();
    assert.equal(await direct.call("RC.PUT", "x1", "other", String(v1 + 1), "0"), 1);
    // A key in the same bucket of the router's memory of recent writes (4096 buckets).
    const bucket = (key: string): number => hashKey(Buffer.from(key)) & 4095;
    let other = "";
    for (let i = 0; other === ""; i++) if (bucket(`c${i}`) === bucket("x1")) other = `c${i}`;
    const [a, b] = await put([
      ["x1", "mine"],
      [other, "unrelated"],
    ]);
    assert.equal(a?.error, null);
    assert.equal(b?.error, null);
    assert.equal((await held("x1")).value, "mine");
  });
});

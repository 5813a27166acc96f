// What the leader reports of a move, as the metrics and /v1/cluster show it: when the move in
// progress began (so an alert can tell a stuck one), the hash ranges done and to do, and the
// entries and bytes copied. A node joins a simulated cluster whose nodes hold data.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimCluster, type SimMaster } from "./cluster.js";

const KEYS = 300;

describe("rebalance progress", () => {
  it("dates the move while it runs, and counts its ranges, entries and bytes", async () => {
    const sim = new SimCluster(7);
    try {
      await sim.start();
      await sim.run(sim.base.now() + 5_000, () => sim.converged());
      assert.ok(sim.converged(), "the cluster settles");
      // Every node holds every key, so each range a newcomer owns has a sender.
      const value = Buffer.alloc(100, 0x61);
      for (const n of sim.nodes) {
        for (let i = 0; i < KEYS; i++) n.node?.store.putIfNewer(Buffer.from(`k${i}`), value, 1, 0);
      }
      const leader = sim.liveMasters().find((m) => m.core.coordinator.isLeader) as SimMaster;
      const rb = leader.core.rebalancer;
      const before = rb.status();
      assert.equal(before.startedAt, null);
      assert.equal(rb.moveStartedAt, 0);

      const joinedAt = leader.sched.wallNow();
      sim.joinNode();
      await sim.run(sim.base.now() + 5_000, () => rb.busy && rb.moveStartedAt > 0);
      const during = rb.status();
      assert.equal(during.running, true);
      assert.ok(rb.moveStartedAt >= joinedAt, `${rb.moveStartedAt} < ${joinedAt}`);
      assert.equal(during.startedAt, new Date(rb.moveStartedAt).toISOString());

      await sim.run(sim.base.now() + 10_000, () => sim.converged());
      assert.ok(sim.converged(), "the move ends");
      const after = rb.status();
      assert.equal(after.running, false);
      assert.equal(after.startedAt, null);
      assert.equal(rb.moveStartedAt, 0);
      assert.ok(after.rangesTotal > 0, "the move had ranges to copy");
      assert.equal(after.rangesDone, after.rangesTotal);
      assert.equal(after.movesCompleted, before.movesCompleted + 1);
      const moved = after.keysMovedTotal - before.keysMovedTotal;
      assert.ok(moved > 0 && moved <= KEYS, `${moved} entries copied`);
      // Each entry copied carries at least its key and its value.
      const bytes = after.bytesMovedTotal - before.bytesMovedTotal;
      assert.ok(bytes >= moved * (value.length + 2), `${bytes} bytes for ${moved} entries`);
    } finally {
      sim.stop();
    }
  });
});

// Scenario b, across hosts, with coordination through etcd: the leader partitioned from the
// other masters and from etcd. Three masters, three auxiliary nodes, R=2, three etcd members,
// each process on its own host; every writer sends each operation to the next master in turn,
// the old leader included (the clients, in the root namespace, still reach it, and it still
// reaches every node).
//
// After a warm-up, every packet between the leader L and the other masters and etcd members is
// dropped. L cannot renew its lease: it steps down once half the TTL passed without a renewal,
// and keeps serving on its ring; the lease expires, and the master with the next election key
// leads with a greater term (docs/design.md, "Coordination through etcd"). Then a1 is killed
// with -9: the new leader takes it out of the ring and moves its ranges, while L, which hears
// of no ring, routes by the old one and holds its writes of a1's keys (TRYAGAIN: it cannot
// reach a leader). A step L took of its old term would be refused by the nodes (FENCED); their
// counters say whether it tried. Then the partition heals: one leader, one ring on all three,
// and every key read back through every master (docs/design.md, "Invariants the tests hold").
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { ledAt } from "../helpers/leader.js";
import {
  agreedLeader,
  cutFromMastersAndEtcd,
  generationOf,
  hostSetup,
  HostRun,
  inRing,
  leaderOf,
  nextLeader,
  oneLeaderOneRing,
  since,
  skipFor,
  WARM_UP_MS,
} from "../helpers/hosts/scenario.js";
import { recoveryView, type RecoveryView } from "../helpers/recovery.js";
import { sleep, underLoad } from "../helpers/wait.js";

const TTL_MS = 2000;
const INTERVAL_MS = 200;
/**
 * How long the partition lasts once the new leader's move is done: past the old leader's hold
 * of a write ((failures + 2) x interval + 2 x request timeout = 3 s), so that its writes of
 * a1's keys end (TRYAGAIN) without a ring that leaves a1 out.
 */
const AFTER_MOVE_MS = 4000;

describe(
  "scenario b (etcd): the leader cut from the other masters and from etcd",
  { skip: skipFor("etcd") },
  () => {
    const setup = hostSetup({
      masters: 3,
      auxiliary: 3,
      replicas: 2,
      etcd: true,
      leaseTtl: `${TTL_MS / 1000}s`,
      healthInterval: `${INTERVAL_MS}ms`,
    });

    it("steps the old leader down before another leads, fences it, and loses nothing", async () => {
      const { net, cluster } = setup();
      const run = HostRun.start(cluster);
      const { views } = run;
      let old: string;
      let successor: string;
      let oldTerm: number;
      let newTerm: number;
      let cutAt: number;
      let cutWall: number;
      let ledWall: number;
      let stepDownWall: number;
      let killedAt: number;
      let movedAt: number;
      let healingAt: number;
      let healedAt: number;
      let agreedAt: number;
      let settledAt: number;
      let agreed: RecoveryView[];
      let nodeTerms: { term: number; fenced: number }[];
      try {
        await sleep(WARM_UP_MS);
        const leader = await agreedLeader(cluster.masters);
        old = leader.id;
        oldTerm = (await recoveryView(leader)).coordination?.term ?? 0;
        const others = cluster.masters.filter((m) => m !== leader);
        cutWall = Date.now();
        cutAt = performance.now();
        await cutFromMastersAndEtcd(net, cluster, leader);
        // Another master leads: both others name it, with a greater term.
        ({ id: successor, term: newTerm } = await nextLeader(others, old));
        const heir = cluster.master(successor);
        ledWall = await ledAt(heir, successor, cutWall);
        // Stepping down shows in its log as the lead going to nobody.
        stepDownWall = await ledAt(leader, "", cutWall);
        run.mark("to the new leader");
        // A ring change the new leader alone can make: a1 dies, and its ranges move.
        killedAt = performance.now();
        await cluster.kill9Auxiliary("a1");
        await Promise.all(
          others.map((m) =>
            views.waitFor(`${m.id} to route without a1`, m.id, (v) => !inRing(v, "a1"), killedAt),
          ),
        );
        movedAt = await views.waitFor(
          `${successor} to finish moving a1's ranges`,
          successor,
          (v) =>
            !inRing(v, "a1") &&
            v.rebalance?.running !== true &&
            v.coordination?.sources.length === 0,
          killedAt,
        );
        await sleep(AFTER_MOVE_MS);
        nodeTerms = await Promise.all(cluster.auxiliaries.map((a) => cluster.auxTerm(a.id)));
        healingAt = performance.now();
        await net.healAll();
        healedAt = performance.now();
        run.mark("by the heal");
        agreed = await oneLeaderOneRing(cluster.masters);
        agreedAt = performance.now();
        settledAt = await run.settle("heal to settled");
      } finally {
        await run.stop();
      }
      const report = await run.verify();

      const failover = ledWall - cutWall;
      const oldLed = (v: RecoveryView): boolean => v.leader === old;
      const steppedDown = views.first(old, (v) => !oldLed(v), cutAt);
      // The cut ends as the heal begins: its rules go one at a time (a second or more on a
      // loaded machine), and once those between L and an etcd member are gone, etcd's packets
      // reach L again, its watch among them, which brings the new leader's ring: L takes it
      // from etcd, as it should, while the rest is still being healed and before its lease is
      // renewed (so its view still says disconnected).
      const oldDuring = views.seen(
        old,
        (v) => `${leaderOf(v)}/${String(v.coordination?.connected)}`,
        steppedDown ?? cutAt,
        healingAt,
      );
      // Until it steps down (half a TTL without a renewal) the old leader still decides by its
      // own probes, and stepping down it takes the last ring it saw in etcd; from then on its
      // ring stays while it is cut.
      const oldEpochs = views.seen(old, (v) => v.epoch, steppedDown ?? cutAt, healingAt);
      const fenced = nodeTerms.reduce((n, t) => n + t.fenced, 0);
      console.log(
        run.figures("scenario b (etcd)", report, {
          "leader before (term)": `${old} (${oldTerm})`,
          "leader after the cut (term)": `${successor} (${newTerm})`,
          [`time to fail over (cut to ${successor} logs it leads; TTL ${TTL_MS} ms) ms`]: failover,
          [`cut to ${old} logs its step-down ms`]: stepDownWall - cutWall,
          [`cut to ${old}'s view no longer naming itself ms`]: since(steppedDown, cutAt),
          [`${old}'s view from its step-down to the heal (leader/connected)`]: oldDuring.join(" "),
          [`${old}'s ring epochs from its step-down to the heal`]: oldEpochs.join(" "),
          "kill of a1 to the move done ms": since(movedAt, killedAt),
          "nodes' terms at the heal": nodeTerms.map((t) => t.term).join("/"),
          "move steps fenced": fenced,
          "heal (its rules lifted one by one) ms": since(healedAt, healingAt),
          [`${old}'s ring epochs during the heal`]: views
            .seen(old, (v) => v.epoch, healingAt, healedAt)
            .join(" "),
          "time to recover (heal to one leader, one ring) ms": since(agreedAt, healedAt),
          "leader after the heal": leaderOf(agreed[0] as RecoveryView),
          "heal to settled ms": since(settledAt, healedAt),
          "errors during the cut": run.errorsBetween(cutAt, healingAt),
          "errors from the heal on": run.errorsBetween(healingAt),
        }),
      );

      await run.assertInvariants(report);
      // The lease decides: another master led within the TTL, etcd's sweep of expired leases
      // (500 ms) and one health interval, stretched for a loaded machine; and only after the
      // old leader had stepped down (it stops half a TTL into its lost renewals).
      assert.ok(failover <= underLoad(TTL_MS + 500 + INTERVAL_MS), `failover took ${failover} ms`);
      assert.ok(stepDownWall < ledWall, `${old} stepped down after ${successor} began to lead`);
      assert.ok(newTerm > oldTerm, `the new term ${newTerm} is not above ${oldTerm}`);
      assert.ok(steppedDown !== undefined && steppedDown < healingAt, `${old} kept naming itself`);
      assert.ok(
        oldDuring.every((s) => s === "none/false"),
        `${old} named a leader or reached etcd in the cut: ${oldDuring.join(" ")}`,
      );
      assert.deepEqual(oldEpochs.length, 1, `${old} changed its ring after it stepped down`);
      // Every node has seen the new term: a step of the old one is refused.
      for (const t of nodeTerms) assert.ok(t.term >= newTerm, `a node at term ${t.term}`);
      // One leader and one ring after the heal, on all three masters.
      assert.equal(new Set(agreed.map(leaderOf)).size, 1);
      assert.equal(new Set(agreed.map(generationOf)).size, 1);
    });
  },
);

// Scenario e, across hosts, for either coordination (one test file each): the masters cut from
// each other. Two masters, three auxiliary nodes, R=2, each process on its own host; every
// writer sends each operation to the next master in turn. After a warm-up, every packet between
// m1 and m2 is dropped for 6 s while each still reaches every auxiliary node (and the clients,
// and etcd), then the cut heals; afterwards there must be one leader and one ring again, and
// the invariants of docs/design.md, "Invariants the tests hold" must hold throughout.
//
// How the masters agree decides what happens during the cut
// (docs/design.md, "The leader and ring generations", "Coordination through etcd"):
// - built-in: masters poll each other and the live master with the lowest id leads; there is
//   no quorum, so once m2 has missed K polls of m1 it leads too, decides a ring from its own
//   probes and publishes it. Two leaders; with every node up both decide the same ring.
// - etcd: leadership is a lease in etcd, which both masters still reach: one leader
//   throughout. This variant runs where the master takes `--coordination etcd`.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import {
  generationOf,
  hostSetup,
  HostRun,
  leaderOf,
  oneLeaderOneRing,
  since,
  skipFor,
  WARM_UP_MS,
  type Coordination,
} from "../helpers/hosts/scenario.js";
import { recoveryView, type RecoveryView } from "../helpers/recovery.js";
import { sleep } from "../helpers/wait.js";

const CUT_MS = 6000;

/** Scenario e under `coordination`: a describe of its own, skipped where it cannot run. */
export function describeCutMasters(coordination: Coordination): void {
  describe(
    `scenario e (${coordination}): m1 and m2 cut from each other for 6 s`,
    { skip: skipFor(coordination) },
    () => {
      const setup = hostSetup({
        masters: 2,
        auxiliary: 3,
        replicas: 2,
        etcd: coordination === "etcd",
      });

      it("ends with one leader and one ring, and loses nothing on the way", async () => {
        const { net, cluster } = setup();
        const m1 = cluster.master("m1");
        const m2 = cluster.master("m2");
        const run = HostRun.start(cluster);
        const { views } = run;
        let cutAt: number;
        let healedAt: number;
        let agreedAt: number;
        let settledAt: number;
        let agreed: RecoveryView;
        try {
          await sleep(WARM_UP_MS);
          cutAt = performance.now();
          await net.cut(m1.host, m2.host);
          await sleep(CUT_MS);
          await net.heal(m1.host, m2.host);
          healedAt = performance.now();
          run.mark("by the heal");
          // One leader and one ring: both masters name the same leader and route by the same
          // published generation, seen in one round of views.
          agreed = (await oneLeaderOneRing([m1, m2]))[0] as RecoveryView;
          agreedAt = performance.now();
          settledAt = await run.settle("heal to settled");
        } finally {
          await run.stop();
        }
        const report = await run.verify();

        // The leader before the cut, and the master that followed it.
        const leader = leaderOf(
          views.samples.findLast((s) => s.master === "m1" && s.at < cutAt)?.view ??
            (await recoveryView(m1)),
        );
        const follower = leader === "m1" ? "m2" : "m1";
        const leadersDuring = (m: string): string[] => views.seen(m, leaderOf, cutAt, healedAt);
        const generations = new Set(
          cluster.masters.flatMap((m) => views.seen(m.id, generationOf, cutAt, healedAt)),
        );
        const secondLeader = views.first(follower, (v) => v.leader === follower, cutAt);
        console.log(
          run.figures(`scenario e (${coordination})`, report, {
            "leader before": leader,
            [`time to detect (cut to ${follower} leading too) ms`]: since(secondLeader, cutAt),
            "leaders m1 named during the cut": leadersDuring("m1").join("/"),
            "leaders m2 named during the cut": leadersDuring("m2").join("/"),
            "generations routed by during the cut": generations.size,
            "time to recover (heal to one leader, one generation) ms": since(agreedAt, healedAt),
            "leader after": leaderOf(agreed),
            "heal to settled ms": since(settledAt, healedAt),
            "errors during the cut": run.errorsBetween(cutAt, healedAt),
            "errors after the heal": run.errorsBetween(healedAt),
          }),
        );

        await run.assertInvariants(report);
        // With etcd a lease renewal that comes late on a loaded machine makes a master name no
        // leader for a moment (its leader steps down rather than risk a second one): allowed.
        // Naming another master is not.
        const named = (m: string): string[] =>
          leadersDuring(m).filter((l) => coordination === "builtin" || l !== "none");
        assert.deepEqual(named(leader), [leader], `${leader} gave up the lead in the cut`);
        if (coordination === "builtin") {
          // Without a quorum the cut makes two leaders: the follower took the lead too.
          assert.ok(
            secondLeader !== undefined && secondLeader < healedAt,
            `${follower} never took the lead in the cut`,
          );
          assert.equal(leaderOf(agreed), "m1", "the lowest id leads once the masters meet");
        } else {
          // The lease decides: the follower kept following, and the leader stays.
          assert.deepEqual(named(follower), [leader], `${follower} named another leader`);
          assert.equal(leaderOf(agreed), leader, "the lead changed hands");
        }
      });
    },
  );
}

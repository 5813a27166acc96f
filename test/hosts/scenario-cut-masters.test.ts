// Scenario e, across hosts: the masters cut from each other. Two masters, three auxiliary
// nodes, R=2, each process on its own host; every writer sends each operation to the next
// master in turn. After a warm-up, every packet between m1 and m2 is dropped for 6 s while each
// still reaches every auxiliary node (and the clients), then the cut heals; afterwards there
// must be one leader and one ring again, and the invariants of docs/design.md, "Invariants the
// tests hold" must hold throughout.
//
// How the masters agree decides what happens during the cut (docs/design.md, "The leader and
// ring generations"):
// - built-in: masters poll each other and the live master with the lowest id leads; there is
//   no quorum, so once m2 has missed K polls of m1 it leads too, decides a ring from its own
//   probes and publishes it. Two leaders; with every node up both decide the same ring.
// - etcd: leadership is held in etcd, which both masters still reach: one leader throughout.
//   This variant runs once the master takes `--coordination etcd`.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import {
  hostSetup,
  HostRun,
  masterTakesCoordination,
  since,
  WARM_UP_MS,
} from "../helpers/hosts/scenario.js";
import { recoveryView, type RecoveryView } from "../helpers/recovery.js";
import { skipUnless, skipUnlessRoot } from "../helpers/tools.js";
import { sleep, waitFor } from "../helpers/wait.js";

const CUT_MS = 6000;
const COORDINATIONS = ["builtin", "etcd"] as const;

function skipFor(coordination: (typeof COORDINATIONS)[number]): string | false {
  const hosts = skipUnlessRoot("ip", "iptables");
  if (hosts !== false || coordination === "builtin") return hosts;
  if (!masterTakesCoordination()) return "needs --coordination etcd";
  return skipUnless("etcd");
}

const leaderOf = (v: RecoveryView): string => v.leader ?? "none";
const generationOf = (v: RecoveryView): string => String(v.coordination?.generation ?? "none");

for (const coordination of COORDINATIONS) {
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
          agreed = await waitFor(
            "both masters to name one leader and route by one generation",
            async () => {
              const [v1, v2] = await Promise.all([recoveryView(m1), recoveryView(m2)]);
              const one =
                v1.leader === v2.leader &&
                v1.epoch === v2.epoch &&
                generationOf(v1) === generationOf(v2);
              return one ? v1 : undefined;
            },
            { timeoutMs: 20_000, intervalMs: 20 },
          );
          agreedAt = performance.now();
          await cluster.settled();
          settledAt = performance.now();
          run.mark("heal to settled");
          await run.loadAfter(settledAt);
        } finally {
          await run.stop();
        }
        const report = await run.verify();

        const leadersDuring = (m: string): string[] => views.seen(m, leaderOf, cutAt, healedAt);
        const generations = new Set(
          cluster.masters.flatMap((m) => views.seen(m.id, generationOf, cutAt, healedAt)),
        );
        const m2Led = views.first("m2", (v) => v.leader === "m2", cutAt);
        console.log(
          run.figures(`scenario e (${coordination})`, report, {
            "time to detect (cut to m2 leading too) ms": since(m2Led, cutAt),
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
        if (coordination === "builtin") {
          // Without a quorum the cut makes two leaders: m2 took the lead, m1 kept it.
          assert.ok(m2Led !== undefined && m2Led < healedAt, "m2 never took the lead in the cut");
          assert.deepEqual(leadersDuring("m1"), ["m1"], "m1 gave up the lead in the cut");
          assert.equal(leaderOf(agreed), "m1", "the lowest id leads once the masters meet");
        } else {
          const leaders = new Set([...leadersDuring("m1"), ...leadersDuring("m2")]);
          assert.equal(leaders.size, 1, `leaders in the cut: ${[...leaders].join(", ")}`);
        }
      });
    },
  );
}

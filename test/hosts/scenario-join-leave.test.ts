// Scenario g, across hosts: the membership changes under load. Two masters, three auxiliary
// nodes that register themselves, R=2, each process on its own host, run once with built-in
// coordination (m1 leads; the nodes register with the masters, --masters) and once through
// etcd (the nodes register in etcd, and find the masters there for the hand-off); every
// writer sends each operation to the next master in turn.
// After a warm-up a new host comes up with a fourth node, a4, which registers and joins the
// ring; as soon as both masters route by a ring with a4, a3 is stopped with SIGTERM while
// a4's move may still run: a3 tells the masters it leaves, the leader takes it out of the ring
// and moves its ranges from it, and it exits once the hand-off is done (docs/design.md,
// "Graceful shutdown"). Then the ring settles on a1, a2, a4 and every key is read back
// through both masters: every acknowledged write is there without a3
// (docs/design.md, "Invariants the tests hold").
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import {
  agreedLeader,
  COORDINATIONS,
  hostSetup,
  HostRun,
  inRing,
  since,
  skipFor,
  WARM_UP_MS,
  type Coordination,
  type ViewLog,
} from "../helpers/hosts/scenario.js";
import type { ExitInfo } from "../helpers/process.js";
import type { RecoveryView } from "../helpers/recovery.js";
import { sleep } from "../helpers/wait.js";

/** When every master's sampled view, from `from` on, first met `test` (the latest of them). */
async function everyMaster(
  views: ViewLog,
  masters: readonly string[],
  what: string,
  test: (v: RecoveryView) => boolean,
  from: number,
): Promise<number> {
  const times = await Promise.all(
    masters.map((m) => views.waitFor(`${m} to route by a ring ${what}`, m, test, from)),
  );
  return Math.max(...times);
}

function describeJoinLeave(coordination: Coordination): void {
  describe(
    `scenario g (${coordination}): a4 joins on a new host and a3 leaves gracefully, under load`,
    { skip: skipFor(coordination) },
    () => {
      const setup = hostSetup({
        masters: 2,
        auxiliary: 3,
        replicas: 2,
        discovery: "register",
        etcd: coordination === "etcd",
      });

      it("loses no acknowledged write and serves no stale read while the ring changes", async () => {
        const { cluster } = setup();
        const masters = cluster.masters.map((m) => m.id);
        // The leader moves the data: its view counts the entries moved.
        const leader = (await agreedLeader(cluster.masters)).id;
        const run = HostRun.start(cluster);
        const { views } = run;
        const moved = (): number =>
          views.samples.findLast((s) => s.master === leader)?.view.rebalance?.keysMovedTotal ?? 0;
        let joinAt: number;
        let joinedAt: number;
        let leaveAt: number;
        let outAt: number;
        let exitedAt: number;
        let settledAt: number;
        let exit: ExitInfo;
        let movedBefore: number;
        let a3Log: string;
        try {
          await sleep(WARM_UP_MS);
          movedBefore = moved();
          joinAt = performance.now();
          await cluster.addAuxiliary("a4");
          joinedAt = await everyMaster(views, masters, "with a4", (v) => inRing(v, "a4"), joinAt);
          run.mark("to a4 in the ring");
          const a3 = cluster.aux("a3");
          leaveAt = performance.now();
          const leaving = cluster.leave("a3");
          outAt = await everyMaster(views, masters, "without a3", (v) => !inRing(v, "a3"), leaveAt);
          exit = await leaving;
          exitedAt = performance.now();
          a3Log = a3.process.logText();
          run.mark("a3 leaving");
          settledAt = await run.settle("to settled");
        } finally {
          await run.stop();
        }
        const report = await run.verify();

        const atLeave = views.samples.findLast((s) => s.master === leader && s.at <= leaveAt);
        const ring = views.samples.findLast((s) => s.master === leader)?.view.nodes ?? [];
        console.log(
          run.figures(`scenario g (${coordination})`, report, {
            leader,
            "time to join (a4 started to both masters routing with it) ms": since(joinedAt, joinAt),
            "time to leave (SIGTERM to both masters routing without a3) ms": since(outAt, leaveAt),
            "SIGTERM to a3's exit ms": since(exitedAt, leaveAt),
            "a4's move still running at the SIGTERM":
              atLeave?.view.rebalance?.running === true ? "yes" : "no",
            "time to recover (a4 started to settled) ms": since(settledAt, joinAt),
            "entries moved": moved() - movedBefore,
            "ring after": ring
              .filter((n) => n.share > 0)
              .map((n) => n.id)
              .join(","),
            "errors from the join to settled": run.errorsBetween(joinAt, settledAt),
            "errors after": run.errorsBetween(settledAt),
          }),
        );

        await run.assertInvariants(report);
        assert.deepEqual(exit, { code: 0, signal: null }, "a3 did not exit cleanly");
        assert.match(a3Log, /hand-off to the masters done/, "a3 stopped without its hand-off");
      });
    },
  );
}

for (const coordination of COORDINATIONS) describeJoinLeave(coordination);

// Scenario c, across hosts: one auxiliary node cut from everything. Two masters, three
// auxiliary nodes, R=2, each process on its own host, run once with built-in coordination (m1
// leads) and once through etcd (a1 is cut from the etcd members too, so its registration
// lapses: to the masters that is not "down", their probes decide); every writer sends each
// operation to the next master in turn. After a warm-up, a1 is isolated
// (every packet to or from it dropped): the masters hold the writes of its keys until the
// leader takes it down and publishes a ring without it, the move copies its ranges to a2 and
// a3, and writes go on without it for a while, so that a1's copies fall behind. Then the
// isolation heals: a1 comes back holding those older copies, the leader holds it out of the
// ring while it vets it (docs/design.md, "Tombstones"; a1 restored no snapshot, so the vetting
// drops nothing), admits it, and the move brings data back to it.
//
// The pass rule is that of docs/design.md, "Invariants the tests hold"; what keeps a1's older
// copies from being read is the move's fallback read, where the highest version wins
// (docs/design.md, "The fallback read during a move"), and the versioned copies of the move.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it } from "node:test";
import { hashKey } from "../../src/ring/hash.js";
import { Ring } from "../../src/ring/ring.js";
import type { Checkpoint } from "../helpers/checker.js";
import {
  agreedLeader,
  COORDINATIONS,
  hostSetup,
  HostRun,
  inRing,
  nodeState,
  since,
  skipFor,
  WARM_UP_MS,
  type Coordination,
} from "../helpers/hosts/scenario.js";
import type { RecoveryView } from "../helpers/recovery.js";
import { sleep } from "../helpers/wait.js";
/** Writes without a1 in the ring, once both masters route without it, before the heal. */
const AWAY_MS = 3000;

/**
 * Keys of `node` in the ring of `members` whose acknowledged state moved on between two
 * checkpoints (a later seq acknowledged, or a delete): the copies it holds are older.
 */
function fallenBehind(node: string, members: string[], from: Checkpoint, to: Checkpoint): number {
  const ring = Ring.of(members.map((id) => ({ id })));
  let n = 0;
  for (const [key, now] of to) {
    if (!ring.ownersOfHash(hashKey(Buffer.from(key)), 2).includes(node)) continue;
    const then = from.get(key);
    if (then === undefined || then.deleted) continue;
    if (now.acked > then.acked || now.deleted) n++;
  }
  return n;
}

function describeIsolateAuxiliary(coordination: Coordination): void {
  describe(
    `scenario c (${coordination}): a1 isolated from every host past its detection, then back`,
    { skip: skipFor(coordination) },
    () => {
      const setup = hostSetup({
        masters: 2,
        auxiliary: 3,
        replicas: 2,
        etcd: coordination === "etcd",
      });

      it("serves none of a1's older copies, loses nothing, and moves data back to a1", async () => {
        const { net, cluster } = setup();
        // The leader decides the ring and moves the data: its view tells when a1 left and returned.
        const leader = (await agreedLeader(cluster.masters)).id;
        const a1 = cluster.aux("a1");
        const members = cluster.auxiliaries.map((a) => a.id);
        const run = HostRun.start(cluster);
        const { views } = run;
        const a1State = (v: RecoveryView): string => nodeState(v, "a1");
        const withA1 = (v: RecoveryView): boolean => inRing(v, "a1");
        const moved = (): number =>
          views.samples.findLast((s) => s.master === leader)?.view.rebalance?.keysMovedTotal ?? 0;
        let isolatedAt: number;
        let outAt: number;
        let healedAt: number;
        let backAt: number;
        let settledAt: number;
        let atIsolation: Checkpoint;
        let atHeal: Checkpoint;
        let movedBefore: number;
        let movedOut: number;
        try {
          await sleep(WARM_UP_MS);
          movedBefore = moved();
          atIsolation = run.checker.checkpoint();
          isolatedAt = performance.now();
          await net.isolate(a1.host);
          // Detection: the leader takes a1 down, and both masters route by a ring without it.
          await views.waitFor(
            `${leader} to take a1 down`,
            leader,
            (v) => a1State(v) === "down",
            isolatedAt,
          );
          const out = await Promise.all(
            cluster.masters.map((m) =>
              views.waitFor(`${m.id} to route without a1`, m.id, (v) => !withA1(v), isolatedAt),
            ),
          );
          outAt = Math.max(...out);
          await sleep(AWAY_MS);
          movedOut = moved() - movedBefore;
          atHeal = run.checker.checkpoint();
          await net.heal(a1.host);
          healedAt = performance.now();
          run.mark("by the heal");
          const back = await Promise.all(
            cluster.masters.map((m) =>
              views.waitFor(`${m.id} to route with a1 again`, m.id, withA1, healedAt),
            ),
          );
          backAt = Math.max(...back);
          settledAt = await run.settle("heal to settled");
        } finally {
          await run.stop();
        }
        const report = await run.verify();

        const down = views.first(leader, (v) => a1State(v) === "down", isolatedAt);
        const upAgain = views.first(leader, (v) => a1State(v) === "up", healedAt);
        const behind = fallenBehind("a1", members, atIsolation, atHeal);
        // How the leader saw a1 whenever its ring held a1 after the heal.
        const whileInRing = views.seen(leader, (v) => (withA1(v) ? a1State(v) : "out"), healedAt);
        console.log(
          run.figures(`scenario c (${coordination})`, report, {
            leader,
            "time to detect (isolation to the leader takes a1 down) ms": since(down, isolatedAt),
            "to both masters routing without a1 ms": since(outAt, isolatedAt),
            "time to recover (heal to both masters routing with a1) ms": since(backAt, healedAt),
            "heal to the leader sees a1 up ms": since(upAgain, healedAt),
            "heal to settled ms": since(settledAt, healedAt),
            "entries moved off a1's ranges": movedOut,
            "entries moved after the heal": moved() - movedBefore - movedOut,
            "a1's keys that fell behind while it was away": behind,
            "errors during the isolation": run.errorsBetween(isolatedAt, healedAt),
            "errors after the heal": run.errorsBetween(healedAt),
          }),
        );

        await run.assertInvariants(report);
        // The fault did what it was meant to: a1's copies fell behind while it was away, and the
        // leader admitted it again only once its own probes saw it back.
        assert.ok(behind > 0, "no key of a1 was written while it was away");
        assert.ok(
          !whileInRing.includes("down"),
          `${leader} routed by a ring with a1 down: ${whileInRing.join("/")}`,
        );
        assert.ok(moved() - movedBefore - movedOut > 0, "no data moved back to a1");
      });
    },
  );
}

for (const coordination of COORDINATIONS) describeIsolateAuxiliary(coordination);

// Scenario 3: kill -9 every auxiliary node at once under steady load (R=2, two masters), then
// restart them. What was acknowledged before the last snapshot of every node must all be back,
// no key deleted by then may return, and no value may fail its checksum. Writes acknowledged
// after that snapshot may be lost (counted as rolled back, and printed).
//
//   load ──► checkpoint (what is acknowledged now) ──► every node writes a snapshot begun later
//        ──► kill -9 a1 a2 a3 (load still running) ──► restart all ──► verify vs checkpoint
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import type { AuxiliaryHandle } from "../helpers/auxiliary.js";
import { sleep, waitFor } from "../helpers/wait.js";
import {
  assertInvariants,
  diagnosis,
  figures,
  Recorder,
  Scenario,
  scenarioChecker,
} from "./load.js";

/** Start times (ms since the epoch) of a node's complete snapshots: snapshot-<ms>.rcs. */
function snapshotTimes(node: AuxiliaryHandle): number[] {
  let names: string[] = [];
  try {
    names = readdirSync(node.dataDir);
  } catch {
    // No snapshot yet.
  }
  return names.flatMap((n) => {
    const m = /^snapshot-(\d+)\.rcs$/.exec(n);
    return m === null ? [] : [Number(m[1])];
  });
}

describe("scenario 3: kill -9 every auxiliary node, restart them", () => {
  let scenario: Scenario;

  before(async () => {
    scenario = await Scenario.start({ auxiliaryArgs: ["--snapshot-interval", "500ms"] });
  });
  after(async () => {
    await scenario.stop();
  });

  it("brings back everything acknowledged before the last snapshot, with no checksum failure", async () => {
    const { cluster } = scenario;
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const load = checker.run(scenario.clients(recorder), 120_000);
    await sleep(1500);
    // On a machine shared with other tests the load may be slow: the check needs enough keys.
    await waitFor("the load to reach 500 keys", () => checker.keyCount > 500, {
      timeoutMs: 30_000,
    });

    const checkpointAt = Date.now();
    const checkpoint = checker.checkpoint();
    // A snapshot begun after the checkpoint holds every write acknowledged before it.
    await waitFor(
      "every node to write a snapshot begun after the checkpoint",
      () => cluster.auxiliaries.every((a) => snapshotTimes(a).some((t) => t > checkpointAt)),
      { timeoutMs: 10_000 },
    );
    const beforeKill = checker.report();
    // Read now: a stale read before the kill is a routing fault, and the kill wipes its traces.
    const steadyState = beforeKill.staleReads > 0 ? await diagnosis(cluster) : "";
    const killedAt = performance.now();
    await Promise.all(cluster.auxiliaries.map((a) => a.kill9()));
    // Clients meet the outage for a moment, then the load stops: writes acknowledged from now
    // on could not be told apart from the crash's losses.
    await sleep(300);
    checker.stop();
    await load;
    const atStop = checker.report();

    const restartedAt = performance.now();
    await Promise.all(cluster.auxiliaries.map((a) => a.restart()));
    await scenario.settled(3, 0);
    await waitFor(
      "every master to see every node up",
      async () => {
        const views = await Promise.all(cluster.masters.map((m) => m.view()));
        return views.every((v) => v.nodes.every((n) => n.state === "up" && n.inRing));
      },
      { timeoutMs: 10_000 },
    );
    const recoverMs = performance.now() - restartedAt;
    await checker.verify(scenario.plainClients(), checkpoint);
    const report = checker.report();
    console.log(
      figures("scenario 3", report, recorder, {
        "keys at the checkpoint": checkpoint.size,
        "acknowledged after the last snapshot, lost (allowed)": report.rolledBack,
        "errors during the outage": recorder.errors.filter((e) => e.endedAt >= killedAt).length,
        "time to recover (restart to every node up, rebalanced) ms": recoverMs.toFixed(0),
      }),
    );
    assert.equal(beforeKill.staleReads, 0, `${beforeKill.examples.join("\n")}\n${steadyState}`);
    assert.equal(atStop.staleReads, 0, atStop.examples.join("\n"));
    assert.ok(checkpoint.size > 500, `only ${checkpoint.size} keys at the checkpoint`);
    assertInvariants(report);
  });
});

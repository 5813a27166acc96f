// Scenario 2: kill -9 one of three auxiliary nodes (R=2, two masters) under steady load, and
// restart it from its snapshot after an absence: 10 s with RINGCACHE_SOAK=1, scaled down to 4 s
// by default to keep the suite short (the absence only decides how much of the snapshot is
// stale; the node's snapshot every 500 ms holds values that are overwritten or deleted while
// it is away). The returning node must serve no stale read and bring back no deleted key.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { sleep, waitFor } from "../helpers/wait.js";
import { assertInvariants, figures, Recorder, Scenario, scenarioChecker, SOAK } from "./load.js";

const AWAY_MS = SOAK ? 10_000 : 4000;

describe("scenario 2: a killed auxiliary node restarted from its snapshot", () => {
  let scenario: Scenario;

  before(async () => {
    scenario = await Scenario.start({ auxiliaryArgs: ["--snapshot-interval", "500ms"] });
  });
  after(async () => {
    await scenario.stop();
  });

  it(`serves no stale read and no deleted key after ${AWAY_MS / 1000} s away`, async () => {
    const { cluster } = scenario;
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const clients = scenario.clients(recorder);
    const load = checker.run(clients, 120_000);
    await sleep(1500);
    const a2 = cluster.auxById("a2");
    let moves = await scenario.moves();
    const restoresBefore = a2.logEntries().filter((e) => e["msg"] === "snapshot restored").length;

    const killedAt = performance.now();
    await a2.kill9();
    await scenario.settled(2, ++moves);
    const copiesRestoredMs = performance.now() - killedAt;
    await sleep(Math.max(0, AWAY_MS - (performance.now() - killedAt)));
    const staleBefore = checker.report().staleReads;

    const restartedAt = performance.now();
    await a2.restart();
    await scenario.settled(3, moves + 1);
    const recoverMs = performance.now() - restartedAt;
    const restore = await waitFor(
      "a2 to log its restore",
      () => a2.logEntries().filter((e) => e["msg"] === "snapshot restored")[restoresBefore],
      { timeoutMs: 5000 },
    );
    // Load on the returned node for a while before the end.
    await sleep(1500);
    checker.stop();
    await load;
    await checker.verify(scenario.plainClients());
    const report = checker.report();
    console.log(
      figures("scenario 2", report, recorder, {
        "away ms": AWAY_MS,
        "entries restored from the snapshot": Number(restore["entries"]),
        "R copies restored after ms": copiesRestoredMs.toFixed(0),
        "time to recover (restart to rebalanced) ms": recoverMs.toFixed(0),
        "stale after the return": report.staleReads - staleBefore,
      }),
    );
    assert.ok(Number(restore["entries"]) > 0, "a2 restarted from an empty snapshot");
    assertInvariants(report);
  });
});

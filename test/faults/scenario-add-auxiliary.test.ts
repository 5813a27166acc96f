// Scenario 9: a 4th auxiliary node joins three (R=2, two masters) under steady load. About a
// quarter of the entries move (within 10% of a quarter: each key gains a4 as one of its two
// owners with probability 2/4, so a4 receives half the keys, a quarter of the copies), nothing
// acknowledged is lost and no read is stale. 10,000 preloaded keys make the share measurable;
// the checker's writers run on top of them.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { countMissing, nodeCounts, preload } from "../helpers/recovery.js";
import { sleep } from "../helpers/wait.js";
import { assertInvariants, figures, Recorder, Scenario, scenarioChecker } from "./load.js";

const PRELOADED = 10_000;

describe("scenario 9: add a 4th auxiliary node under load", () => {
  let scenario: Scenario;

  before(async () => {
    scenario = await Scenario.start();
    await preload(scenario.cluster.master(0).port, PRELOADED);
  });
  after(async () => {
    await scenario.stop();
  });

  it("moves about a quarter of the entries, loses nothing and serves no stale read", async () => {
    const { cluster } = scenario;
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const load = checker.run(scenario.clients(recorder), 120_000);
    await sleep(1000);
    const moves = await scenario.moves();
    // Entries held before the join (the load's keys are few next to the preloaded ones).
    let entriesBefore = 0;
    for (const a of cluster.auxiliaries) entriesBefore += (await nodeCounts(a)).entries;

    const startedAt = performance.now();
    await cluster.addAuxiliary("a4");
    const view = await scenario.settled(4, moves + 1);
    const recoverMs = performance.now() - startedAt;
    await sleep(1000);
    checker.stop();
    await load;
    await checker.verify(scenario.plainClients());
    const report = checker.report();
    const moved = view.rebalance?.keysMovedThisMove ?? 0;
    const share = moved / entriesBefore;
    const a4 = (await nodeCounts(cluster.auxById("a4"))).entries;
    const missing = await countMissing(cluster.master(1).port, PRELOADED);
    console.log(
      figures("scenario 9", report, recorder, {
        "entries moved": `${moved} of ${entriesBefore} (${(share * 100).toFixed(1)}%)`,
        "a4 holds": a4,
        "preloaded keys missing": missing,
        "time to recover (join to rebalanced on every master) ms": recoverMs.toFixed(0),
      }),
    );
    assert.ok(share > 0.225 && share < 0.275, `moved ${(share * 100).toFixed(1)}% of entries`);
    assert.equal(missing, 0);
    assertInvariants(report);
  });
});

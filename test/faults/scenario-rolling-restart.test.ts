// Scenario 5: a rolling restart under steady load (R=2, two masters, three auxiliary nodes that
// register with the masters): SIGTERM one node — it hands its entries off through the masters
// and exits 0 — restart it, wait until it is back in every master's ring, then the next. No
// acknowledged write is lost, no read is stale, and fewer than 0.1% of requests fail.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { sleep } from "../helpers/wait.js";
import {
  assertInvariants,
  errorRate,
  figures,
  Recorder,
  Scenario,
  scenarioChecker,
} from "./load.js";

describe("scenario 5: SIGTERM each auxiliary node in turn (rolling restart)", () => {
  let scenario: Scenario;

  before(async () => {
    // Registration gives each node the masters' addresses, which its hand-off needs.
    scenario = await Scenario.start({ discovery: "register" });
  });
  after(async () => {
    await scenario.stop();
  });

  it("loses nothing and fails fewer than 0.1% of requests", async () => {
    const { cluster } = scenario;
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const load = checker.run(scenario.clients(recorder), 180_000);
    await sleep(1000);
    let moves = await scenario.moves();
    const rounds: string[] = [];
    let slowestMs = 0;
    for (const node of [...cluster.auxiliaries]) {
      const started = performance.now();
      const exit = await node.stop();
      const exitedMs = performance.now() - started;
      assert.deepEqual(exit, { code: 0, signal: null }, `${node.id} exit`);
      await scenario.settled(2, ++moves);
      await node.restart();
      await scenario.settled(3, ++moves);
      const backMs = performance.now() - started;
      slowestMs = Math.max(slowestMs, backMs);
      rounds.push(`${node.id} exited after ${exitedMs.toFixed(0)} ms, back ${backMs.toFixed(0)}`);
    }
    await sleep(500);
    checker.stop();
    await load;
    await checker.verify(scenario.plainClients());
    const report = checker.report();
    const rate = errorRate(report);
    console.log(
      figures("scenario 5", report, recorder, {
        "time to recover (SIGTERM to rebalanced with the node back, slowest) ms":
          slowestMs.toFixed(0),
        rounds: rounds.join("; "),
        "error kinds": JSON.stringify([...new Set(recorder.errors.map((e) => e.message))]),
      }),
    );
    assertInvariants(report);
    assert.ok(rate < 0.001, `error rate ${(rate * 100).toFixed(3)}%`);
  });
});

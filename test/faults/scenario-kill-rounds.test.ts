// Scenario 10: rounds of kill -9 of a random auxiliary node and its restart, under steady load
// (R=2, two masters, three auxiliary nodes). After every round — the node back and the ring
// settled — the checker verifies every key through both masters and must pass. 20 rounds with
// RINGCACHE_SOAK=1; 4 by default, to keep the suite short. The random choices come from a
// seed (RINGCACHE_SEED, else random), printed so that a failing run can be replayed.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { sleep } from "../helpers/wait.js";
import { assertInvariants, figures, Recorder, Scenario, scenarioChecker, SOAK } from "./load.js";

const ROUNDS = SOAK ? 20 : 4;

/** mulberry32: a small seeded generator, enough to pick nodes and delays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe(`scenario 10: ${ROUNDS} rounds of kill -9 of a random auxiliary node and restart`, () => {
  let scenario: Scenario;

  before(async () => {
    scenario = await Scenario.start({ auxiliaryArgs: ["--snapshot-interval", "500ms"] });
  });
  after(async () => {
    await scenario.stop();
  });

  it("passes the checker after every round", async () => {
    const { cluster } = scenario;
    const seedText = process.env["RINGCACHE_SEED"];
    const seed = seedText !== undefined ? Number(seedText) : Math.floor(Math.random() * 2 ** 31);
    const random = seeded(seed);
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const clients = scenario.clients(recorder);
    let moves = await scenario.moves();
    let slowestMs = 0;
    const victims: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const load = checker.run(clients, 120_000);
      // Let the load run a little (300..1000 ms) before the kill.
      await sleep(300 + Math.floor(random() * 700));
      const victim = cluster.aux(Math.floor(random() * cluster.auxiliaries.length));
      victims.push(victim.id);
      const killedAt = performance.now();
      await victim.kill9();
      await scenario.settled(2, ++moves);
      await victim.restart();
      await scenario.settled(3, ++moves);
      const recoverMs = performance.now() - killedAt;
      slowestMs = Math.max(slowestMs, recoverMs);
      await sleep(300);
      checker.stop();
      await load;
      await checker.verify(scenario.plainClients());
      const r = checker.report();
      const failing = r.lostWrites + r.staleReads + r.resurrected + r.phantoms + r.checksumFailures;
      assert.equal(
        failing,
        0,
        `round ${round} (seed ${seed}, kill -9 ${victim.id}):\n${r.examples.join("\n")}`,
      );
    }
    const report = checker.report();
    console.log(
      figures("scenario 10", report, recorder, {
        rounds: ROUNDS,
        seed,
        killed: victims.join(" "),
        "time to recover (kill to rebalanced with the node back, slowest round) ms":
          slowestMs.toFixed(0),
      }),
    );
    assertInvariants(report);
    // With R=2 a read always has a live owner: a kill may not fail one. (A master that learnt
    // from the leader's ring that a node is out, before its own probes saw it die, used to fail
    // reads of absent keys while the copies were being restored.)
    const failedReads = recorder.errors.filter((e) => e.op === "get").map((e) => e.message);
    assert.deepEqual(failedReads, [], "reads failed");
  });
});

// The whole cluster in one process (test/simulation/cluster.ts), under fault schedules drawn
// from seeds, checked for the invariants (docs/design.md, "Invariants the tests hold").
//
//   RINGCACHE_SIMULATION_SEEDS=100000   more seeds than the default 1,000
//   RINGCACHE_SEED=1234                 replay one seed, printing what happened
//   RINGCACHE_SIMULATION_FAULTS=a,b     draw only these faults (see FAULTS in run.ts)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describe as explain, runSeed, type Fault, FAULTS, type RunResult } from "./run.js";

/**
 * The faults the default schedules draw from: those under which the cluster keeps every
 * invariant in every schedule today. The others still break one in some schedules (masters
 * cut from each other while the ring changes; links slowed until two owners of a key are
 * taken for down at once, more than R = 2 promises): docs/reliability.md, "The simulation",
 * lists what each finds and how often.
 */
const HOLDING: readonly Fault[] = [
  "crash-node",
  "pause-node",
  "pause-master",
  "kill-master",
  "join-node",
  "leave-node",
  "cut-link",
];

const env = process.env;
const seeds = Number(env["RINGCACHE_SIMULATION_SEEDS"] ?? 1000);
const replay = env["RINGCACHE_SEED"];
const faults = (env["RINGCACHE_SIMULATION_FAULTS"]?.split(",") as Fault[] | undefined) ?? HOLDING;
const EPISODES = 4;

for (const f of faults)
  assert.ok(FAULTS.includes(f), `unknown fault ${f}; one of ${FAULTS.join(", ")}`);

describe("simulated cluster", () => {
  if (replay !== undefined) {
    it(`seed ${replay} replayed`, async () => {
      const result = await runSeed(Number(replay), { faults, episodes: EPISODES });
      console.log(explain(result));
      assert.equal(result.violations, 0, explain(result));
    });
    return;
  }

  it(`keeps every invariant through ${seeds} fault schedules (${faults.join(", ")})`, async (t) => {
    const failures: RunResult[] = [];
    let ops = 0;
    let simulatedMs = 0;
    let ran = 0;
    const started = performance.now();
    for (let seed = 1; seed <= seeds; seed++) {
      ran++;
      const result = await runSeed(seed, { faults, episodes: EPISODES });
      const r = result.report;
      ops += r.writes.ok + r.reads.ok + r.deletes.ok;
      simulatedMs += result.simulatedMs;
      if (result.violations > 0 || !result.converged) failures.push(result);
    }
    t.diagnostic(
      `${ran} seeds, ${ops} acknowledged operations, ${(simulatedMs / 1000).toFixed(0)} s ` +
        `simulated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    assert.deepEqual(
      failures.map((f) => f.seed),
      [],
      `${failures.length} of ${ran} schedules broke an invariant; the first ones:\n\n` +
        failures
          .slice(0, 3)
          .map((f) => explain(f))
          .join("\n\n"),
    );
  });

  it("replays a seed exactly", async () => {
    const a = await runSeed(7, { faults: FAULTS, episodes: EPISODES });
    const b = await runSeed(7, { faults: FAULTS, episodes: EPISODES });
    assert.deepEqual(b.trace, a.trace);
    assert.deepEqual(b.report, a.report);
  });
});

// Scenarios 6 and 7: an auxiliary node frozen with SIGSTOP under steady load (R=2, two masters).
//   6. frozen for 3x the detection time, then SIGCONT: no stale read, before or after it resumes.
//   7. frozen for half the detection time: no membership change; p99 <= pause + 100 ms.
// Detection time of a frozen node: health interval x failures (a frozen process accepts
// connections, so only missed probes and timed-out requests reveal it).
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import { TestCluster } from "../helpers/cluster.js";
import { connectRedis } from "../helpers/redis-client.js";
import { sleep } from "../helpers/wait.js";
import { figures, recordedClients, Recorder, scenarioChecker } from "./load.js";

const INTERVAL_MS = 250;
const FAILURES = 3;
const REQUEST_TIMEOUT_MS = 1000;
const DETECTION_MS = INTERVAL_MS * FAILURES;

async function startCluster(): Promise<{ cluster: TestCluster; redis: Redis[] }> {
  const cluster = await TestCluster.start({
    masters: 2,
    auxiliary: 3,
    replicas: 2,
    healthInterval: `${INTERVAL_MS}ms`,
    healthFailures: FAILURES,
    requestTimeout: `${REQUEST_TIMEOUT_MS}ms`,
  });
  const redis = cluster.masters.map((m) =>
    connectRedis(m.port, "127.0.0.1", { commandTimeout: 5000 }),
  );
  return { cluster, redis };
}

describe("scenario 6: SIGSTOP one auxiliary node for 3x the detection time, then SIGCONT", () => {
  let cluster: TestCluster;
  let redis: Redis[] = [];

  before(async () => {
    ({ cluster, redis } = await startCluster());
  });
  after(async () => {
    cluster.auxById("a2").process.resume();
    for (const r of redis) r.disconnect();
    await cluster.stop();
  });

  it("serves no stale read while the node is frozen nor after it resumes", async () => {
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const clients = recordedClients(redis, recorder);
    const pauseMs = 3 * DETECTION_MS;
    const load = checker.run(clients, 1500 + pauseMs + 3000);
    await sleep(1500);
    const a2 = cluster.auxById("a2");
    a2.process.pause();
    const pausedAt = performance.now();
    const seen = await Promise.all(
      cluster.masters.map(async (_, m) => {
        await cluster.waitNodeState("a2", "down", 10_000, m);
        return performance.now() - pausedAt;
      }),
    );
    const detectedMs = Math.max(...seen);
    await sleep(Math.max(0, pauseMs - (performance.now() - pausedAt)));
    const staleWhileFrozen = checker.report().staleReads;
    a2.process.resume();
    const resumedAt = performance.now();
    await Promise.all(cluster.masters.map((_, m) => cluster.waitNodeState("a2", "up", 5000, m)));
    const upAfterMs = performance.now() - resumedAt;
    await load;
    await checker.verify(clients);
    const report = checker.report();
    console.log(
      figures("scenario 6", report, recorder, {
        "pause ms": pauseMs,
        "detection ms": detectedMs.toFixed(0),
        "back up after ms": upAfterMs.toFixed(0),
        "stale while frozen": staleWhileFrozen,
        "stale after resume": report.staleReads - staleWhileFrozen,
      }),
    );
    assert.ok(detectedMs < DETECTION_MS + REQUEST_TIMEOUT_MS + 500, `${detectedMs} ms`);
    assert.equal(report.staleReads, 0, report.examples.join("\n"));
    assert.equal(report.lostWrites, 0, report.examples.join("\n"));
    assert.equal(report.phantoms + report.checksumFailures + report.resurrected, 0);
  });
});

describe("scenario 7: SIGSTOP one auxiliary node for half the detection time", () => {
  let cluster: TestCluster;
  let redis: Redis[] = [];

  before(async () => {
    ({ cluster, redis } = await startCluster());
  });
  after(async () => {
    cluster.auxById("a2").process.resume();
    for (const r of redis) r.disconnect();
    await cluster.stop();
  });

  it("changes no membership and keeps p99 within the pause + 100 ms", async () => {
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const clients = recordedClients(redis, recorder);
    const pauseMs = DETECTION_MS / 2;
    const epochs = await Promise.all(cluster.masters.map(async (m) => (await m.view()).epoch));
    const load = checker.run(clients, 1500 + pauseMs + 1500);
    await sleep(1500);
    const a2 = cluster.auxById("a2");
    // Watch every master's view of a2 through the pause and a second after it.
    const states = new Set<string>();
    let watching = true;
    const watch = (async () => {
      while (watching) {
        for (const m of cluster.masters) {
          const view = await m.view();
          states.add(`${view.epoch} ${view.nodes.find((n) => n.id === "a2")?.inRing === true}`);
        }
        await sleep(25);
      }
    })();
    const pausedAt = performance.now();
    a2.process.pause();
    await sleep(pauseMs);
    a2.process.resume();
    const resumedAt = performance.now();
    await load;
    watching = false;
    await watch;
    await checker.verify(clients);
    const report = checker.report();
    const p99 = recorder.quantile(0.99, pausedAt - 1000, resumedAt + 1000);
    console.log(
      figures("scenario 7", report, recorder, {
        "pause ms": pauseMs,
        "p99 around the pause ms": p99.toFixed(1),
        "max latency ms": recorder.quantile(1).toFixed(1),
        "membership states seen": states.size,
      }),
    );
    assert.deepEqual([...states], [...new Set(epochs.map((e) => `${e} true`))]);
    assert.ok(p99 <= pauseMs + 100, `p99 ${p99} ms`);
    assert.equal(recorder.errors.length, 0, recorder.errors.map((e) => e.message).join("\n"));
    assert.equal(report.lostWrites + report.staleReads, 0, report.examples.join("\n"));
    assert.equal(report.phantoms + report.checksumFailures + report.resurrected, 0);
  });
});

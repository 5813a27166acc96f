// Scenario 8: kill -9 one of two masters behind NGINX under steady load. Only the requests in
// flight on the dead master's connections fail; clients reconnect (NGINX sends the new
// connections to the live master) and no acknowledged write is lost.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { startBalancer, type Balancer } from "../helpers/balancer.js";
import { TestCluster } from "../helpers/cluster.js";
import { skipUnless } from "../helpers/tools.js";
import { sleep, waitFor } from "../helpers/wait.js";
import { figures, recordedClients, Recorder, scenarioChecker, WRITERS } from "./load.js";

const CONNECTIONS = 4;

describe("scenario 8: kill -9 one master behind NGINX", { skip: skipUnless("nginx") }, () => {
  let cluster: TestCluster;
  let balancer: Balancer;
  const redis: Redis[] = [];

  before(async () => {
    cluster = await TestCluster.start({ masters: 2, auxiliary: 3, replicas: 2 });
    balancer = await startBalancer(cluster.masters, cluster.dir);
  });
  after(async () => {
    for (const r of redis) r.disconnect();
    await balancer?.stop();
    await cluster?.stop();
  });

  it("fails only the requests in flight, and the clients reconnect to the live master", async () => {
    for (let i = 0; i < CONNECTIONS; i++) {
      redis.push(
        new Redis({
          port: balancer.respPort,
          // A command in flight when the connection drops fails; it is not resent.
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false,
          enableOfflineQueue: true,
          commandTimeout: 3000,
          retryStrategy: () => 20,
        }),
      );
    }
    await Promise.all(redis.map((r) => r.ping()));
    const recorder = new Recorder(0);
    const checker = scenarioChecker();
    const clients = recordedClients(redis, recorder);
    const load = checker.run(clients, 2000 + 3000);
    await sleep(2000);

    const killedAt = performance.now();
    await cluster.master(0).kill9();
    // Every client is back: each answers a PING through NGINX.
    await waitFor("every client to reconnect", async () => {
      const pongs = await Promise.all(redis.map((r) => r.ping().catch(() => "")));
      return pongs.every((p) => p === "PONG");
    });
    const reconnectedMs = performance.now() - killedAt;
    await load;
    await checker.verify(clients);
    const report = checker.report();
    const late = recorder.errors.filter((e) => e.startedAt > killedAt + 50);
    console.log(
      figures("scenario 8", report, recorder, {
        "failed requests": recorder.errors.length,
        "all clients reconnected after ms": reconnectedMs.toFixed(0),
        "ops after the kill": recorder.opsBetween(killedAt, Infinity),
        "error kinds": JSON.stringify([...new Set(recorder.errors.map((e) => e.message))]),
      }),
    );
    // At most one request in flight per writer when the master died.
    assert.ok(recorder.errors.length <= WRITERS, recorder.errors.map((e) => e.message).join("\n"));
    assert.deepEqual(
      late.map((e) => e.message),
      [],
      "requests started after the kill failed",
    );
    assert.ok(recorder.opsBetween(killedAt + reconnectedMs, Infinity) > 500);
    assert.equal(report.lostWrites, 0, report.examples.join("\n"));
    assert.equal(report.staleReads + report.phantoms + report.resurrected, 0);
  });
});

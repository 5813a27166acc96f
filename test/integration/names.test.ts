// Nodes named by host names follow a name to a new address, with real processes on hosts that
// are network namespaces, each seeing /etc/hosts from a table the test rewrites in place
// (docs/design.md, "Names, not addresses"):
//
// - A master follows an auxiliary node: a1 stops, starts again on another host with its data
//   directory, and the master keeps it down while the name still says the old address; once
//   the name moves, the master reconnects and serves a1's keys. Then again with the old address
//   gone silent (nothing closes the master's connections there).
// - Peers and registrations follow a master: m2 moves; m1's polls and a2's registrations reach
//   it only once the name moves, and then m2 learns a2 and serves the keys through m1's ring.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Redis } from "ioredis";
import {
  AUXILIARY_HTTP_PORT,
  AUXILIARY_PORT,
  HostAuxiliary,
  HostMaster,
  MASTER_HTTP_PORT,
  MASTER_PORT,
  TEST_SECRET,
} from "../helpers/hosts/cluster.js";
import { TestNetwork, type Host } from "../helpers/hosts/network.js";
import { HostNames } from "../helpers/names.js";
import { connectRedis } from "../helpers/redis-client.js";
import { skipUnlessRoot } from "../helpers/tools.js";
import { sleep, underLoad, waitFor } from "../helpers/wait.js";

const skip = skipUnlessRoot("ip", "iptables");
const INTERVAL_MS = 200;
const FAILURES = 3;
const TIMEOUT_MS = 500;
/** The auxiliary node's registration period (auxiliary/node.ts, REGISTER_INTERVAL_MS). */
const REGISTER_INTERVAL_MS = 5000;
const KEYS = 200;

function auxiliaryArgs(id: string, dataDir: string, extra: readonly string[] = []): string[] {
  return [
    "auxiliary",
    ...["--id", id, "--host", "0.0.0.0", "--port", String(AUXILIARY_PORT)],
    ...["--http-port", String(AUXILIARY_HTTP_PORT), "--data-dir", dataDir],
    ...["--secret", TEST_SECRET],
    ...extra,
  ];
}

function masterArgs(id: string, dataDir: string, extra: readonly string[]): string[] {
  return [
    "master",
    ...["--id", id, "--host", "0.0.0.0", "--port", String(MASTER_PORT)],
    ...["--http-port", String(MASTER_HTTP_PORT), "--data-dir", dataDir],
    ...["--backup-dir", join(dataDir, "backup"), "--replicas", "1"],
    ...["--health-interval", `${INTERVAL_MS}ms`, "--health-failures", String(FAILURES)],
    ...["--request-timeout", `${TIMEOUT_MS}ms`, "--secret", TEST_SECRET],
    ...extra,
  ];
}

async function startAuxiliary(
  host: Host,
  id: string,
  dataDir: string,
  extra: readonly string[] = [],
): Promise<HostAuxiliary> {
  const proc = await host.spawn(
    `auxiliary-${id}-at-${host.name}`,
    auxiliaryArgs(id, dataDir, extra),
  );
  const handle = new HostAuxiliary(id, host, dataDir, proc);
  await handle.waitReady();
  return handle;
}

async function startMaster(
  host: Host,
  id: string,
  dataDir: string,
  extra: readonly string[],
): Promise<HostMaster> {
  const proc = await host.spawn(`master-${id}-at-${host.name}`, masterArgs(id, dataDir, extra));
  const handle = new HostMaster(id, host, dataDir, proc);
  await handle.waitReady();
  return handle;
}

/** Registrations a master took (its /metrics, route "register", status 200). */
async function registrations(m: HostMaster): Promise<number> {
  const res = await fetch(m.url("/metrics"), { signal: AbortSignal.timeout(2000) });
  let sum = 0;
  for (const line of (await res.text()).split("\n")) {
    if (
      line.startsWith("ringcache_master_http_requests_total{") &&
      line.includes('route="register"') &&
      line.includes('status="200"')
    ) {
      sum += Number(line.split(" ").pop());
    }
  }
  return sum;
}

async function nodeState(m: HostMaster, id: string): Promise<string | undefined> {
  return (await m.view()).nodes.find((n) => n.id === id)?.state;
}

/** Keys name:0 … written through `redis`, and how many of them read back right. */
async function writeKeys(redis: Redis, prefix: string): Promise<void> {
  for (let i = 0; i < KEYS; i++) await redis.set(`${prefix}:${i}`, `value-${i}`);
}

async function readableKeys(redis: Redis, prefix: string): Promise<number> {
  const keys = Array.from({ length: KEYS }, (_, i) => `${prefix}:${i}`);
  const values = await redis.mget(keys);
  return values.filter((v, i) => v === `value-${i}`).length;
}

describe("names, not addresses, across hosts", { skip }, () => {
  let net: TestNetwork;
  const names: HostNames[] = [];
  const clients: Redis[] = [];
  const processes: { process: { terminate(ms?: number): Promise<unknown> } }[] = [];

  before(async () => {
    net = await TestNetwork.create();
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all(processes.map((p) => p.process.terminate(5000)));
    await net.remove();
    for (const n of names) n.remove();
  });

  function client(m: HostMaster): Redis {
    const redis = connectRedis(MASTER_PORT, m.host.address, { password: TEST_SECRET });
    clients.push(redis);
    return redis;
  }

  it("a master follows an auxiliary node's name to its new address", async (t) => {
    const m1Host = await net.addHost("m1", 11);
    const [a1Host, a1bHost, a1cHost] = [
      await net.addHost("a1", 21),
      await net.addHost("a1b", 22),
      await net.addHost("a1c", 23),
    ];
    const hosts = new HostNames("ringcache.test", { a1: a1Host.address });
    names.push(hosts);
    hosts.give(m1Host);
    const dataDir = join(net.dir, "a1-data");
    mkdirSync(dataDir, { recursive: true });

    let a1 = await startAuxiliary(a1Host, "a1", dataDir);
    processes.push(a1);
    const m1 = await startMaster(m1Host, "m1", join(net.dir, "m1-data"), [
      ...["--auxiliary", `a1=${hosts.name("a1")}:${AUXILIARY_PORT}`],
    ]);
    processes.push(m1);
    const redis = client(m1);
    await waitFor("m1 to see a1 up", async () => (await nodeState(m1, "a1")) === "up");
    await writeKeys(redis, "k");

    // Move 1: a1 stops (its connections close) and starts again on a1b with its snapshot.
    await a1.process.terminate();
    await waitFor("m1 to see a1 down", async () => (await nodeState(m1, "a1")) === "down");
    a1 = await startAuxiliary(a1bHost, "a1", dataDir);
    processes.push(a1);
    // The name still says a1's old address, where nothing listens: a1 stays down.
    await sleep(INTERVAL_MS * (FAILURES + 1));
    assert.equal(await nodeState(m1, "a1"), "down", "m1 followed the name, not an address");

    const movedAt = Date.now();
    hosts.set("a1", a1bHost.address);
    await waitFor(
      "m1 to see a1 up at its new address",
      async () => {
        return (await nodeState(m1, "a1")) === "up";
      },
      { timeoutMs: underLoad(INTERVAL_MS * 2 + TIMEOUT_MS), intervalMs: 10 },
    );
    const followedMs = Date.now() - movedAt;
    assert.equal(await readableKeys(redis, "k"), KEYS, "m1 serves a1's keys from a1b");

    // Move 2: a1b goes silent (its packets dropped) before a1 dies there, so nothing closes
    // m1's connections to it; a1 starts again on a1c.
    await net.isolate(a1bHost);
    await a1.process.kill9();
    a1 = await startAuxiliary(a1cHost, "a1", dataDir);
    processes.push(a1);
    await waitFor("m1 to see a1 down", async () => (await nodeState(m1, "a1")) === "down", {
      timeoutMs: underLoad(INTERVAL_MS * (FAILURES + 1)),
    });
    const silentAt = Date.now();
    hosts.set("a1", a1cHost.address);
    await waitFor("m1 to see a1 up again", async () => (await nodeState(m1, "a1")) === "up", {
      timeoutMs: underLoad(INTERVAL_MS * 2 + TIMEOUT_MS),
      intervalMs: 10,
    });
    // The pool's connection to a1b stalls; it is dropped once the probes answer at a1c.
    await waitFor(
      "m1 to serve a1's keys from a1c",
      async () => (await readableKeys(redis, "k").catch(() => 0)) === KEYS,
      { timeoutMs: underLoad(INTERVAL_MS * 2 + TIMEOUT_MS * 2), intervalMs: 10 },
    );
    const servedMs = Date.now() - silentAt;
    t.diagnostic(
      `name moved: a1 up at its new address after ${followedMs} ms; ` +
        `old address silent: keys served again after ${servedMs} ms`,
    );
  });

  it("peers and registrations follow a master's name to its new address", async (t) => {
    const [p1Host, p2Host, p2bHost, r2Host] = [
      await net.addHost("p1", 31),
      await net.addHost("p2", 32),
      await net.addHost("p2b", 33),
      await net.addHost("r2", 34),
    ];
    const hosts = new HostNames("ringcache.test", {
      m1: p1Host.address,
      m2: p2Host.address,
      a2: r2Host.address,
    });
    names.push(hosts);
    hosts.give(p1Host, p2Host, p2bHost, r2Host);
    const masterHttp = (id: string): string => `${hosts.name(id)}:${MASTER_HTTP_PORT}`;

    // Nothing lists a2: the masters learn it from its registrations, by its name.
    const a2 = await startAuxiliary(r2Host, "a2", join(net.dir, "a2-data"), [
      ...["--masters", `${masterHttp("m1")},${masterHttp("m2")}`],
      ...["--advertise", `${hosts.name("a2")}:${AUXILIARY_PORT}`],
    ]);
    processes.push(a2);
    const m1 = await startMaster(p1Host, "m1", join(net.dir, "p1-data"), [
      ...["--peers", `m2=${masterHttp("m2")}`],
    ]);
    processes.push(m1);
    const m2DataDir = join(net.dir, "p2-data");
    let m2 = await startMaster(p2Host, "m2", m2DataDir, ["--peers", `m1=${masterHttp("m1")}`]);
    processes.push(m2);
    const registered = async (m: HostMaster): Promise<boolean> =>
      (await m.view()).nodes.some((n) => n.id === "a2" && n.state === "up" && n.share > 0);
    await waitFor(
      "both masters to route to a2",
      async () => {
        return (await registered(m1)) && (await registered(m2));
      },
      { timeoutMs: underLoad(REGISTER_INTERVAL_MS) },
    );
    await writeKeys(client(m1), "p");

    const livePeers = async (m: HostMaster): Promise<readonly string[]> =>
      ((await m.view()) as unknown as { coordination: { livePeers: string[] } }).coordination
        .livePeers;
    await m2.process.terminate();
    m2 = await startMaster(p2bHost, "m2", m2DataDir, ["--peers", `m1=${masterHttp("m1")}`]);
    processes.push(m2);
    // The name still says m2's old address: m1's polls and a2's registrations go there.
    await sleep(REGISTER_INTERVAL_MS + INTERVAL_MS * (FAILURES + 1));
    assert.deepEqual(await livePeers(m1), [], "m1 polls the name, not an address");
    assert.equal(await registrations(m2), 0, "a2 registers with the name, not an address");

    const movedAt = Date.now();
    hosts.set("m2", p2bHost.address);
    await waitFor("m1 to count m2 live", async () => (await livePeers(m1)).includes("m2"), {
      timeoutMs: underLoad(INTERVAL_MS * 2),
      intervalMs: 10,
    });
    const peerMs = Date.now() - movedAt;
    await waitFor("a2 to register with m2", async () => (await registrations(m2)) > 0, {
      timeoutMs: underLoad(REGISTER_INTERVAL_MS),
      intervalMs: 10,
    });
    const registeredMs = Date.now() - movedAt;
    await waitFor("m2 to route to a2", () => registered(m2));
    assert.equal(await readableKeys(client(m2), "p"), KEYS, "m2 serves the keys written via m1");
    t.diagnostic(
      `m2's name moved: m1 polls it after ${peerMs} ms; a2 registered with it after ${registeredMs} ms`,
    );
  });
});

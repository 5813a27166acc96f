// `ringcache balancer` with a real NGINX follows a master's name to a new address: the balancer
// runs on a host (a network namespace) whose /etc/hosts the test rewrites in place, in front of
// two real masters on two other hosts that say who they are (INFO's ringcache_id, /v1/cluster).
// Clients reach the first; the name moves to the second; after an interval and a reload, new
// connections reach the second, through the same NGINX master process, while a connection
// opened before stays where it was (docs/design.md, "Names, not addresses").
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  HostMaster,
  MASTER_HTTP_PORT,
  MASTER_PORT,
  TEST_SECRET,
} from "../helpers/hosts/cluster.js";
import { TestNetwork, type Host } from "../helpers/hosts/network.js";
import { HostNames } from "../helpers/names.js";
import type { NodeProcess } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { skipUnlessRoot } from "../helpers/tools.js";
import { underLoad, waitFor } from "../helpers/wait.js";

const skip = skipUnlessRoot("ip", "iptables", "nginx");
const RESOLVE_INTERVAL_MS = 500;
const RESP_PORT = 6379;
const HTTP_PORT = 8088;

/** The master a new RESP connection through the balancer reaches (INFO's ringcache_id). */
async function respMaster(address: string): Promise<string> {
  const client = await RespTestClient.connect(RESP_PORT, address);
  try {
    return await masterOf(client);
  } finally {
    client.close();
  }
}

async function masterOf(client: RespTestClient): Promise<string> {
  const [auth, info] = await client.pipeline([
    ["AUTH", TEST_SECRET],
    ["INFO", "server"],
  ]);
  assert.equal(auth, "OK");
  const id = /ringcache_id:(\S+)/.exec(String(info))?.[1];
  if (id === undefined) throw new Error(`INFO without ringcache_id: ${String(info)}`);
  return id;
}

/** The master a new HTTP connection through the balancer reaches (/v1/cluster's master.id). */
function httpMaster(address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: address, port: HTTP_PORT, path: "/v1/cluster", agent: false, timeout: 2000 },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => {
          try {
            resolve((JSON.parse(body) as { master: { id: string } }).master.id);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

function isNginxMaster(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("nginx: master process");
  } catch {
    return false;
  }
}

describe("ringcache balancer follows a master's name", { skip }, () => {
  let net: TestNetwork;
  let names: HostNames;
  let lb: Host;
  let balancer: NodeProcess;
  const masters: HostMaster[] = [];

  async function startMaster(host: Host, id: string): Promise<HostMaster> {
    const dataDir = join(net.dir, id);
    const proc = await host.spawn(`master-${id}`, [
      "master",
      ...["--id", id, "--host", "0.0.0.0", "--port", String(MASTER_PORT)],
      ...["--http-port", String(MASTER_HTTP_PORT), "--data-dir", dataDir],
      ...["--backup-dir", join(dataDir, "backup"), "--secret", TEST_SECRET],
    ]);
    const m = new HostMaster(id, host, dataDir, proc);
    masters.push(m);
    await m.waitReady();
    return m;
  }

  before(async () => {
    net = await TestNetwork.create();
    lb = await net.addHost("lb", 5);
    const [h1, h2] = [await net.addHost("h1", 11), await net.addHost("h2", 12)];
    names = new HostNames("ringcache.test", { master: h1.address });
    names.give(lb);
    await Promise.all([startMaster(h1, "m1"), startMaster(h2, "m2")]);
    balancer = await lb.spawn("balancer", [
      "balancer",
      ...["--resp", `${names.name("master")}:${MASTER_PORT}`],
      ...["--http", `${names.name("master")}:${MASTER_HTTP_PORT}`],
      ...["--listen-host", "0.0.0.0", "--resp-port", String(RESP_PORT)],
      ...["--http-port", String(HTTP_PORT), "--resolve-interval", `${RESOLVE_INTERVAL_MS}ms`],
      ...["--run-dir", join(net.dir, "balancer")],
    ]);
  });

  after(async () => {
    const started = balancer?.logEvents("NGINX started")[0]?.["nginxPid"];
    await balancer?.terminate(5000);
    if (typeof started === "number") {
      assert.equal(isNginxMaster(started), false, "the balancer stopped its NGINX");
    }
    await Promise.all(masters.map((m) => m.process.terminate(5000)));
    await net.remove();
    names.remove();
  });

  it("reloads NGINX when the name moves, and new connections follow it", async (t) => {
    const started = await waitFor("NGINX to start", () => balancer.logEvents("NGINX started")[0], {
      timeoutMs: 15_000,
    });
    const nginxPid = started["nginxPid"] as number;
    assert.ok(isNginxMaster(nginxPid));
    assert.equal(await respMaster(lb.address), "m1");
    assert.equal(await httpMaster(lb.address), "m1");
    // A connection opened before the move: an old worker keeps it, on the old address.
    const held = await RespTestClient.connect(RESP_PORT, lb.address);
    assert.equal(await masterOf(held), "m1");

    const movedAt = Date.now();
    names.set("master", net.host("h2").address);
    const moved = await waitFor(
      "the balancer to see the name move",
      () => balancer.logEvents("master name resolves to new addresses")[0],
      { timeoutMs: underLoad(RESOLVE_INTERVAL_MS), intervalMs: 10 },
    );
    assert.deepEqual(moved["to"], [net.host("h2").address]);
    const reloaded = await waitFor(
      "NGINX to be reloaded",
      () => balancer.logEvents("NGINX reloaded")[0],
      { timeoutMs: underLoad(RESOLVE_INTERVAL_MS), intervalMs: 10 },
    );
    await waitFor(
      "new connections to reach m2",
      async () =>
        (await respMaster(lb.address)) === "m2" && (await httpMaster(lb.address)) === "m2",
      { timeoutMs: underLoad(RESOLVE_INTERVAL_MS), intervalMs: 10 },
    );
    const followedMs = Date.now() - movedAt;

    // A reload, not a restart: the same NGINX master, which the balancer signalled.
    assert.equal(reloaded["nginxPid"], nginxPid);
    assert.ok(isNginxMaster(nginxPid), "NGINX's master still runs");
    assert.equal(balancer.logEvents("NGINX started").length, 1);
    assert.equal(await masterOf(held), "m1", "a connection made before stays on its master");
    held.close();
    // Every new connection now reaches m2.
    for (let i = 0; i < 10; i++) {
      assert.equal(await respMaster(lb.address), "m2");
      assert.equal(await httpMaster(lb.address), "m2");
    }
    assert.ok(existsSync(join(net.dir, "balancer", "nginx.conf")));
    t.diagnostic(`new connections reached m2 ${followedMs} ms after the name moved`);
  });
});

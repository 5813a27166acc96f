// The Docker Compose deployment (deploy/docker-compose.yml) with coordination through etcd, its
// services run as they are written there, without Docker: each service (etcd, m1, m2, a1, a2,
// a3) on a host of its own whose /etc/hosts names every other service, as Compose's network
// does (`ip netns exec` puts /etc/netns/<namespace>/hosts in place of /etc/hosts), each
// started with its service's command and environment as the Compose file gives them (the
// image's entrypoint: `node bin/ringcache.js`, or etcd), every volume a directory of its own.
// etcd must pass the service's health check, and the masters and auxiliary nodes must find
// each other through it by their service names and serve.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { HostAuxiliary, HostMaster } from "../helpers/hosts/cluster.js";
import { TestNetwork, type Host } from "../helpers/hosts/network.js";
import { skipFor } from "../helpers/hosts/scenario.js";
import { REPO_ROOT, type NodeProcess } from "../helpers/process.js";
import { recoveryView } from "../helpers/recovery.js";
import { connectRedis } from "../helpers/redis-client.js";
import { which } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const SECRET = "compose-hosts-test-secret";
const SERVICES = ["etcd", "m1", "m2", "a1", "a2", "a3"] as const;

interface Service {
  readonly command?: string[];
  readonly environment?: Record<string, string>;
  readonly volumes?: string[];
  readonly healthcheck?: { readonly test?: string[] };
}

function composeServices(): Record<string, Service> {
  const text = readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8");
  return (parse(text, { merge: true }) as { services: Record<string, Service> }).services;
}

describe(
  "the Compose deployment with etcd, its services on hosts of their own",
  { skip: skipFor("etcd") },
  () => {
    let net: TestNetwork;
    const hosts = new Map<string, Host>();
    const processes: NodeProcess[] = [];

    before(async () => {
      net = await TestNetwork.create();
      for (const name of SERVICES) hosts.set(name, await net.addHost(name));
      // Compose's network: every service reaches every other by its name.
      const names = [...hosts.values()].map((h) => `${h.address} ${h.name}`).join("\n");
      for (const h of hosts.values()) {
        mkdirSync(`/etc/netns/${h.ns}`, { recursive: true });
        writeFileSync(`/etc/netns/${h.ns}/hosts`, `127.0.0.1 localhost\n${names}\n`);
      }
    });
    after(async () => {
      await Promise.all(processes.map((p) => p.terminate(5000)));
      await net?.remove(); // the hosts' /etc/netns files too
    });

    it("etcd passes its health check, and the nodes find each other through it by name and serve", async () => {
      const services = composeServices();
      const service = (name: string): Service => {
        const s = services[name];
        if (s === undefined) throw new Error(`no service ${name} in the Compose file`);
        return s;
      };
      // A volume `name:/path` is a directory of its own here: /path in the service's command
      // and environment becomes that directory.
      const mounted = (name: string, value: string): string => {
        let out = value;
        for (const v of service(name).volumes ?? []) {
          const [volume, path] = v.split(":") as [string, string];
          if (out === path || out.startsWith(`${path}/`)) {
            const dir = join(net.dir, "volumes", volume);
            mkdirSync(dir, { recursive: true });
            out = dir + out.slice(path.length);
          }
        }
        return out;
      };
      const environment = (name: string): Record<string, string> =>
        Object.fromEntries(
          Object.entries(service(name).environment ?? {}).map(([k, v]) => [
            k,
            v.startsWith("${RINGCACHE_SECRET") ? SECRET : mounted(name, v),
          ]),
        );

      // etcd, then its health check as Compose runs it, inside its host.
      const etcd = service("etcd");
      const [, ...etcdArgs] = etcd.command ?? [];
      const etcdHost = hosts.get("etcd") as Host;
      processes.push(
        await etcdHost.spawn(
          "compose-etcd",
          etcdArgs.map((a) => mounted("etcd", a)),
          {
            program: [which("etcd") as string],
          },
        ),
      );
      const [kind, tool, ...check] = etcd.healthcheck?.test ?? [];
      assert.deepEqual([kind, tool], ["CMD", "etcdctl"]);
      await waitFor(
        "etcd to pass the Compose health check",
        async () => {
          try {
            // Docker reads the exit code (etcdctl says "is healthy" on stderr).
            await etcdHost.exec(which("etcdctl") as string, check);
            return true;
          } catch {
            return false;
          }
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );

      // The masters and auxiliary nodes, as their services are written.
      const masters: HostMaster[] = [];
      const auxiliaries: HostAuxiliary[] = [];
      await Promise.all(
        SERVICES.filter((n) => n !== "etcd").map(async (name) => {
          const [role, ...args] = service(name).command ?? [];
          const host = hosts.get(name) as Host;
          const env = environment(name);
          const proc = await host.spawn(`compose-${name}`, [role as string, ...args], { env });
          processes.push(proc);
          const dataDir = env["RINGCACHE_DATA_DIR"] as string;
          if (role === "master") {
            const m = new HostMaster(name, host, dataDir, proc);
            masters.push(m);
            await m.waitReady(30_000);
          } else {
            const a = new HostAuxiliary(name, host, dataDir, proc);
            auxiliaries.push(a);
            await a.waitReady(30_000);
          }
        }),
      );
      assert.equal(masters.length, 2);
      assert.equal(auxiliaries.length, 3);

      // One leader, one ring of the three nodes, each known by the service name it registered.
      await waitFor(
        "both masters to agree on a leader and route by the three nodes",
        async () => {
          const views = await Promise.all(masters.map((m) => recoveryView(m)));
          const [a, b] = views;
          return (
            a !== undefined &&
            b !== undefined &&
            a.leader !== null &&
            a.leader === b.leader &&
            a.epoch === b.epoch &&
            views.every(
              (v) =>
                v.coordination?.kind === "etcd" &&
                v.nodes.filter((n) => n.state === "up" && n.share > 0).length === 3,
            )
          );
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const view = await masters[0]?.view();
      assert.deepEqual(view?.nodes.map((n) => `${n.id}@${n.host}`).sort(), [
        "a1@a1",
        "a2@a2",
        "a3@a3",
      ]);

      // Written through one master, read through the other.
      const [m1, m2] = masters.sort((x, y) => x.id.localeCompare(y.id)) as [HostMaster, HostMaster];
      const c1 = connectRedis(m1.port, m1.host.address, { password: SECRET });
      const c2 = connectRedis(m2.port, m2.host.address, { password: SECRET });
      try {
        for (let i = 0; i < 50; i++) assert.equal(await c1.set(`compose:${i}`, `v${i}`), "OK");
        for (let i = 0; i < 50; i++) assert.equal(await c2.get(`compose:${i}`), `v${i}`);
      } finally {
        c1.disconnect();
        c2.disconnect();
      }
    });
  },
);

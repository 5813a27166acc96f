// An etcd cluster for the tests across hosts: each member in its own host (network namespace)
// of a TestNetwork, clients on :2379 and peers on :2380 of the host's address. Tests talk to it
// over etcd's v3 HTTP gateway (JSON, keys and values base64), so nothing but `etcd` is needed.
//
//   const etcd = await EtcdCluster.start(net);          e1, e2, e3 at .31, .32, .33
//   etcd.endpoints()                                     "10.B.C.31:2379,10.B.C.32:2379,…"
//   await etcd.put("k", "v", "e1"); await etcd.get("k", "e2");
//   await etcd.member("e2").process.kill9();
//   await etcd.stop();
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { NodeProcess } from "../process.js";
import { which } from "../tools.js";
import { waitFor } from "../wait.js";
import type { Host, TestNetwork } from "./network.js";

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export class EtcdMember {
  readonly name: string;
  readonly host: Host;
  readonly dataDir: string;
  readonly process: NodeProcess;

  constructor(name: string, host: Host, dataDir: string, proc: NodeProcess) {
    this.name = name;
    this.host = host;
    this.dataDir = dataDir;
    this.process = proc;
  }

  get clientUrl(): string {
    return `http://${this.host.address}:${ETCD_CLIENT_PORT}`;
  }

  /** kill -9 of the member. */
  async kill9(): Promise<void> {
    await this.process.kill9();
  }

  /** Starts the member again with its data directory (it rejoins the cluster it knew). */
  async restart(): Promise<void> {
    if (this.process.running) await this.process.terminate();
    this.process.start();
    await this.host.waitExeced(this.process, etcdBinary());
  }
}

function etcdBinary(): string {
  const path = which("etcd");
  if (path === undefined) throw new Error("etcd is not installed (apt-get install etcd-server)");
  return path;
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

export interface EtcdOptions {
  readonly members?: number;
  /** The last octet of the first member's address; the others follow (default 31). */
  readonly firstOctet?: number;
}

export class EtcdCluster {
  readonly members: readonly EtcdMember[];

  private constructor(members: readonly EtcdMember[]) {
    this.members = members;
  }

  /** Starts the members and waits until the cluster has a leader and takes writes. */
  static async start(network: TestNetwork, options: EtcdOptions = {}): Promise<EtcdCluster> {
    const count = options.members ?? 3;
    const first = options.firstOctet ?? 31;
    const hosts: Host[] = [];
    for (let i = 0; i < count; i++) hosts.push(await network.addHost(`e${i + 1}`, first + i));
    const initial = hosts.map((h) => `${h.name}=http://${h.address}:${ETCD_PEER_PORT}`).join(",");
    const members: EtcdMember[] = [];
    const cluster = new EtcdCluster(members);
    try {
      for (const h of hosts) {
        const dataDir = join(network.dir, h.name);
        mkdirSync(dataDir, { recursive: true });
        const peer = `http://${h.address}:${ETCD_PEER_PORT}`;
        const client = `http://${h.address}:${ETCD_CLIENT_PORT}`;
        const proc = await h.spawn(
          `etcd-${h.name}`,
          [
            ...["--name", h.name, "--data-dir", join(dataDir, "data")],
            ...["--listen-client-urls", client, "--advertise-client-urls", client],
            ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
            ...["--initial-cluster", initial, "--initial-cluster-state", "new"],
            // Unique per run: members of another cluster on a reused address are refused.
            ...["--initial-cluster-token", `ringcache-${network.run}`],
          ],
          { program: [etcdBinary()] },
        );
        members.push(new EtcdMember(h.name, h, dataDir, proc));
      }
      await cluster.waitHealthy();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  member(name: string): EtcdMember {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no etcd member ${name}`);
    return m;
  }

  /** `host:2379,…`: what a master's or auxiliary node's --etcd-endpoints takes. */
  endpoints(): string {
    return this.members.map((m) => `${m.host.address}:${ETCD_CLIENT_PORT}`).join(",");
  }

  /** Waits until every running member reports itself healthy and a write goes through. */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      "the etcd cluster to be healthy",
      async () => {
        for (const m of this.members) {
          if (!m.process.running) continue;
          const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
          const body = (await res.json()) as { health?: string };
          if (body.health !== "true") return false;
        }
        const live = this.members.find((m) => m.process.running);
        if (live === undefined) return false;
        await this.put("ringcache-test/health", String(Date.now()), live.name, 2000);
        return true;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** The member etcd's own election made its leader (Raft), asked of the running members. */
  async raftLeader(): Promise<EtcdMember> {
    for (const m of this.members) {
      if (!m.process.running) continue;
      const body = await this.call(m.name, "/v3/maintenance/status", {}, 2000);
      const self = (body["header"] as { member_id?: string } | undefined)?.member_id;
      if (self !== undefined && self === body["leader"]) return m;
    }
    throw new Error("no running etcd member says it leads");
  }

  /** Waits until a write through a running member is committed (etcd has its quorum). */
  async waitWritable(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      "etcd to commit a write",
      async () => {
        const live = this.members.filter((m) => m.process.running);
        await Promise.any(live.map((m) => this.put("ringcache-test/quorum", "1", m.name, 500)));
        return true;
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  /** Writes through one member; throws when the write is not committed within the deadline. */
  async put(key: string, value: string, via: string, timeoutMs = 2000): Promise<number> {
    const body = await this.call(
      via,
      "/v3/kv/put",
      { key: b64(key), value: b64(value) },
      timeoutMs,
    );
    return Number((body["header"] as { revision?: string } | undefined)?.revision ?? 0);
  }

  /** A linearizable read through one member: the value, or undefined for no key. */
  async get(key: string, via: string, timeoutMs = 2000): Promise<string | undefined> {
    const body = await this.call(via, "/v3/kv/range", { key: b64(key) }, timeoutMs);
    const kvs = body["kvs"] as { value?: string }[] | undefined;
    const value = kvs?.[0]?.value;
    return value === undefined ? undefined : Buffer.from(value, "base64").toString();
  }

  private async call(
    via: string,
    path: string,
    request: Record<string, string>,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    const res = await fetch(`${this.member(via).clientUrl}${path}`, {
      method: "POST",
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (!res.ok || body["error"] !== undefined) {
      throw new Error(`etcd ${path} via ${via}: ${res.status} ${JSON.stringify(body)}`);
    }
    return body;
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.process.terminate(5000)));
  }
}

// A ringcache cluster across hosts: each master and auxiliary node a real `ringcache` process
// in its own host (network namespace) of a TestNetwork, with its own address, ports, data
// directory and backup directory (no directory is shared, as on separate machines).
//
//   m1 10.B.C.11  m2 .12 …   RESP :6380, HTTP :8080   --peers m2=10.B.C.12:8080,…
//   a1 10.B.C.21  a2 .22 …   RESP :7001, HTTP :9101
//
//   const net = await TestNetwork.create();
//   const cluster = await HostCluster.start(net, { masters: 2, auxiliary: 3, replicas: 2 });
//   const redis = cluster.redis(cluster.master("m1"));       a client from the root namespace
//   await net.cut(cluster.master("m2").host, cluster.aux("a1").host);
//   await cluster.addAuxiliary("a4");     a new host whose node registers with the masters
//   await cluster.leave("a3");            SIGTERM: a3 hands its data off and exits
//
// The nodes bind non-loopback addresses, so every one gets the test secret (the clients AUTH
// with it). With `etcd`, masters and auxiliary nodes coordinate through it instead of listing
// each other (`--coordination etcd --etcd-endpoints …`, a prefix per run). With `discovery:
// "register"` the masters start with no node list and each auxiliary node registers itself
// (`--masters`), which a graceful leave needs too: a node tells the masters it leaves.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { AuxiliaryHandle } from "../auxiliary.js";
import { MasterHandle } from "../cluster.js";
import { LEAVE_TIMEOUT_MS } from "../../../src/auxiliary/node.js";
import type { ExitInfo, NodeProcess } from "../process.js";
import { recoveryView, type RecoveryView } from "../recovery.js";
import { connectRedis } from "../redis-client.js";
import { waitFor } from "../wait.js";
import type { EtcdCluster } from "./etcd.js";
import type { Host, TestNetwork } from "./network.js";

export const TEST_SECRET = "ringcache-hosts-test-secret";
export const MASTER_PORT = 6380;
export const MASTER_HTTP_PORT = 8080;
export const AUXILIARY_PORT = 7001;
export const AUXILIARY_HTTP_PORT = 9101;

export class HostMaster extends MasterHandle {
  readonly host: Host;
  readonly dataDir: string;

  constructor(id: string, host: Host, dataDir: string, proc: NodeProcess) {
    super(id, MASTER_PORT, MASTER_HTTP_PORT, proc);
    this.host = host;
    this.dataDir = dataDir;
  }

  override url(path: string): string {
    return `http://${this.host.address}:${this.httpPort}${path}`;
  }
}

export class HostAuxiliary extends AuxiliaryHandle {
  readonly host: Host;

  constructor(id: string, host: Host, dataDir: string, proc: NodeProcess) {
    super(id, AUXILIARY_PORT, AUXILIARY_HTTP_PORT, dataDir, proc);
    this.host = host;
  }

  override url(path: string): string {
    return `http://${this.host.address}:${this.httpPort}${path}`;
  }
}

export interface HostClusterOptions {
  readonly masters?: number;
  readonly auxiliary?: number;
  readonly replicas?: number;
  readonly healthInterval?: string;
  readonly healthFailures?: number;
  readonly requestTimeout?: string;
  readonly masterArgs?: readonly string[];
  readonly auxiliaryArgs?: readonly string[];
  /** Coordinate through this etcd cluster instead of --peers and --auxiliary lists. */
  readonly etcd?: EtcdCluster;
  /** The masters' --etcd-lease-ttl (default: the master's own, 3 s). */
  readonly leaseTtl?: string;
  /**
   * "config": masters get --auxiliary with every node (default). "register": masters start
   * with no nodes and each auxiliary node registers itself with --masters.
   */
  readonly discovery?: "config" | "register";
}

/** The address of an auxiliary node's host: .21 for a1, .22 for a2 … */
function auxiliaryOctet(id: string): number {
  const n = Number(id.slice(1));
  if (!/^a[1-9][0-9]?$/.test(id) || n > 30) throw new Error(`bad auxiliary node id "${id}"`);
  return 20 + n;
}

export class HostCluster {
  readonly network: TestNetwork;
  readonly options: HostClusterOptions;
  readonly masters: HostMaster[] = [];
  readonly auxiliaries: HostAuxiliary[] = [];
  private readonly clients: Redis[] = [];

  private constructor(network: TestNetwork, options: HostClusterOptions) {
    this.network = network;
    this.options = options;
  }

  /**
   * Starts the auxiliary nodes, then the masters, and waits until every master has every node
   * in its ring. Health settings default to those of the fault scenarios (test/faults/load.ts).
   */
  static async start(network: TestNetwork, options: HostClusterOptions = {}): Promise<HostCluster> {
    const cluster = new HostCluster(network, options);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  master(id: string): HostMaster {
    const m = this.masters.find((x) => x.id === id);
    if (m === undefined) throw new Error(`no master ${id}`);
    return m;
  }

  aux(id: string): HostAuxiliary {
    const a = this.auxiliaries.find((x) => x.id === id);
    if (a === undefined) throw new Error(`no auxiliary node ${id}`);
    return a;
  }

  /** An ioredis client of one master from the root namespace, closed by stop(). */
  redis(m: HostMaster, commandTimeout = 5000): Redis {
    const client = connectRedis(m.port, m.host.address, { commandTimeout, password: TEST_SECRET });
    this.clients.push(client);
    return client;
  }

  /**
   * Starts one more auxiliary node on a host of its own, which registers itself with every
   * master (or with etcd), and waits until it is ready; the masters admit it to the ring.
   */
  async addAuxiliary(id: string): Promise<HostAuxiliary> {
    const host = await this.network.addHost(id, auxiliaryOctet(id));
    const handle = await this.startAuxiliary(host, true);
    this.auxiliaries.push(handle);
    this.auxiliaries.sort((a, b) => a.id.localeCompare(b.id));
    return handle;
  }

  /**
   * Stops auxiliary node `id` gracefully (SIGTERM: it hands its data off through the masters
   * and exits) and counts it out of the cluster from then on (settled() no longer waits for
   * it). Resolves with its exit.
   */
  async leave(id: string): Promise<ExitInfo> {
    const node = this.aux(id);
    const exit = await node.process.terminate(LEAVE_TIMEOUT_MS + 5000);
    this.auxiliaries.splice(this.auxiliaries.indexOf(node), 1);
    return exit;
  }

  /**
   * kill -9 of auxiliary node `id`, counted out of the cluster from then on (settled() no
   * longer waits for it): the leader must take it out of the ring.
   */
  async kill9Auxiliary(id: string): Promise<void> {
    const node = this.aux(id);
    await node.kill9();
    this.auxiliaries.splice(this.auxiliaries.indexOf(node), 1);
  }

  /** RC.STATS of auxiliary node `id`: the highest leader's term it has seen, the steps it fenced. */
  async auxTerm(id: string): Promise<{ term: number; fenced: number }> {
    const node = this.aux(id);
    const client = connectRedis(node.port, node.host.address, {
      commandTimeout: 2000,
      password: TEST_SECRET,
    });
    try {
      const stats = JSON.parse(String(await client.call("RC.STATS"))) as {
        term: number;
        fenced: number;
      };
      return { term: stats.term, fenced: stats.fenced };
    } finally {
      client.disconnect();
    }
  }

  /** Waits until master `m` sees node `id` in `state` (up, suspect, down). */
  async waitNodeState(m: HostMaster, id: string, state: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      `master ${m.id} to see ${id} ${state}`,
      async () => (await m.view()).nodes.some((n) => n.id === id && n.state === state),
      { timeoutMs, intervalMs: 20 },
    );
  }

  /**
   * Waits until, in one round of views, every master sees every auxiliary node up and in its
   * ring, routes by one epoch, and the leader has no move running or pending; returns the views.
   */
  async settled(timeoutMs = 30_000): Promise<RecoveryView[]> {
    const count = this.auxiliaries.length;
    let last: RecoveryView[] = [];
    return waitFor(
      "every master to see every node up and route by one settled ring",
      async () => {
        const views = await Promise.all(this.masters.map((m) => recoveryView(m)));
        last = views;
        const first = views[0] as RecoveryView;
        const ok = views.every(
          (v) =>
            v.epoch === first.epoch &&
            v.nodes.filter((n) => n.state === "up" && n.share > 0).length === count &&
            v.rebalance?.running !== true &&
            (v.coordination?.sources.length ?? 0) === 0,
        );
        return ok ? views : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    ).catch((err: unknown) => {
      // What kept the cluster from settling: each master's last view.
      const views = last.map((v, i) => `${this.masters[i]?.id}: ${JSON.stringify(v)}`);
      throw new Error(`${(err as Error).message}\n${views.join("\n")}`, { cause: err });
    });
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    await Promise.all([
      ...this.masters.map((m) => m.process.terminate(5000)),
      ...this.auxiliaries.map((a) => a.process.terminate(5000)),
    ]);
  }

  private coordinationArgs(): string[] {
    const etcd = this.options.etcd;
    if (etcd === undefined) return [];
    return [
      ...["--coordination", "etcd", "--etcd-endpoints", etcd.endpoints()],
      ...["--etcd-prefix", `/ringcache-${this.network.run}`],
    ];
  }

  private masterCoordinationArgs(): string[] {
    const ttl = this.options.leaseTtl;
    const lease =
      this.options.etcd === undefined || ttl === undefined ? [] : ["--etcd-lease-ttl", ttl];
    return [...this.coordinationArgs(), ...lease];
  }

  /** The masters' HTTP addresses, for the auxiliary nodes' --masters. */
  private mastersList(): string {
    return this.masters.map((m) => `${m.host.address}:${MASTER_HTTP_PORT}`).join(",");
  }

  private async startAuxiliary(h: Host, register: boolean): Promise<HostAuxiliary> {
    const dataDir = join(this.network.dir, h.name);
    mkdirSync(dataDir, { recursive: true });
    const discovery =
      register && this.options.etcd === undefined ? ["--masters", this.mastersList()] : [];
    const proc = await h.spawn(`auxiliary-${h.name}`, [
      "auxiliary",
      ...["--id", h.name, "--host", h.address, "--port", String(AUXILIARY_PORT)],
      ...["--http-port", String(AUXILIARY_HTTP_PORT), "--data-dir", dataDir],
      ...["--secret", TEST_SECRET],
      ...discovery,
      ...this.coordinationArgs(),
      ...(this.options.auxiliaryArgs ?? []),
    ]);
    const handle = new HostAuxiliary(h.name, h, dataDir, proc);
    try {
      await handle.waitReady();
    } catch (err) {
      await proc.kill9();
      throw err;
    }
    return handle;
  }

  private async boot(): Promise<void> {
    const o = this.options;
    const net = this.network;
    const auxHosts: Host[] = [];
    for (let i = 0; i < (o.auxiliary ?? 3); i++) {
      auxHosts.push(await net.addHost(`a${i + 1}`, auxiliaryOctet(`a${i + 1}`)));
    }
    const masterHosts: Host[] = [];
    for (let i = 0; i < (o.masters ?? 2); i++) {
      masterHosts.push(await net.addHost(`m${i + 1}`, 11 + i));
    }
    const register = o.discovery === "register";
    const startAuxiliaries = async (): Promise<void> => {
      const settled = await Promise.allSettled(
        auxHosts.map((h) => this.startAuxiliary(h, register)),
      );
      // Keep every node that did start, so that stop() ends it even when another failed.
      for (const r of settled) if (r.status === "fulfilled") this.auxiliaries.push(r.value);
      const failed = settled.find((r) => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    };

    // Registering nodes start after the masters: a registration that finds no master is
    // retried only every few seconds.
    if (!register) await startAuxiliaries();
    const listed = o.etcd === undefined;
    const auxiliaryList = auxHosts.map((h) => `${h.name}=${h.address}:${AUXILIARY_PORT}`).join(",");
    await Promise.all(
      masterHosts.map(async (h) => {
        const dataDir = join(net.dir, h.name);
        mkdirSync(dataDir, { recursive: true });
        const peers = masterHosts
          .filter((p) => p !== h)
          .map((p) => `${p.name}=${p.address}:${MASTER_HTTP_PORT}`)
          .join(",");
        const proc = await h.spawn(`master-${h.name}`, [
          "master",
          ...["--id", h.name, "--host", h.address, "--port", String(MASTER_PORT)],
          ...["--http-port", String(MASTER_HTTP_PORT), "--data-dir", dataDir],
          // Its own backup directory: the default, the parent of --data-dir, is shared by
          // masters on one host only.
          ...["--backup-dir", join(dataDir, "backup")],
          ...["--replicas", String(o.replicas ?? 2)],
          ...["--health-interval", o.healthInterval ?? "200ms"],
          ...["--health-failures", String(o.healthFailures ?? 3)],
          ...["--request-timeout", o.requestTimeout ?? "1s"],
          ...["--secret", TEST_SECRET],
          ...(listed && !register ? ["--auxiliary", auxiliaryList] : []),
          ...(listed && peers !== "" ? ["--peers", peers] : []),
          ...this.masterCoordinationArgs(),
          ...(o.masterArgs ?? []),
        ]);
        const handle = new HostMaster(h.name, h, dataDir, proc);
        this.masters.push(handle);
        await handle.waitReady();
      }),
    );
    if (register) await startAuxiliaries();
    // Started in parallel: keep them in id order (masters[0] is m1).
    this.masters.sort((a, b) => a.id.localeCompare(b.id));
    this.auxiliaries.sort((a, b) => a.id.localeCompare(b.id));
    await this.settled();
  }
}

// A multi-process ringcache cluster for integration and fault tests: M masters and N auxiliary
// nodes, each a real `ringcache` process on free 127.0.0.1 ports, with the signals a fault test
// needs (kill -9, SIGSTOP/SIGCONT, SIGTERM) and restart with the same ports and data.
//
//   const cluster = await TestCluster.start({ masters: 1, auxiliary: 3, replicas: 2 });
//   cluster.master().port            RESP port of m1
//   await cluster.aux(1).kill9();    a2 dies
//   await cluster.waitNodeState("a2", "down");
//   await cluster.stop();
//
// Health settings default to short ones (100 ms interval, 3 failures, 300 ms request timeout)
// so that failures are detected quickly; tests pass their own when they measure them.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startAuxiliary, type AuxiliaryHandle } from "./auxiliary.js";
import { EtcdServer } from "./etcd.js";
import { freePorts } from "./ports.js";
import { NodeProcess, tempDir } from "./process.js";
import { waitFor } from "./wait.js";

/** The parts of GET /v1/cluster that tests read. */
export interface ClusterNodeView {
  readonly id: string;
  readonly state: string;
  readonly inRing: boolean;
  readonly share: number;
  readonly source: string;
  /** Consecutive failures the master counts against the node. */
  readonly failures: number;
  /** When the master moved the node to its current state (ISO time, the master's clock). */
  readonly since: string;
  readonly lastError: string | null;
  readonly host: string;
  readonly port: number;
}

export interface ClusterViewJson {
  readonly epoch: string;
  readonly vnodes: number;
  readonly replicas: { readonly configured: number; readonly effective: number };
  readonly nodes: readonly ClusterNodeView[];
}

export interface ClusterOptions {
  readonly masters?: number;
  readonly auxiliary?: number;
  readonly replicas?: number;
  readonly secret?: string;
  readonly healthInterval?: string;
  readonly healthFailures?: number;
  readonly requestTimeout?: string;
  /**
   * "config": masters get --auxiliary with every node (default). "register": masters start
   * with no nodes and each auxiliary node registers itself with --masters. "etcd" (with
   * coordination "etcd"): masters start with no nodes and each node registers itself in etcd.
   */
  readonly discovery?: "config" | "register" | "etcd";
  /**
   * How the masters agree: "builtin" (default: --peers) or "etcd": the cluster starts its own
   * etcd (`cluster.etcd`), and masters find each other there, with no --peers.
   */
  readonly coordination?: "builtin" | "etcd";
  /** The masters' etcd lease TTL (default 2s, etcd's shortest). */
  readonly leaseTtl?: string;
  /**
   * With coordination or discovery "etcd": this etcd instead of one of the cluster's own (left
   * running by stop()), and flags every node gets besides the endpoint and prefix (TLS files,
   * a user and password).
   */
  readonly etcd?: EtcdServer;
  readonly etcdArgs?: readonly string[];
  readonly masterArgs?: readonly string[];
  readonly auxiliaryArgs?: readonly string[];
  /** Keep the data directory after stop() (default: removed). */
  readonly keepData?: boolean;
}

export class MasterHandle {
  readonly id: string;
  readonly port: number;
  readonly httpPort: number;
  readonly process: NodeProcess;

  constructor(id: string, port: number, httpPort: number, proc: NodeProcess) {
    this.id = id;
    this.port = port;
    this.httpPort = httpPort;
    this.process = proc;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.httpPort}${path}`;
  }

  async view(): Promise<ClusterViewJson> {
    const res = await fetch(this.url("/v1/cluster"), { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`GET /v1/cluster answered ${res.status}`);
    return (await res.json()) as ClusterViewJson;
  }

  async waitReady(timeoutMs = 15_000): Promise<void> {
    try {
      await waitFor(
        `master ${this.id} to answer /healthz`,
        async () => {
          if (!this.process.running) {
            throw new Error(`master ${this.id} exited; log:\n${this.process.logText()}`);
          }
          const res = await fetch(this.url("/healthz"));
          await res.arrayBuffer();
          return res.ok;
        },
        { timeoutMs, intervalMs: 20 },
      );
    } catch (err) {
      // Say what the master was doing: a start that hangs is told apart from one that failed.
      const tail = this.process.logText().split("\n").slice(-30).join("\n");
      throw new Error(`${(err as Error).message}\nmaster ${this.id}'s log, last lines:\n${tail}`, {
        cause: err,
      });
    }
  }

  /**
   * The last time this master took auxiliary node `id` down, from its log (waits for the line):
   * when (Unix ms, the master's clock), from which state, and why: "connection refused" or
   * "ECONNREFUSED" for a port that refuses, a timeout for a node that does not answer.
   */
  async takenDown(
    id: string,
    timeoutMs = 10_000,
  ): Promise<{ readonly at: number; readonly from: string; readonly reason: string }> {
    return waitFor(
      `master ${this.id} to log that ${id} is down`,
      () => {
        const line = this.process
          .logEvents("auxiliary node is down")
          .filter((e) => e["node"] === id)
          .at(-1);
        if (line === undefined) return undefined;
        return {
          at: Date.parse(line.time),
          from: String(line["from"]),
          reason: String(line["reason"]),
        };
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  kill9(): Promise<unknown> {
    return this.process.kill9();
  }

  pause(): void {
    this.process.pause();
  }

  resume(): void {
    this.process.resume();
  }

  terminate(): Promise<unknown> {
    return this.process.terminate();
  }

  async restart(): Promise<void> {
    await this.process.restart();
    await this.waitReady();
  }
}

export class TestCluster {
  readonly dir: string;
  readonly options: ClusterOptions;
  readonly masters: MasterHandle[] = [];
  readonly auxiliaries: AuxiliaryHandle[] = [];
  /** The cluster's etcd, with coordination "etcd". */
  etcd: EtcdServer | null = null;

  private constructor(dir: string, options: ClusterOptions) {
    this.dir = dir;
    this.options = options;
  }

  /** Starts the nodes and waits until every master sees every auxiliary node up. */
  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const cluster = new TestCluster(tempDir("ringcache-cluster-"), options);
    try {
      await cluster.boot();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  master(i = 0): MasterHandle {
    const m = this.masters[i];
    if (m === undefined) throw new Error(`no master #${i}`);
    return m;
  }

  aux(i: number): AuxiliaryHandle {
    const a = this.auxiliaries[i];
    if (a === undefined) throw new Error(`no auxiliary node #${i}`);
    return a;
  }

  auxById(id: string): AuxiliaryHandle {
    const a = this.auxiliaries.find((x) => x.id === id);
    if (a === undefined) throw new Error(`no auxiliary node ${id}`);
    return a;
  }

  /** Master `id`'s data directory, which holds its backup (`backup/`) and nothing shared. */
  masterDir(id: string): string {
    return join(this.dir, id);
  }

  /** Waits until master #m sees node `id` in `state` (up, suspect, down). */
  async waitNodeState(id: string, state: string, timeoutMs = 10_000, m = 0): Promise<void> {
    await waitFor(
      `master ${this.master(m).id} to see ${id} ${state}`,
      async () => (await this.master(m).view()).nodes.some((n) => n.id === id && n.state === state),
      { timeoutMs, intervalMs: 20 },
    );
  }

  /** Waits until every master has `count` nodes in its ring. */
  async waitRing(count: number, timeoutMs = 15_000): Promise<void> {
    for (const m of this.masters) {
      await waitFor(
        `master ${m.id} to have ${count} nodes in its ring`,
        async () => (await m.view()).nodes.filter((n) => n.inRing).length === count,
        { timeoutMs, intervalMs: 25 },
      );
    }
  }

  /**
   * Starts one more auxiliary node that registers itself with every master (in etcd, with
   * discovery "etcd").
   */
  async addAuxiliary(id: string, args: readonly string[] = []): Promise<AuxiliaryHandle> {
    const o = this.options;
    const handle = await startAuxiliary({
      id,
      dataDir: join(this.dir, id),
      logDir: this.dir,
      ...(o.secret !== undefined ? { secret: o.secret } : {}),
      args: [
        ...(o.discovery === "etcd"
          ? this.etcdFlags()
          : ["--masters", this.masters.map((m) => `127.0.0.1:${m.httpPort}`).join(",")]),
        ...(o.auxiliaryArgs ?? []),
        ...args,
      ],
    });
    this.auxiliaries.push(handle);
    return handle;
  }

  async stop(): Promise<void> {
    await Promise.all([
      ...this.masters.map((m) => m.process.terminate(5000)),
      ...this.auxiliaries.map((a) => a.process.terminate(5000)),
    ]);
    if (this.options.etcd === undefined) await this.etcd?.destroy();
    if (this.options.keepData !== true) rmSync(this.dir, { recursive: true, force: true });
  }

  /** The flags that make a node coordinate through the cluster's etcd. */
  etcdFlags(): string[] {
    if (this.etcd === null) throw new Error("this cluster has no etcd");
    return [
      ...this.etcd.flags(),
      ...["--etcd-lease-ttl", this.options.leaseTtl ?? "2s"],
      ...(this.options.etcdArgs ?? []),
    ];
  }

  private masterArgs(
    id: string,
    port: number,
    httpPort: number,
    auxiliary: string,
    peers: string,
  ): string[] {
    const o = this.options;
    return [
      "master",
      ...["--id", id, "--host", "127.0.0.1", "--port", String(port)],
      ...["--http-port", String(httpPort), "--data-dir", join(this.dir, id)],
      ...["--replicas", String(o.replicas ?? 2)],
      ...["--health-interval", o.healthInterval ?? "100ms"],
      ...["--health-failures", String(o.healthFailures ?? 3)],
      ...["--request-timeout", o.requestTimeout ?? "300ms"],
      ...(auxiliary === "" ? [] : ["--auxiliary", auxiliary]),
      ...(this.etcd !== null ? this.etcdFlags() : peers === "" ? [] : ["--peers", peers]),
      ...(o.secret !== undefined ? ["--secret", o.secret] : []),
      ...(o.masterArgs ?? []),
    ];
  }

  private async boot(): Promise<void> {
    const o = this.options;
    const masterCount = o.masters ?? 1;
    const auxCount = o.auxiliary ?? 3;
    const planMasters = async () => {
      const ports = await freePorts(masterCount * 2);
      return Array.from({ length: masterCount }, (_, i) => ({
        id: `m${i + 1}`,
        port: ports[i * 2] as number,
        httpPort: ports[i * 2 + 1] as number,
      }));
    };
    if (o.coordination === "etcd" || o.discovery === "etcd") {
      this.etcd = o.etcd ?? (await EtcdServer.start());
    }
    let planned = await planMasters();
    const register = o.discovery === "register" || o.discovery === "etcd";
    const secretArgs = o.secret !== undefined ? { secret: o.secret } : {};

    const startAux = async (): Promise<void> => {
      const settled = await Promise.allSettled(
        Array.from({ length: auxCount }, (_, i) =>
          startAuxiliary({
            id: `a${i + 1}`,
            dataDir: join(this.dir, `a${i + 1}`),
            logDir: this.dir,
            ...secretArgs,
            args: [
              ...(o.discovery === "etcd"
                ? this.etcdFlags()
                : register
                  ? ["--masters", planned.map((m) => `127.0.0.1:${m.httpPort}`).join(",")]
                  : []),
              ...(o.auxiliaryArgs ?? []),
            ],
          }),
        ),
      );
      // Keep every node that did start, so that stop() ends it even when another failed
      // (an orphaned child would keep the test process alive until its timeout).
      for (const r of settled) if (r.status === "fulfilled") this.auxiliaries.push(r.value);
      const failed = settled.find((r) => r.status === "rejected");
      if (failed !== undefined) throw failed.reason;
    };
    const startMasters = async (): Promise<void> => {
      const list = register
        ? ""
        : this.auxiliaries.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",");
      // A probed port can be taken by another test's process before a master listens on it:
      // on EADDRINUSE, start every master again on fresh ports (their peer lists name them
      // all). In "register" mode the masters start before the auxiliary nodes, which are
      // given the ports the masters finally have.
      for (let attempt = 1; ; attempt++) {
        for (const p of planned) {
          const proc = new NodeProcess(
            `master-${p.id}`,
            this.masterArgs(
              p.id,
              p.port,
              p.httpPort,
              list,
              planned
                .filter((q) => q.id !== p.id)
                .map((q) => `${q.id}=127.0.0.1:${q.httpPort}`)
                .join(","),
            ),
            this.dir,
          );
          this.masters.push(new MasterHandle(p.id, p.port, p.httpPort, proc));
          proc.start();
        }
        try {
          await Promise.all(this.masters.map((m) => m.waitReady()));
          return;
        } catch (err) {
          const busy = this.masters.some((m) => m.process.logText().includes("EADDRINUSE"));
          if (attempt >= 4 || !busy) throw err;
          await Promise.all(this.masters.map((m) => m.process.kill9()));
          this.masters.length = 0;
          planned = await planMasters();
        }
      }
    };
    if (register) {
      await startMasters();
      await startAux();
    } else {
      await startAux();
      // Probed now rather than before the auxiliary nodes started: a shorter window in which
      // another process can take them.
      planned = await planMasters();
      await startMasters();
    }
    await this.waitRing(auxCount);
  }
}

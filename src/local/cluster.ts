// The embedded default: a whole ringcache topology as local processes on loopback.
//
//   NGINX :6379 (RESP) :8088 (HTTP) ──► masters m1..mM ──► auxiliary a1..aN
//   data/<id>/ for each node's files (a master's backup in data/<id>/backup/, read by the
//   other masters over HTTP, never from disk), data/logs/<id>.log for its output
//   with etcd: etcd :2379 first; masters and nodes find each other there (no --peers,
//   --auxiliary or --masters), as they would across hosts
//
// The cluster supervises its children: a node that dies is started again (it restores its
// snapshot), and stop() sends SIGTERM to every node so auxiliary nodes take their final
// snapshot before exiting. Children run in their own process groups, so a Ctrl-C in the
// terminal reaches only the supervisor, which then stops them in order: NGINX first (no new
// clients), masters next (in-flight commands finish), auxiliary nodes last (final snapshots).
// Should the supervisor exit any other way, its exit handler still sends them SIGTERM.
import { httpCall } from "../server/http-call.js";
import { spawn, type ChildProcess } from "node:child_process";
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  writeFileSync,
  type WriteStream,
} from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { formatAddress } from "../config/fields.js";
import { RingcacheError } from "../errors.js";
import { renderNginxConfig } from "./nginx.js";
import { renderPrometheusConfig } from "./prometheus.js";

export const BIN = resolve(import.meta.dirname, "..", "..", "..", "bin", "ringcache.js");
/** The Prometheus alert rules (docs/operations.md), loaded by `ringcache up --monitoring`. */
export const ALERT_RULES = resolve(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "deploy",
  "prometheus",
  "alerts.yml",
);

export interface BasePorts {
  readonly balancerResp: number;
  readonly balancerHttp: number;
  readonly masterResp: number;
  readonly masterHttp: number;
  readonly auxiliaryResp: number;
  readonly auxiliaryHttp: number;
  readonly prometheus: number;
  readonly etcdClient: number;
  readonly etcdPeer: number;
}

export const DEFAULT_PORTS: BasePorts = {
  balancerResp: 6379,
  balancerHttp: 8088,
  masterResp: 6380,
  masterHttp: 8080,
  auxiliaryResp: 7001,
  auxiliaryHttp: 9101,
  prometheus: 9090,
  etcdClient: 2379,
  etcdPeer: 2380,
};

export interface LocalClusterOptions {
  readonly masters: number;
  readonly auxiliary: number;
  readonly replicas: number;
  readonly dataDir: string;
  readonly host: string;
  readonly ports: BasePorts;
  /** Path of the nginx binary, or undefined to run without a load balancer. */
  readonly nginx: string | undefined;
  /** Path of the prometheus binary, or undefined. */
  readonly prometheus: string | undefined;
  /** Path of the etcd binary to coordinate through (or undefined: built-in coordination). */
  readonly etcd?: string | undefined;
  readonly secret?: string | undefined;
  readonly logLevel: string;
  /** Extra flags for every master / auxiliary node (tests use short intervals). */
  readonly masterArgs?: readonly string[];
  readonly auxiliaryArgs?: readonly string[];
  readonly respawn: boolean;
  /** Prometheus scrape interval (default 2 s). */
  readonly scrapeIntervalSeconds?: number;
  readonly onEvent?: (message: string) => void;
}

export interface ProcessSpec {
  readonly id: string;
  readonly role: "etcd" | "master" | "auxiliary" | "nginx" | "prometheus";
  readonly command: string;
  readonly args: readonly string[];
  /** Ports the process listens on (checked free before start). */
  readonly ports: readonly number[];
  /** URL that answers 200 once the process is ready. */
  readonly readyUrl?: string;
}

export interface Endpoint {
  readonly name: string;
  readonly address: string;
  readonly connect: string;
}

interface Running {
  readonly spec: ProcessSpec;
  child: ChildProcess;
  restarts: number;
}

/** The processes of a local cluster, their arguments and ports. Pure: nothing is started. */
export function planLocalCluster(o: LocalClusterOptions): ProcessSpec[] {
  const h = o.host;
  const masters = Array.from({ length: o.masters }, (_, i) => ({
    id: `m${i + 1}`,
    resp: o.ports.masterResp + i,
    http: o.ports.masterHttp + i,
  }));
  const aux = Array.from({ length: o.auxiliary }, (_, i) => ({
    id: `a${i + 1}`,
    resp: o.ports.auxiliaryResp + i,
    http: o.ports.auxiliaryHttp + i,
  }));
  const secret = o.secret !== undefined ? ["--secret", o.secret] : [];
  const specs: ProcessSpec[] = [];
  const etcd = o.etcd !== undefined;
  const etcdFlags = [
    ...["--coordination", "etcd", "--etcd-endpoints", `${h}:${o.ports.etcdClient}`],
    ...["--etcd-prefix", "/ringcache/local"],
  ];
  if (o.etcd !== undefined) {
    const client = `http://${h}:${o.ports.etcdClient}`;
    const peer = `http://${h}:${o.ports.etcdPeer}`;
    specs.push({
      id: "etcd",
      role: "etcd",
      command: o.etcd,
      args: [
        ...["--name", "ringcache", "--data-dir", join(o.dataDir, "etcd")],
        ...["--listen-client-urls", client, "--advertise-client-urls", client],
        ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
        ...["--initial-cluster", `ringcache=${peer}`],
      ],
      ports: [o.ports.etcdClient, o.ports.etcdPeer],
      readyUrl: `${client}/health`,
    });
  }
  for (const a of aux) {
    specs.push({
      id: a.id,
      role: "auxiliary",
      command: process.execPath,
      args: [
        BIN,
        "auxiliary",
        ...["--id", a.id, "--host", h, "--port", String(a.resp), "--http-port", String(a.http)],
        ...["--data-dir", join(o.dataDir, a.id), "--log-level", o.logLevel],
        ...(etcd ? etcdFlags : ["--masters", masters.map((m) => `${h}:${m.http}`).join(",")]),
        ...secret,
        ...(o.auxiliaryArgs ?? []),
      ],
      ports: [a.resp, a.http],
      readyUrl: `http://${h}:${a.http}/readyz`,
    });
  }
  for (const m of masters) {
    specs.push({
      id: m.id,
      role: "master",
      command: process.execPath,
      args: [
        BIN,
        "master",
        ...["--id", m.id, "--host", h, "--port", String(m.resp), "--http-port", String(m.http)],
        ...["--data-dir", join(o.dataDir, m.id), "--log-level", o.logLevel],
        ...(etcd ? etcdFlags : ["--auxiliary", aux.map((a) => `${a.id}=${h}:${a.resp}`).join(",")]),
        ...(o.masters > 1 && !etcd
          ? [
              "--peers",
              masters
                .filter((p) => p !== m)
                .map((p) => `${p.id}=${h}:${p.http}`)
                .join(","),
            ]
          : []),
        ...["--replicas", String(o.replicas)],
        ...secret,
        ...(o.masterArgs ?? []),
      ],
      ports: [m.resp, m.http],
      readyUrl: `http://${h}:${m.http}/readyz`,
    });
  }
  if (o.nginx !== undefined) {
    const prefix = resolve(o.dataDir, "nginx");
    specs.push({
      id: "nginx",
      role: "nginx",
      command: o.nginx,
      args: ["-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "error.log")],
      ports: [o.ports.balancerResp, o.ports.balancerHttp],
    });
  }
  if (o.prometheus !== undefined) {
    const dir = resolve(o.dataDir, "prometheus");
    specs.push({
      id: "prometheus",
      role: "prometheus",
      command: o.prometheus,
      args: [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=${h}:${o.ports.prometheus}`,
      ],
      ports: [o.ports.prometheus],
      readyUrl: `http://${h}:${o.ports.prometheus}/-/ready`,
    });
  }
  return specs;
}

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once("error", () => resolveFree(false));
    server.listen(port, host, () => server.close(() => resolveFree(true)));
  });
}

async function waitReady(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive()) throw new RingcacheError("INTERNAL", `process behind ${url} exited during start`);
    try {
      const res = await httpCall(url, { timeoutMs: 1000 });
      if (res.status >= 200 && res.status < 300) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new RingcacheError("INTERNAL", `${url} not ready after ${timeoutMs} ms`);
}

const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

export class LocalCluster {
  readonly options: LocalClusterOptions;
  readonly specs: readonly ProcessSpec[];
  private readonly running = new Map<string, Running>();
  private readonly logs = new Map<string, WriteStream>();
  private stopping = false;
  private readonly onExit = (): void => {
    for (const r of this.running.values()) {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill("SIGTERM");
    }
  };

  constructor(options: LocalClusterOptions) {
    this.options = options;
    this.specs = planLocalCluster(options);
  }

  endpoints(): Endpoint[] {
    const o = this.options;
    const h = o.host;
    const out: Endpoint[] = [];
    if (o.nginx !== undefined) {
      out.push(
        {
          name: "NGINX (RESP)",
          address: `${h}:${o.ports.balancerResp}`,
          connect: `redis-cli -p ${o.ports.balancerResp}`,
        },
        {
          name: "NGINX (HTTP)",
          address: `${h}:${o.ports.balancerHttp}`,
          connect: `curl http://${h}:${o.ports.balancerHttp}/v1/cluster`,
        },
      );
    }
    for (const s of this.specs) {
      if (s.role === "master") {
        out.push(
          {
            name: `master ${s.id} (RESP)`,
            address: `${h}:${s.ports[0]}`,
            connect: `redis-cli -p ${s.ports[0]}`,
          },
          {
            name: `master ${s.id} (HTTP)`,
            address: `${h}:${s.ports[1]}`,
            connect: `curl http://${h}:${s.ports[1]}/v1/cluster`,
          },
        );
      } else if (s.role === "auxiliary") {
        out.push({
          name: `auxiliary ${s.id}`,
          address: `${h}:${s.ports[0]}`,
          connect: `redis-cli -p ${s.ports[0]} (metrics: http://${h}:${s.ports[1]}/metrics)`,
        });
      } else if (s.role === "etcd") {
        out.push({
          name: "etcd",
          address: `${h}:${s.ports[0]}`,
          connect: `ETCDCTL_API=3 etcdctl --endpoints ${h}:${s.ports[0]} get --prefix /ringcache/local`,
        });
      } else if (s.role === "prometheus") {
        out.push({
          name: "Prometheus",
          address: `${h}:${s.ports[0]}`,
          connect: `http://${h}:${s.ports[0]}/`,
        });
      }
    }
    return out;
  }

  async start(): Promise<void> {
    const o = this.options;
    const busy: string[] = [];
    for (const s of this.specs) {
      for (const port of s.ports) {
        if (!(await portFree(o.host, port))) busy.push(`${port} (${s.id})`);
      }
    }
    if (busy.length > 0) {
      throw new RingcacheError(
        "CONFIG",
        `ports already in use: ${busy.join(", ")}; stop what uses them or choose other base ports`,
      );
    }
    mkdirSync(join(o.dataDir, "logs"), { recursive: true });
    this.writeSupportFiles();
    process.once("exit", this.onExit);
    for (const role of ["etcd", "auxiliary", "master", "nginx", "prometheus"] as const) {
      const group = this.specs.filter((s) => s.role === role);
      for (const spec of group) this.spawn(spec);
      await Promise.all(
        group.map(async (spec) => {
          if (spec.readyUrl !== undefined) {
            await waitReady(spec.readyUrl, 20_000, () => this.isAlive(spec.id));
          } else {
            await this.waitPorts(spec);
          }
        }),
      );
    }
  }

  /** SIGTERM to every process (masters and NGINX first, auxiliary nodes last), then wait. */
  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopping = true;
    const order = ["nginx", "prometheus", "master", "auxiliary", "etcd"] as const;
    for (const role of order) {
      const group = [...this.running.values()].filter((r) => r.spec.role === role);
      await Promise.all(group.map((r) => this.terminate(r, timeoutMs)));
    }
    for (const log of this.logs.values()) log.end();
    process.off("exit", this.onExit);
  }

  isAlive(id: string): boolean {
    const r = this.running.get(id);
    return r !== undefined && r.child.exitCode === null && r.child.signalCode === null;
  }

  pid(id: string): number | undefined {
    return this.running.get(id)?.child.pid;
  }

  private writeSupportFiles(): void {
    const o = this.options;
    const masters = this.specs.filter((s) => s.role === "master");
    if (o.nginx !== undefined) {
      const prefix = resolve(o.dataDir, "nginx");
      mkdirSync(prefix, { recursive: true });
      writeFileSync(
        join(prefix, "nginx.conf"),
        renderNginxConfig({
          resp: masters.map((m) => ({ host: o.host, port: m.ports[0] as number })),
          http: masters.map((m) => ({ host: o.host, port: m.ports[1] as number })),
          listenHost: o.host,
          respPort: o.ports.balancerResp,
          httpPort: o.ports.balancerHttp,
          maxBodyBytes: 8 * 1024 * 1024,
          prefix,
          streamModule: STREAM_MODULE,
          foreground: true,
          ...(process.getuid?.() === 0 ? { user: "root" } : {}),
        }),
      );
    }
    if (o.prometheus !== undefined) {
      const dir = resolve(o.dataDir, "prometheus");
      mkdirSync(dir, { recursive: true });
      const interval = o.scrapeIntervalSeconds ?? 2;
      // The alert rules, when they ship beside the code (the repository, the npm package).
      const rules = existsSync(ALERT_RULES);
      if (rules) copyFileSync(ALERT_RULES, join(dir, "alerts.yml"));
      writeFileSync(
        join(dir, "prometheus.yml"),
        renderPrometheusConfig({
          masters: masters.map((s) => ({
            address: formatAddress(o.host, s.ports[1] as number),
            node: s.id,
          })),
          scrapeIntervalSeconds: interval,
          discoveryRefreshSeconds: Math.max(1, interval * 2),
          ruleFiles: rules ? ["alerts.yml"] : [],
        }),
      );
    }
  }

  private spawn(spec: ProcessSpec): void {
    let log = this.logs.get(spec.id);
    if (log === undefined) {
      log = createWriteStream(join(this.options.dataDir, "logs", `${spec.id}.log`), { flags: "a" });
      this.logs.set(spec.id, log);
    }
    const child = spawn(spec.command, [...spec.args], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    const previous = this.running.get(spec.id);
    const entry: Running = { spec, child, restarts: previous?.restarts ?? 0 };
    this.running.set(spec.id, entry);
    child.once("exit", (code, signal) => {
      if (this.stopping) return;
      this.options.onEvent?.(`${spec.id} exited (${signal ?? `code ${code}`})`);
      if (!this.options.respawn) return;
      entry.restarts++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(entry.restarts, 5));
      setTimeout(() => {
        if (this.stopping) return;
        this.options.onEvent?.(`restarting ${spec.id}`);
        this.spawn(spec);
      }, delay).unref();
    });
  }

  private async waitPorts(spec: ProcessSpec): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (const port of spec.ports) {
      while (await portFree(this.options.host, port)) {
        if (!this.isAlive(spec.id)) {
          throw new RingcacheError(
            "INTERNAL",
            `${spec.id} exited during start; see ${join(this.options.dataDir, "logs", `${spec.id}.log`)}`,
          );
        }
        if (Date.now() > deadline)
          throw new RingcacheError("INTERNAL", `${spec.id} did not listen on ${port}`);
        await sleep(100);
      }
    }
  }

  private async terminate(r: Running, timeoutMs: number): Promise<void> {
    const child = r.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

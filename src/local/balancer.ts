// `ringcache balancer`: NGINX in front of the masters, following their host names.
//
// Open-source NGINX before 1.27.3 resolves an upstream server's name only when it loads its
// configuration. The balancer makes any NGINX follow masters whose names move to new addresses
// (a container recreated, a pod rescheduled, a host renumbered):
//
//   start ─► resolve every name ─► render nginx.conf (names, not addresses) ─► nginx -t
//         ─► NGINX in the foreground, as the balancer's child
//   every --resolve-interval ─► resolve every name, every address (name-watch.ts)
//     unchanged ─► nothing
//     changed ───► render again ─► nginx -t ─► SIGHUP to NGINX's master: it reads the
//                  configuration again, resolving the names, and starts new workers; the old
//                  workers stop taking connections (reloaded: none of them takes any more) and
//                  finish the ones they hold. Same master, same pid.
//   SIGTERM / SIGINT ─► SIGTERM to NGINX ─► exit
//
// NGINX refuses a configuration naming a host it cannot resolve, and an upstream with no
// server: a name that does not resolve (its container is gone) is left out until it does,
// NGINX starts once one master of each kind resolves, and while none does the running
// configuration stays. A change nginx -t refuses is tried again at the next interval.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { BalancerConfig } from "../config/balancer.js";
import { ConfigError } from "../config/load.js";
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import { NameWatch, type Lookup, type NameChange } from "./name-watch.js";
import { renderNginxConfig } from "./nginx.js";
import { findTool } from "./tools.js";

const execFileP = promisify(execFile);

/** Longest NGINX may take to start listening, and to stop. */
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;

export interface BalancerRender {
  /** Whether a host resolves (one that does not is left out); default: every host. */
  readonly resolves?: (host: string) => boolean;
  /** NGINX's `user` directive (its workers' user when it runs as root). */
  readonly user?: string;
}

/** The NGINX configuration a balancer runs with these settings. */
export function balancerNginxConfig(c: BalancerConfig, r: BalancerRender = {}): string {
  const resolves = r.resolves ?? (() => true);
  return renderNginxConfig({
    resp: c.resp.filter((a) => resolves(a.host)),
    http: c.http.filter((a) => resolves(a.host)),
    listenHost: c.listenHost,
    respPort: c.respPort,
    httpPort: c.httpPort,
    maxBodyBytes: c.maxBodySize,
    prefix: c.runDir,
    ...(c.nginxStreamModule !== "none" ? { streamModule: c.nginxStreamModule } : {}),
    workerProcesses: "auto",
    foreground: true,
    errorLog: "stderr",
    ...(r.user !== undefined ? { user: r.user } : {}),
  });
}

/**
 * The workers of an NGINX master that take new connections: its children titled "nginx: worker
 * process" (one shutting down after a reload says so in its title). Empty without /proc.
 */
function acceptingWorkers(masterPid: number): number[] {
  let children: string;
  try {
    children = readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, "utf8");
  } catch {
    return [];
  }
  return children
    .split(" ")
    .filter((pid) => pid !== "")
    .map(Number)
    .filter((pid) => {
      try {
        return (
          readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim() ===
          "nginx: worker process"
        );
      } catch {
        return false;
      }
    });
}

/** Workers of an NGINX started by root would run as nobody, who cannot write the run dir. */
export function nginxUser(): string | undefined {
  return process.getuid?.() === 0 ? "root" : undefined;
}

export interface BalancerOptions {
  readonly config: BalancerConfig;
  readonly logger: Logger;
  /** How names are resolved (default: the system's resolver). */
  readonly lookup?: Lookup;
  /** NGINX exited by itself, not stopped by the balancer. */
  readonly onNginxExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export class Balancer {
  readonly config: BalancerConfig;
  readonly watch: NameWatch;
  /** Reloads sent to NGINX. */
  reloads = 0;
  private readonly logger: Logger;
  private readonly program: string;
  private readonly onNginxExit: BalancerOptions["onNginxExit"];
  private nginx: ChildProcess | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  /** A change NGINX has not taken yet (refused by nginx -t, or nothing to render). */
  private pending = false;

  constructor(options: BalancerOptions) {
    const c = options.config;
    this.config = c;
    this.logger = options.logger;
    this.onNginxExit = options.onNginxExit;
    const program = findTool(c.nginx);
    if (program === undefined) {
      throw new ConfigError(
        `--nginx: cannot find "${c.nginx}"; install NGINX (apt-get install -y nginx libnginx-mod-stream) or give its path`,
      );
    }
    this.program = program;
    const names = [...c.resp, ...c.http].map((a) => a.host);
    this.watch = new NameWatch(names, options.lookup);
  }

  /** NGINX's master process. */
  get pid(): number | undefined {
    return this.nginx?.pid;
  }

  private get confPath(): string {
    return join(this.config.runDir, "nginx.conf");
  }

  /** Resolves the names, starts NGINX, and resolves once NGINX listens. */
  async start(): Promise<void> {
    const c = this.config;
    mkdirSync(c.runDir, { recursive: true });
    rmSync(join(c.runDir, "nginx.pid"), { force: true });
    this.logChanges(await this.watch.refresh());
    while (!this.renderable()) {
      this.logger.warn(
        { names: this.watch.names },
        "no master's name resolves yet (NGINX needs one RESP and one HTTP); waiting",
      );
      await sleep(c.resolveInterval);
      if (this.stopping) return;
      this.logChanges(await this.watch.refresh());
    }
    this.writeConfig();
    await this.test();
    const child = spawn(this.program, this.nginxArgs(), {
      stdio: ["ignore", "inherit", "inherit"],
    });
    this.nginx = child;
    child.once("exit", (code, signal) => {
      if (this.stopping) return;
      this.logger.error({ code, signal }, "NGINX exited");
      this.onNginxExit?.(code, signal);
    });
    await this.waitListening(child);
    this.logger.info(
      { nginxPid: child.pid, resp: c.respPort, http: c.httpPort, conf: this.confPath },
      "NGINX started",
    );
    this.schedule();
  }

  async stop(reason: string): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const child = this.nginx;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    this.logger.info({ reason, nginxPid: child.pid }, "stopping NGINX");
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  /**
   * One look at the names: when any changed (or a change is still pending), NGINX is given the
   * configuration again and reloaded.
   */
  async check(): Promise<void> {
    const changes = await this.watch.refresh();
    this.logChanges(changes);
    if (changes.length === 0 && !this.pending) return;
    this.pending = true;
    if (!this.renderable()) {
      this.logger.warn(
        { names: this.watch.names },
        "no master of one kind resolves; NGINX keeps its configuration",
      );
      return;
    }
    this.writeConfig();
    try {
      await this.test();
    } catch (err) {
      this.logger.warn(
        { err: (err as Error).message },
        "NGINX refused the new configuration; trying again at the next interval",
      );
      return;
    }
    const child = this.nginx;
    if (this.stopping || child === null || child.exitCode !== null || child.pid === undefined) {
      return;
    }
    const started = Date.now();
    const old = acceptingWorkers(child.pid);
    child.kill("SIGHUP");
    this.pending = false;
    this.reloads++;
    const done = await this.waitWorkersReplaced(child.pid, old);
    const fields = { nginxPid: child.pid, reloads: this.reloads, ms: Date.now() - started };
    if (done) this.logger.info(fields, "NGINX reloaded");
    else this.logger.warn(fields, "NGINX's old workers still take connections after a reload");
  }

  // --- internals -------------------------------------------------------------------------------

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check()
        .catch((err: unknown) => this.logger.error({ err }, "cannot check the masters' names"))
        .finally(() => {
          if (!this.stopping) this.schedule();
        });
    }, this.config.resolveInterval);
  }

  /** One RESP and one HTTP master resolve: NGINX accepts the configuration. */
  private renderable(): boolean {
    const resolves = (a: { host: string }): boolean => this.watch.resolves(a.host);
    return this.config.resp.some(resolves) && this.config.http.some(resolves);
  }

  private writeConfig(): void {
    const user = nginxUser();
    writeFileSync(
      this.confPath,
      balancerNginxConfig(this.config, {
        resolves: (host) => this.watch.resolves(host),
        ...(user !== undefined ? { user } : {}),
      }),
    );
  }

  private nginxArgs(): string[] {
    return ["-p", this.config.runDir, "-c", this.confPath, "-e", "stderr"];
  }

  /** nginx -t: the configuration parses and every name in it resolves. */
  private async test(): Promise<void> {
    try {
      await execFileP(this.program, ["-t", "-q", ...this.nginxArgs()], { encoding: "utf8" });
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr?.trim() ?? "";
      throw new RingcacheError("CONFIG", `nginx -t refused ${this.confPath}: ${stderr}`);
    }
  }

  /**
   * After SIGHUP, NGINX's master starts new workers, then tells the old ones to stop taking
   * connections: until then a new connection may still reach an old worker and the old
   * addresses. Resolves true once none of `old` takes connections (false after the start
   * timeout; at once where /proc cannot tell).
   */
  private async waitWorkersReplaced(masterPid: number, old: readonly number[]): Promise<boolean> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const now = acceptingWorkers(masterPid);
      if (!old.some((pid) => now.includes(pid))) return true;
      await sleep(10);
    }
    return false;
  }

  /** NGINX writes its pid file once it has bound its ports. */
  private async waitListening(child: ChildProcess): Promise<void> {
    const pidFile = join(this.config.runDir, "nginx.pid");
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new RingcacheError("INTERNAL", "NGINX exited at start; its errors are above");
      }
      try {
        if (Number(readFileSync(pidFile, "utf8").trim()) === child.pid) return;
      } catch {
        // not written yet
      }
      await sleep(20);
    }
    throw new RingcacheError("INTERNAL", `NGINX did not start within ${START_TIMEOUT_MS} ms`);
  }

  private logChanges(changes: readonly NameChange[]): void {
    for (const { name, from, to } of changes) {
      if (from === null) this.logger.info({ name, addresses: to }, "master name resolved");
      else this.logger.info({ name, from, to }, "master name resolves to new addresses");
    }
  }
}

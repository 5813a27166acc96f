// An auxiliary node: the store served over RESP, snapshotted to its data directory, restored
// at start, observable over HTTP, registered with the masters.
//
//   start():  HTTP up (/healthz live, /readyz 503 "loading") ─► restore the newest valid
//             snapshot ─► RESP listens ─► ready; timers: snapshot (when changed), expiry
//             sweep, registration with the masters
//   stop():   /readyz 503 "stopping" ─► (with masters) POST /v1/internal/leave until the
//             leader reports the hand-off done, serving the leader's scans meanwhile ─► stop
//             accepting ─► in-flight replies written ─► beforeShutdown hook ─► final
//             snapshot ─► connections and HTTP closed
//
// What must stay true: a node that cannot write a snapshot keeps serving (and says so in its
// logs and metrics); a corrupt snapshot never stops it from starting; secrets and values never
// reach a log line. The hand-off on stop: docs/design.md, "Graceful shutdown".
import { request } from "node:http";
import { HybridClock, MAX_TAG } from "../clock/hlc.js";
import { parseAddress, type Address } from "../config/fields.js";
import { ConfigError } from "../config/load.js";
import type { AuxiliaryConfig } from "../config/schema.js";
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import { REDIS_VERSION } from "../redis/version.js";
import { AuthLimiter } from "../server/auth-limiter.js";
import { RespServer } from "../server/resp-server.js";
import { Store } from "../store/index.js";
import type { SnapshotEntrySink } from "../store/snapshot-format.js";
import { AuxiliaryCommands } from "./commands/dispatcher.js";
import { auxiliaryRegistry } from "./commands/registry.js";
import { AuxiliaryHttpServer, type NodeState } from "./http.js";
import { AuxiliaryMetrics } from "./metrics.js";
import { EtcdRegistration } from "./registration.js";
import { Snapshotter, type RestoreTarget, type SnapshotSource } from "./snapshotter.js";

/** Period of registration with the masters. */
export const REGISTER_INTERVAL_MS = 5000;
const REGISTER_TIMEOUT_MS = 2000;
/** Longest a graceful stop waits for the masters to take this node's data. */
export const LEAVE_TIMEOUT_MS = 30_000;
const LEAVE_POLL_MS = 100;
/** Polls no master answered after which a leaving node stops waiting. */
const LEAVE_GIVE_UP_POLLS = 5;
/** How long stop() waits for in-flight replies to be written. */
const DRAIN_TIMEOUT_MS = 2000;

/** Runs before the final snapshot of a graceful shutdown (the hand-off of data to masters). */
export type ShutdownHook = (node: AuxiliaryNode) => Promise<void>;

export interface AuxiliaryNodeOptions {
  readonly config: AuxiliaryConfig;
  readonly logger: Logger;
  readonly beforeShutdown?: ShutdownHook;
  readonly now?: () => number;
}

export class AuxiliaryNode {
  readonly config: AuxiliaryConfig;
  readonly store: Store;
  readonly commands: AuxiliaryCommands;
  readonly snapshotter: Snapshotter;
  readonly metrics: AuxiliaryMetrics;
  readonly startedAt: number;
  state: NodeState = "loading";
  /** Ports actually bound (differs from the config when it asked for 0). */
  port = 0;
  httpPort = 0;
  restoredEntries = 0;
  restoredSnapshotAt = 0;
  private readonly logger: Logger;
  private readonly clock: HybridClock;
  private readonly resp: RespServer;
  private readonly http: AuxiliaryHttpServer;
  private readonly beforeShutdown: ShutdownHook | undefined;
  private readonly now: () => number;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly snapshotSource: SnapshotSource;
  private lastSnapshotFailed = false;
  /** A snapshot was asked for and has not finished (set before the snapshotter starts). */
  private snapshotting = false;
  private stopping: Promise<void> | undefined;
  /** The registration in etcd, with --coordination etcd. */
  private readonly registration: EtcdRegistration | null;

  constructor(options: AuxiliaryNodeOptions) {
    const config = options.config;
    if (config.advertise !== undefined && parseAdvertise(config.advertise) === undefined) {
      throw new ConfigError(
        `invalid --advertise (RINGCACHE_ADVERTISE, "advertise" in the config file): expected host:port (a host name, an IPv4 address or [an IPv6 address]), got ${JSON.stringify(config.advertise)}`,
      );
    }
    this.config = config;
    this.logger = options.logger;
    this.beforeShutdown = options.beforeShutdown;
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.store = new Store({
      maxBytes: config.maxMemory,
      ...(config.maxEntries > 0 ? { maxEntries: config.maxEntries } : {}),
      eviction: config.eviction,
      tombstoneTtlMs: config.tombstoneTtl,
      maxTombstones: config.maxTombstones,
      now: this.now,
    });
    // Local writes (plain SET/DEL) take versions from this clock; it observes every version
    // a master sends, so they are newer than anything the node holds. The highest tag keeps
    // them apart from masters that start numbering at 0.
    this.clock = new HybridClock(MAX_TAG, this.now);
    this.snapshotter = new Snapshotter({
      dir: config.dataDir,
      nodeId: config.id,
      logger: this.logger,
      now: this.now,
    });
    const connections = (): {
      open: number;
      total: number;
      rejected: number;
      commands: number;
    } => ({
      open: this.resp.connections.size,
      total: this.resp.totalConnections,
      rejected: this.resp.rejectedConnections,
      commands: this.resp.totalCommands,
    });
    const registry = auxiliaryRegistry();
    this.metrics = new AuxiliaryMetrics(config.id, registry.names, {
      store: this.store,
      snapshotter: this.snapshotter,
      connections,
      restoredEntries: () => this.restoredEntries,
      unsavedChanges: () => this.commands.changes - this.commands.changesAtLastSnapshot,
      snapshotIntervalMs: config.snapshotInterval,
    });
    this.commands = new AuxiliaryCommands({
      store: this.store,
      clock: this.clock,
      metrics: this.metrics,
      now: this.now,
      registry,
      common: {
        secret: config.secret,
        version: REDIS_VERSION,
        commandCount: registry.size,
        authLimiter: new AuthLimiter(),
      },
      info: {
        id: config.id,
        port: () => this.port,
        startedAt: this.startedAt,
        maxClients: config.maxClients,
        maxBulk: config.maxBulk,
        connections,
        snapshot: () => ({
          running: this.snapshotter.running,
          lastSuccessAt: this.snapshotter.lastSuccessAt,
          lastDurationMs: this.snapshotter.lastDurationMs,
          failures: this.snapshotter.failures,
          lastFailed: this.lastSnapshotFailed,
        }),
        restoredSnapshotAt: () => this.restoredSnapshotAt,
        restoredEntries: () => this.restoredEntries,
        startSnapshot: () => {
          if (this.snapshotting || this.state !== "ready") return false;
          this.snapshot().catch(() => undefined); // logged and counted by the snapshotter
          return true;
        },
      },
    });
    const store = this.store;
    const commands = this.commands;
    this.snapshotSource = {
      scanSlice: (cursor: number, count: number, sink: SnapshotEntrySink): number =>
        store.scan(cursor, count, (key, value, version, expiresAt, tombstone) =>
          sink.entry(key, value, version, expiresAt, tombstone),
        ),
      get flushFloor(): number {
        return commands.flushFloor;
      },
    };
    this.resp = new RespServer(
      {
        host: config.host,
        port: config.port,
        maxClients: config.maxClients,
        idleTimeoutMs: config.idleTimeout,
        maxOutputBuffer: config.maxOutputBuffer,
        limits: { maxBulkLength: config.maxBulk },
        secret: config.secret,
        logger: this.logger,
      },
      this.commands,
    );
    this.registration =
      config.coordination === "etcd"
        ? new EtcdRegistration(config, this.logger, {
            entry: () => {
              const advertised =
                config.advertise !== undefined ? parseAdvertise(config.advertise) : undefined;
              return {
                id: config.id,
                host: advertised?.host ?? config.host,
                port: advertised?.port ?? this.port,
                httpPort: this.httpPort,
              };
            },
            term: (term) => this.commands.raiseTerm(term),
          })
        : null;
    this.http = new AuxiliaryHttpServer(
      {
        nodeId: config.id,
        state: () => this.state,
        metrics: () => this.metrics.render(),
        metricsContentType: this.metrics.contentType,
      },
      this.logger,
    );
  }

  async start(): Promise<void> {
    const c = this.config;
    this.httpPort = await this.http.listen(c.httpPort, c.host);
    await this.restore();
    this.port = await this.resp.listen();
    // Bad etcd settings stop the node here (a ConfigError: exit code 2).
    await this.registration?.start();
    this.state = "ready";
    this.logger.info(
      {
        port: this.port,
        httpPort: this.httpPort,
        host: c.host,
        dataDir: c.dataDir,
        maxMemory: c.maxMemory,
        eviction: c.eviction,
        authRequired: c.secret !== undefined,
      },
      "auxiliary node ready",
    );
    this.every(c.snapshotInterval, () => void this.snapshotIfChanged());
    this.every(c.expirySweepInterval, () => {
      this.store.sweepExpired(c.expirySweepChecks);
    });
    if (c.masters.length > 0) {
      void this.register();
      this.every(REGISTER_INTERVAL_MS, () => void this.register());
    }
  }

  /** Graceful stop; idempotent (a second signal waits for the first stop). */
  async stop(reason = "stop requested"): Promise<void> {
    this.stopping ??= this.stopOnce(reason);
    return this.stopping;
  }

  private async stopOnce(reason: string): Promise<void> {
    this.logger.info({ reason }, "shutting down");
    this.state = "stopping";
    for (const t of this.timers) clearInterval(t);
    if (this.leaveTo().length > 0) await this.leave();
    this.registration?.stop();
    this.resp.stopAccepting();
    // Nothing acknowledged from here on could miss the final snapshot: stop reading commands,
    // then let the replies of those already processed reach their clients.
    this.resp.stopReading();
    await this.resp.drain(DRAIN_TIMEOUT_MS);
    if (this.beforeShutdown !== undefined) {
      try {
        await this.beforeShutdown(this);
      } catch (err) {
        this.logger.error({ err }, "shutdown hand-off failed; the final snapshot keeps the data");
      }
    }
    await this.snapshotter.idle();
    if (this.changedSinceSnapshot()) {
      try {
        await this.snapshot();
      } catch {
        // Logged by the snapshotter; shutting down goes on.
      }
    }
    this.resp.closeAll();
    await this.http.close();
    this.logger.info("stopped");
  }

  /** Writes a snapshot now (waits for one in progress first). */
  async snapshot(): Promise<void> {
    const changesAtStart = this.commands.changes;
    this.snapshotting = true;
    try {
      await this.snapshotter.write(this.snapshotSource);
      this.commands.changesAtLastSnapshot = changesAtStart;
      this.lastSnapshotFailed = false;
    } catch (err) {
      this.lastSnapshotFailed = true;
      throw err;
    } finally {
      this.snapshotting = false;
    }
  }

  private changedSinceSnapshot(): boolean {
    return this.commands.changes !== this.commands.changesAtLastSnapshot;
  }

  private async snapshotIfChanged(): Promise<void> {
    if (this.snapshotting || !this.changedSinceSnapshot() || this.state !== "ready") return;
    try {
      await this.snapshot();
    } catch {
      // Logged and counted by the snapshotter; the next tick retries.
    }
  }

  private async restore(): Promise<void> {
    const store = this.store;
    const commands = this.commands;
    let maxVersion = 0;
    let refused = 0;
    const target: RestoreTarget = {
      setFlushFloor: (version) => commands.raiseFloor(version),
      entry(key, value, version, expiresAt, tombstone) {
        if (version > maxVersion) maxVersion = version;
        try {
          if (tombstone) store.delete(key, version);
          else store.putIfNewer(key, value, version, expiresAt);
        } catch (err) {
          // Over the budget under noeviction, or a value larger than the budget now allows.
          if (!(err instanceof RingcacheError)) throw err;
          refused++;
        }
      },
    };
    const result = await this.snapshotter.restore(target);
    this.clock.observe(maxVersion);
    this.restoredEntries = result.applied - refused;
    this.restoredSnapshotAt = result.createdAt;
    if (refused > 0) {
      this.logger.warn({ refused }, "restored snapshot did not fit the memory budget");
    }
    // What was restored is on disk already: no need to snapshot it again until it changes.
    commands.changesAtLastSnapshot = commands.changes;
  }

  /**
   * Tells the masters this node is leaving and waits (bounded) until one reports the hand-off
   * done: the leader took the node out of the ring and copied its entries to their new owners,
   * reading them from this node, which keeps serving meanwhile.
   */
  private async leave(): Promise<void> {
    const c = this.config;
    const masters = this.leaveTo();
    const body = JSON.stringify({ id: c.id });
    const deadline = Date.now() + LEAVE_TIMEOUT_MS;
    const started = Date.now();
    let unanswered = 0;
    while (Date.now() < deadline) {
      const answers = await Promise.all(
        masters.map((m) =>
          postJsonReply(m, "/v1/internal/leave", body, c.secret).catch(() => null),
        ),
      );
      if (answers.some((a) => (a as { done?: unknown } | null)?.done === true)) {
        this.logger.info({ ms: Date.now() - started }, "hand-off to the masters done");
        return;
      }
      // No master to hand off to (the whole system is stopping): the snapshot keeps the data.
      if (answers.every((a) => a === null) && ++unanswered >= LEAVE_GIVE_UP_POLLS) {
        this.logger.warn("no master answers; stopping without a hand-off");
        return;
      }
      if (answers.some((a) => a !== null)) unanswered = 0;
      await new Promise((resolve) => setTimeout(resolve, LEAVE_POLL_MS));
    }
    this.logger.warn(
      { timeoutMs: LEAVE_TIMEOUT_MS },
      "hand-off not confirmed in time; the final snapshot keeps the data",
    );
  }

  /** The masters to hand off to: configured, and those registered in etcd. */
  private leaveTo(): Address[] {
    const out = new Map<string, Address>();
    for (const m of [...this.config.masters, ...(this.registration?.masters ?? [])]) {
      out.set(`${m.host}:${m.port}`, m);
    }
    return [...out.values()];
  }

  /** POST /v1/internal/register to every master; failures are retried on the next tick. */
  private async register(): Promise<void> {
    const c = this.config;
    const advertised = c.advertise !== undefined ? parseAdvertise(c.advertise) : undefined;
    const body = JSON.stringify({
      id: c.id,
      host: advertised?.host ?? c.host,
      port: advertised?.port ?? this.port,
      httpPort: this.httpPort,
    });
    await Promise.all(
      c.masters.map((master) =>
        postJson(master, "/v1/internal/register", body, c.secret).then(
          ({ status }) => {
            if (status >= 300) {
              this.logger.debug(
                { master: `${master.host}:${master.port}`, status },
                "registration refused",
              );
            }
          },
          (err: unknown) => {
            this.logger.debug(
              { master: `${master.host}:${master.port}`, err: (err as Error).message },
              "registration failed; will retry",
            );
          },
        ),
      ),
    );
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

/** `host:port`: a name (the masters resolve it at every connection), IPv4, or [IPv6]. */
function parseAdvertise(text: string): Address | undefined {
  return parseAddress(text);
}

/**
 * POSTs JSON to a master; resolves with the answer's status and body. A master named by a host
 * name is found again when it moves: the agent pools connections by name, each new connection
 * resolves it, and one that times out is destroyed rather than reused.
 */
function postJson(
  to: Address,
  path: string,
  body: string,
  secret: string | undefined,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    };
    if (secret !== undefined) headers["authorization"] = `Bearer ${secret}`;
    const req = request(
      { host: to.host, port: to.port, path, method: "POST", headers, timeout: REGISTER_TIMEOUT_MS },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}

/** POSTs JSON and resolves with the parsed reply of a 2xx answer (else rejects). */
async function postJsonReply(
  to: Address,
  path: string,
  body: string,
  secret: string | undefined,
): Promise<unknown> {
  const answer = await postJson(to, path, body, secret);
  if (answer.status >= 300) throw new Error(`${path} answered ${answer.status}`);
  try {
    return JSON.parse(answer.body.toString("utf8"));
  } catch {
    throw new Error(`${path} answered with a body that is not JSON`);
  }
}

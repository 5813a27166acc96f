// Health of the auxiliary nodes as this master sees it: a small state machine per node, fed by
// PING probes on a dedicated connection and by evidence from failed requests.
//
//            success                failure (< K in a row)          K-th failure / refused
//   unknown ─────────► up ◄──────┐  up ───────────► suspect ───────────────────────► down
//      │                ▲  success└──── suspect                                        │
//      └── K failures / refused ──────────────────────────────────────────► down ─────┘ success → up
//
// What must stay true:
// - A node is down after K consecutive failures, or at once when its port refuses connections.
// - One success brings any node up and clears its failures.
// - Nodes that are up or suspect are in the ring; unknown and down nodes are not.
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  RespReplyError,
  encodeCommand,
  type RespProtocolError,
  type RespValue,
} from "../protocol/resp/index.js";
import { Connection, IDLE, READY, type ReplyTarget } from "./transport/connection.js";
import type { Timer } from "./transport/scheduler.js";
import { TCP } from "./transport/tcp.js";
import type { Transport } from "./transport/transport.js";

export type NodeState = "unknown" | "up" | "suspect" | "down";

/** The state machine of one node. Pure: the caller passes the time. */
export class HealthState {
  readonly failuresToDown: number;
  state: NodeState = "unknown";
  /** Consecutive failures since the last success. */
  failures = 0;
  /** When the state last changed (Unix ms). */
  since: number;
  /** Why the last failure happened. */
  lastError = "";

  constructor(failuresToDown: number, now: number) {
    if (!Number.isInteger(failuresToDown) || failuresToDown < 1) {
      throw new RangeError(`failuresToDown must be a positive integer, got ${failuresToDown}`);
    }
    this.failuresToDown = failuresToDown;
    this.since = now;
  }

  /** Whether the node belongs in the ring. */
  get inRing(): boolean {
    return this.state === "up" || this.state === "suspect";
  }

  /** Records a successful probe. Returns the previous state when the state changed. */
  success(now: number): NodeState | undefined {
    this.failures = 0;
    return this.moveTo("up", now);
  }

  /**
   * Records a failure; `immediate` (connection refused) takes the node down at once. Returns
   * the previous state when the state changed.
   */
  failure(now: number, reason: string, immediate = false): NodeState | undefined {
    this.lastError = reason;
    this.failures = immediate
      ? Math.max(this.failures + 1, this.failuresToDown)
      : this.failures + 1;
    if (this.failures >= this.failuresToDown) return this.moveTo("down", now);
    if (this.state === "up") return this.moveTo("suspect", now);
    return undefined;
  }

  private moveTo(state: NodeState, now: number): NodeState | undefined {
    if (state === this.state) return undefined;
    const previous = this.state;
    this.state = state;
    this.since = now;
    return previous;
  }
}

export interface ProbeResult {
  readonly ok: boolean;
  /** The port refused the connection: nothing listens there. */
  readonly refused: boolean;
  readonly reason: string;
}

export interface ProberOptions {
  readonly host: string;
  readonly port: number;
  /** How long a probe may take, connecting included. */
  readonly deadlineMs: number;
  readonly secret?: string | undefined;
  /** How the prober reaches the node, and its timers: TCP and real time by default. */
  readonly transport?: Transport;
}

const PING = encodeCommand(["PING"]);
const OK: ProbeResult = { ok: true, refused: false, reason: "" };
const PROBE_LOST = new RingcacheError("UNAVAILABLE", "connection closed");
const PROBE_TIMEOUT = new RingcacheError("TIMEOUT", "no answer to PING within the deadline");

/**
 * PINGs one node on its own connection (so a probe never queues behind client traffic) and
 * reports one result per probe. The connection is kept between probes and reopened after any
 * failure. The connection core (transport/connection.ts) connects and sends AUTH; the PING,
 * its deadline and its result are the prober's own.
 */
export class Prober extends Connection implements ReplyTarget {
  private readonly deadlineMs: number;
  private inFlight: ((result: ProbeResult) => void) | null = null;
  private timer: Timer | null = null;

  constructor(options: ProberOptions) {
    super({
      transport: options.transport ?? TCP,
      host: options.host,
      port: options.port,
      secret: options.secret,
      requestTimeoutMs: 0,
      reconnect: false,
      lostError: PROBE_LOST,
      timeoutError: PROBE_TIMEOUT,
    });
    this.deadlineMs = options.deadlineMs;
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  setAddress(host: string, port: number): void {
    this.host = host;
    this.port = port;
    this.drop();
  }

  /** One probe; resolves with its result (never rejects). One probe at a time. */
  probe(): Promise<ProbeResult> {
    if (this.inFlight !== null) {
      return Promise.resolve({ ok: false, refused: false, reason: "probe already in flight" });
    }
    return new Promise((resolve) => {
      this.inFlight = resolve;
      this.timer = this.scheduler.schedule(this.deadlineMs, this.onDeadline);
      if (this.state === IDLE) this.open();
      this.out.raw(PING);
      this.push(this, 0);
      if (this.state === READY) this.writeOut();
    });
  }

  override close(): void {
    this.finish({ ok: false, refused: false, reason: "closed" });
    super.close();
  }

  // --- ReplyTarget: the PING's outcome -------------------------------------------------------

  onNodeReply(_token: number, value: RespValue): void {
    if (value === "PONG") this.finish(OK);
    else {
      const text = value instanceof RespReplyError ? value.message : "unexpected reply to PING";
      this.finish({ ok: false, refused: false, reason: text });
      this.drop();
    }
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.finish({ ok: false, refused: false, reason: error.message });
  }

  // --- hooks of the connection core ----------------------------------------------------------

  protected override connected(): void {
    if (this.writable) this.writeOut();
  }

  protected override wireError(err: NodeJS.ErrnoException): void {
    const refused = err.code === "ECONNREFUSED";
    this.finish({ ok: false, refused, reason: err.code ?? err.message });
  }

  protected override authRefused(message: string): void {
    this.finish({ ok: false, refused: false, reason: `AUTH refused: ${message}` });
    this.drop();
  }

  protected override unexpectedReply(): void {
    this.drop();
  }

  protected override malformed(err: RespProtocolError): void {
    this.finish({ ok: false, refused: false, reason: err.message });
    this.drop();
  }

  // --- internals -----------------------------------------------------------------------------

  private readonly onDeadline = (): void => {
    this.timer = null;
    this.finish({ ok: false, refused: false, reason: PROBE_TIMEOUT.message });
    this.drop();
  };

  private finish(result: ProbeResult): void {
    const resolve = this.inFlight;
    if (resolve === null) return;
    this.inFlight = null;
    if (this.timer !== null) this.scheduler.cancel(this.timer);
    this.timer = null;
    resolve(result);
  }

  /** Drops the connection now; the next probe opens a new one. */
  private drop(): void {
    this.disconnect(PROBE_LOST);
  }
}

export interface HealthListener {
  onProbeResult(id: string, result: ProbeResult): void;
}

export interface HealthCheckerOptions {
  readonly intervalMs: number;
  readonly deadlineMs: number;
  readonly secret?: string | undefined;
  readonly logger: Logger;
  /** How probes reach the nodes, and the probe interval's timer: TCP and real time by default. */
  readonly transport?: Transport;
}

/** Probes every node each interval (and on demand) and reports each result to the listener. */
export class HealthChecker {
  private readonly options: HealthCheckerOptions;
  private readonly listener: HealthListener;
  private readonly probers = new Map<string, Prober>();
  /** The probe in flight for each node, settled after its result was reported. */
  private readonly running = new Map<string, Promise<void>>();
  private readonly transport: Transport;
  private timer: Timer | null = null;

  constructor(options: HealthCheckerOptions, listener: HealthListener) {
    this.options = options;
    this.listener = listener;
    this.transport = options.transport ?? TCP;
  }

  add(id: string, host: string, port: number): void {
    const existing = this.probers.get(id);
    if (existing !== undefined) {
      existing.setAddress(host, port);
      return;
    }
    this.probers.set(
      id,
      new Prober({
        host,
        port,
        deadlineMs: this.options.deadlineMs,
        secret: this.options.secret,
        transport: this.transport,
      }),
    );
  }

  remove(id: string): void {
    this.probers.get(id)?.close();
    this.probers.delete(id);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = this.transport.scheduler.schedule(this.options.intervalMs, this.tick);
  }

  /** One interval's probes; the next interval starts now, whatever they take. */
  private readonly tick = (): void => {
    this.timer = this.transport.scheduler.schedule(this.options.intervalMs, this.tick);
    void this.probeAll();
  };

  /** Probes every node (joining probes already in flight); resolves when all reported. */
  async probeAll(): Promise<void> {
    const probes: Promise<void>[] = [];
    for (const id of this.probers.keys()) probes.push(this.probeNow(id));
    await Promise.all(probes);
  }

  /** Probes one node now, or joins the probe of it already in flight. */
  probeNow(id: string): Promise<void> {
    const inFlight = this.running.get(id);
    if (inFlight !== undefined) return inFlight;
    const prober = this.probers.get(id);
    if (prober === undefined) return Promise.resolve();
    const probe = prober.probe().then((result) => {
      this.running.delete(id);
      if (this.probers.get(id) === prober) this.listener.onProbeResult(id, result);
    });
    this.running.set(id, probe);
    return probe;
  }

  stop(): void {
    if (this.timer !== null) this.transport.scheduler.cancel(this.timer);
    this.timer = null;
    for (const prober of this.probers.values()) prober.close();
    this.probers.clear();
  }
}

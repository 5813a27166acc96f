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
import { connect, type Socket } from "node:net";
import type { Logger } from "../log.js";
import {
  ReplyDecoder,
  RespReplyError,
  encodeCommand,
  type RespProtocolError,
  type RespValue,
} from "../protocol/resp/index.js";

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
}

const PING = encodeCommand(["PING"]);
const OK: ProbeResult = { ok: true, refused: false, reason: "" };

/**
 * PINGs one node on its own connection (so a probe never queues behind client traffic) and
 * reports one result per probe. The connection is kept between probes and reopened after any
 * failure.
 */
export class Prober {
  private options: ProberOptions;
  private socket: Socket | null = null;
  private connected = false;
  private decoder: ReplyDecoder;
  private inFlight: ((result: ProbeResult) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Replies still due before the PING's (an AUTH on a fresh connection). */
  private skip = 0;

  constructor(options: ProberOptions) {
    this.options = options;
    this.decoder = this.newDecoder();
  }

  get busy(): boolean {
    return this.inFlight !== null;
  }

  setAddress(host: string, port: number): void {
    this.options = { ...this.options, host, port };
    this.drop();
  }

  /** One probe; resolves with its result (never rejects). One probe at a time. */
  probe(): Promise<ProbeResult> {
    if (this.inFlight !== null) {
      return Promise.resolve({ ok: false, refused: false, reason: "probe already in flight" });
    }
    return new Promise((resolve) => {
      this.inFlight = resolve;
      this.timer = setTimeout(() => {
        this.finish({ ok: false, refused: false, reason: "no answer to PING within the deadline" });
        this.drop();
      }, this.options.deadlineMs);
      if (this.socket === null) this.open();
      else if (this.connected) this.send();
    });
  }

  close(): void {
    this.finish({ ok: false, refused: false, reason: "closed" });
    this.drop();
  }

  private open(): void {
    const socket = connect({ host: this.options.host, port: this.options.port, noDelay: true });
    this.socket = socket;
    this.connected = false;
    this.decoder = this.newDecoder();
    this.skip = 0;
    socket.on("connect", () => {
      if (socket !== this.socket) return;
      this.connected = true;
      if (this.options.secret !== undefined) {
        socket.write(encodeCommand(["AUTH", this.options.secret]));
        this.skip++;
      }
      if (this.inFlight !== null) this.send();
    });
    socket.on("data", (chunk: Buffer) => {
      if (socket === this.socket) this.decoder.feed(chunk);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (socket !== this.socket) return;
      const refused = err.code === "ECONNREFUSED";
      this.finish({ ok: false, refused, reason: err.code ?? err.message });
    });
    socket.on("close", () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.connected = false;
      this.finish({ ok: false, refused: false, reason: "connection closed" });
    });
  }

  private send(): void {
    this.socket?.write(PING);
  }

  private onReply(value: RespValue): void {
    if (this.skip > 0) {
      this.skip--;
      if (value instanceof RespReplyError) {
        this.finish({ ok: false, refused: false, reason: `AUTH refused: ${value.message}` });
        this.drop();
      }
      return;
    }
    if (value === "PONG") this.finish(OK);
    else {
      const text = value instanceof RespReplyError ? value.message : "unexpected reply to PING";
      this.finish({ ok: false, refused: false, reason: text });
      this.drop();
    }
  }

  private finish(result: ProbeResult): void {
    const resolve = this.inFlight;
    if (resolve === null) return;
    this.inFlight = null;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    resolve(result);
  }

  private drop(): void {
    const socket = this.socket;
    this.socket = null;
    this.connected = false;
    socket?.destroy();
  }

  private newDecoder(): ReplyDecoder {
    return new ReplyDecoder({
      onReply: (value) => this.onReply(value),
      onProtocolError: (err: RespProtocolError) => {
        this.finish({ ok: false, refused: false, reason: err.message });
        this.drop();
      },
    });
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
}

/** Probes every node each interval (and on demand) and reports each result to the listener. */
export class HealthChecker {
  private readonly options: HealthCheckerOptions;
  private readonly listener: HealthListener;
  private readonly probers = new Map<string, Prober>();
  /** The probe in flight for each node, settled after its result was reported. */
  private readonly running = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(options: HealthCheckerOptions, listener: HealthListener) {
    this.options = options;
    this.listener = listener;
  }

  add(id: string, host: string, port: number): void {
    const existing = this.probers.get(id);
    if (existing !== undefined) {
      existing.setAddress(host, port);
      return;
    }
    this.probers.set(
      id,
      new Prober({ host, port, deadlineMs: this.options.deadlineMs, secret: this.options.secret }),
    );
  }

  remove(id: string): void {
    this.probers.get(id)?.close();
    this.probers.delete(id);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.probeAll(), this.options.intervalMs);
    this.timer.unref();
  }

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
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const prober of this.probers.values()) prober.close();
    this.probers.clear();
  }
}

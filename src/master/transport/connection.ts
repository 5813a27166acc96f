// One RESP connection from a master to an auxiliary node: what the pool's connections, the
// rebalancer's links and the health prober share (docs/design.md, "Master ↔ auxiliary protocol").
//
//   open() ──► transport.connect ──► [AUTH secret] queued first ──► onConnect: READY
//   push(target, token) after encoding into `out` ──► FIFO ring of parallel arrays
//   writeOut(): everything encoded leaves as one write (corked around uncopied parts); a wire
//   that needs draining gets nothing more until onDrain
//   wire ──data──► ReplyDecoder ──► FIFO head ──► replied(target, token, value)
//   timeout timer (armed for the oldest unexpired request) ──► timedOut(target, token)
//   wire closed ──► every pending request failed(…, lostError) ──► [reconnect after backoff]
//
// The host is kept as given: a host name is resolved by the transport at every connect (TCP:
// net.connect asks the system's resolver, /etc/hosts included), so a reconnect follows a node
// that moved to a new address under the same name.
//
// What must stay true:
// - Replies are matched to requests first in, first out. A timed-out request keeps its place
//   (its target is dropped), so its late reply is discarded, never handed to the next one.
// - Every request ends exactly once: replied, timedOut or failed.
// - Nothing is allocated per request: the FIFO is a ring of parallel arrays that only grows.
// - Events of a wire this connection no longer holds are ignored.
// - Subclasses add what is their own through the protected hooks; the hooks run with the
//   FIFO already updated, so they may send new requests.
import type { RingcacheError } from "../../errors.js";
import {
  ReplyDecoder,
  RespReplyError,
  RespWriter,
  type ReplyHandler,
  type RespLimits,
  type RespProtocolError,
  type RespValue,
} from "../../protocol/resp/index.js";
import type { Scheduler, Timer } from "./scheduler.js";
import type { Transport, Wire, WireEvents } from "./transport.js";

/** Receives the outcome of requests. One object may serve many requests, told apart by token. */
export interface ReplyTarget {
  /** The node's reply. Bulks in `value` are valid only during the call: copy what you keep. */
  onNodeReply(token: number, value: RespValue): void;
  /** The request got no reply: node down, connection lost, or timed out. */
  onNodeError(token: number, error: RingcacheError): void;
}

export interface ConnectionOptions {
  readonly transport: Transport;
  readonly host: string;
  readonly port: number;
  /** Sent as AUTH ahead of everything on each new wire. */
  readonly secret?: string | undefined;
  readonly limits?: Partial<RespLimits>;
  /** A request unanswered this long times out in place; 0: requests wait for the wire. */
  readonly requestTimeoutMs: number;
  /** Reconnect by itself after a loss, with backoff; else open() is the owner's call. */
  readonly reconnect: boolean;
  /** What pending requests fail with when the wire is lost. */
  readonly lostError: RingcacheError;
  /** What timed-out requests fail with (see timedOut). */
  readonly timeoutError: RingcacheError;
}

// Connection states.
export const IDLE = 0; // no wire; a reconnect may be scheduled
export const CONNECTING = 1;
export const READY = 2;
export const CLOSED = 3; // closed for good

const BACKOFF_MIN_MS = 25;
/** Below this, a remaining time counts as none (see onTimeoutTimer). */
const TIME_EPSILON_MS = 1e-6;
const BACKOFF_MAX_MS = 1000;
const AUTH = Buffer.from("AUTH");

export class Connection implements ReplyHandler, WireEvents {
  host: string;
  port: number;
  state = IDLE;
  /** Requests encoded since the last write. */
  protected readonly out: RespWriter;
  protected readonly scheduler: Scheduler;
  /** When the chunk being decoded arrived (scheduler time). */
  protected replyNow = 0;
  /** When the wire connected or last delivered bytes (scheduler time). */
  private heardAt = 0;
  /** Replies received on this wire so far. */
  protected answered = 0;
  /** The value of `answered` once every request written so far is answered. */
  protected writtenEnd = 0;
  // Pending FIFO as a ring buffer of parallel arrays: nothing allocated per request.
  protected count = 0;
  private targets: (ReplyTarget | null)[];
  private tokens: Float64Array;
  private sentAt: Float64Array;
  private head = 0;
  /** The first `expired` pending requests timed out already (their targets are null). */
  private expired = 0;
  /** Bytes to write before `out`'s: taken from it, then parts handed over uncopied. */
  private queued: Uint8Array[] = [];
  private wire: Wire | null = null;
  private waitingDrain = false;
  private readonly decoder: ReplyDecoder;
  private readonly transport: Transport;
  private readonly secret: string | undefined;
  private readonly timeoutMs: number;
  private readonly reconnects: boolean;
  private readonly lostError: RingcacheError;
  private readonly timeoutError: RingcacheError;
  private backoffMs = BACKOFF_MIN_MS;
  private reconnectTimer: Timer | null = null;
  private timeoutTimer: Timer | null = null;

  constructor(options: ConnectionOptions) {
    this.transport = options.transport;
    this.scheduler = options.transport.scheduler;
    this.host = options.host;
    this.port = options.port;
    this.secret = options.secret;
    this.timeoutMs = options.requestTimeoutMs;
    this.reconnects = options.reconnect;
    this.lostError = options.lostError;
    this.timeoutError = options.timeoutError;
    this.out = new RespWriter();
    this.decoder = new ReplyDecoder(this, options.limits);
    this.targets = new Array<ReplyTarget | null>(64).fill(null);
    this.tokens = new Float64Array(64);
    this.sentAt = new Float64Array(64);
  }

  /** Requests waiting for a reply (timed-out ones included until their reply or the loss). */
  get pending(): number {
    return this.count;
  }

  get ready(): boolean {
    return this.state === READY;
  }

  /**
   * Whether the wire is open but dead to all appearances: its oldest request timed out and
   * nothing at all has arrived for a whole request timeout. A wire to an address the node left
   * without closing its connections (a host gone, a container moved) stays so until TCP gives
   * up, which takes many minutes; the owner drops it when the node answers elsewhere.
   */
  get stalled(): boolean {
    return (
      this.state === READY &&
      this.expired > 0 &&
      this.scheduler.now() - this.heardAt >= this.timeoutMs
    );
  }

  /** Connects, unless connected, connecting or closed. A secret is the first request. */
  open(): void {
    if (this.state !== IDLE) return;
    if (this.reconnectTimer !== null) this.scheduler.cancel(this.reconnectTimer);
    this.reconnectTimer = null;
    this.state = CONNECTING;
    this.wire = this.transport.connect(this.host, this.port, this);
    if (this.secret !== undefined) {
      this.out.command([AUTH, this.secret]);
      this.push(null, 0);
    }
  }

  /** Skips the backoff: reconnect now if idle. */
  reconnectNow(): void {
    if (this.state !== IDLE) return;
    this.backoffMs = BACKOFF_MIN_MS;
    this.open();
  }

  /** Closes for good: pending requests fail with the lost error. */
  close(): void {
    if (this.reconnectTimer !== null) this.scheduler.cancel(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.timeoutTimer !== null) this.scheduler.cancel(this.timeoutTimer);
    this.timeoutTimer = null;
    const wire = this.wire;
    this.state = CLOSED;
    this.wire = null;
    this.beforeLoss();
    this.failPending(this.lostError);
    this.out.take();
    this.queued = [];
    wire?.destroy();
  }

  // --- for subclasses --------------------------------------------------------------------------

  /** Registers the request just encoded into `out`; target null: a reply nobody waits for. */
  protected push(target: ReplyTarget | null, token: number): void {
    if (this.count === this.targets.length) this.grow();
    const at = (this.head + this.count) & (this.targets.length - 1);
    this.targets[at] = target;
    this.tokens[at] = token;
    this.sentAt[at] = this.scheduler.now();
    this.count++;
    if (this.timeoutTimer === null && this.timeoutMs > 0) {
      this.timeoutTimer = this.scheduler.schedule(this.timeoutMs, this.onTimeoutTimer);
    }
  }

  /** Queues `part` to be written as it is, after what `out` holds now. Must not change. */
  protected appendUncopied(part: Uint8Array): void {
    if (this.out.length > 0) this.queued.push(this.out.take());
    this.queued.push(part);
  }

  /** Whether writeOut() may write now: connected, not waiting for a drain, something to send. */
  protected get writable(): boolean {
    return (
      this.state === READY && !this.waitingDrain && (this.out.length > 0 || this.queued.length > 0)
    );
  }

  /** Bytes encoded and not yet written. */
  protected get unwritten(): number {
    return this.out.length;
  }

  /** Writes everything encoded so far as one write. Check `writable` first. */
  protected writeOut(): void {
    // Every pending request is written now.
    this.writtenEnd = this.answered + this.count;
    const wire = this.wire as Wire;
    if (this.queued.length === 0) {
      wire.write(this.out.take());
    } else {
      const queued = this.queued;
      this.queued = [];
      wire.cork();
      for (const part of queued) wire.write(part);
      if (this.out.length > 0) wire.write(this.out.take());
      wire.uncork();
    }
    if (wire.writableNeedDrain) this.waitingDrain = true;
  }

  /** Drops the wire; its loss is handled when the transport reports the close. */
  protected destroyWire(): boolean {
    if (this.wire === null) return false;
    this.wire.destroy();
    return true;
  }

  /** Drops the wire and handles the loss now: pending requests fail with `error`. */
  protected disconnect(error: RingcacheError): void {
    const wire = this.wire;
    this.lose(error);
    wire?.destroy();
  }

  // Hooks. Defaults end requests plainly; subclasses add their bookkeeping.

  /** The wire is connected (state READY). */
  protected connected(): void {}
  /** The wire drained after writableNeedDrain. */
  protected drained(): void {}
  protected replied(target: ReplyTarget, token: number, value: RespValue, _sentAt: number): void {
    target.onNodeReply(token, value);
  }
  protected failed(target: ReplyTarget, token: number, error: RingcacheError): void {
    target.onNodeError(token, error);
  }
  protected timedOut(target: ReplyTarget, token: number): void {
    target.onNodeError(token, this.timeoutError);
  }
  /** Every request written so far is answered. */
  protected allAnswered(): void {}
  /** The wire is being lost; pending requests are about to fail. */
  protected beforeLoss(): void {}
  /** The wire was lost and pending requests failed; `hadPending`: some were waiting. */
  protected lost(_hadPending: boolean): void {}
  /** The transport reported an error (a close follows). */
  protected wireError(_error: NodeJS.ErrnoException): void {}
  /** The node refused the secret. */
  protected authRefused(_message: string): void {
    this.destroyWire();
  }
  /** A reply came with no request waiting: the stream is out of step. */
  protected unexpectedReply(): void {
    this.destroyWire();
  }
  /** The node's bytes are not RESP. */
  protected malformed(_error: RespProtocolError): void {
    this.destroyWire();
  }

  // --- ReplyHandler ----------------------------------------------------------------------------

  onReply(value: RespValue): void {
    if (this.count === 0) {
      this.unexpectedReply();
      return;
    }
    const at = this.head;
    const target = this.targets[at];
    const token = this.tokens[at] as number;
    const sentAt = this.sentAt[at] as number;
    this.targets[at] = null;
    this.head = (at + 1) & (this.targets.length - 1);
    this.count--;
    if (++this.answered === this.writtenEnd) this.allAnswered();
    if (this.expired > 0) {
      this.expired--;
      return;
    }
    if (target === null || target === undefined) {
      if (value instanceof RespReplyError) this.authRefused(value.message);
      return;
    }
    this.replied(target, token, value, sentAt);
  }

  onProtocolError(err: RespProtocolError): void {
    this.malformed(err);
  }

  // --- WireEvents ------------------------------------------------------------------------------

  onConnect(wire: Wire): void {
    if (wire !== this.wire) return;
    this.state = READY;
    this.heardAt = this.scheduler.now();
    this.backoffMs = BACKOFF_MIN_MS;
    this.connected();
  }

  onData(wire: Wire, chunk: Buffer): void {
    if (wire !== this.wire) return;
    this.replyNow = this.scheduler.now();
    this.heardAt = this.replyNow;
    this.decoder.feed(chunk);
  }

  onDrain(wire: Wire): void {
    if (wire !== this.wire) return;
    this.waitingDrain = false;
    this.drained();
  }

  onError(wire: Wire, error: NodeJS.ErrnoException): void {
    if (wire !== this.wire) return;
    this.wireError(error);
  }

  onClose(wire: Wire): void {
    if (wire !== this.wire) return;
    this.lose(this.lostError);
  }

  // --- internals -------------------------------------------------------------------------------

  private lose(error: RingcacheError): void {
    this.wire = null;
    this.waitingDrain = false;
    this.answered = 0;
    this.writtenEnd = 0;
    this.beforeLoss();
    const hadPending = this.count > this.expired;
    this.failPending(error);
    this.out.take();
    this.queued = [];
    this.decoder.reset();
    if (this.state === CLOSED) return;
    this.state = IDLE;
    this.lost(hadPending);
    if (this.reconnects && this.state === IDLE) {
      const delay = this.backoffMs;
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
      this.reconnectTimer = this.scheduler.schedule(
        delay + this.scheduler.random() * delay * 0.2,
        this.onReconnectTimer,
      );
    }
  }

  private readonly onReconnectTimer = (): void => {
    this.reconnectTimer = null;
    this.open();
  };

  /** Ends requests that waited the timeout, then waits for the oldest of the others. */
  private readonly onTimeoutTimer = (): void => {
    this.timeoutTimer = null;
    const now = this.scheduler.now();
    // A request is due once less than TIME_EPSILON_MS of its timeout is left: the timer for
    // it was armed for exactly that moment, and the sum of floats it was armed with may fall
    // a hair short of it (re-arming for the hair would fire again at the same instant).
    const deadline = now - this.timeoutMs + TIME_EPSILON_MS;
    const mask = this.targets.length - 1;
    while (this.expired < this.count) {
      const at = (this.head + this.expired) & mask;
      if ((this.sentAt[at] as number) > deadline) break;
      const target = this.targets[at];
      this.targets[at] = null;
      this.expired++;
      if (target !== null && target !== undefined) {
        this.timedOut(target, this.tokens[at] as number);
      }
    }
    // A request made by a hook above armed the timer for its own deadline; the oldest
    // unexpired request may be due sooner.
    if (this.timeoutTimer !== null) this.scheduler.cancel(this.timeoutTimer);
    this.timeoutTimer = null;
    if (this.expired < this.count) {
      const at = (this.head + this.expired) & mask;
      const due = (this.sentAt[at] as number) + this.timeoutMs - now;
      this.timeoutTimer = this.scheduler.schedule(Math.max(0, due), this.onTimeoutTimer);
    }
  };

  private failPending(error: RingcacheError): void {
    const mask = this.targets.length - 1;
    while (this.count > 0) {
      const at = this.head;
      const target = this.targets[at];
      const token = this.tokens[at] as number;
      this.targets[at] = null;
      this.head = (at + 1) & mask;
      this.count--;
      if (this.expired > 0) {
        this.expired--;
        continue;
      }
      if (target !== null && target !== undefined) this.failed(target, token, error);
    }
    this.head = 0;
  }

  private grow(): void {
    const size = this.targets.length;
    const targets = new Array<ReplyTarget | null>(size * 2).fill(null);
    const tokens = new Float64Array(size * 2);
    const sentAt = new Float64Array(size * 2);
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) & (size - 1);
      targets[i] = this.targets[from] ?? null;
      tokens[i] = this.tokens[from] as number;
      sentAt[i] = this.sentAt[from] as number;
    }
    this.targets = targets;
    this.tokens = tokens;
    this.sentAt = sentAt;
    this.head = 0;
  }
}

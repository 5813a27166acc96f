// A dedicated RESP connection from a master to one auxiliary node, for recovery traffic
// (rebalancing scans and copies, backup replay). It is kept apart from the pool that serves
// clients so that a move neither queues behind client requests nor waits on their short
// timeout, and so that client requests never queue behind a large page of a move.
//
//   request(encode, parse) ──► connection core's `out` (written once per turn) ──► node
//   node ──► ReplyDecoder ──► FIFO head: parse(reply) while its bulks are valid ──► resolve
//
// The connection core (transport/connection.ts) connects, sends AUTH and matches replies;
// what is the link's own is here: promises, pages handed over uncopied, and a timeout on
// progress rather than per request (docs/design.md, "Master ↔ auxiliary protocol").
//
// What must stay true: replies are matched first in, first out; every request settles once;
// `parse` runs during the decoder's callback, so it must copy any bulk it keeps; a link that
// fails fails every request in flight and reconnects on the next request.
import { RingcacheError } from "../errors.js";
import type { RespWriter, RespValue } from "../protocol/resp/index.js";
import { CLOSED, Connection, IDLE, type ReplyTarget } from "./transport/connection.js";
import type { Timer } from "./transport/scheduler.js";
import { TCP } from "./transport/tcp.js";
import type { Transport } from "./transport/transport.js";

const CRLF = Buffer.from("\r\n");
const LINK_CLOSED = new RingcacheError("UNAVAILABLE", "link closed");
const NODE_CLOSED = new RingcacheError("UNAVAILABLE", "connection to the node closed");
const NO_PROGRESS = new RingcacheError("TIMEOUT", "the node did not answer in time");

/** One request in flight: its parser and its promise. */
class Pending implements ReplyTarget {
  private readonly parse: (reply: RespValue) => unknown;
  private readonly resolve: (value: unknown) => void;
  private readonly reject: (err: Error) => void;

  constructor(
    parse: (reply: RespValue) => unknown,
    resolve: (value: unknown) => void,
    reject: (err: Error) => void,
  ) {
    this.parse = parse;
    this.resolve = resolve;
    this.reject = reject;
  }

  onNodeReply(_token: number, value: RespValue): void {
    try {
      this.resolve(this.parse(value));
    } catch (err) {
      this.reject(err as Error);
    }
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.reject(error);
  }
}

export interface LinkOptions {
  readonly host: string;
  readonly port: number;
  readonly secret?: string | undefined;
  /** A request with no reply after this long fails the whole link. */
  readonly timeoutMs: number;
  /** How the link reaches the node, and its timers: TCP and real time by default. */
  readonly transport?: Transport;
}

export class NodeLink extends Connection {
  readonly options: LinkOptions;
  private flushScheduled = false;
  private watchTimer: Timer | null = null;
  private lastProgress: number;

  constructor(options: LinkOptions) {
    super({
      transport: options.transport ?? TCP,
      host: options.host,
      port: options.port,
      secret: options.secret,
      limits: { maxBulkLength: 512 * 1024 * 1024 },
      requestTimeoutMs: 0,
      reconnect: false,
      lostError: NODE_CLOSED,
      timeoutError: NO_PROGRESS,
    });
    this.options = options;
    this.lastProgress = this.scheduler.now();
  }

  /** Requests waiting for a reply. */
  get inFlight(): number {
    return this.pending;
  }

  /**
   * Sends one request; resolves with `parse(reply)` (error replies are thrown by `parse` or
   * passed to it as RespReplyError values).
   */
  request<T>(encode: (out: RespWriter) => void, parse: (reply: RespValue) => T): Promise<T> {
    if (this.state === CLOSED) return Promise.reject(LINK_CLOSED);
    if (this.state === IDLE) {
      this.open();
      this.lastProgress = this.scheduler.now();
      this.watch();
    }
    encode(this.out);
    return new Promise<T>((resolve, reject) => {
      this.push(new Pending(parse, resolve as (v: unknown) => void, reject), 0);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.scheduler.soon(this.flush);
      }
    });
  }

  /**
   * As request, for a command whose last argument is a large bulk made of `parts`: `encode`
   * writes the command up to that bulk (its array header and the arguments before it), and
   * the parts go to the wire as they are, not copied. They must not change until the reply.
   */
  requestWithBulk<T>(
    encode: (out: RespWriter) => void,
    parts: readonly Uint8Array[],
    parse: (reply: RespValue) => T,
  ): Promise<T> {
    let length = 0;
    for (const part of parts) length += part.length;
    return this.request((out) => {
      encode(out);
      out.bulkHeader(length);
      for (const part of parts) if (part.length > 0) this.appendUncopied(part);
      this.appendUncopied(CRLF);
    }, parse);
  }

  override close(): void {
    this.disconnect(LINK_CLOSED);
    super.close();
  }

  // --- hooks of the connection core ----------------------------------------------------------

  protected override connected(): void {
    this.flush();
  }

  protected override drained(): void {
    this.flush();
  }

  protected override replied(
    target: ReplyTarget,
    token: number,
    value: RespValue,
    _sentAt: number,
  ): void {
    this.lastProgress = this.scheduler.now();
    target.onNodeReply(token, value);
  }

  protected override lost(): void {
    this.stopWatch();
  }

  protected override wireError(err: NodeJS.ErrnoException): void {
    this.disconnect(new RingcacheError("UNAVAILABLE", err.message));
  }

  /** A refused secret leaves the link as it is: its requests get the node's NOAUTH replies. */
  protected override authRefused(): void {}

  /** A reply nobody waits for is dropped. */
  protected override unexpectedReply(): void {}

  protected override malformed(err: Error): void {
    this.disconnect(new RingcacheError("UNAVAILABLE", err.message));
  }

  // --- internals -----------------------------------------------------------------------------

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.writable) this.writeOut();
  };

  /** Checks for progress a few times per timeout while the wire is open. */
  private watch(): void {
    const period = Math.max(50, this.options.timeoutMs / 4);
    this.watchTimer = this.scheduler.schedule(period, this.onWatch);
  }

  private readonly onWatch = (): void => {
    this.watchTimer = null;
    if (this.inFlight > 0 && this.scheduler.now() - this.lastProgress > this.options.timeoutMs) {
      this.disconnect(NO_PROGRESS);
      return;
    }
    this.watch();
  };

  private stopWatch(): void {
    if (this.watchTimer !== null) this.scheduler.cancel(this.watchTimer);
    this.watchTimer = null;
  }
}

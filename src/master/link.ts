// A dedicated RESP connection from a master to one auxiliary node, for recovery traffic
// (rebalancing scans and copies, backup replay). It is kept apart from the pool that serves
// clients so that a move neither queues behind client requests nor waits on their short
// timeout, and so that client requests never queue behind a large page of a move.
//
//   request(encode, parse) ──► RespWriter (flushed once per turn) ──► node
//   node ──► ReplyDecoder ──► FIFO head: parse(reply) while its bulks are valid ──► resolve
//
// What must stay true: replies are matched first in, first out; every request settles once;
// `parse` runs during the decoder's callback, so it must copy any bulk it keeps.
import { connect, type Socket } from "node:net";
import { RingcacheError } from "../errors.js";
import {
  ReplyDecoder,
  RespReplyError,
  RespWriter,
  type RespValue,
} from "../protocol/resp/index.js";

const CRLF = Buffer.from("\r\n");

interface Pending {
  readonly parse: (reply: RespValue) => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
}

export interface LinkOptions {
  readonly host: string;
  readonly port: number;
  readonly secret?: string | undefined;
  /** A request with no reply after this long fails the whole link. */
  readonly timeoutMs: number;
}

export class NodeLink {
  readonly options: LinkOptions;
  private socket: Socket | null = null;
  private readonly out = new RespWriter();
  /** Bytes to write before `out`'s: taken from it, then payloads handed over uncopied. */
  private queued: Uint8Array[] = [];
  private readonly pending: Pending[] = [];
  private head = 0;
  private flushScheduled = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private lastProgress = Date.now();
  private readonly decoder: ReplyDecoder;

  constructor(options: LinkOptions) {
    this.options = options;
    this.decoder = new ReplyDecoder(
      {
        onReply: (value) => this.onReply(value),
        onProtocolError: (err) => this.fail(err),
      },
      { maxBulkLength: 512 * 1024 * 1024 },
    );
  }

  /** Requests waiting for a reply. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /**
   * Sends one request; resolves with `parse(reply)` (error replies are thrown by `parse` or
   * passed to it as RespReplyError values).
   */
  request<T>(encode: (out: RespWriter) => void, parse: (reply: RespValue) => T): Promise<T> {
    if (this.closed) return Promise.reject(new RingcacheError("UNAVAILABLE", "link closed"));
    this.open();
    encode(this.out);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ parse, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /**
   * As request, for a command whose last argument is a large bulk made of `parts`: `encode`
   * writes the command up to that bulk (its array header and the arguments before it), and
   * the parts go to the socket as they are, not copied. They must not change until the reply.
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
      this.queued.push(out.take());
      for (const part of parts) if (part.length > 0) this.queued.push(part);
      this.queued.push(CRLF);
    }, parse);
  }

  close(): void {
    this.fail(new RingcacheError("UNAVAILABLE", "link closed"));
    this.closed = true;
  }

  private open(): void {
    if (this.socket !== null) return;
    const socket = connect({ host: this.options.host, port: this.options.port, noDelay: true });
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => {
      if (socket === this.socket) this.decoder.feed(chunk);
    });
    socket.on("error", (err) => {
      if (socket === this.socket) this.fail(err);
    });
    socket.on("close", () => {
      if (socket === this.socket) {
        this.fail(new RingcacheError("UNAVAILABLE", "connection to the node closed"));
      }
    });
    if (this.options.secret !== undefined) {
      this.out.command(["AUTH", this.options.secret]);
      this.pending.push({
        parse: (reply) => {
          if (reply instanceof RespReplyError) {
            throw new RingcacheError("WRONG_PASS", "the node refused the secret");
          }
          return reply;
        },
        resolve: () => undefined,
        reject: () => undefined,
      });
    }
    this.lastProgress = Date.now();
    this.timer = setInterval(
      () => {
        if (this.inFlight > 0 && Date.now() - this.lastProgress > this.options.timeoutMs) {
          this.fail(new RingcacheError("TIMEOUT", "the node did not answer in time"));
        }
      },
      Math.max(50, this.options.timeoutMs / 4),
    );
    this.timer.unref();
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const socket = this.socket;
    if (socket === null) return;
    if (this.queued.length === 0) {
      if (this.out.length > 0) socket.write(this.out.take());
      return;
    }
    const queued = this.queued;
    this.queued = [];
    socket.cork();
    for (const part of queued) socket.write(part);
    if (this.out.length > 0) socket.write(this.out.take());
    socket.uncork();
  };

  private onReply(value: RespValue): void {
    const p = this.pending[this.head];
    if (p === undefined) return;
    this.pending[this.head++] = undefined as unknown as Pending;
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    this.lastProgress = Date.now();
    try {
      p.resolve(p.parse(value));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  /** Fails every request in flight and drops the connection (the next request reconnects). */
  private fail(err: Error): void {
    const socket = this.socket;
    this.socket = null;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    socket?.destroy();
    this.out.take();
    this.queued = [];
    this.decoder.reset();
    const waiting = this.pending.splice(this.head);
    this.pending.length = 0;
    this.head = 0;
    for (const p of waiting) p.reject(err);
  }
}

// One client connection of a run: sends requests in batches of `depth` (the pipeline), matches
// replies to requests first-in first-out, and measures each request from the write that sent
// it to the chunk that completed it.
//
//   source.take() ×depth ─► encode the batch ─► one socket.write ─► in-flight ring (op, time)
//   socket data ─► parser ─► reply()/errorReply() ─► pop ring head ─► source.onReply(latency)
//                └─► once the whole batch is answered: fill() sends the next one
//
// A failure (socket error, close, a request older than the timeout, bytes that are not a
// reply) fails every request in flight with one kind, closes the socket and reopens it after a
// back-off while the source is active. A server that announces its last reply (HTTP
// Connection: close) is no failure: the connection sends nothing more, hands back the requests
// the server dropped (source.onDropped) and reopens at once. Nothing is allocated per request
// besides the batch's output buffer.
import { connect, type Socket } from "node:net";
import { OP_SET, type Op } from "./workload.js";
import {
  REPLY_MISS,
  WireError,
  type Outcome,
  type ReplyParser,
  type ReplySink,
  type Wire,
} from "./wire.js";

/** The next request a source hands out; one instance per connection, reused. */
export class RequestSlot {
  op: Op = OP_SET;
  key = 0;
  valueSize = 0;
}

/** What drives connections: the runner. */
export interface RequestSource {
  /** Fills `slot` with the next request; false when none should be sent now. */
  take(slot: RequestSlot): boolean;
  onReply(op: Op, outcome: Outcome, latencyUs: number): void;
  onErrorReply(op: Op, kind: string, message: string, latencyUs: number): void;
  /** A request that got no reply. */
  onFailure(op: Op, kind: string, message: string): void;
  /** A request the server dropped unprocessed, as it closed after an announced last reply. */
  onDropped(op: Op, key: number): void;
  /** A connection-level event that failed no request: a refused connect, an idle close. */
  onConnectionError(kind: string, message: string): void;
  /** Whether connections should stay open and reopen after a failure. */
  readonly active: boolean;
}

const MIN_BACKOFF_MS = 50;
const MAX_BACKOFF_MS = 1000;

function errorKind(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "socket error";
}

export class Connection implements ReplySink {
  private readonly host: string;
  private readonly port: number;
  private readonly wire: Wire;
  private readonly source: RequestSource;
  private readonly parser: ReplyParser;
  private readonly slot = new RequestSlot();
  private socket: Socket | undefined;
  private connected = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** The server announced its last reply on this socket. */
  private closing = false;
  private backoffMs = MIN_BACKOFF_MS;
  /** Requests per batch; at most `capacity`. */
  private depth: number;
  // In-flight ring: op, key and send time (performance.now(), ms) of each request, oldest at
  // head.
  private readonly capacity: number;
  private readonly ops: Uint8Array;
  private readonly keys: Float64Array;
  private readonly sentAt: Float64Array;
  private head = 0;
  private count = 0;
  /** Scratch for one batch: value sizes picked before the buffer is sized. */
  private readonly batchSizes: Float64Array;
  /** Arrival time of the chunk being parsed. */
  private now = 0;
  /** Send time and key of the request pop() removed last. */
  private poppedSentAt = 0;
  private poppedKey = 0;

  constructor(host: string, port: number, wire: Wire, source: RequestSource, capacity: number) {
    this.host = host;
    this.port = port;
    this.wire = wire;
    this.source = source;
    this.parser = wire.createParser(this);
    this.capacity = capacity;
    this.depth = capacity;
    this.ops = new Uint8Array(capacity);
    this.keys = new Float64Array(capacity);
    this.sentAt = new Float64Array(capacity);
    this.batchSizes = new Float64Array(capacity);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Opens the connection; rejects with the socket's error if it cannot. */
  async open(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const socket = this.createSocket();
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          Object.assign(new Error(`connect timed out after ${timeoutMs} ms`), {
            code: "ETIMEDOUT",
          }),
        );
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sets the batch size (the pipeline depth); takes effect at the next batch. */
  setDepth(depth: number): void {
    this.depth = Math.min(Math.max(1, depth), this.capacity);
  }

  /**
   * Sends the next batch (up to `depth` requests the source hands out) once the previous one is
   * answered; reopens the connection if it is down and the source is active.
   */
  fill(): void {
    if (this.closed) return;
    if (!this.connected) {
      if (this.socket === undefined && this.reconnectTimer === undefined && this.source.active)
        this.scheduleReconnect(0);
      return;
    }
    const socket = this.socket;
    if (socket === undefined) return;
    if (this.closing) {
      // Nothing more on a socket the server is closing; reopen once its replies are in.
      if (this.count === 0) this.reopen();
      return;
    }
    // Batches, as redis-benchmark -P: a connection sends `depth` requests in one write and
    // sends the next batch once every reply of this one arrived. Refilling after each partial
    // chunk instead makes many small writes, which costs the server more than the requests.
    if (this.count > 0) return;
    const room = this.depth;
    const wire = this.wire;
    const slot = this.slot;
    let batch = 0;
    let bytes = 0;
    let tail = (this.head + this.count) % this.capacity;
    while (batch < room && this.source.take(slot)) {
      this.ops[tail] = slot.op;
      this.keys[tail] = slot.key;
      this.batchSizes[batch] = slot.valueSize;
      bytes += wire.requestSize(slot.op, slot.valueSize);
      batch++;
      tail = tail + 1 === this.capacity ? 0 : tail + 1;
    }
    if (batch === 0) return;
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    let index = (this.head + this.count) % this.capacity;
    for (let b = 0; b < batch; b++) {
      at = wire.encode(
        out,
        at,
        (this.ops[index] ?? OP_SET) as Op,
        this.keys[index] ?? 0,
        this.batchSizes[b] ?? 0,
      );
      index = index + 1 === this.capacity ? 0 : index + 1;
    }
    const sent = performance.now();
    index = (this.head + this.count) % this.capacity;
    for (let b = 0; b < batch; b++) {
      this.sentAt[index] = sent;
      index = index + 1 === this.capacity ? 0 : index + 1;
    }
    this.count += batch;
    socket.write(out);
  }

  /** Fails the oldest request (and so the connection) if it has waited longer than timeoutMs. */
  checkTimeout(now: number, timeoutMs: number): void {
    if (this.count === 0) return;
    const waited = now - (this.sentAt[this.head] ?? now);
    if (waited > timeoutMs) {
      this.fail("timeout", `no reply within ${timeoutMs} ms`);
    }
  }

  /** Closes for good: no reopening. Requests in flight are dropped without being counted. */
  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.count = 0;
    this.dropSocket();
  }

  // ReplySink: called by the parser, in order, for each complete reply.

  reply(outcome: Outcome): void {
    const op = this.pop();
    const latencyUs = (this.now - this.poppedSentAt) * 1000;
    if (op === OP_SET && outcome === REPLY_MISS) {
      this.source.onErrorReply(
        op,
        "write not stored",
        "a write was answered with nil / 404",
        latencyUs,
      );
      return;
    }
    this.source.onReply(op, outcome, latencyUs);
  }

  serverClosing(): void {
    this.closing = true;
  }

  errorReply(kind: string, message: string): void {
    const op = this.pop();
    const latencyUs = (this.now - this.poppedSentAt) * 1000;
    this.source.onErrorReply(op, kind, message, latencyUs);
  }

  private pop(): Op {
    if (this.count === 0) throw new WireError("a reply arrived with no request in flight");
    const op = (this.ops[this.head] ?? OP_SET) as Op;
    this.poppedSentAt = this.sentAt[this.head] ?? this.now;
    this.poppedKey = this.keys[this.head] ?? 0;
    this.head = this.head + 1 === this.capacity ? 0 : this.head + 1;
    this.count--;
    return op;
  }

  private createSocket(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    socket.on("connect", () => {
      if (this.socket !== socket) return;
      this.connected = true;
      this.backoffMs = MIN_BACKOFF_MS;
      this.fill();
    });
    socket.on("data", (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.now = performance.now();
      try {
        this.parser.feed(chunk);
      } catch (err) {
        if (err instanceof WireError) {
          this.fail("protocol", err.message);
          return;
        }
        throw err;
      }
      this.fill();
    });
    socket.on("error", (err) => {
      if (this.socket !== socket) return;
      if (this.closing) this.reopen();
      else if (this.connected) this.fail(errorKind(err), err.message);
      else this.connectFailed(err);
    });
    socket.on("close", () => {
      if (this.socket !== socket) return;
      if (this.closing) this.reopen();
      else if (this.connected) this.fail("connection closed", "the server closed the connection");
      else this.connectFailed(new Error("connection closed before it opened"));
    });
    return socket;
  }

  private fail(kind: string, message: string): void {
    if (this.count === 0) this.source.onConnectionError(kind, message);
    while (this.count > 0) this.source.onFailure(this.pop(), kind, message);
    this.dropSocket();
    if (this.source.active && !this.closed) this.scheduleReconnect(this.backoffMs);
  }

  /** After an announced close: unanswered requests go back to the source; reconnect now. */
  private reopen(): void {
    while (this.count > 0) {
      const op = this.pop();
      this.source.onDropped(op, this.poppedKey);
    }
    this.dropSocket();
    if (this.source.active && !this.closed) this.scheduleReconnect(0);
  }

  private connectFailed(err: Error): void {
    this.dropSocket();
    if (this.closed) return;
    this.source.onConnectionError(`connect ${errorKind(err)}`, err.message);
    if (this.source.active) {
      this.scheduleReconnect(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    }
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = undefined;
    this.connected = false;
    this.closing = false;
    this.parser.reset();
    socket?.destroy();
  }

  private scheduleReconnect(delayMs: number): void {
    if (this.reconnectTimer !== undefined || this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || !this.source.active || this.socket !== undefined) return;
      this.createSocket();
    }, delayMs);
  }
}

// The master's connections to its auxiliary nodes: a few persistent, pipelined RESP
// connections per node.
//
//   router ── conn = client.connection(affinity) ──► encode into conn.writer() ──► conn.expect(target, token)
//                                                └─► conn.put(target, token, key, value, …)
//                                                        (consecutive puts of a turn: one RC.MPUT)
//   flushAll() once per event-loop turn: one socket write per dirty connection, unless the
//   connection's writes are not all answered yet and fewer than 16 requests wait: then they
//   wait for the replies and leave together, so that at pipeline 1 a node reads and answers
//   several requests per system call instead of one; an idle connection writes at once
//   socket ──data──► ReplyDecoder ──► head of the FIFO ──► target.onNodeReply(token, value)
//   sweep timer ──► oldest pending older than the timeout ──► target.onNodeError(token, TIMEOUT)
//
// What must stay true:
// - Replies are matched to requests first in, first out, per connection. A timed-out request
//   keeps its place in the FIFO (its target is dropped), so the late reply is discarded rather
//   than handed to the next request.
// - Every request ends exactly once: one onNodeReply or one onNodeError.
// - Requests for a node that is down, or that has no usable connection, fail at once
//   (connection() returns null) instead of queueing.
// - Memory stays bounded: a connection takes no more than maxPending requests nor more than
//   maxBufferedBytes of unsent bytes; past that connection() looks elsewhere or returns null.
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import { encodeMPutFrame, encodePutEntry, encodePutFrame } from "../protocol/internal/index.js";
import {
  ReplyDecoder,
  RespReplyError,
  RespWriter,
  type ReplyHandler,
  type RespProtocolError,
  type RespValue,
} from "../protocol/resp/index.js";

/** Receives the outcome of requests. One object may serve many requests, told apart by token. */
export interface ReplyTarget {
  /** The node's reply. Bulks in `value` are valid only during the call: copy what you keep. */
  onNodeReply(token: number, value: RespValue): void;
  /** The request got no reply: node down, connection lost, or timed out. */
  onNodeError(token: number, error: RingcacheError): void;
}

/** What a failed request tells about its node's health. */
export type TroubleKind = "timeout" | "lost" | "refused";

export interface PoolListener {
  /** Transport evidence against a node (never called for error replies, which are answers). */
  onNodeTrouble(client: NodeClient, kind: TroubleKind): void;
}

export interface PoolOptions {
  readonly connectionsPerNode: number;
  readonly requestTimeoutMs: number;
  readonly secret?: string | undefined;
  /** Most requests waiting for a reply on one connection. */
  readonly maxPending?: number;
  /** Most unsent bytes buffered for one connection. */
  readonly maxBufferedBytes?: number;
  readonly logger: Logger;
  readonly listener?: PoolListener;
}

const DEFAULT_MAX_PENDING = 65_536;
const DEFAULT_MAX_BUFFERED = 32 * 1024 * 1024;
const BACKOFF_MIN_MS = 25;
const BACKOFF_MAX_MS = 1000;

/** Upper bounds (seconds) of the per-node latency histogram buckets. */
export const NODE_LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

// Connection states.
const IDLE = 0; // no socket; a reconnect is scheduled
const CONNECTING = 1;
const READY = 2;
const CLOSED = 3; // closed for good

const AUTH = Buffer.from("AUTH");

/** Per-node request counters, read by the metrics collector. */
export class NodeStatsCounters {
  requests = 0;
  errors = 0;
  timeouts = 0;
  latencySum = 0;
  readonly latencyBuckets = new Float64Array(NODE_LATENCY_BUCKETS.length + 1);

  observe(seconds: number): void {
    this.latencySum += seconds;
    let i = 0;
    while (i < NODE_LATENCY_BUCKETS.length && seconds > (NODE_LATENCY_BUCKETS[i] as number)) i++;
    (this.latencyBuckets[i] as number)++;
  }
}

/** Most puts framed as one RC.MPUT, and most bytes of their entries. */
const MAX_BATCH_ENTRIES = 256;
const MAX_BATCH_BYTES = 256 * 1024;

/**
 * While a connection's last write is unanswered, requests made meanwhile wait for its reply and
 * leave together, until this many of them (or this many bytes) wait: a pipelined client's turn
 * brings enough to fill a write of its own, and holding those would only idle the node.
 */
const HOLD_MAX_REQUESTS = 16;
const HOLD_MAX_BYTES = 64 * 1024;

/**
 * Consecutive puts to one node in one event-loop turn, sent as one RC.MPUT: one command for
 * the node to decode and dispatch instead of many. Its reply (an array) is handed out entry by
 * entry, so each put's target sees what a lone RC.PUT would have answered.
 */
class PutBatch implements ReplyTarget {
  readonly targets: ReplyTarget[] = [];
  readonly tokens: number[] = [];

  onNodeReply(_token: number, value: RespValue): void {
    const targets = this.targets;
    const tokens = this.tokens;
    if (Array.isArray(value) && value.length === targets.length) {
      for (let i = 0; i < targets.length; i++) {
        (targets[i] as ReplyTarget).onNodeReply(tokens[i] as number, value[i] as RespValue);
      }
    } else {
      // An error (or anything else) for the whole command is every entry's answer.
      for (let i = 0; i < targets.length; i++) {
        (targets[i] as ReplyTarget).onNodeReply(tokens[i] as number, value);
      }
    }
  }

  onNodeError(_token: number, error: RingcacheError): void {
    for (let i = 0; i < this.targets.length; i++) {
      (this.targets[i] as ReplyTarget).onNodeError(this.tokens[i] as number, error);
    }
  }
}

export class NodeConnection implements ReplyHandler {
  /** Requests encoded since the last flush; use writer() to add one. */
  private readonly out: RespWriter;
  /** The entries of the puts not yet framed, and their targets. */
  private readonly batchOut = new RespWriter();
  private batch: PutBatch | null = null;
  private spare: PutBatch | null = null;
  readonly client: NodeClient;
  state = IDLE;
  private socket: Socket | null = null;
  private readonly decoder: ReplyDecoder;
  // Pending FIFO as a ring buffer of parallel arrays: nothing allocated per request.
  private targets: (ReplyTarget | null)[];
  private tokens: Float64Array;
  private sentAt: Float64Array;
  private head = 0;
  private count = 0;
  /** The first `expired` pending requests timed out already (their targets are null). */
  private expired = 0;
  dirty = false;
  private waitingDrain = false;
  private backoffMs = BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private replyNow = 0;
  /** Replies received on this socket so far. */
  private answered = 0;
  /** The value of `answered` once every request written so far is answered. */
  private writtenEnd = 0;
  /** Requests made since the last write. */
  private unsent = 0;
  /** A flush found written requests unanswered and kept the new ones back. */
  private held = false;

  constructor(client: NodeClient) {
    this.client = client;
    this.out = new RespWriter();
    this.decoder = new ReplyDecoder(this);
    this.targets = new Array<ReplyTarget | null>(64).fill(null);
    this.tokens = new Float64Array(64);
    this.sentAt = new Float64Array(64);
  }

  get pending(): number {
    return this.count;
  }

  get ready(): boolean {
    return this.state === READY;
  }

  /** Whether this connection can take one more request now. */
  get usable(): boolean {
    return (
      (this.state === READY || this.state === CONNECTING) &&
      this.count < this.client.pool.maxPending &&
      this.out.length + this.batchOut.length < this.client.pool.maxBufferedBytes
    );
  }

  /**
   * The writer to encode one request into; then call expect(). Puts waiting to be framed go
   * first, so requests reach the node in the order they were made.
   */
  writer(): RespWriter {
    if (this.batch !== null) this.closeBatch();
    return this.out;
  }

  /** Registers the request just encoded into writer(); its reply goes to target.onNodeReply. */
  expect(target: ReplyTarget, token: number): void {
    this.push(target, token);
    this.client.stats.requests++;
    this.unsent++;
    if (!this.dirty) {
      this.dirty = true;
      this.client.pool.markDirty(this);
    }
  }

  /** A versioned put (RC.PUT); consecutive ones of a turn leave as one RC.MPUT. */
  put(
    target: ReplyTarget,
    token: number,
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
  ): void {
    let batch = this.batch;
    if (batch === null) {
      batch = this.batch = this.spare ?? new PutBatch();
      this.spare = null;
    }
    batch.targets.push(target);
    batch.tokens.push(token);
    encodePutEntry(this.batchOut, key, value, version, expiresAt);
    this.client.stats.requests++;
    this.unsent++;
    if (batch.targets.length >= MAX_BATCH_ENTRIES || this.batchOut.length >= MAX_BATCH_BYTES) {
      this.closeBatch();
    }
    if (!this.dirty) {
      this.dirty = true;
      this.client.pool.markDirty(this);
    }
  }

  /** Frames the waiting puts: one RC.PUT for a lone one, else one RC.MPUT. */
  private closeBatch(): void {
    const batch = this.batch as PutBatch;
    this.batch = null;
    const n = batch.targets.length;
    if (n === 1) {
      encodePutFrame(this.out, this.batchOut.take());
      this.push(batch.targets[0] as ReplyTarget, batch.tokens[0] as number);
      // Not handed out as a target: the next batch can use it.
      batch.targets.length = 0;
      batch.tokens.length = 0;
      this.spare = batch;
    } else {
      encodeMPutFrame(this.out, n, this.batchOut.take());
      this.push(batch, 0);
    }
  }

  open(): void {
    if (this.state !== IDLE) return;
    this.reconnectTimer = null;
    this.state = CONNECTING;
    const socket = connect({ host: this.client.host, port: this.client.port, noDelay: true });
    this.socket = socket;
    socket.on("connect", () => this.onConnect(socket));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("drain", () => this.onDrain());
    socket.on("error", (err: NodeJS.ErrnoException) => this.onSocketError(socket, err));
    socket.on("close", () => this.onSocketClose(socket));
    // A secret goes first, ahead of the requests queued while connecting (none yet: a
    // connection takes requests only from here on).
    const secret = this.client.pool.options.secret;
    if (secret !== undefined) {
      this.out.command([AUTH, secret]);
      this.push(null, 0);
    }
  }

  /** Writes what was encoded since the last flush, unless the socket must drain first. */
  flush(): void {
    this.dirty = false;
    if (this.batch !== null) this.closeBatch();
    if (this.state !== READY || this.waitingDrain || this.out.length === 0) return;
    if (
      this.answered < this.writtenEnd &&
      this.unsent < HOLD_MAX_REQUESTS &&
      this.out.length < HOLD_MAX_BYTES
    ) {
      this.held = true;
      return;
    }
    this.held = false;
    this.unsent = 0;
    // Every pending request is written now.
    this.writtenEnd = this.answered + this.count;
    const socket = this.socket as Socket;
    socket.write(this.out.take());
    if (socket.writableNeedDrain) this.waitingDrain = true;
  }

  /** Ends requests that have waited longer than the timeout. Called by the pool's sweep. */
  sweep(deadline: number): void {
    const mask = this.targets.length - 1;
    while (this.expired < this.count) {
      const at = (this.head + this.expired) & mask;
      if ((this.sentAt[at] as number) > deadline) break;
      const target = this.targets[at];
      this.targets[at] = null;
      this.expired++;
      if (target !== null && target !== undefined) {
        this.client.stats.timeouts++;
        this.client.noteTrouble("timeout");
        target.onNodeError(this.tokens[at] as number, this.client.timeoutError);
      }
    }
  }

  /** Drops the socket (pending requests fail) and reconnects after a backoff. */
  reset(reason: string): void {
    if (this.socket !== null) {
      this.client.pool.options.logger.debug(
        { node: this.client.id, reason },
        "resetting connection",
      );
      this.socket.destroy();
    }
  }

  /** Skips the backoff: reconnect now if idle. */
  reconnectNow(): void {
    if (this.state !== IDLE) return;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.backoffMs = BACKOFF_MIN_MS;
    this.open();
  }

  close(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const socket = this.socket;
    this.state = CLOSED;
    this.socket = null;
    if (this.batch !== null) this.closeBatch();
    this.failPending(this.client.lostError);
    socket?.destroy();
  }

  // --- ReplyHandler --------------------------------------------------------------------------

  onReply(value: RespValue): void {
    if (this.count === 0) {
      // A reply nobody asked for: the stream is out of step; start over.
      this.client.pool.options.logger.error({ node: this.client.id }, "unexpected reply from node");
      this.socket?.destroy();
      return;
    }
    const at = this.head;
    const target = this.targets[at];
    const token = this.tokens[at] as number;
    const sentAt = this.sentAt[at] as number;
    this.targets[at] = null;
    this.head = (at + 1) & (this.targets.length - 1);
    this.count--;
    if (++this.answered === this.writtenEnd && this.held && !this.dirty) {
      this.dirty = true;
      this.client.pool.markDirty(this);
    }
    if (this.expired > 0) {
      this.expired--;
      return;
    }
    if (target === null || target === undefined) {
      if (value instanceof RespReplyError) {
        this.client.pool.options.logger.error(
          { node: this.client.id, reply: value.message },
          "auxiliary node refused the connection's AUTH",
        );
        this.socket?.destroy();
      }
      return;
    }
    this.client.stats.observe((this.replyNow - sentAt) / 1000);
    target.onNodeReply(token, value);
  }

  onProtocolError(err: RespProtocolError): void {
    this.client.pool.options.logger.error(
      { node: this.client.id, err: err.message },
      "malformed reply from node; reconnecting",
    );
    this.socket?.destroy();
  }

  // --- socket events -------------------------------------------------------------------------

  private onConnect(socket: Socket): void {
    if (socket !== this.socket) return;
    this.state = READY;
    this.backoffMs = BACKOFF_MIN_MS;
    this.flush();
  }

  private onData(chunk: Buffer): void {
    this.replyNow = performance.now();
    this.decoder.feed(chunk);
  }

  private onDrain(): void {
    this.waitingDrain = false;
    this.flush();
  }

  private onSocketError(socket: Socket, err: NodeJS.ErrnoException): void {
    if (socket !== this.socket) return;
    if (err.code === "ECONNREFUSED") this.client.noteTrouble("refused");
    this.client.pool.options.logger.debug(
      { node: this.client.id, err: err.message },
      "connection to node failed",
    );
  }

  private onSocketClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.waitingDrain = false;
    this.answered = 0;
    this.writtenEnd = 0;
    this.held = false;
    this.unsent = 0;
    if (this.batch !== null) this.closeBatch();
    const hadPending = this.count > this.expired;
    this.failPending(this.client.lostError);
    if (hadPending) this.client.noteTrouble("lost");
    this.out.take();
    this.decoder.reset();
    if (this.state === CLOSED) return;
    this.state = IDLE;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => this.open(), delay + Math.random() * delay * 0.2);
    this.reconnectTimer.unref();
  }

  // --- internals -----------------------------------------------------------------------------

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
      if (target !== null && target !== undefined) {
        this.client.stats.errors++;
        target.onNodeError(token, error);
      }
    }
    this.head = 0;
  }

  private push(target: ReplyTarget | null, token: number): void {
    if (this.count === this.targets.length) this.grow();
    const at = (this.head + this.count) & (this.targets.length - 1);
    this.targets[at] = target;
    this.tokens[at] = token;
    this.sentAt[at] = performance.now();
    this.count++;
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

/** One auxiliary node as the pool sees it: its address and its connections. */
export class NodeClient {
  readonly id: string;
  host: string;
  port: number;
  readonly pool: NodePool;
  readonly connections: NodeConnection[];
  readonly stats = new NodeStatsCounters();
  /** False while the node is known to be down: requests fail at once. */
  accepting = true;
  /** Shared error instances: failures at a high rate must not each build a stack trace. */
  readonly downError: RingcacheError;
  readonly timeoutError: RingcacheError;
  readonly lostError: RingcacheError;
  constructor(pool: NodePool, id: string, host: string, port: number) {
    this.pool = pool;
    this.id = id;
    this.host = host;
    this.port = port;
    this.downError = new RingcacheError("UNAVAILABLE", `node ${id} is down`);
    this.timeoutError = new RingcacheError(
      "TIMEOUT",
      `node ${id} did not answer within ${pool.options.requestTimeoutMs} ms`,
    );
    this.lostError = new RingcacheError("UNAVAILABLE", `connection to node ${id} lost`);
    this.connections = [];
    for (let i = 0; i < pool.options.connectionsPerNode; i++) {
      this.connections.push(new NodeConnection(this));
    }
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** True when at least one connection is established. */
  get connected(): boolean {
    for (const c of this.connections) if (c.ready) return true;
    return false;
  }

  /**
   * A connection to send one request on, or null when the node cannot take it now (down, not
   * connected, or saturated): the caller fails the request at once. Requests with the same
   * affinity (a client connection's id) share a connection while it is up, so that one
   * client's pipelined commands reach the node in the order they were sent.
   */
  connection(affinity: number): NodeConnection | null {
    if (!this.accepting) return null;
    const open = this.openConnection(affinity);
    if (open !== null) return open;
    const conns = this.connections;
    const preferred = conns[affinity % conns.length] as NodeConnection;
    if (preferred.usable) return preferred;
    for (const c of conns) if (c.usable) return c;
    return null;
  }

  /**
   * An open connection that can take one more request, whatever the node's health, or null:
   * connection()'s first choice, and the only kind a write sent without waiting to a node
   * this master's probes take for down may use.
   */
  openConnection(affinity: number): NodeConnection | null {
    const conns = this.connections;
    const preferred = conns[affinity % conns.length] as NodeConnection;
    if (preferred.ready && preferred.usable) return preferred;
    for (const c of conns) if (c.ready && c.usable) return c;
    return null;
  }

  open(): void {
    for (const c of this.connections) c.open();
  }

  /** Reconnects idle connections now (the node just came back up). */
  reconnectNow(): void {
    for (const c of this.connections) c.reconnectNow();
  }

  /** Points the client at a new address: connections are dropped and reopened. */
  setAddress(host: string, port: number): void {
    if (host === this.host && port === this.port) return;
    this.host = host;
    this.port = port;
    for (const c of this.connections) c.reset("address changed");
  }

  noteTrouble(kind: TroubleKind): void {
    this.pool.options.listener?.onNodeTrouble(this, kind);
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}

/** All node clients of a master, with one per-turn flush and one timeout sweep for all. */
export class NodePool {
  readonly options: PoolOptions;
  readonly maxPending: number;
  readonly maxBufferedBytes: number;
  private readonly clients = new Map<string, NodeClient>();
  private dirty: NodeConnection[] = [];
  private flushScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(options: PoolOptions) {
    this.options = options;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    // The sweep runs a few times per timeout, so a request ends within ~1.2x the timeout.
    const period = Math.max(2, Math.min(100, Math.floor(options.requestTimeoutMs / 5)));
    this.sweepTimer = setInterval(this.sweep, period);
    this.sweepTimer.unref();
  }

  add(id: string, host: string, port: number): NodeClient {
    const existing = this.clients.get(id);
    if (existing !== undefined) {
      existing.setAddress(host, port);
      return existing;
    }
    const client = new NodeClient(this, id, host, port);
    this.clients.set(id, client);
    client.open();
    return client;
  }

  get(id: string): NodeClient | undefined {
    return this.clients.get(id);
  }

  remove(id: string): void {
    this.clients.get(id)?.close();
    this.clients.delete(id);
  }

  all(): IterableIterator<NodeClient> {
    return this.clients.values();
  }

  markDirty(conn: NodeConnection): void {
    this.dirty.push(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** One write per dirty connection: everything encoded for it during this turn. */
  readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (const conn of list) conn.flush();
  };

  private readonly sweep = (): void => {
    const deadline = performance.now() - this.options.requestTimeoutMs;
    for (const client of this.clients.values()) {
      for (const conn of client.connections) if (conn.pending > 0) conn.sweep(deadline);
    }
  };

  close(): void {
    clearInterval(this.sweepTimer);
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

// The master's connections to its auxiliary nodes: a few persistent, pipelined RESP
// connections per node, each a connection core (transport/connection.ts: connecting, AUTH,
// reconnects, FIFO matching, in-place timeouts) over the pool's transport, TCP unless told
// otherwise (docs/design.md, "Master ↔ auxiliary protocol"). What is the pool's own is here:
// affinity, put batching, holding requests while written ones are unanswered, and stats.
//
//   router ── conn = client.connection(affinity) ──► encode into conn.writer() ──► conn.expect(target, token)
//                                                └─► conn.put(target, token, key, value, …)
//                                                        (consecutive puts of a turn: one RC.MPUT)
//   flushAll() once per event-loop turn: one socket write per dirty connection, unless the
//   connection's writes are not all answered yet and fewer than 16 requests wait: then they
//   wait for the replies and leave together, so that at pipeline 1 a node reads and answers
//   several requests per system call instead of one; an idle connection writes at once
//   wire ──data──► ReplyDecoder ──► head of the FIFO ──► target.onNodeReply(token, value)
//   timeout timer ──► oldest pending, sent a timeout ago ──► target.onNodeError(token, TIMEOUT)
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
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import { encodeMPutFrame, encodePutEntry, encodePutFrame } from "../protocol/internal/index.js";
import { RespWriter, type RespProtocolError, type RespValue } from "../protocol/resp/index.js";
import { CONNECTING, Connection, READY, type ReplyTarget } from "./transport/connection.js";
import { TCP } from "./transport/tcp.js";
import type { Transport } from "./transport/transport.js";

export type { ReplyTarget } from "./transport/connection.js";

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
  /** How connections reach the nodes, and the timers they use: TCP and real time by default. */
  readonly transport?: Transport;
}

const DEFAULT_MAX_PENDING = 65_536;
const DEFAULT_MAX_BUFFERED = 32 * 1024 * 1024;

/** Upper bounds (seconds) of the per-node latency histogram buckets. */
export const NODE_LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

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

export class NodeConnection extends Connection {
  /** The entries of the puts not yet framed, and their targets. */
  private readonly batchOut = new RespWriter();
  private batch: PutBatch | null = null;
  private spare: PutBatch | null = null;
  readonly client: NodeClient;
  dirty = false;
  /** Requests made since the last write. */
  private unsent = 0;
  /** A flush found written requests unanswered and kept the new ones back. */
  private held = false;

  constructor(client: NodeClient) {
    const pool = client.pool;
    super({
      transport: pool.transport,
      host: client.host,
      port: client.port,
      secret: pool.options.secret,
      requestTimeoutMs: pool.options.requestTimeoutMs,
      reconnect: true,
      lostError: client.lostError,
      timeoutError: client.timeoutError,
    });
    this.client = client;
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

  /** Writes what was encoded since the last flush, unless the wire must drain first. */
  flush(): void {
    this.dirty = false;
    if (this.batch !== null) this.closeBatch();
    if (!this.writable) return;
    if (
      this.answered < this.writtenEnd &&
      this.unsent < HOLD_MAX_REQUESTS &&
      this.unwritten < HOLD_MAX_BYTES
    ) {
      this.held = true;
      return;
    }
    this.held = false;
    this.unsent = 0;
    this.writeOut();
  }

  /** Drops the connection (pending requests fail) and reconnects after a backoff. */
  reset(reason: string): void {
    if (this.destroyWire()) {
      this.client.pool.options.logger.debug(
        { node: this.client.id, reason },
        "resetting connection",
      );
    }
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
    sentAt: number,
  ): void {
    this.client.stats.observe((this.replyNow - sentAt) / 1000);
    target.onNodeReply(token, value);
  }

  protected override failed(target: ReplyTarget, token: number, error: RingcacheError): void {
    this.client.stats.errors++;
    target.onNodeError(token, error);
  }

  protected override timedOut(target: ReplyTarget, token: number): void {
    this.client.stats.timeouts++;
    this.client.noteTrouble("timeout");
    target.onNodeError(token, this.client.timeoutError);
  }

  protected override allAnswered(): void {
    if (this.held && !this.dirty) {
      this.dirty = true;
      this.client.pool.markDirty(this);
    }
  }

  protected override beforeLoss(): void {
    this.held = false;
    this.unsent = 0;
    if (this.batch !== null) this.closeBatch();
  }

  protected override lost(hadPending: boolean): void {
    if (hadPending) this.client.noteTrouble("lost");
  }

  protected override wireError(err: NodeJS.ErrnoException): void {
    if (err.code === "ECONNREFUSED") this.client.noteTrouble("refused");
    this.client.pool.options.logger.debug(
      { node: this.client.id, err: err.message },
      "connection to node failed",
    );
  }

  protected override authRefused(message: string): void {
    this.client.pool.options.logger.error(
      { node: this.client.id, reply: message },
      "auxiliary node refused the connection's AUTH",
    );
    this.destroyWire();
  }

  protected override unexpectedReply(): void {
    // A reply nobody asked for: the stream is out of step; start over.
    this.client.pool.options.logger.error({ node: this.client.id }, "unexpected reply from node");
    this.destroyWire();
  }

  protected override malformed(err: RespProtocolError): void {
    this.client.pool.options.logger.error(
      { node: this.client.id, err: err.message },
      "malformed reply from node; reconnecting",
    );
    this.destroyWire();
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
    for (const c of this.connections) {
      c.host = host;
      c.port = port;
      c.reset("address changed");
    }
  }

  /**
   * Drops the connections that are stalled (Connection.stalled) while the node answers its
   * probes on a fresh connection: they lead where the node no longer is (it moved, and its old
   * address went silent), and reconnecting resolves its name again.
   */
  dropStalled(): void {
    for (const c of this.connections) {
      if (!c.stalled) continue;
      this.pool.options.logger.warn(
        { node: this.id, address: this.address },
        "a connection to the node gets no answer while the node answers probes; reconnecting",
      );
      c.reset("stalled");
    }
  }

  noteTrouble(kind: TroubleKind): void {
    this.pool.options.listener?.onNodeTrouble(this, kind);
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}

/** All node clients of a master, with one per-turn flush for all. */
export class NodePool {
  readonly options: PoolOptions;
  readonly maxPending: number;
  readonly maxBufferedBytes: number;
  readonly transport: Transport;
  private readonly clients = new Map<string, NodeClient>();
  private dirty: NodeConnection[] = [];
  private flushScheduled = false;

  constructor(options: PoolOptions) {
    this.options = options;
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.transport = options.transport ?? TCP;
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
      this.transport.scheduler.soon(this.flushAll);
    }
  }

  /** One write per dirty connection: everything encoded for it during this turn. */
  readonly flushAll = (): void => {
    this.flushScheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (const conn of list) conn.flush();
  };

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

// The RESP front of every node: accepts TCP clients, decodes pipelined commands, hands each to
// a dispatcher, and writes replies back in order: at most one socket write per client per
// event-loop turn, all of them after every readable client of that turn has been served.
//
//   socket ──data──► CommandDecoder ──args──► dispatcher.dispatch(conn, args)
//                                                │ sync: conn.out.<reply>()
//                                                └ async: slot = conn.defer() … slot.complete(bytes)
//   socket ◄──write── conn.flush()  (ready replies, in command order; see requestFlush)
//
// A connection speaks RESP2 until HELLO 3 (docs/design.md, "Client interfaces"): its writer
// `conn.out` carries the protocol, and a deferred reply keeps the one in force when it was
// reserved, so a pipeline that switches halfway gets each reply in the form of its turn.
//
// What must stay true:
// - Replies leave in the order the commands arrived, whatever order async work completes in.
// - A client that sends faster than it reads cannot grow the server's memory without bound:
//   once half of maxOutputBuffer of its replies is unwritten, the server stops taking its
//   commands (even mid-chunk) until the socket drains; a client whose unwritten output then
//   makes no progress for OUTPUT_STALL_MS, or exceeds maxOutputBuffer, is disconnected. So a
//   client that reads slowly (a master's link with a pipeline of large replies) is slowed
//   down, not cut off, and one that never reads is cut off.
// - One client cannot have more than MAX_IN_FLIGHT deferred replies outstanding (on a master:
//   requests out to the nodes); past that its input waits, so a deep pipeline of large GETs
//   puts a bounded amount of work on the links it shares with other clients.
// - Bad input closes that one connection with an error; it never throws out of the server.
import { createServer, type Server, type Socket } from "node:net";
import { RingcacheError, respErrorReply, toRingcacheError } from "../errors.js";
import {
  CommandDecoder,
  RespWriter,
  replyIn,
  type CommandHandler,
  type RespLimits,
  type RespProtocol,
  type RespProtocolError,
} from "../protocol/resp/index.js";
import type { Logger } from "../log.js";

export interface RespServerOptions {
  readonly host: string;
  readonly port: number;
  readonly maxClients: number;
  /** Close connections idle this long; 0 disables. */
  readonly idleTimeoutMs: number;
  /** Disconnect a client whose queued, unread replies exceed this many bytes. */
  readonly maxOutputBuffer: number;
  readonly limits?: Partial<RespLimits>;
  /** When set, clients must AUTH with it before anything but AUTH, HELLO and QUIT. */
  readonly secret?: string | undefined;
  readonly logger: Logger;
}

export interface CommandDispatcher {
  /**
   * Handles one command. `args` are valid only during the call (views of socket chunks):
   * copy what must outlive it. Reply synchronously through `conn.out`, or reserve an ordered
   * reply with `conn.defer()` and complete it later.
   */
  dispatch(conn: ClientConnection, args: Buffer[]): void;
  /** Called once when a connection closes (for counters). */
  onClose?(conn: ClientConnection): void;
  /**
   * Called after each chunk of input has been decoded and dispatched, with the number of
   * commands it held and the milliseconds that took (for latency metrics).
   */
  afterBatch?(commands: number, ms: number): void;
}

/** A reply whose bytes come later; replies still leave in command order. */
export class DeferredReply {
  /** The encoded reply, once complete. */
  bytes: Buffer | null = null;
  /** The reply after this one in the connection's queue. */
  next: DeferredReply | null = null;
  /**
   * The protocol the reply is due in: the connection's when the slot was reserved (a later
   * HELLO does not change the replies of the commands before it). Write the reply with a
   * writer set to it.
   */
  readonly protocol: RespProtocol;
  private readonly conn: ClientConnection;

  constructor(conn: ClientConnection) {
    this.conn = conn;
    this.protocol = conn.out.protocol;
  }

  /** Sets the reply; a prebuilt RESP2 null (`$-1`, `*-1`) becomes the slot's protocol's. */
  complete(bytes: Buffer): void {
    if (this.bytes !== null) return;
    this.bytes = replyIn(bytes, this.protocol);
    this.conn.onDeferredComplete();
  }
}

const AUTH_FREE = new Set(["auth", "hello", "quit"]);
/** Redis's answer to a connection over maxclients, built once from the catalogue. */
const MAX_CLIENTS_REPLY = respErrorReply(
  new RingcacheError("MAX_CLIENTS", "max number of clients reached"),
);
const HTTP_METHOD = /^(get|post|put|head|delete|options|patch|connect|trace)$/i;
let nextConnectionId = 1;
const CONNECTION_WRITER_BYTES = 2048;
/** A client held back for unread output is cut off when none of it leaves for this long. */
export const OUTPUT_STALL_MS = 1000;
/** Deferred replies one client may have outstanding; its input resumes at half of it. */
export const MAX_IN_FLIGHT = 64;

export class ClientConnection implements CommandHandler {
  readonly id: number;
  readonly socket: Socket;
  readonly remote: string;
  /**
   * Synchronous replies go here, in the connection's protocol (`out.protocol`); valid only
   * while no deferred reply is pending.
   */
  readonly out: RespWriter;
  authenticated: boolean;
  /** CLIENT SETNAME / HELLO SETNAME. */
  name: string;
  closed = false;
  commandsProcessed = 0;
  /** performance.now() when the connection was accepted, and when it last sent commands. */
  readonly createdAt: number;
  lastActiveAt: number;
  private readonly server: RespServer;
  private readonly decoder: CommandDecoder;
  // FIFO of replies not yet written, in command order: head..tail linked through `next`.
  private head: DeferredReply | null = null;
  private tail: DeferredReply | null = null;
  /** In the server's list of connections to flush at the end of this event-loop turn. */
  flushQueued = false;
  private closeAfterFlush = false;
  private firstCommand = true;
  /** Input not yet decoded because the client's unread output is too large (see holdInput). */
  private heldInput: Buffer | null = null;
  private stallTimer: NodeJS.Timeout | null = null;
  private stallLength = 0;
  /** Deferred replies reserved and not yet complete. */
  private inFlight = 0;
  /** Held input waits for in-flight replies to complete (not for the socket to drain). */
  private releaseOnComplete = false;
  /** Held input waits for the socket's 'drain'. */
  private releaseOnDrain = false;

  constructor(server: RespServer, socket: Socket) {
    this.id = nextConnectionId++;
    this.server = server;
    this.socket = socket;
    this.remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? 0}`;
    // Small to start: idle connections (up to max-clients of them) should cost little; the
    // writer grows with a pipeline's replies.
    this.out = new RespWriter(CONNECTION_WRITER_BYTES);
    this.authenticated = server.options.secret === undefined;
    this.name = "";
    this.createdAt = this.lastActiveAt = performance.now();
    this.decoder = new CommandDecoder(this, server.options.limits);
  }

  /** RESP2 or RESP3: what HELLO set (RESET goes back to 2). Held by the writer. */
  get protocol(): RespProtocol {
    return this.out.protocol;
  }

  set protocol(protocol: RespProtocol) {
    this.out.protocol = protocol;
  }

  /** Every open connection of this connection's server (this one included), for CLIENT LIST. */
  get peers(): ReadonlySet<ClientConnection> {
    return this.server.connections;
  }

  /** Reserves the next reply position; complete it with the reply's encoded bytes. */
  defer(): DeferredReply {
    const slot = new DeferredReply(this);
    // Anything written synchronously before this slot must stay ahead of it.
    if (this.out.length > 0) {
      const ready = new DeferredReply(this);
      ready.bytes = this.out.take();
      this.enqueue(ready);
    }
    this.enqueue(slot);
    this.inFlight++;
    return slot;
  }

  /** True while an earlier deferred reply is still pending (sync replies must queue behind). */
  get hasPending(): boolean {
    return this.head !== null;
  }

  /** Ask the connection to close once every queued reply has been written (QUIT). */
  closeWhenFlushed(): void {
    this.closeAfterFlush = true;
  }

  onData(chunk: Buffer): void {
    // Stopped reading for a shutdown: commands not yet processed get no reply, so no client
    // takes them as done.
    if (!this.server.reading) return;
    if (this.heldInput !== null) {
      // Data already in flight when reading paused: keep it behind what is held.
      this.heldInput = Buffer.concat([this.heldInput, chunk]);
      return;
    }
    this.decode(chunk);
  }

  private decode(chunk: Buffer): void {
    const started = performance.now();
    this.lastActiveAt = started;
    const before = this.commandsProcessed;
    const consumed = this.decoder.feed(chunk);
    if (consumed < chunk.length && !this.closed) {
      // holdInput looks at what the socket is left holding: hand it the replies first.
      this.flush();
      this.holdInput(chunk.subarray(consumed));
    } else {
      this.server.requestFlush(this);
    }
    this.server.dispatcher.afterBatch?.(
      this.commandsProcessed - before,
      performance.now() - started,
    );
  }

  /**
   * The client's unread replies passed half the output limit, or it has MAX_IN_FLIGHT replies
   * outstanding, in the middle of its input: keep the rest of the input, stop reading, and go
   * on once the socket has drained and half the replies are in. The decoder's argument views
   * point into `rest`'s chunk, which nothing reuses, so holding it is safe.
   */
  private holdInput(rest: Buffer): void {
    this.heldInput = rest;
    this.socket.pause();
    setImmediate(this.tryRelease);
  }

  private readonly tryRelease = (): void => {
    if (this.closed || this.heldInput === null || this.releaseOnDrain) return;
    if (this.inFlight > MAX_IN_FLIGHT / 2) {
      this.releaseOnComplete = true; // onDeferredComplete() calls again
      return;
    }
    if (this.socket.writableNeedDrain) {
      this.releaseOnDrain = true;
      this.watchStall();
      this.socket.once("drain", this.onDrainWhileHeld);
      return;
    }
    this.releaseInput();
  };

  private readonly onDrainWhileHeld = (): void => {
    this.releaseOnDrain = false;
    this.clearStall();
    this.tryRelease();
  };

  private releaseInput(): void {
    const rest = this.heldInput;
    if (this.closed || rest === null || !this.server.reading) return;
    this.heldInput = null;
    this.decode(rest);
    this.resumeWhenDrained();
  }

  /** Reads again once nothing is held and the socket has room (flush() may have filled it). */
  private readonly resumeWhenDrained = (): void => {
    if (this.closed || !this.server.reading || this.heldInput !== null) return;
    if (this.socket.writableNeedDrain) this.socket.once("drain", this.resumeWhenDrained);
    else this.socket.resume();
  };

  /** Cuts the client off when its unwritten output stops shrinking for OUTPUT_STALL_MS. */
  private watchStall(): void {
    this.stallLength = this.socket.writableLength;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = null;
      if (this.closed) return;
      const now = this.socket.writableLength;
      if (now === 0 || now < this.stallLength) {
        this.watchStall();
        return;
      }
      this.overLimit();
    }, OUTPUT_STALL_MS);
  }

  private clearStall(): void {
    if (this.stallTimer !== null) {
      clearTimeout(this.stallTimer);
      this.stallTimer = null;
    }
  }

  /** Replies queued or written but not yet taken by the client, in bytes. */
  get pendingOutput(): number {
    return this.out.length + this.socket.writableLength;
  }

  onCommand(args: Buffer[]): void {
    if (this.closed || this.closeAfterFlush) return;
    const first = args[0];
    if (first === undefined) return;
    if (this.firstCommand) {
      this.firstCommand = false;
      // An HTTP request sent to the RESP port: close at once, as Redis does.
      const last = args[args.length - 1];
      if (
        (HTTP_METHOD.test(first.toString("latin1")) &&
          last !== undefined &&
          last.toString("latin1").startsWith("HTTP/")) ||
        first.toString("latin1").toLowerCase() === "host:"
      ) {
        this.server.options.logger.warn(
          { remote: this.remote },
          "HTTP request on the RESP port; closing",
        );
        this.destroy();
        return;
      }
    }
    this.commandsProcessed++;
    this.server.totalCommands++;
    if (!this.authenticated && !AUTH_FREE.has(first.toString("latin1").toLowerCase())) {
      this.replyError(new RingcacheError("NO_AUTH", "Authentication required."));
      return;
    }
    try {
      this.server.dispatcher.dispatch(this, args);
    } catch (err) {
      const error = toRingcacheError(err);
      if (error.code === "INTERNAL") {
        this.server.options.logger.error({ err }, "command failed unexpectedly");
      }
      this.replyError(error);
    }
    // A pipeline of commands with large replies could build up any amount of output before
    // the batch ends: past half the limit, take no more commands until the client reads.
    if (
      this.inFlight >= MAX_IN_FLIGHT ||
      this.pendingOutput > this.server.options.maxOutputBuffer / 2
    ) {
      this.decoder.pause();
    }
  }

  onProtocolError(err: RespProtocolError): void {
    this.server.options.logger.warn(
      { remote: this.remote, err: err.message },
      "protocol error; closing",
    );
    this.replyError(err);
    this.closeWhenFlushed();
  }

  /** Writes an error reply in order (sync or behind pending replies). */
  replyError(err: RingcacheError): void {
    if (this.head === null) {
      this.out.error(err.respLine);
    } else {
      const w = this.server.scratch;
      w.error(err.respLine);
      this.defer().complete(w.take());
    }
  }

  onDeferredComplete(): void {
    this.inFlight--;
    if (this.releaseOnComplete && this.inFlight <= MAX_IN_FLIGHT / 2) {
      this.releaseOnComplete = false;
      setImmediate(this.tryRelease);
    }
    if (this.head !== null && this.head.bytes !== null) this.server.requestFlush(this);
  }

  /** Writes every ready reply in order, as one socket write. */
  flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    const socket = this.socket;
    if (this.head === null) {
      if (this.out.length > 0) socket.write(this.out.take());
    } else {
      const parts: Buffer[] = [];
      while (this.head !== null && this.head.bytes !== null) {
        parts.push(this.head.bytes);
        this.head = this.head.next;
      }
      if (this.head === null) {
        this.tail = null;
        if (this.out.length > 0) parts.push(this.out.take());
      }
      if (parts.length === 1) socket.write(parts[0] as Buffer);
      else if (parts.length > 1) socket.write(Buffer.concat(parts));
    }
    if (this.closeAfterFlush && this.head === null) {
      socket.end();
      this.closed = true;
      return;
    }
    if (socket.writableLength > this.server.options.maxOutputBuffer) {
      this.overLimit();
      return;
    }
    // Backpressure: stop reading commands while the client is not reading replies.
    if (socket.writableNeedDrain && !socket.isPaused()) {
      socket.pause();
      socket.once("drain", this.resumeWhenDrained);
    }
  }

  private overLimit(): void {
    this.server.options.logger.warn(
      { remote: this.remote, bytes: this.pendingOutput },
      "client output buffer over the limit; disconnecting",
    );
    this.server.droppedForOutput++;
    this.destroy();
  }

  /** True when every reply has been handed to the kernel. */
  get drained(): boolean {
    return (
      this.closed ||
      (this.head === null && this.out.length === 0 && this.socket.writableLength === 0)
    );
  }

  destroy(): void {
    if (this.closed && this.socket.destroyed) return;
    this.closed = true;
    this.clearStall();
    this.heldInput = null;
    this.head = this.tail = null;
    this.socket.destroy();
  }

  private enqueue(slot: DeferredReply): void {
    if (this.tail === null) this.head = this.tail = slot;
    else {
      this.tail.next = slot;
      this.tail = slot;
    }
  }
}

export class RespServer {
  readonly options: RespServerOptions;
  readonly dispatcher: CommandDispatcher;
  readonly connections = new Set<ClientConnection>();
  /** Shared encoder for replies built outside a connection's own writer. */
  readonly scratch = new RespWriter();
  totalConnections = 0;
  rejectedConnections = 0;
  /** Commands received on every connection since start. */
  totalCommands = 0;
  /** Clients disconnected because their unread output exceeded maxOutputBuffer. */
  droppedForOutput = 0;
  /** False once stopReading() was called. */
  reading = true;
  private readonly server: Server;

  constructor(options: RespServerOptions, dispatcher: CommandDispatcher) {
    this.options = options;
    this.dispatcher = dispatcher;
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.on("error", (err) => options.logger.error({ err }, "RESP server error"));
  }

  /** Connections with replies to write at the end of this event-loop turn. */
  private toFlush: ClientConnection[] = [];
  private flushAllScheduled = false;

  /**
   * Writes `conn`'s replies once every client readable in this turn has been served, as Redis
   * does before it sleeps: a burst of writes wakes a client process waiting on many sockets
   * once instead of once per socket, and that wake-up is most of a small write's cost.
   */
  requestFlush(conn: ClientConnection): void {
    if (conn.flushQueued) return;
    conn.flushQueued = true;
    this.toFlush.push(conn);
    if (!this.flushAllScheduled) {
      this.flushAllScheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.flushAllScheduled = false;
    const list = this.toFlush;
    this.toFlush = [];
    for (const conn of list) if (conn.flushQueued) conn.flush();
  };

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === "object" && address !== null ? address.port : this.options.port;
  }

  /** Stops accepting; existing connections keep being served until closeAll(). */
  stopAccepting(): void {
    // Not awaiting close(): its callback waits for every connection to end, and clients
    // (masters) keep theirs open until closeAll().
    if (this.server.listening) this.server.close();
  }

  /**
   * Stops taking commands from connected clients (a graceful shutdown: nothing acknowledged
   * after this may miss the final snapshot). Replies already queued are still written.
   */
  stopReading(): void {
    this.reading = false;
    for (const conn of this.connections) conn.socket.pause();
  }

  /** Waits until every connection's replies are written (or `timeoutMs` passes). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let pending = false;
      for (const conn of this.connections) {
        conn.flush();
        if (!conn.drained) pending = true;
      }
      if (!pending || Date.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  closeAll(): void {
    for (const conn of this.connections) {
      conn.flush();
      conn.socket.end();
      conn.closed = true;
    }
  }

  private accept(socket: Socket): void {
    this.totalConnections++;
    if (this.connections.size >= this.options.maxClients) {
      this.rejectedConnections++;
      socket.end(MAX_CLIENTS_REPLY);
      return;
    }
    const conn = new ClientConnection(this, socket);
    this.connections.add(conn);
    if (this.options.idleTimeoutMs > 0) {
      socket.setTimeout(this.options.idleTimeoutMs, () => conn.destroy());
    }
    socket.on("data", (chunk: Buffer) => conn.onData(chunk));
    socket.on("error", () => conn.destroy());
    socket.on("close", () => {
      conn.closed = true;
      this.connections.delete(conn);
      this.dispatcher.onClose?.(conn);
    });
  }
}

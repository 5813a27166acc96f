// An in-process transport: a master's connections reach auxiliary nodes that live in the same
// process, with no sockets, through the very code a real node runs (docs/design.md,
// "Master ↔ auxiliary"):
//
//   Connection ── wire.write(bytes) ──► link (cut, delay, pause) ──► CommandDecoder
//     ──► ClientConnection.onCommand ──► AuxiliaryCommands over a Store ──► RespWriter
//     ──► link (cut, drop next reply, delay, pause) ──► Connection's ReplyDecoder
//
// Every delivery is a callback of the transport's Scheduler: under a ManualScheduler nothing
// moves until the simulation advances time, and a run replays exactly.
//
// What must stay true:
// - Bytes of one direction of one wire arrive in the order they were written, whatever the
//   delays (a later write never overtakes an earlier one), as over TCP.
// - A wire's events follow transport.ts's order: onConnect, or onError then onClose; onData;
//   onClose last, after which nothing of the wire is delivered.
// - The node's command handling is the auxiliary node's own (the same AuxiliaryCommands and
//   the same per-command path of the RESP server's ClientConnection); only the bytes' way
//   differs.
import { Socket } from "node:net";
import { HybridClock, MAX_TAG } from "../clock/hlc.js";
import { AuxiliaryCommands } from "../auxiliary/commands/dispatcher.js";
import { auxiliaryRegistry } from "../auxiliary/commands/registry.js";
import { AuxiliaryMetrics } from "../auxiliary/metrics.js";
import { REDIS_VERSION } from "../redis/version.js";
import { createLogger, type Logger } from "../log.js";
import {
  CommandDecoder,
  type CommandHandler,
  type RespProtocolError,
} from "../protocol/resp/index.js";
import { AuthLimiter } from "../server/auth-limiter.js";
import { ClientConnection, RespServer } from "../server/resp-server.js";
import { Store, type StoreOptions } from "../store/index.js";
import type { Scheduler } from "../master/transport/scheduler.js";
import { REAL_TIME } from "../master/transport/scheduler.js";
import type { Transport, Wire, WireEvents } from "../master/transport/transport.js";

export interface LoopbackNodeOptions {
  readonly id: string;
  /** The cluster secret the node asks for. */
  readonly secret?: string | undefined;
  readonly store?: StoreOptions;
  /** Wall-clock ms for the store's expiries and the node's version clock. */
  readonly now?: () => number;
  readonly logger?: Logger;
}

/**
 * An auxiliary node with no sockets and no timers: a Store and the auxiliary command handlers,
 * served to loopback wires. (A snapshot is the caller's to take, from `store`.)
 */
export class LoopbackNode {
  readonly id: string;
  readonly store: Store;
  readonly commands: AuxiliaryCommands;
  /** Not listening: it only gives each loopback session the server a ClientConnection has. */
  readonly server: RespServer;
  /** Commands received on every session since start. */
  get totalCommands(): number {
    return this.server.totalCommands;
  }

  constructor(options: LoopbackNodeOptions) {
    const now = options.now ?? Date.now;
    const logger =
      options.logger ?? createLogger({ node: options.id, role: "auxiliary", level: "silent" });
    this.id = options.id;
    this.store = new Store({ ...options.store, now });
    const sessions = (): { open: number; total: number; rejected: number; commands: number } => ({
      open: 0,
      total: 0,
      rejected: 0,
      commands: this.server.totalCommands,
    });
    const registry = auxiliaryRegistry();
    const metrics = new AuxiliaryMetrics(
      options.id,
      registry.names,
      {
        store: this.store,
        snapshotter: {
          running: false,
          lastSuccessAt: 0,
          lastDurationMs: 0,
          lastEntries: 0,
          lastBytes: 0,
          completed: 0,
          failures: 0,
        },
        connections: sessions,
        restoredEntries: () => 0,
        unsavedChanges: () => 0,
        snapshotIntervalMs: 0,
      },
      false,
    );
    this.commands = new AuxiliaryCommands({
      store: this.store,
      clock: new HybridClock(MAX_TAG, now),
      metrics,
      now,
      registry,
      common: {
        secret: options.secret,
        version: REDIS_VERSION,
        commandCount: registry.size,
        authLimiter: new AuthLimiter(),
      },
      info: {
        id: options.id,
        port: () => 0,
        startedAt: now(),
        maxClients: 10_000,
        connections: sessions,
        snapshot: () => ({
          running: false,
          lastSuccessAt: 0,
          lastDurationMs: 0,
          failures: 0,
          lastFailed: false,
        }),
        restoredSnapshotAt: () => 0,
        restoredEntries: () => 0,
        startSnapshot: () => false,
      },
    });
    this.server = new RespServer(
      {
        host: "127.0.0.1",
        port: 0,
        maxClients: 10_000,
        idleTimeoutMs: 0,
        maxOutputBuffer: 64 * 1024 * 1024,
        secret: options.secret,
        logger,
      },
      this.commands,
    );
  }
}

/** Faults of the way from one master (one LoopbackTransport) to one node address. */
export class LinkFaults {
  /** Bytes toward the node are held (TCP retransmits them) until healed. */
  cutToNode = false;
  /** Bytes from the node are held until healed. */
  cutFromNode = false;
  /** Deliveries held by a cut, per direction (to the node, from it), in order. */
  readonly cutHeld: [(() => void)[], (() => void)[]] = [[], []];
  /** Added to every delivery, both ways (ms). */
  delayMs = 0;
  /** Replies still to drop, one per command, before any is delivered again. */
  dropReplies = 0;
  /** New connections are refused (nothing listens at the address). */
  refusing = false;
  paused = false;
  /** Deliveries held while paused, in order. */
  readonly held: (() => void)[] = [];
  /** Wires open over this link. */
  readonly wires = new Set<LoopbackWire>();
}

/** Delivery ordering per direction of a wire: nothing overtakes what was sent before it. */
const TO_NODE = 0;
const FROM_NODE = 1;

class LoopbackWire implements Wire, CommandHandler {
  readonly writableNeedDrain = false;
  closed = false;
  private readonly transport: LoopbackTransport;
  private readonly link: LinkFaults;
  private readonly events: WireEvents;
  private node: LoopbackNode | null = null;
  private conn: ClientConnection | null = null;
  private decoder: CommandDecoder | null = null;
  private corked: Uint8Array[] | null = null;
  /** Scheduler time of the last delivery each way. */
  private readonly lastAt = [0, 0];
  /** Replies of the chunk being handled, one per command. */
  private replies: Buffer[] = [];

  constructor(transport: LoopbackTransport, link: LinkFaults, events: WireEvents) {
    this.transport = transport;
    this.link = link;
    this.events = events;
  }

  // --- Wire (the master's end) -----------------------------------------------------------------

  write(data: Uint8Array): boolean {
    if (this.corked !== null) this.corked.push(data);
    else this.send(data);
    return true;
  }

  cork(): void {
    if (this.corked === null) this.corked = [];
  }

  uncork(): void {
    const parts = this.corked;
    this.corked = null;
    if (parts !== null && parts.length > 0) this.send(Buffer.concat(parts));
  }

  destroy(): void {
    if (this.closed) return;
    this.close();
  }

  // --- the node's end --------------------------------------------------------------------------

  /** Connects (or refuses) after the link's delay. */
  start(host: string, port: number): void {
    this.deliver(TO_NODE, () => {
      const node = this.transport.nodeAt(host, port);
      if (node === undefined || this.link.refusing) {
        const err: NodeJS.ErrnoException = new Error(`connect ECONNREFUSED ${host}:${port}`);
        err.code = "ECONNREFUSED";
        this.link.wires.delete(this);
        this.closed = true;
        this.events.onError(this, err);
        this.events.onClose(this);
        return;
      }
      this.node = node;
      // The socket is a placeholder the ClientConnection holds; it never connects.
      this.conn = new ClientConnection(node.server, new Socket());
      this.decoder = new CommandDecoder(this);
      this.deliver(FROM_NODE, () => this.events.onConnect(this));
    });
  }

  onCommand(args: Buffer[]): void {
    const conn = this.conn as ClientConnection;
    conn.onCommand(args);
    if (conn.hasPending) {
      // A reply the handler completes later (a wrong secret answered late): a loopback node
      // answers in order at once or not at all, so it drops the connection, as the limiter
      // does past its backlog.
      this.close();
      return;
    }
    const reply = conn.out.take();
    if (this.link.dropReplies > 0) {
      this.link.dropReplies--;
      return;
    }
    this.replies.push(reply);
  }

  onProtocolError(err: RespProtocolError): void {
    (this.conn as ClientConnection).onProtocolError(err);
    this.replies.push((this.conn as ClientConnection).out.take());
    this.flushReplies();
    this.close();
  }

  /** Ends the wire both ways: the master hears the close, nothing more is delivered. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.wires.delete(this);
    if (this.conn !== null) this.node?.server.dispatcher.onClose?.(this.conn);
    this.transport.scheduler.soon(() => this.events.onClose(this));
  }

  // --- internals -------------------------------------------------------------------------------

  private send(data: Uint8Array): void {
    const chunk = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.deliver(TO_NODE, () => this.receive(chunk));
  }

  /** The node reads a chunk: every command in it is handled, the replies leave together. */
  private receive(chunk: Buffer): void {
    const decoder = this.decoder;
    if (decoder === null) return;
    decoder.feed(chunk);
    if (!this.closed) this.flushReplies();
  }

  private flushReplies(): void {
    const replies = this.replies;
    if (replies.length === 0) return;
    this.replies = [];
    const chunk = replies.length === 1 ? (replies[0] as Buffer) : Buffer.concat(replies);
    if (chunk.length === 0) return;
    this.deliver(FROM_NODE, () => this.events.onData(this, chunk));
  }

  /**
   * Runs `delivery` after the link's delay (and the transport's jitter), unless the link is cut
   * that way or paused (held until healed or resumed, as TCP holds what it cannot deliver yet),
   * and never before an earlier delivery the same way.
   */
  private deliver(direction: number, delivery: () => void): void {
    const link = this.link;
    const guarded = (): void => {
      if (!this.closed) delivery();
    };
    if (direction === TO_NODE ? link.cutToNode : link.cutFromNode) {
      (link.cutHeld[direction] as (() => void)[]).push(() => this.deliver(direction, delivery));
      return;
    }
    if (link.paused) {
      link.held.push(guarded);
      return;
    }
    const scheduler = this.transport.scheduler;
    const now = scheduler.now();
    const jitter = this.transport.jitterMs > 0 ? scheduler.random() * this.transport.jitterMs : 0;
    const at = Math.max(now + link.delayMs + jitter, this.lastAt[direction] as number);
    this.lastAt[direction] = at;
    scheduler.schedule(at - now, guarded);
  }
}

/**
 * Connections to LoopbackNodes registered at addresses, with faults per address. One instance
 * is one master's network: its links' faults are its own.
 */
export class LoopbackTransport implements Transport {
  readonly scheduler: Scheduler;
  /** Each delivery takes up to this much more, drawn from the scheduler (ms). */
  jitterMs = 0;
  private readonly nodes = new Map<string, LoopbackNode>();
  private readonly links = new Map<string, LinkFaults>();

  constructor(scheduler: Scheduler = REAL_TIME) {
    this.scheduler = scheduler;
  }

  /** Serves `node` at host:port (replacing what was there). */
  listen(host: string, port: number, node: LoopbackNode): void {
    this.nodes.set(`${host}:${port}`, node);
  }

  /** Nothing serves host:port any more; open connections stay until killed. */
  unlisten(host: string, port: number): void {
    this.nodes.delete(`${host}:${port}`);
  }

  nodeAt(host: string, port: number): LoopbackNode | undefined {
    return this.nodes.get(`${host}:${port}`);
  }

  /** The faults of the way to host:port. */
  link(host: string, port: number): LinkFaults {
    const address = `${host}:${port}`;
    let link = this.links.get(address);
    if (link === undefined) {
      link = new LinkFaults();
      this.links.set(address, link);
    }
    return link;
  }

  connect(host: string, port: number, events: WireEvents): Wire {
    const link = this.link(host, port);
    const wire = new LoopbackWire(this, link, events);
    link.wires.add(wire);
    wire.start(host, port);
    return wire;
  }

  // --- faults ------------------------------------------------------------------------------------

  /**
   * Holds every byte to and/or from host:port until healed, as a dropping firewall does to a
   * TCP connection: nothing arrives meanwhile, and on healing everything arrives, in order.
   */
  cut(host: string, port: number, way: "to-node" | "from-node" | "both" = "both"): void {
    const link = this.link(host, port);
    if (way !== "from-node") link.cutToNode = true;
    if (way !== "to-node") link.cutFromNode = true;
  }

  heal(host: string, port: number): void {
    const link = this.link(host, port);
    link.cutToNode = false;
    link.cutFromNode = false;
    for (const held of link.cutHeld) {
      for (const delivery of held.splice(0)) delivery();
    }
  }

  /** Every later delivery on the link takes `ms` more. */
  delay(host: string, port: number, ms: number): void {
    this.link(host, port).delayMs = ms;
  }

  /** The node's next `n` replies (one per command) are lost on the way back. */
  dropNextReply(host: string, port: number, n = 1): void {
    this.link(host, port).dropReplies += n;
  }

  /**
   * The node is down: new connections are refused and open ones closed; `false` brings it
   * back (connections are then accepted again).
   */
  refuse(host: string, port: number, down = true): void {
    const link = this.link(host, port);
    link.refusing = down;
    if (down) for (const wire of [...link.wires]) wire.close();
  }

  /** Delivers nothing either way until resume(); then everything held, in order. */
  pause(host: string, port: number): void {
    this.link(host, port).paused = true;
  }

  resume(host: string, port: number): void {
    const link = this.link(host, port);
    link.paused = false;
    const held = link.held.splice(0);
    for (const delivery of held) this.scheduler.soon(delivery);
  }
}

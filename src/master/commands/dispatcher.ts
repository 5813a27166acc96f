// The master's RESP dispatcher (docs/design.md, "Client interfaces"): it finds each command in
// the registry by id, checks its arity, and runs its handler, which parses the arguments as
// Redis 7 does and either replies at once or starts an operation whose sink fills the reply
// slot reserved for it.
//
//   dispatch(conn, args) ─► id ─► arity ─► handler ─► reply into conn.out     (PING, INFO …)
//                                                  └► slot = conn.defer(); op.start()  (GET …)
//                                                       sink.opDone(op) ─► slot.complete(bytes)
//
// Arguments are views of the socket's chunk, valid during dispatch only: operations that
// outlive it get copies of the keys and values they need.
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import { arityError } from "../../redis/errors.js";
import { ONE_KEY, REPLIES_LATER, type CommandRegistry } from "../../redis/registry.js";
import { AuthLimiter } from "../../server/auth-limiter.js";
import type { CommonContext } from "../../server/common-commands.js";
import type {
  ClientConnection,
  CommandDispatcher,
  DeferredReply,
} from "../../server/resp-server.js";
import type { MasterMetrics } from "../metrics.js";
import type { Router } from "../router.js";
import type { CommandsOptions, MasterContext, MasterHandler, MasterInfo } from "./context.js";
import { Holds, type HeldRunner } from "./holds.js";
import { masterRegistry } from "./registry.js";
import { MasterSinks, type SinkHost } from "./sinks.js";

export class MasterCommands implements CommandDispatcher, MasterContext, SinkHost, HeldRunner {
  readonly router: Router;
  readonly options: CommandsOptions;
  readonly info: MasterInfo;
  readonly common: CommonContext;
  readonly sinks: MasterSinks;
  readonly registry: CommandRegistry<MasterHandler>;
  private readonly metrics: MasterMetrics | null;
  private readonly handlers: readonly MasterHandler[];
  private readonly holds = new Holds(this);
  commandsProcessed = 0;

  constructor(
    router: Router,
    metrics: MasterMetrics | null,
    options: CommandsOptions,
    info: MasterInfo,
    registry: CommandRegistry<MasterHandler> = masterRegistry(),
  ) {
    this.router = router;
    this.metrics = metrics;
    this.options = options;
    this.info = info;
    this.registry = registry;
    this.handlers = registry.handlers;
    this.sinks = new MasterSinks(this, { get: registry.id("get"), set: registry.id("set") });
    this.common = {
      secret: options.secret,
      version: info.version,
      commandCount: registry.size,
      authLimiter: options.authLimiter ?? new AuthLimiter(),
    };
  }

  dispatch(conn: ClientConnection, args: Buffer[]): void {
    const id = this.registry.lookup(args[0] as Buffer);
    this.commandsProcessed++;
    const flags = this.registry.flags(id);
    const later = (flags & REPLIES_LATER) !== 0;
    if (later && this.holds.count > 0) {
      const key = (flags & ONE_KEY) !== 0 && args.length > 1 ? (args[1] as Buffer) : null;
      if (this.holds.enqueue(conn, id, args, key)) return;
    }
    this.router.affinity = conn.id;
    // Commands that reply later are timed by their operation, from its creation.
    const startedAt = later ? 0 : performance.now();
    try {
      this.run(conn, id, args);
      if (!later) this.record(id, true, startedAt);
    } catch (err) {
      this.record(id, false, startedAt === 0 ? performance.now() : startedAt);
      throw err;
    }
  }

  onClose(conn: ClientConnection): void {
    this.holds.onClose(conn);
  }

  /** Checks the arity and runs the handler of command `id`. */
  private run(conn: ClientConnection, id: number, args: Buffer[]): void {
    if (!this.registry.arityOk(id, args.length)) {
      throw arityError(this.registry.names[id] as string);
    }
    (this.handlers[id] as MasterHandler)(this, conn, args, id);
  }

  // --- MasterContext -------------------------------------------------------------------------

  slot(conn: ClientConnection): DeferredReply {
    return this.holds.slot(conn);
  }

  hold(conn: ClientConnection): void {
    this.holds.hold(conn);
  }

  holdKey(conn: ClientConnection, key: Buffer): void {
    this.holds.holdKey(conn, key);
  }

  // --- SinkHost and HeldRunner ---------------------------------------------------------------

  record(id: number, ok: boolean, startedAt: number): void {
    this.metrics?.command(id, ok, (performance.now() - startedAt) / 1000);
  }

  release(conn: ClientConnection): void {
    this.holds.release(conn);
  }

  releaseKey(conn: ClientConnection, key: Buffer): void {
    this.holds.releaseKey(conn, key);
  }

  runHeld(conn: ClientConnection, id: number, args: Buffer[]): void {
    this.router.affinity = conn.id;
    this.run(conn, id, args);
  }

  fail(slot: DeferredReply, id: number, startedAt: number, err: RingcacheError): void {
    this.sinks.fail(slot, id, startedAt, err);
  }

  now(): number {
    return performance.now();
  }
}

// Ordering of a client's commands around multi-step ones
// (docs/design.md, "Client interfaces"). A command whose operation takes two steps (read,
// then write: SET NX/XX/GET/KEEPTTL, EXPIRE NX/XX/GT/LT, PERSIST) holds its connection: the
// client's later data commands wait (copied, with their reply slots reserved in order) until
// it is done, so that a pipeline runs as if one command at a time, as Redis runs it. One-step
// commands need no hold: a client's requests to a node share one node connection, which
// keeps their order.
import { toRingcacheError, type RingcacheError } from "../../errors.js";
import { copy } from "../../redis/bytes.js";
import type { ClientConnection, DeferredReply } from "../../server/resp-server.js";

/** A client that piles up more commands than this behind a multi-step one is disconnected. */
const MAX_HELD_COMMANDS = 100_000;

/** How the holds run a command that waited, and fail it. */
export interface HeldRunner {
  /** Runs command `id` on `conn` (its reply slot is the one reserved when it arrived). */
  runHeld(conn: ClientConnection, id: number, args: Buffer[]): void;
  fail(slot: DeferredReply, id: number, startedAt: number, err: RingcacheError): void;
  now(): number;
}

/** A client's command waiting behind a multi-step one. */
interface HeldCommand {
  readonly id: number;
  /** Copies: the socket's views are gone by the time it runs. */
  readonly args: Buffer[];
  readonly slot: DeferredReply;
}

interface Hold {
  /** A multi-step command of this connection is in flight. */
  active: boolean;
  readonly queue: HeldCommand[];
}

export class Holds {
  private readonly runner: HeldRunner;
  private readonly holds = new WeakMap<ClientConnection, Hold>();
  /** Connections held: while 0, dispatch skips the lookup. */
  count = 0;
  /** While a held command runs: the reply slot reserved for it when it arrived. */
  private replaySlot: DeferredReply | null = null;

  constructor(runner: HeldRunner) {
    this.runner = runner;
  }

  /** Queues the command if `conn` is held; false when it is not (run it now). */
  enqueue(conn: ClientConnection, id: number, args: Buffer[]): boolean {
    const hold = this.holds.get(conn);
    if (hold === undefined) return false;
    if (hold.queue.length >= MAX_HELD_COMMANDS) {
      conn.destroy();
      return true;
    }
    hold.queue.push({ id, args: args.map(copy), slot: conn.defer() });
    return true;
  }

  hold(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold !== undefined) {
      hold.active = true;
      return;
    }
    this.holds.set(conn, { active: true, queue: [] });
    this.count++;
  }

  /** The multi-step command of `conn` is done: run what waited behind it, in order. */
  release(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    hold.active = false;
    while (hold.queue.length > 0) {
      const next = hold.queue.shift() as HeldCommand;
      this.replaySlot = next.slot;
      const startedAt = this.runner.now();
      try {
        this.runner.runHeld(conn, next.id, next.args);
      } catch (err) {
        if (this.replaySlot === next.slot)
          this.runner.fail(next.slot, next.id, startedAt, toRingcacheError(err));
      } finally {
        this.replaySlot = null;
      }
      // The command just run holds the connection again (or a nested release finished the queue).
      if (hold.active || this.holds.get(conn) !== hold) return;
    }
    this.holds.delete(conn);
    this.count--;
  }

  /** The reply slot for the command being run: reserved now, or earlier when it waited. */
  slot(conn: ClientConnection): DeferredReply {
    const reserved = this.replaySlot;
    if (reserved !== null) {
      this.replaySlot = null;
      return reserved;
    }
    return conn.defer();
  }

  onClose(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    hold.queue.length = 0;
    this.holds.delete(conn);
    this.count--;
  }
}

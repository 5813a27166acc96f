// Ordering of a client's commands around multi-step ones
// (docs/design.md, "Client interfaces"). A command whose operation takes two steps (read,
// then write: SET NX/XX/GET/KEEPTTL, EXPIRE NX/XX/GT/LT, PERSIST) holds its connection: the
// client's later data commands wait (copied, with their reply slots reserved in order) until
// it is done, so that a pipeline runs as if one command at a time, as Redis runs it. One-step
// commands need no hold: a client's requests to a node share one node connection, which
// keeps their order.
//
// A read-modify-write (INCRBY, APPEND, GETDEL …) holds only its key, until its first owner has
// answered and the copies to the other owners are written: a later write to that key would
// otherwise reach another owner before the copy. Later commands of the client on other keys
// (commands whose one key is args[1]) go on at once; one on a held key, or on several keys,
// waits, and so does everything after it.
//
//   held: active (two-step command)    ─► every later data command waits
//         keys [k1, k2] (modifications) ─► a later command on k3 runs, one on k1 waits
//   queue: the waiting commands, run in order as soon as the head may run
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
  /** The command's one key (args[1]), or null for a command on several keys or none. */
  readonly key: Buffer | null;
}

interface Hold {
  /** A multi-step command of this connection is in flight. */
  active: boolean;
  /** The keys of this connection's read-modify-writes whose first owner has not answered. */
  readonly keys: Buffer[];
  readonly queue: HeldCommand[];
}

function holdsKey(hold: Hold, key: Uint8Array): boolean {
  const keys = hold.keys;
  for (let i = 0; i < keys.length; i++) if (sameBytes(keys[i] as Buffer, key)) return true;
  return false;
}

/** Byte equality in JS, last byte first: keys tend to share their prefix, and most are short. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (b.length !== n) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether a command on `key` (null: several keys or none) must wait for `hold`. */
function mustWait(hold: Hold, key: Uint8Array | null): boolean {
  if (hold.active || hold.queue.length > 0) return true;
  return hold.keys.length > 0 && (key === null || holdsKey(hold, key));
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

  /**
   * Queues the command if it must wait for what holds `conn`; false when it may run now. `key`
   * is the command's one key (args[1]), or null when it has several or none.
   */
  enqueue(conn: ClientConnection, id: number, args: Buffer[], key: Buffer | null): boolean {
    const hold = this.holds.get(conn);
    if (hold === undefined || !mustWait(hold, key)) return false;
    if (hold.queue.length >= MAX_HELD_COMMANDS) {
      conn.destroy();
      return true;
    }
    const copies = args.map(copy);
    hold.queue.push({
      id,
      args: copies,
      slot: conn.defer(),
      key: key === null ? null : copies[1]!,
    });
    return true;
  }

  private entry(conn: ClientConnection): Hold {
    let hold = this.holds.get(conn);
    if (hold === undefined) {
      hold = { active: false, keys: [], queue: [] };
      this.holds.set(conn, hold);
      this.count++;
    }
    return hold;
  }

  hold(conn: ClientConnection): void {
    this.entry(conn).active = true;
  }

  /** A read-modify-write of `key` starts: later commands of `conn` on it wait (releaseKey). */
  holdKey(conn: ClientConnection, key: Buffer): void {
    this.entry(conn).keys.push(key);
  }

  /** The multi-step command of `conn` is done: run what waited behind it, in order. */
  release(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    hold.active = false;
    this.drain(conn, hold);
  }

  /** The read-modify-write holding `key` (the same Buffer holdKey took) has its answer. */
  releaseKey(conn: ClientConnection, key: Buffer): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    const at = hold.keys.indexOf(key);
    if (at >= 0) hold.keys.splice(at, 1);
    this.drain(conn, hold);
  }

  /** Runs the waiting commands, in order, while the first of them may run. */
  private drain(conn: ClientConnection, hold: Hold): void {
    while (hold.queue.length > 0) {
      const head = hold.queue[0] as HeldCommand;
      if (hold.active || (hold.keys.length > 0 && (head.key === null || holdsKey(hold, head.key))))
        return;
      hold.queue.shift();
      this.replaySlot = head.slot;
      const startedAt = this.runner.now();
      try {
        this.runner.runHeld(conn, head.id, head.args);
      } catch (err) {
        if (this.replaySlot === head.slot)
          this.runner.fail(head.slot, head.id, startedAt, toRingcacheError(err));
      } finally {
        this.replaySlot = null;
      }
      // A nested release may have finished the queue (and dropped the hold).
      if (this.holds.get(conn) !== hold) return;
    }
    if (hold.active || hold.keys.length > 0) return;
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

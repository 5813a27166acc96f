// What the master's command families see of their dispatcher: the router to start operations
// on, the sinks their replies come back through, an ordered reply slot, and the hold a
// multi-step command puts on its connection (docs/design.md, "Client interfaces").
import type { RingcacheError } from "../../errors.js";
import type { CommandFn, ConnectionNode } from "../../server/common-commands.js";
import type { ClientConnection, DeferredReply } from "../../server/resp-server.js";
import type { AuthLimiter } from "../../server/auth-limiter.js";
import type { Router } from "../router.js";
import type { MasterSinks } from "./sinks.js";

/** What INFO reports about this master. */
export interface MasterInfo {
  readonly id: string;
  readonly version: string;
  readonly port: () => number;
  readonly startedAt: number;
  clients(): { open: number; total: number; rejected: number };
  ring(): { epoch: string; up: number; known: number; replicas: number };
}

export interface CommandsOptions {
  readonly maxKeySize: number;
  readonly maxValueSize: number;
  readonly secret?: string | undefined;
  /** Shared with the HTTP API, so a guesser switching ports keeps its delay. */
  readonly authLimiter?: AuthLimiter | undefined;
}

export interface MasterContext extends ConnectionNode {
  readonly router: Router;
  readonly options: CommandsOptions;
  readonly info: MasterInfo;
  readonly sinks: MasterSinks;
  /** Commands dispatched since start (INFO's total_commands_processed). */
  readonly commandsProcessed: number;
  /** The reply slot of the command being run: reserved now, or when it arrived if it waited. */
  slot(conn: ClientConnection): DeferredReply;
  /** Holds `conn`'s later data commands until the sink of the command being run releases it. */
  hold(conn: ClientConnection): void;
  /**
   * Holds `conn`'s later commands on `key` (and on several keys) until the read-modify-write
   * being started releases it (releaseKey with the same Buffer).
   */
  holdKey(conn: ClientConnection, key: Buffer): void;
}

/** A master command's handler. */
export type MasterHandler = CommandFn<MasterContext>;

/** The reply slot of a command and its id (for the less frequent commands' sinks). */
export interface Pending {
  readonly slot: DeferredReply;
  readonly id: number;
  /** Set when the command holds its connection (released when it is done). */
  readonly conn?: ClientConnection | null;
}

/** GETRANGE's and SUBSTR's indexes, with the reply slot. */
export interface RangePending extends Pending {
  readonly start: bigint;
  readonly end: bigint;
}

/** An error Redis reports only once the key is known to exist (GETEX's expiry). */
export interface ErrorPending extends Pending {
  readonly error: RingcacheError;
}

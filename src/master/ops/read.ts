// Reads: the first live owner answers; on an error or a timeout the next one is asked.
//
//   read ─► owner 1 ──error/timeout──► owner 2 ──► … ──► UNAVAILABLE (CLUSTERDOWN) / TIMEOUT
//
// During a move, a key whose owners changed is read from its current and its previous owners
// at once and the higher version wins (MoveRead; docs/design.md, "The fallback read during a move").
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import { encodeGet, readGetReply, type VersionedValue } from "../../protocol/internal/index.js";
import { RespReplyError, type RespValue } from "../../protocol/resp/index.js";
import { copy } from "../../redis/bytes.js";
import type { Ring } from "../../ring/ring.js";
import type { NodeClient, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import {
  NO_OWNERS,
  noOwners,
  replyToError,
  unexpectedReply,
  unreachable,
  type OpSink,
} from "./op.js";

/**
 * What a read asks an owner: "value" a plain GET (the value or null), "exists" a plain EXISTS,
 * "touch" a plain TOUCH (EXISTS that marks the entry recently used), "strlen" a plain STRLEN
 * (the value's length), "versioned" RC.GET (value, version and remaining TTL), "expiry"
 * RC.GET WITHEXPIRY (the same and the absolute expiry).
 */
export type ReadMode = "value" | "exists" | "touch" | "strlen" | "versioned" | "expiry";

const GET_PREFIX = Buffer.from("*2\r\n$3\r\nGET\r\n");
const EXISTS_PREFIX = Buffer.from("*2\r\n$6\r\nEXISTS\r\n");
const TOUCH_PREFIX = Buffer.from("*2\r\n$5\r\nTOUCH\r\n");
const STRLEN_PREFIX = Buffer.from("*2\r\n$6\r\nSTRLEN\r\n");

export class ReadOp<C> implements ReplyTarget {
  readonly router: Router;
  readonly key: Buffer;
  readonly mode: ReadMode;
  readonly sink: OpSink<ReadOp<C>>;
  readonly ctx: C;
  /** Position in a multi-key command. */
  readonly index: number;
  readonly startedAt: number;
  readonly affinity: number;
  owners: NodeClient[] = NO_OWNERS;
  attempt = 0;
  error: RingcacheError | null = null;
  /** "value": the value (a view, valid during opDone only), or null for a miss. */
  value: Buffer | null = null;
  /** "exists" and "touch": whether the key exists. */
  exists = false;
  /** "exists" and "touch": 1 when the key exists, else 0; "strlen": the value's length. */
  integer = 0;
  /** "versioned" and "expiry": what the owner holds (views valid during opDone only). */
  versioned: VersionedValue | undefined = undefined;
  private lastError: RingcacheError | null = null;
  private allTimeouts = true;

  /** `key` must stay unchanged until the op is done (copy a client's argument first). */
  constructor(
    router: Router,
    key: Buffer,
    mode: ReadMode,
    sink: OpSink<ReadOp<C>>,
    ctx: C,
    index = 0,
  ) {
    this.router = router;
    this.key = key;
    this.mode = mode;
    this.sink = sink;
    this.ctx = ctx;
    this.index = index;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    const owners = this.router.ownersOf(this.key);
    if (this.router.topology.moveSources.length > 0 && owners.length > 0) {
      const previous = this.router.moveOwnersOf(this.key, owners);
      if (previous !== null) {
        new MoveRead(this, owners, previous).start();
        return this;
      }
    }
    return this.startWith(owners);
  }

  /** Reads from these owners, in order. */
  startWith(owners: NodeClient[]): this {
    this.owners = owners;
    if (this.owners.length === 0) {
      this.error = noOwners(this.router.topology);
      this.sink.opDone(this);
      return this;
    }
    this.attempt = 0;
    this.send();
    return this;
  }

  onNodeReply(_token: number, reply: RespValue): void {
    if (reply instanceof RespReplyError) {
      this.retry(replyToError(reply), false);
      return;
    }
    try {
      if (this.mode === "value") {
        if (reply !== null && !Buffer.isBuffer(reply)) throw unexpectedReply();
        this.value = reply;
      } else if (this.mode === "exists" || this.mode === "touch" || this.mode === "strlen") {
        if (typeof reply !== "number") throw unexpectedReply();
        this.integer = reply;
        this.exists = reply > 0;
      } else {
        this.versioned = readGetReply(reply);
      }
    } catch (err) {
      this.retry(err as RingcacheError, false);
      return;
    }
    if (this.attempt > 0) this.router.counters.readFailovers++;
    this.sink.opDone(this);
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.retry(error, error.code === "TIMEOUT");
  }

  private retry(error: RingcacheError, timeout: boolean): void {
    this.lastError = error;
    if (!timeout) this.allTimeouts = false;
    this.attempt++;
    this.send();
  }

  private send(): void {
    const owners = this.owners;
    while (this.attempt < owners.length) {
      const client = owners[this.attempt] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn !== null) {
        const out = conn.writer();
        if (this.mode === "value") {
          out.raw(GET_PREFIX);
          out.bulk(this.key);
        } else if (this.mode === "exists") {
          out.raw(EXISTS_PREFIX);
          out.bulk(this.key);
        } else if (this.mode === "touch") {
          out.raw(TOUCH_PREFIX);
          out.bulk(this.key);
        } else if (this.mode === "strlen") {
          out.raw(STRLEN_PREFIX);
          out.bulk(this.key);
        } else {
          encodeGet(out, this.key, this.mode === "expiry");
        }
        conn.expect(this, this.attempt);
        return;
      }
      this.lastError = client.downError;
      this.allTimeouts = false;
      this.attempt++;
    }
    // Only errors that are answers (not transport failures) reach the client as they are.
    const last = this.lastError;
    this.error =
      last !== null && last.code !== "UNAVAILABLE" && last.code !== "TIMEOUT"
        ? last
        : unreachable(last, this.allTimeouts);
    this.sink.opDone(this);
  }
}

/** Which owners a MoveRead's part asked. */
type Asked = "current" | "previous";
const CURRENT: Asked = "current";
const PREVIOUS: Asked = "previous";

/**
 * A read while a move is in progress, of a key whose owners changed: the current owners and
 * the previous ones are asked at once (RC.GET) and the higher version wins. So a new owner that
 * has not received the key yet causes no miss (the previous owner has it), and a node back with
 * an old copy causes no stale read (the previous owners hold every acknowledged write made while
 * it was away; writes made since reach the current owners).
 */
class MoveRead<C> implements OpSink<ReadOp<Asked>> {
  private readonly parent: ReadOp<C>;
  private readonly owners: NodeClient[];
  private readonly previous: NodeClient[];
  private pending = 0;
  private best: VersionedValue | undefined = undefined;
  /** Current owners that answered (each is asked on its own). */
  private currentAnswers = 0;
  /** Why a current owner or the previous ones could not be read. */
  private currentError: RingcacheError | null = null;
  private previousError: RingcacheError | null = null;

  constructor(parent: ReadOp<C>, owners: NodeClient[], previous: NodeClient[]) {
    this.parent = parent;
    this.owners = owners;
    this.previous = previous;
  }

  start(): void {
    const router = this.parent.router;
    // Every current owner, not just the first: one that just joined may not have the entry
    // yet while another (a surviving replica) does.
    this.pending = this.owners.length + this.previous.length;
    const mode = this.parent.mode === "expiry" ? "expiry" : "versioned";
    for (const owner of this.owners) {
      new ReadOp(router, this.parent.key, mode, this, CURRENT).startWith([owner]);
    }
    // Every previous owner too: with several moves under way they may hold different versions.
    for (const owner of this.previous) {
      new ReadOp(router, this.parent.key, mode, this, PREVIOUS).startWith([owner]);
    }
  }

  opDone(op: ReadOp<Asked>): void {
    if (op.error !== null) {
      if (op.ctx === CURRENT) this.currentError = op.error;
      else if (mayHold(op.owners[0] as NodeClient, this.parent.router.topology.ring)) {
        this.previousError = op.error;
      }
    } else {
      if (op.ctx === CURRENT) this.currentAnswers++;
      const v = op.versioned;
      if (v !== undefined && (this.best === undefined || v.version > this.best.version)) {
        // The reply's bulk is valid only during this call.
        const value = v.value === null ? null : copy(v.value);
        this.best =
          v.expiresAt === undefined
            ? { value, version: v.version, pttl: v.pttl }
            : { value, version: v.version, pttl: v.pttl, expiresAt: v.expiresAt };
      }
    }
    if (--this.pending > 0) return;
    const parent = this.parent;
    const best = this.best;
    if (this.currentAnswers === 0) {
      // Writes made during the move went to the current owners only: what the previous ones
      // hold may be older, so it is no answer on its own.
      parent.error = this.currentError;
    } else if (this.previousError !== null && best === undefined) {
      // Nothing on the current owners yet, and previous owners that are up could not say
      // (a timeout): a miss here could be spurious (the entry not copied yet), so the read
      // fails instead. Previous owners known to be down hold nothing anyone can read: with
      // R >= 2 the surviving copies are among the current owners, with R = 1 it is a miss.
      parent.error = this.previousError;
    } else {
      const live = best !== undefined && best.value !== null && best.pttl !== -2;
      const mode = parent.mode;
      if (mode === "value") parent.value = live ? best.value : null;
      else if (mode === "exists" || mode === "touch") {
        parent.exists = live;
        parent.integer = live ? 1 : 0;
      } else if (mode === "strlen") parent.integer = live ? best.value.length : 0;
      else parent.versioned = best;
    }
    parent.sink.opDone(parent);
  }
}

/**
 * Whether a previous owner that could not answer a read during a move may hold an entry the
 * current owners lack. Not when this master knows it is down; nor when the ring no longer has
 * it and this master has no connection to it: the cluster took it out as down (a kill), and
 * this master's own probes have not caught up yet.
 */
function mayHold(client: NodeClient, ring: Ring): boolean {
  if (!client.accepting) return false;
  return client.connected || ring.members.some((m) => m.id === client.id);
}

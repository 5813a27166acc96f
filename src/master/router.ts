// Routing: each key's owners on the ring, and the operations that reach them.
//
//   read   ─► first live owner ──error/timeout──► next owner ──► … ──► CLUSTERDOWN / TIMEOUT
//   write  ─► every live owner in parallel, one version ──► done when all answered:
//               some owner holds a newer version ─► observe it, retry with a fresh version
//               >= 1 applied ─► success        none applied ─► error
//   incr   ─► RC.INCRBY on the first live owner ─► RC.PUT of the result to the other owners
//   multi-key ─► one operation per key (requests of one turn leave in one write per node),
//               gathered back in key order
//
// Operations are small objects with a fixed shape; each reports once to an OpSink, a shared
// singleton per kind of caller, with the caller's context in `ctx`. No closure per request.
//
// What must stay true:
// - Every operation reports exactly once.
// - A write carries a version above every version its owners hold when it is applied: a later
//   write is never dropped as older (see "Versions" in DESIGN.md).
// - Values handed to a sink are views valid only during opDone (they may point into a socket
//   chunk): a sink that keeps bytes copies them.
import { performance } from "node:perf_hooks";
import type { HybridClock } from "../clock/hlc.js";
import { RingcacheError } from "../errors.js";
import {
  StaleVersionError,
  encodeExpire,
  encodeFlush,
  encodeGet,
  encodeIncrBy,
  encodeStats,
  readGetReply,
  readIncrReply,
  readStatsReply,
  readWriteOutcome,
  unwrap,
  type VersionedValue,
} from "../protocol/internal.js";
import { RespReplyError, type RespValue } from "../protocol/resp/index.js";
import { hashKey } from "../ring/hash.js";
import { delCommand } from "./encode.js";
import type { Membership } from "./membership.js";
import type { NodeClient, NodeConnection, ReplyTarget } from "./pool.js";
import type { Ring } from "../ring/ring.js";

/** Receives a finished operation; `op.error` is set when it failed. */
export interface OpSink<T> {
  opDone(op: T): void;
}

/** Counters the metrics collector reads. */
export class RouterCounters {
  /** Writes retried because an owner held a newer version. */
  staleRetries = 0;
  /** Writes acknowledged although some owner failed to apply them. */
  replicationFailures = 0;
  /** Reads answered by an owner other than the first one tried. */
  readFailovers = 0;
  /** Writes refused as older that a later write of this master to the key had superseded. */
  staleSuperseded = 0;
}

/** Buckets (by key hash) remembering the latest write started to a key; a power of two. */
const RECENT_WRITES = 4096;
/** Keys longer than this are not remembered (their stale writes are always retried). */
const RECENT_KEY_MAX = 64;

export interface RouterOptions {
  /** Retries of a write refused as older before giving up. */
  readonly maxStaleRetries?: number;
}

const NO_OWNERS: NodeClient[] = [];

export class Router {
  readonly membership: Membership;
  readonly clock: HybridClock;
  readonly counters = new RouterCounters();
  readonly maxStaleRetries: number;
  /**
   * Which of a node's connections new operations use: the dispatcher sets it to the client
   * connection's id before starting a command's operations (see NodeClient.connection).
   */
  affinity = 0;
  /** Scratch for ring lookups (reused; read right after each lookup). */
  private readonly ids: string[] = [];
  /** The hash of the key of the last ownersOf() call. */
  private lastHash = 0;
  /** Sequence numbers of writes, in the order they were started. */
  private writeSeq = 0;
  // The latest write started per bucket: its sequence number, and its key copied into a slot
  // of RECENT_KEY_MAX bytes (length -1: too long to remember). Copied rather than referenced:
  // holding thousands of recent keys would keep them (and the pooled chunks they live in)
  // alive past young-generation collections, which costs every write.
  private readonly recentSeq = new Float64Array(RECENT_WRITES);
  private readonly recentLength = new Int32Array(RECENT_WRITES);
  private readonly recentKeys = new Uint8Array(RECENT_WRITES * RECENT_KEY_MAX);

  // Writes in progress: those started under the current ring (serial `writeSerial`) and those
  // started under any older one, and who waits for the older ones to end (see drained()).
  private writeSerial = 0;
  private writesNow = 0;
  private writesBefore = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(membership: Membership, clock: HybridClock, options: RouterOptions = {}) {
    this.membership = membership;
    this.clock = clock;
    this.maxStaleRetries = options.maxStaleRetries ?? 8;
  }

  /** Counts a write in progress; returns the ring serial to hand back to writeEnded(). */
  writeStarted(): number {
    this.rollWrites();
    this.writesNow++;
    return this.writeSerial;
  }

  writeEnded(serial: number): void {
    this.rollWrites();
    if (serial === this.writeSerial) {
      this.writesNow--;
      return;
    }
    if (--this.writesBefore > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves true once every write started under an older ring than the current one has
   * ended, or false after `timeoutMs`. A move must not copy a range while a write routed by
   * the ring before it may still land there: the write would stay behind on a node that no
   * longer owns the key. The leader waits for its own before moving, a follower for its own
   * before it acknowledges the leader's new ring.
   */
  drained(timeoutMs: number): Promise<boolean> {
    this.rollWrites();
    if (this.writesBefore === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Counts the writes of the current ring as older ones once the ring has changed. */
  private rollWrites(): void {
    const serial = this.membership.ringSerial;
    if (serial === this.writeSerial) return;
    this.writesBefore += this.writesNow;
    this.writesNow = 0;
    this.writeSerial = serial;
  }

  /** The key's owners in ring order: first R distinct nodes clockwise among the nodes up. */
  ownersOf(key: Uint8Array): NodeClient[] {
    const m = this.membership;
    const r = m.replicas;
    if (r === 0) return NO_OWNERS;
    const ids = this.ids;
    const hash = hashKey(key);
    this.lastHash = hash;
    const n = m.ring.ownerIdsInto(hash, r, ids);
    const clients = m.ringClients;
    const out = new Array<NodeClient>(n);
    for (let i = 0; i < n; i++) out[i] = clients.get(ids[i] as string) as NodeClient;
    return out;
  }

  /**
   * Records that a write to `key` (whose owners were just looked up) starts now; returns its
   * sequence number and bucket for supersededBy().
   */
  noteWrite(key: Uint8Array): number {
    const bucket = this.lastHash & (RECENT_WRITES - 1);
    const seq = ++this.writeSeq;
    this.recentSeq[bucket] = seq;
    const n = key.length;
    if (n <= RECENT_KEY_MAX) {
      const keys = this.recentKeys;
      const at = bucket * RECENT_KEY_MAX;
      if (n <= 16) for (let i = 0; i < n; i++) keys[at + i] = key[i]!;
      else keys.set(key, at);
      this.recentLength[bucket] = n;
    } else {
      this.recentLength[bucket] = -1;
    }
    return seq * RECENT_WRITES + bucket;
  }

  /**
   * True when this master started a later write to `key` after the write noted as `ticket`
   * (from noteWrite). Such a write is ordered after it, so the earlier one need not win.
   */
  supersededBy(ticket: number, key: Uint8Array): boolean {
    const bucket = ticket % RECENT_WRITES;
    const seq = (ticket - bucket) / RECENT_WRITES;
    if (this.recentSeq[bucket]! <= seq) return false;
    const n = key.length;
    if (this.recentLength[bucket] !== n) return false;
    const keys = this.recentKeys;
    const at = bucket * RECENT_KEY_MAX;
    for (let i = 0; i < n; i++) if (keys[at + i] !== key[i]) return false;
    return true;
  }

  /**
   * During a move: the key's owners in the ring before it that are not among `owners` (empty
   * when no move is in progress or the key's owners did not change).
   */
  previousOwnersOf(key: Uint8Array, owners: readonly NodeClient[]): NodeClient[] {
    const m = this.membership;
    const previous = m.previous;
    if (previous === null || previous.size === 0) return NO_OWNERS;
    const ids = this.ids;
    const n = previous.ownerIdsInto(hashKey(key), Math.min(m.options.replicas, previous.size), ids);
    let out: NodeClient[] | null = null;
    for (let i = 0; i < n; i++) {
      const id = ids[i] as string;
      if (owners.some((c) => c.id === id)) continue;
      const client = m.get(id)?.client;
      if (client === undefined) continue;
      (out ??= []).push(client);
    }
    return out ?? NO_OWNERS;
  }

  /** Clients of every node in the ring. */
  ringClients(): NodeClient[] {
    return [...this.membership.ringClients.values()];
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

const NO_NODE_UP = new RingcacheError("UNAVAILABLE", "no auxiliary node is up");
const AWAITING_LEADER = new RingcacheError(
  "UNAVAILABLE",
  "this master is waiting for the leading master's ring; try again or another master",
);

/** Why an operation found no owner: no node is up, or this master has no ring yet. */
function noOwners(membership: Membership): RingcacheError {
  return membership.awaitingLeader ? AWAITING_LEADER : NO_NODE_UP;
}

function unreachable(lastError: RingcacheError | null, allTimeouts: boolean): RingcacheError {
  if (allTimeouts && lastError !== null) return lastError;
  return new RingcacheError(
    "UNAVAILABLE",
    `no owner of the key could be reached${lastError === null ? "" : ` (${lastError.message})`}`,
  );
}

/** An error reply of a node as a RingcacheError (OOM and WRONGTYPE keep their prefix). */
export function replyToError(reply: RespReplyError): RingcacheError {
  const prefix = reply.prefix;
  const message = reply.message.slice(prefix.length + 1);
  if (prefix === "OOM") return new RingcacheError("OUT_OF_MEMORY", message);
  if (prefix === "WRONGTYPE") return new RingcacheError("WRONG_TYPE", message);
  if (prefix === "ERR") return new RingcacheError("BAD_REQUEST", message);
  return new RingcacheError("INTERNAL", reply.message);
}

function copy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  b.copy(out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reads

/** Plain GET: the value or null. */
export const READ_VALUE = 0;
/** Plain EXISTS: whether a live entry exists. */
export const READ_EXISTS = 1;
/** RC.GET: value, version and remaining TTL. */
export const READ_VERSIONED = 2;

const GET_PREFIX = Buffer.from("*2\r\n$3\r\nGET\r\n");
const EXISTS_PREFIX = Buffer.from("*2\r\n$6\r\nEXISTS\r\n");

export class ReadOp implements ReplyTarget {
  readonly router: Router;
  readonly key: Buffer;
  readonly mode: number;
  readonly sink: OpSink<ReadOp>;
  readonly ctx: unknown;
  /** Position in a multi-key command. */
  readonly index: number;
  readonly startedAt: number;
  readonly affinity: number;
  owners: NodeClient[] = NO_OWNERS;
  attempt = 0;
  error: RingcacheError | null = null;
  /** READ_VALUE: the value (a view, valid during opDone only), or null for a miss. */
  value: Buffer | null = null;
  /** READ_EXISTS: whether the key exists. */
  exists = false;
  /** READ_VERSIONED: what the owner holds (views valid during opDone only). */
  versioned: VersionedValue | undefined = undefined;
  private lastError: RingcacheError | null = null;
  private allTimeouts = true;

  /** `key` must stay unchanged until the op is done (copy a client's argument first). */
  constructor(
    router: Router,
    key: Buffer,
    mode: number,
    sink: OpSink<ReadOp>,
    ctx: unknown,
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
    if (this.router.membership.previous !== null && owners.length > 0) {
      const previous = this.router.previousOwnersOf(this.key, owners);
      if (previous.length > 0) {
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
      this.error = noOwners(this.router.membership);
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
      if (this.mode === READ_VALUE) {
        if (reply !== null && !Buffer.isBuffer(reply)) throw unexpectedReply();
        this.value = reply;
      } else if (this.mode === READ_EXISTS) {
        if (typeof reply !== "number") throw unexpectedReply();
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
        if (this.mode === READ_VALUE) {
          out.raw(GET_PREFIX);
          out.bulk(this.key);
        } else if (this.mode === READ_EXISTS) {
          out.raw(EXISTS_PREFIX);
          out.bulk(this.key);
        } else {
          encodeGet(out, this.key);
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

/**
 * A read while a move is in progress, of a key whose owners changed: the current owners and
 * the previous ones are asked at once (RC.GET) and the higher version wins. So a new owner that
 * has not received the key yet causes no miss (the previous owner has it), and a node back with
 * an old copy causes no stale read (the previous owners hold every acknowledged write made while
 * it was away; writes made since reach the current owners).
 */
class MoveRead implements OpSink<ReadOp> {
  private readonly parent: ReadOp;
  private readonly owners: NodeClient[];
  private readonly previous: NodeClient[];
  private pending = 0;
  private best: VersionedValue | undefined = undefined;
  /** Current owners that answered (each is asked on its own: ctx 0). */
  private currentAnswers = 0;
  /** Why a current owner (ctx 0) or the previous ones (ctx 1) could not be read. */
  private currentError: RingcacheError | null = null;
  private previousError: RingcacheError | null = null;

  constructor(parent: ReadOp, owners: NodeClient[], previous: NodeClient[]) {
    this.parent = parent;
    this.owners = owners;
    this.previous = previous;
  }

  start(): void {
    const router = this.parent.router;
    // Every current owner, not just the first: one that just joined may not have the entry
    // yet while another (a surviving replica) does.
    this.pending = this.owners.length + 1;
    for (const owner of this.owners) {
      new ReadOp(router, this.parent.key, READ_VERSIONED, this, 0).startWith([owner]);
    }
    new ReadOp(router, this.parent.key, READ_VERSIONED, this, 1).startWith(this.previous);
  }

  opDone(op: ReadOp): void {
    if (op.error !== null) {
      if (op.ctx === 0) this.currentError = op.error;
      else this.previousError = op.error;
    } else {
      if (op.ctx === 0) this.currentAnswers++;
      const v = op.versioned;
      if (v !== undefined && (this.best === undefined || v.version > this.best.version)) {
        // The reply's bulk is valid only during this call.
        this.best = {
          value: v.value === null ? null : copy(v.value),
          version: v.version,
          pttl: v.pttl,
        };
      }
    }
    if (--this.pending > 0) return;
    const parent = this.parent;
    const best = this.best;
    if (this.currentAnswers === 0) {
      // Writes made during the move went to the current owners only: what the previous ones
      // hold may be older, so it is no answer on its own.
      parent.error = this.currentError;
    } else if (
      this.previousError !== null &&
      best === undefined &&
      this.previous.some((c) => mayHold(c, parent.router.membership.ring))
    ) {
      // Nothing on the current owners yet, and previous owners that are up could not say
      // (a timeout): a miss here could be spurious (the entry not copied yet), so the read
      // fails instead. Previous owners known to be down hold nothing anyone can read: with
      // R >= 2 the surviving copies are among the current owners, with R = 1 it is a miss.
      parent.error = this.previousError;
    } else {
      const live = best !== undefined && best.value !== null && best.pttl !== -2;
      if (parent.mode === READ_VALUE) parent.value = live ? best.value : null;
      else if (parent.mode === READ_EXISTS) parent.exists = live;
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

function unexpectedReply(): RingcacheError {
  return new RingcacheError("INTERNAL", "unexpected reply from an auxiliary node");
}

// ---------------------------------------------------------------------------------------------
// Replicated writes

/** Takes the replies of the writes no operation waits for (see unwaitedConnection). */
const UNWAITED: ReplyTarget = {
  onNodeReply(): void {},
  onNodeError(): void {},
};

/**
 * Where to send, without waiting for it, a write to an owner this master does not send to
 * (connection() gave null), or null. Only a master that follows the leader's ring sends one,
 * and only to a node its own probes take for down: the leader's ring still has the node, so
 * the leader moves nothing, and if the node is alive after all (our probes timed out under
 * load) a write it missed would let it serve an older value once our probes see it up again.
 * The write is acknowledged by the other owners as before; it only needs an open socket.
 */
function unwaitedConnection(
  router: Router,
  client: NodeClient,
  affinity: number,
): NodeConnection | null {
  if (client.accepting || router.membership.deciding) return null;
  return client.openConnection(affinity);
}

export const WRITE_PUT = 0;
export const WRITE_DEL = 1;
export const WRITE_EXPIRE = 2;

export class WriteOp implements ReplyTarget {
  readonly router: Router;
  readonly kind: number;
  readonly key: Buffer;
  readonly value: Buffer | null;
  /** PUT and EXPIRE: absolute expiry in Unix ms, 0 for none. */
  readonly expiresAt: number;
  readonly sink: OpSink<WriteOp>;
  readonly ctx: unknown;
  readonly index: number;
  readonly startedAt: number;
  readonly affinity: number;
  version = 0;
  attempts = 0;
  error: RingcacheError | null = null;
  /** Owners that applied the write. */
  applied = 0;
  /** DEL: some owner removed a live entry. EXPIRE: some owner held a live entry. */
  existed = false;
  private pending = 0;
  private failed = 0;
  private staleMax = 0;
  private answerError: RingcacheError | null = null;
  private transportError: RingcacheError | null = null;
  private allTimeouts = true;
  /** From Router.noteWrite, on the first attempt. */
  private ticket = 0;
  /** From Router.writeStarted, on the first attempt; handed back when the write ends. */
  private serial = 0;

  /** `key` and `value` must stay unchanged until the op is done. */
  constructor(
    router: Router,
    kind: number,
    key: Buffer,
    value: Buffer | null,
    expiresAt: number,
    sink: OpSink<WriteOp>,
    ctx: unknown,
    index = 0,
  ) {
    this.router = router;
    this.kind = kind;
    this.key = key;
    this.value = value;
    this.expiresAt = expiresAt;
    this.sink = sink;
    this.ctx = ctx;
    this.index = index;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    this.attempts++;
    this.version = this.router.clock.next();
    const owners = this.router.ownersOf(this.key);
    if (this.attempts === 1) {
      this.ticket = this.router.noteWrite(this.key);
      this.serial = this.router.writeStarted();
    }
    this.applied = 0;
    this.existed = false;
    this.failed = 0;
    this.staleMax = 0;
    this.answerError = null;
    this.transportError = null;
    this.allTimeouts = true;
    if (owners.length === 0) {
      this.error = noOwners(this.router.membership);
      this.end();
      return this;
    }
    this.pending = owners.length;
    // Owners not sent to (a bit per owner; R is small).
    let skipped = 0;
    for (let i = 0; i < owners.length; i++) {
      const client = owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.pending--;
        this.failed++;
        this.transportError = client.downError;
        this.allTimeouts = false;
        skipped |= 1 << i;
        continue;
      }
      this.sendTo(conn, this, i);
    }
    if (this.pending === 0) {
      // Nothing sent: the write fails, and is applied nowhere.
      this.finish();
      return this;
    }
    for (let i = 0; skipped !== 0 && i < owners.length; i++) {
      if ((skipped & (1 << i)) === 0) continue;
      const unwaited = unwaitedConnection(this.router, owners[i] as NodeClient, this.affinity);
      if (unwaited !== null) this.sendTo(unwaited, UNWAITED, 0);
    }
    return this;
  }

  private end(): void {
    this.router.writeEnded(this.serial);
    this.sink.opDone(this);
  }

  private sendTo(conn: NodeConnection, target: ReplyTarget, token: number): void {
    if (this.kind === WRITE_PUT) {
      conn.put(target, token, this.key, this.value as Buffer, this.version, this.expiresAt);
      return;
    }
    if (this.kind === WRITE_DEL) delCommand(conn.writer(), this.key, this.version);
    else encodeExpire(conn.writer(), this.key, this.expiresAt, this.version);
    conn.expect(target, token);
  }

  onNodeReply(_token: number, reply: RespValue): void {
    if (reply === 1 || reply === 0) {
      this.applied++;
      if (reply === 1) this.existed = true;
    } else {
      try {
        const outcome = readWriteOutcome(reply);
        if (outcome.applied) {
          this.applied++;
          if (outcome.existed) this.existed = true;
        } else if (outcome.heldVersion > this.staleMax) {
          this.staleMax = outcome.heldVersion;
        }
      } catch (err) {
        this.failed++;
        this.answerError =
          reply instanceof RespReplyError ? replyToError(reply) : (err as RingcacheError);
      }
    }
    if (--this.pending === 0) this.finish();
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.failed++;
    this.transportError = error;
    if (error.code !== "TIMEOUT") this.allTimeouts = false;
    if (--this.pending === 0) this.finish();
  }

  private finish(): void {
    const router = this.router;
    if (this.staleMax > 0) {
      // An owner holds a newer version than this write carried: move the clock past it and
      // write again, so that this (later) write wins everywhere.
      router.clock.observe(this.staleMax);
      if (this.kind === WRITE_PUT && router.supersededBy(this.ticket, this.key)) {
        // A later write of this master to the key (from this client's pipeline or another
        // client) is on its way: this one is ordered just before it and is done. Retrying it
        // with a fresh version would let it overtake that later write.
        router.counters.staleSuperseded++;
        this.end();
        return;
      }
      if (this.attempts <= router.maxStaleRetries) {
        router.counters.staleRetries++;
        this.start();
        return;
      }
      this.error = new RingcacheError(
        "STALE_VERSION",
        `write kept losing to newer versions after ${this.attempts} attempts`,
      );
    } else if (this.applied > 0) {
      if (this.failed > 0) router.counters.replicationFailures++;
    } else if (this.answerError !== null) {
      this.error = this.answerError;
    } else {
      this.error = unreachable(this.transportError, this.allTimeouts);
    }
    this.end();
  }
}

// ---------------------------------------------------------------------------------------------
// SET with conditions (NX, XX, GET, KEEPTTL): read the current entry, then write

export const SET_NX = 1;
export const SET_XX = 2;
export const SET_GET = 4;
export const SET_KEEPTTL = 8;

export class SetOp implements OpSink<ReadOp>, OpSink<WriteOp> {
  readonly router: Router;
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  readonly sink: OpSink<SetOp>;
  readonly ctx: unknown;
  readonly startedAt: number;
  expiresAt: number;
  error: RingcacheError | null = null;
  /** GET: the value before the write (a copy), or null. */
  old: Buffer | null = null;
  /** Whether the write happened (false when NX/XX held it back). */
  written = false;

  constructor(
    router: Router,
    key: Buffer,
    value: Buffer,
    expiresAt: number,
    flags: number,
    sink: OpSink<SetOp>,
    ctx: unknown,
  ) {
    this.router = router;
    this.key = key;
    this.value = value;
    this.expiresAt = expiresAt;
    this.flags = flags;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
  }

  start(): this {
    new ReadOp(this.router, this.key, READ_VERSIONED, this, null).start();
    return this;
  }

  opDone(op: ReadOp | WriteOp): void {
    if (op.error !== null) {
      this.error = op.error;
      this.sink.opDone(this);
      return;
    }
    if (op instanceof WriteOp) {
      this.written = true;
      this.sink.opDone(this);
      return;
    }
    const held = op.versioned;
    const exists = held !== undefined && held.value !== null;
    if (exists && (this.flags & SET_GET) !== 0) this.old = copy(held.value);
    if (((this.flags & SET_NX) !== 0 && exists) || ((this.flags & SET_XX) !== 0 && !exists)) {
      this.sink.opDone(this);
      return;
    }
    if ((this.flags & SET_KEEPTTL) !== 0) {
      this.expiresAt = exists && held.pttl > 0 ? Date.now() + held.pttl : 0;
    }
    new WriteOp(this.router, WRITE_PUT, this.key, this.value, this.expiresAt, this, null).start();
  }
}

// ---------------------------------------------------------------------------------------------
// EXPIRE family and PERSIST

export const EXPIRE_NX = 1;
export const EXPIRE_XX = 2;
export const EXPIRE_GT = 4;
export const EXPIRE_LT = 8;
/** PERSIST: remove the expiry. */
export const EXPIRE_PERSIST = 16;

export class ExpireOp implements OpSink<ReadOp>, OpSink<WriteOp> {
  readonly router: Router;
  readonly key: Buffer;
  /** Absolute expiry (Unix ms); at or before now the key is deleted. Ignored for PERSIST. */
  readonly when: number;
  readonly flags: number;
  readonly sink: OpSink<ExpireOp>;
  readonly ctx: unknown;
  readonly startedAt: number;
  error: RingcacheError | null = null;
  /** The command's integer reply: 1 when the expiry was set (or the key deleted), else 0. */
  result = 0;

  constructor(
    router: Router,
    key: Buffer,
    when: number,
    flags: number,
    sink: OpSink<ExpireOp>,
    ctx: unknown,
  ) {
    this.router = router;
    this.key = key;
    this.when = when;
    this.flags = flags;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
  }

  start(): this {
    if (this.flags === 0) this.write();
    else new ReadOp(this.router, this.key, READ_VERSIONED, this, null).start();
    return this;
  }

  opDone(op: ReadOp | WriteOp): void {
    if (op.error !== null) {
      this.error = op.error;
      this.sink.opDone(this);
      return;
    }
    if (op instanceof WriteOp) {
      this.result = op.existed ? 1 : 0;
      this.sink.opDone(this);
      return;
    }
    const held = op.versioned;
    if (held === undefined || held.value === null) return this.reply(0);
    const flags = this.flags;
    // Remaining TTL as an absolute time; -1: no expiry (infinite).
    const current = held.pttl < 0 ? -1 : Date.now() + held.pttl;
    if ((flags & EXPIRE_PERSIST) !== 0) {
      if (current === -1) return this.reply(0);
    } else if (
      ((flags & EXPIRE_NX) !== 0 && current !== -1) ||
      ((flags & EXPIRE_XX) !== 0 && current === -1) ||
      ((flags & EXPIRE_GT) !== 0 && (current === -1 || this.when <= current)) ||
      ((flags & EXPIRE_LT) !== 0 && current !== -1 && this.when >= current)
    ) {
      return this.reply(0);
    }
    this.write();
  }

  private write(): void {
    const router = this.router;
    if ((this.flags & EXPIRE_PERSIST) !== 0) {
      new WriteOp(router, WRITE_EXPIRE, this.key, null, 0, this, null).start();
    } else if (this.when <= Date.now()) {
      // An expiry in the past deletes the key (with a tombstone), as Redis does.
      new WriteOp(router, WRITE_DEL, this.key, null, 0, this, null).start();
    } else {
      new WriteOp(router, WRITE_EXPIRE, this.key, null, this.when, this, null).start();
    }
  }

  private reply(result: number): void {
    this.result = result;
    this.sink.opDone(this);
  }
}

// ---------------------------------------------------------------------------------------------
// INCRBY: computed on the first live owner, then copied to the others with the same version

export class IncrOp implements ReplyTarget {
  readonly router: Router;
  readonly key: Buffer;
  readonly delta: bigint;
  readonly sink: OpSink<IncrOp>;
  readonly ctx: unknown;
  readonly startedAt: number;
  readonly affinity: number;
  error: RingcacheError | null = null;
  /** The value after the increment. */
  result = 0n;
  private version = 0;
  private attempts = 0;
  private owners: NodeClient[] = NO_OWNERS;
  private primary = -1;
  private pending = 0;
  /** From Router.writeStarted, on the first attempt; handed back when the increment ends. */
  private serial = 0;

  constructor(router: Router, key: Buffer, delta: bigint, sink: OpSink<IncrOp>, ctx: unknown) {
    this.router = router;
    this.key = key;
    this.delta = delta;
    this.sink = sink;
    this.ctx = ctx;
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    this.attempts++;
    if (this.attempts === 1) this.serial = this.router.writeStarted();
    this.version = this.router.clock.next();
    this.owners = this.router.ownersOf(this.key);
    this.primary = -1;
    for (let i = 0; i < this.owners.length; i++) {
      const conn = (this.owners[i] as NodeClient).connection(this.affinity);
      if (conn === null) continue;
      encodeIncrBy(conn.writer(), this.key, this.delta, this.version);
      conn.expect(this, -1);
      this.primary = i;
      return this;
    }
    this.error =
      this.owners.length === 0 ? noOwners(this.router.membership) : unreachable(null, false);
    this.end();
    return this;
  }

  onNodeReply(token: number, reply: RespValue): void {
    if (token >= 0) {
      // A copy to another owner: best effort, like any replica write.
      if (--this.pending === 0) this.end();
      return;
    }
    let expiresAt: number;
    try {
      const r = readIncrReply(reply);
      this.result = r.value;
      expiresAt = r.expiresAt;
    } catch (err) {
      if (err instanceof StaleVersionError && this.attempts <= this.router.maxStaleRetries) {
        this.router.clock.observe(err.heldVersion);
        this.router.counters.staleRetries++;
        this.start();
        return;
      }
      this.error = err as RingcacheError;
      this.end();
      return;
    }
    const value = Buffer.from(this.result.toString(), "latin1");
    this.pending = 1;
    for (let i = 0; i < this.owners.length; i++) {
      if (i === this.primary) continue;
      const client = this.owners[i] as NodeClient;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        this.router.counters.replicationFailures++;
        unwaitedConnection(this.router, client, this.affinity)?.put(
          UNWAITED,
          0,
          this.key,
          value,
          this.version,
          expiresAt,
        );
        continue;
      }
      conn.put(this, i, this.key, value, this.version, expiresAt);
      this.pending++;
    }
    if (--this.pending === 0) this.end();
  }

  private end(): void {
    this.router.writeEnded(this.serial);
    this.sink.opDone(this);
  }

  onNodeError(token: number, error: RingcacheError): void {
    if (token >= 0) {
      this.router.counters.replicationFailures++;
      if (--this.pending === 0) this.end();
      return;
    }
    // The increment may or may not have been applied: report it rather than apply it twice.
    this.error = error;
    this.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Multi-key commands: one op per key, gathered in key order

export const GATHER_MGET = 0;
export const GATHER_EXISTS = 1;
export const GATHER_DEL = 2;
export const GATHER_MSET = 3;

export class GatherOp {
  readonly kind: number;
  readonly sink: OpSink<GatherOp>;
  readonly ctx: unknown;
  readonly startedAt: number;
  /** Number of keys. */
  readonly keys: number;
  /** MGET: each key's value (copies) or null, in key order. */
  readonly values: (Buffer | null)[];
  /** EXISTS and DEL: how many keys counted. */
  count = 0;
  error: RingcacheError | null = null;
  private remaining: number;

  constructor(kind: number, keys: number, sink: OpSink<GatherOp>, ctx: unknown) {
    this.kind = kind;
    this.sink = sink;
    this.ctx = ctx;
    this.keys = keys;
    this.remaining = keys;
    this.values = kind === GATHER_MGET ? new Array<Buffer | null>(keys).fill(null) : [];
    this.startedAt = performance.now();
  }

  /**
   * Starts the per-key ops; keys and values are copied. For MSET, `values[i]` pairs with
   * `keys[i]`, and `expiries[i]` (absolute Unix ms, 0 for none) when given.
   */
  static start(
    router: Router,
    kind: number,
    keys: readonly Buffer[],
    values: readonly Buffer[] | null,
    expiries: readonly number[] | null,
    sink: OpSink<GatherOp>,
    ctx: unknown,
  ): GatherOp {
    const op = new GatherOp(kind, keys.length, sink, ctx);
    for (let i = 0; i < keys.length; i++) {
      const key = copy(keys[i] as Buffer);
      if (kind === GATHER_MGET) {
        new ReadOp(router, key, READ_VALUE, GATHER_READ, op, i).start();
      } else if (kind === GATHER_EXISTS) {
        new ReadOp(router, key, READ_EXISTS, GATHER_READ, op, i).start();
      } else if (kind === GATHER_DEL) {
        new WriteOp(router, WRITE_DEL, key, null, 0, GATHER_WRITE, op, i).start();
      } else {
        const value = copy((values as readonly Buffer[])[i] as Buffer);
        const expiresAt = expiries === null ? 0 : (expiries[i] ?? 0);
        new WriteOp(router, WRITE_PUT, key, value, expiresAt, GATHER_WRITE, op, i).start();
      }
    }
    return op;
  }

  childDone(error: RingcacheError | null): void {
    if (error !== null && this.error === null) this.error = error;
    if (--this.remaining === 0) this.sink.opDone(this);
  }
}

const GATHER_READ: OpSink<ReadOp> = {
  opDone(op: ReadOp): void {
    const parent = op.ctx as GatherOp;
    if (op.error === null) {
      if (parent.kind === GATHER_MGET) {
        if (op.value !== null) parent.values[op.index] = copy(op.value);
      } else if (op.exists) {
        parent.count++;
      }
    }
    parent.childDone(op.error);
  },
};

const GATHER_WRITE: OpSink<WriteOp> = {
  opDone(op: WriteOp): void {
    const parent = op.ctx as GatherOp;
    if (op.error === null && op.existed) parent.count++;
    parent.childDone(op.error);
  },
};

// ---------------------------------------------------------------------------------------------
// Whole-cluster commands: the same request to every node in the ring

export const BROADCAST_FLUSH = 0;
export const BROADCAST_STATS = 1;

export class BroadcastOp implements ReplyTarget {
  readonly kind: number;
  readonly sink: OpSink<BroadcastOp>;
  readonly ctx: unknown;
  readonly startedAt: number;
  error: RingcacheError | null = null;
  /** Nodes that answered. */
  answered = 0;
  /** STATS: the sum of the nodes' live entries. */
  entries = 0;
  /** Copies of each key, to turn the sum of entries into a number of keys. */
  readonly replicas: number;
  private pending = 0;
  private failure: RingcacheError | null = null;

  constructor(router: Router, kind: number, sink: OpSink<BroadcastOp>, ctx: unknown) {
    this.kind = kind;
    this.sink = sink;
    this.ctx = ctx;
    this.replicas = router.membership.replicas;
    this.startedAt = performance.now();
    const clients = router.ringClients();
    const version = kind === BROADCAST_FLUSH ? router.clock.next() : 0;
    this.pending = 1;
    for (let i = 0; i < clients.length; i++) {
      const client = clients[i] as NodeClient;
      const conn = client.connection(router.affinity);
      if (conn === null) {
        // FLUSHALL must reach every node; DBSIZE is approximate and counts who answers.
        if (kind === BROADCAST_FLUSH) this.error ??= client.downError;
        continue;
      }
      if (kind === BROADCAST_FLUSH) encodeFlush(conn.writer(), version);
      else encodeStats(conn.writer());
      conn.expect(this, i);
      this.pending++;
    }
    if (clients.length === 0) this.error = noOwners(router.membership);
    this.done();
  }

  /** Approximate number of keys: the sum of every node's entries divided by R. */
  get keys(): number {
    return this.replicas === 0 ? 0 : Math.round(this.entries / this.replicas);
  }

  onNodeReply(_token: number, reply: RespValue): void {
    try {
      if (this.kind === BROADCAST_STATS) this.entries += readStatsReply(reply).entries;
      else unwrap(reply);
      this.answered++;
    } catch (err) {
      this.failure = err as RingcacheError;
    }
    this.done();
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.failure = error;
    this.done();
  }

  private done(): void {
    if (--this.pending !== 0) return;
    if (this.failure !== null && (this.kind === BROADCAST_FLUSH || this.answered === 0)) {
      this.error ??= this.failure;
    }
    this.sink.opDone(this);
  }
}

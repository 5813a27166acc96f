// The router: each key's owners on the ring, and the bookkeeping every operation shares
// (the affinity of new operations, the writes in flight per ring, the latest write per key).
// The operations themselves live in ops/, one family per file:
//
//   ops/read.ts         GET, EXISTS, RC.GET: first live owner, failover, reads during a move
//   ops/write.ts        SET, DEL, EXPIRE as versioned writes to every owner
//   ops/hold.ts         writes held until every owner the ring counts has applied them
//   ops/conditional.ts  SET NX|XX|GET|KEEPTTL, EXPIRE NX|XX|GT|LT, PERSIST: read, then write
//   ops/modify.ts       INCRBY, APPEND, GETDEL …: computed on one owner, copied to the others
//   ops/gather.ts       MGET, MSET, DEL and EXISTS of several keys
//   ops/broadcast.ts    FLUSHALL, DBSIZE: every node
//   ops/scan.ts         SCAN, KEYS, RANDOMKEY: walks of every node's keys in ring-hash order
//
// Each operation is built with its router, its arguments, a sink and the caller's context,
// then start()ed once; it reports exactly once (ops/op.ts).
import type { HybridClock } from "../clock/hlc.js";
import { hashKey } from "../ring/hash.js";
import { WriteHolds, type HoldOptions } from "./ops/hold.js";
import { WalkEstimate } from "./ops/scan.js";
import { NO_OWNERS } from "./ops/op.js";
import type { NodeClient } from "./pool.js";
import type { Topology } from "./topology.js";

/** Counters the metrics collector reads. */
export class RouterCounters {
  /** Writes retried because an owner held a newer version. */
  staleRetries = 0;
  /** Writes acknowledged although some owner failed to apply them (answered an error). */
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
  /** Writes held for an owner that did not apply them (ops/hold.ts). */
  readonly holds?: HoldOptions;
}

export class Router {
  /** The ring this master routes by, and the writes in flight under older ones. */
  readonly topology: Topology;
  readonly clock: HybridClock;
  readonly counters = new RouterCounters();
  readonly maxStaleRetries: number;
  /** Writes waiting for an owner that has not applied them (ops/hold.ts). */
  readonly holds: WriteHolds;
  /** The keys per scan bucket this master's walks saw (ops/scan.ts). */
  readonly walks = new WalkEstimate();
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

  constructor(topology: Topology, clock: HybridClock, options: RouterOptions = {}) {
    this.topology = topology;
    this.clock = clock;
    this.maxStaleRetries = options.maxStaleRetries ?? 8;
    this.holds = new WriteHolds(topology, options.holds);
  }

  /** The key's owners in ring order: first R distinct nodes clockwise among the nodes up. */
  ownersOf(key: Uint8Array): NodeClient[] {
    const t = this.topology;
    const r = t.replicas;
    if (r === 0) return NO_OWNERS;
    const ids = this.ids;
    const hash = hashKey(key);
    this.lastHash = hash;
    const n = t.ring.ownerIdsInto(hash, r, ids);
    const clients = t.clients;
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
   * During a move, for a key whose owners changed in any ring whose data is still moving: its
   * owners in those rings that are not among `owners` (possibly none: a node that returned
   * with an old copy may now be the key's first owner, and the read must ask every current
   * owner). Null when no move is in progress or the key's owners are the same in every
   * source. Every source counts, not only the oldest: a key written while one move was under
   * way and then moved again lives on the owners of the middle ring.
   */
  moveOwnersOf(key: Uint8Array, owners: readonly NodeClient[]): NodeClient[] | null {
    const t = this.topology;
    const sources = t.moveSources;
    if (sources.length === 0) return null;
    const ids = this.ids;
    const hash = hashKey(key);
    let changed = false;
    let out: NodeClient[] | null = null;
    for (const source of sources) {
      const n =
        source.size === 0
          ? 0
          : source.ownerIdsInto(hash, Math.min(t.options.replicas, source.size), ids);
      if (n !== owners.length) changed = true;
      for (let i = 0; i < n; i++) {
        const id = ids[i] as string;
        if (owners.some((c) => c.id === id)) continue;
        changed = true;
        if (out !== null && out.some((c) => c.id === id)) continue;
        const client = t.membership.get(id)?.client;
        if (client === undefined) continue;
        (out ??= []).push(client);
      }
    }
    if (!changed) return null;
    return out ?? [];
  }

  /** Clients of every node in the ring. */
  ringClients(): NodeClient[] {
    return [...this.topology.clients.values()];
  }
}

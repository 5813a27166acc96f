// The command dispatcher of an auxiliary node (docs/design.md, "Master ↔ auxiliary protocol"):
// the plain commands redis-cli needs to inspect a node (answered like Redis 7, errors byte for
// byte) and the internal RC.* commands the masters send (protocol/internal/ is their
// contract), found by id in the node's registry (registry.ts). Handlers parse, call the store
// and write the reply; nothing here touches a socket.
//
// Hot path (GET, SET, RC.PUT, RC.GET): the command name is matched without building a string,
// keys and values are passed to the store as views of the socket chunk (the store copies what
// it keeps) and replies are written into the connection's writer at once (store views are
// only valid until the store's next mutation).
//
// Versions: every write carries a hybrid-logical-clock version. Internal writes bring the
// master's; plain SET/DEL take one from this node's clock, which observes every version it
// receives, so a local write is newer than anything the node has seen. The flush floor
// (RC.FLUSH, FLUSHALL) removes everything at or below a version and refuses writes at or below
// it; it is persisted in every snapshot header.
import type { HybridClock } from "../../clock/hlc.js";
import { RingcacheError } from "../../errors.js";
import type { NodeStats, PutArgs } from "../../protocol/internal/index.js";
import { PageReader } from "../../protocol/page.js";
import { arityError } from "../../redis/errors.js";
import type { CommandRegistry } from "../../redis/registry.js";
import type { CommonContext, CommandFn } from "../../server/common-commands.js";
import type { ClientConnection, CommandDispatcher } from "../../server/resp-server.js";
import { EntryMeta, type Store, ValueRef } from "../../store/index.js";
import type { AuxiliaryMetrics } from "../metrics.js";
import { auxiliaryRegistry } from "./registry.js";
import { StoreScan } from "./scan.js";

/** An auxiliary node's command handler. */
export type AuxiliaryHandler = CommandFn<AuxiliaryCommands>;

/** What INFO and RC.STATS report about the node beyond the store. */
export interface NodeInfo {
  readonly id: string;
  readonly port: () => number;
  readonly startedAt: number;
  readonly maxClients: number;
  /** The largest bulk string this node's RESP server accepts (--max-bulk). */
  readonly maxBulk?: number;
  connections(): { open: number; total: number; rejected: number; commands: number };
  snapshot(): {
    running: boolean;
    lastSuccessAt: number;
    lastDurationMs: number;
    failures: number;
    lastFailed: boolean;
  };
  /** When the snapshot restored at start was written (0: none). */
  restoredSnapshotAt(): number;
  restoredEntries(): number;
  /** Starts a snapshot in the background; false when one is already being written. */
  startSnapshot(): boolean;
}

export interface AuxiliaryCommandsOptions {
  readonly store: Store;
  readonly clock: HybridClock;
  readonly metrics: AuxiliaryMetrics;
  readonly info: NodeInfo;
  readonly common: CommonContext;
  readonly now?: () => number;
  /** The commands this node answers; the metrics count by its ids. */
  readonly registry?: CommandRegistry<AuxiliaryHandler>;
}

export class AuxiliaryCommands implements CommandDispatcher {
  /** Applied writes since start; the snapshot timer compares it to decide "changed". */
  changes = 0;
  /** Versions <= this are gone and refused (RC.FLUSH / FLUSHALL). */
  flushFloor = 0;
  /** Set by the node when a snapshot starts, for rdb_changes_since_last_save. */
  changesAtLastSnapshot = 0;
  /**
   * The highest leader's term a move step carried (or etcd announced): steps of older terms are
   * refused (docs/design.md, "Coordination through etcd"). 0: none seen.
   */
  term = 0;
  /** Move steps refused for an older term. */
  fenced = 0;
  readonly store: Store;
  readonly clock: HybridClock;
  readonly info: NodeInfo;
  readonly common: CommonContext;
  readonly now: () => number;
  readonly registry: CommandRegistry<AuxiliaryHandler>;
  private readonly metrics: AuxiliaryMetrics;
  private readonly handlers: readonly AuxiliaryHandler[];
  // Scratch state the handlers reuse, so the hot path allocates nothing.
  readonly meta = new EntryMeta();
  readonly ref = new ValueRef();
  readonly put: PutArgs = {
    key: Buffer.alloc(0),
    value: Buffer.alloc(0),
    version: 0,
    expiresAt: 0,
  };
  readonly scan: StoreScan;
  /** Reads RC.PUTPAGE's and RC.CDELPAGE's pages. */
  readonly pageIn = new PageReader();

  constructor(options: AuxiliaryCommandsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.metrics = options.metrics;
    this.info = options.info;
    this.common = options.common;
    this.now = options.now ?? Date.now;
    this.registry = options.registry ?? auxiliaryRegistry();
    this.handlers = this.registry.handlers;
    this.scan = new StoreScan(this.store);
  }

  dispatch(conn: ClientConnection, args: Buffer[]): void {
    const id = this.registry.lookup(args[0] as Buffer);
    try {
      if (!this.registry.arityOk(id, args.length)) {
        throw arityError(this.registry.names[id] as string);
      }
      (this.handlers[id] as AuxiliaryHandler)(this, conn, args, id);
      this.metrics.ok[id] = this.metrics.ok[id]! + 1;
    } catch (err) {
      this.metrics.errors[id] = this.metrics.errors[id]! + 1;
      throw err;
    }
  }

  afterBatch(commands: number, ms: number): void {
    if (commands > 0) this.metrics.latency.observe(ms / 1000 / commands, commands);
  }

  /**
   * Admits a move step of leader's term `term`: a newer term is remembered, an older one is
   * refused (FENCED) so that a leader whose tenure is over changes nothing. Term 0 (built-in
   * coordination, which has no cluster-wide term) is never refused.
   */
  fence(term: number): void {
    if (term === 0) return;
    if (term < this.term) {
      this.fenced++;
      throw new RingcacheError(
        "FENCED",
        `move step of term ${term} but term ${this.term} has begun`,
      );
    }
    this.term = term;
  }

  /** A newer leader's term learnt outside a move step (from etcd): older steps are refused. */
  raiseTerm(term: number): void {
    if (term > this.term) this.term = term;
  }

  /** The version held (entry, tombstone or the flush floor) if it blocks `version`, else -1. */
  blocking(key: Buffer, version: number): number {
    const held = Math.max(this.store.currentVersion(key), this.flushFloor);
    return held >= version ? held : -1;
  }

  /** RC.STATS's body. */
  stats(): NodeStats & { maxEntries: number; flushFloor: number; term: number; fenced: number } {
    const s = this.store.stats;
    return {
      id: this.info.id,
      entries: s.entries,
      bytes: s.bytes,
      maxBytes: this.store.maxBytes,
      maxEntries: Number.isFinite(this.store.maxEntries) ? this.store.maxEntries : 0,
      term: this.term,
      fenced: this.fenced,
      tombstones: s.tombstones,
      hits: s.hits,
      misses: s.misses,
      evictions: s.evictions,
      expirations: s.expirations,
      lastSnapshotAt: this.info.snapshot().lastSuccessAt,
      startedAt: this.info.startedAt,
      restoredSnapshotAt: this.info.restoredSnapshotAt(),
      flushFloor: this.flushFloor,
      maxBulk: this.info.maxBulk ?? 0,
    };
  }

  /**
   * Raises the flush floor to `version` and drops everything at or below it. Entries and
   * tombstones newer than the floor (written concurrently by a master whose clock is ahead)
   * survive: they are copied out, the store is emptied at once, and they are put back.
   */
  flush(version: number): void {
    this.clock.observe(version);
    if (version <= this.flushFloor) return;
    this.flushFloor = version;
    const keep: {
      key: Buffer;
      value: Buffer;
      version: number;
      expiresAt: number;
      tomb: boolean;
    }[] = [];
    let cursor = 0;
    do {
      cursor = this.store.scan(cursor, 65536, (key, value, v, expiresAt, tomb) => {
        if (v > version) {
          keep.push({
            key: Buffer.from(key),
            value: Buffer.from(value),
            version: v,
            expiresAt,
            tomb,
          });
        }
      });
    } while (cursor !== 0);
    this.store.flushAll();
    for (const e of keep) {
      if (e.tomb) this.store.delete(e.key, e.version);
      else this.store.set(e.key, e.value, e.version, e.expiresAt);
    }
    this.changes++;
  }

  /** Raises the floor without touching entries (restore: the snapshot's entries are filtered). */
  raiseFloor(version: number): void {
    if (version > this.flushFloor) this.flushFloor = version;
    this.clock.observe(version);
  }
}

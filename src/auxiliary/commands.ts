// The command dispatcher of an auxiliary node: the plain commands redis-cli needs to inspect
// a node (answered like Redis 7, errors byte for byte) and the internal RC.* commands the
// masters send (protocol/internal.ts is their contract). Handlers parse, call the store and
// write the reply; nothing here touches a socket.
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
import { RingcacheError } from "../errors.js";
import type { HybridClock } from "../clock/hlc.js";
import {
  parseExpire,
  parseFlush,
  parseGet,
  parseIncrBy,
  parseKeyVersion,
  parseMPutCount,
  parseMPutEntry,
  parsePut,
  parseMCDelCount,
  parseMCDelEntry,
  parsePageArg,
  SCAN_PAGE_BYTES,
  ScanParser,
  writeGetReply,
  writeGetReplySlice,
  type NodeStats,
  type PutArgs,
  type RangeSet,
} from "../protocol/internal/index.js";
import { checkPage, PageReader, PageWriter } from "../protocol/page.js";
import { RespWriter } from "../protocol/resp/index.js";
import { hashKeyAt } from "../ring/hash.js";
import {
  arityError,
  handleCommonCommand,
  unknownCommand,
  type CommonContext,
} from "../server/common-commands.js";
import type { ClientConnection, CommandDispatcher } from "../server/resp-server.js";
import { EntryMeta, type ScanVisitor, type Store, ValueRef } from "../store/index.js";
import type { AuxiliaryMetrics } from "./metrics.js";

/** Store slots RC.SCAN and RC.SCANPAGE visit between two checks (of a page's size). */
const SCAN_STEP = 64;

/** Command names by id; the id indexes the metrics' counters. 0 is any unknown command. */
export const COMMAND_NAMES = [
  "unknown",
  "ping",
  "echo",
  "auth",
  "hello",
  "quit",
  "reset",
  "select",
  "client",
  "command",
  "get",
  "set",
  "del",
  "exists",
  "ttl",
  "pttl",
  "dbsize",
  "info",
  "flushall",
  "rc.put",
  "rc.mput",
  "rc.get",
  "rc.del",
  "rc.cdel",
  "rc.expire",
  "rc.incrby",
  "rc.scan",
  "rc.stats",
  "rc.flush",
  "bgsave",
  "lastsave",
  "rc.mcdel",
  "rc.scanpage",
  "rc.putpage",
  "rc.cdelpage",
] as const;

const C_UNKNOWN = 0;
const C_COMMON_LAST = 9; // ping .. command: connection-level (common-commands.ts)
const C_GET = 10;
const C_SET = 11;
const C_DEL = 12;
const C_EXISTS = 13;
const C_TTL = 14;
const C_PTTL = 15;
const C_DBSIZE = 16;
const C_INFO = 17;
const C_FLUSHALL = 18;
const C_RC_PUT = 19;
const C_RC_MPUT = 20;
const C_RC_GET = 21;
const C_RC_DEL = 22;
const C_RC_CDEL = 23;
const C_RC_EXPIRE = 24;
const C_RC_INCRBY = 25;
const C_RC_SCAN = 26;
const C_RC_STATS = 27;
const C_RC_FLUSH = 28;
const C_BGSAVE = 29;
const C_LASTSAVE = 30;
const C_RC_MCDEL = 31;
const C_RC_SCANPAGE = 32;
const C_RC_PUTPAGE = 33;
const C_RC_CDELPAGE = 34;

// Command lookup without strings: names of up to 6 bytes become a number (lower-cased bytes,
// little-endian, exact below 2^48); longer ones fall back to a lower-cased string.
const SHORT_NAMES = new Map<number, number>();
const LONG_NAMES = new Map<string, number>();
for (let id = 1; id < COMMAND_NAMES.length; id++) {
  const name = COMMAND_NAMES[id] as string;
  if (name.length <= 6) SHORT_NAMES.set(shortCode(Buffer.from(name, "latin1")), id);
  else LONG_NAMES.set(name, id);
}

function shortCode(name: Uint8Array): number {
  let code = 0;
  for (let i = name.length - 1; i >= 0; i--) {
    let b = name[i] as number;
    if (b >= 65 && b <= 90) b += 32;
    code = code * 256 + b;
  }
  // Distinguish lengths: "get" and "get\0" must not collide.
  return code * 8 + name.length;
}

/** The command id of a name (case-insensitive), or C_UNKNOWN. */
export function commandId(name: Buffer): number {
  if (name.length === 0) return C_UNKNOWN;
  if (name.length <= 6) return SHORT_NAMES.get(shortCode(name)) ?? C_UNKNOWN;
  if (name.length > 12) return C_UNKNOWN;
  return LONG_NAMES.get(name.toString("latin1").toLowerCase()) ?? C_UNKNOWN;
}

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
}

const OK = "OK";
const NOT_INTEGER = "value is not an integer or out of range";
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Redis's string2ll: an optional '-', no leading zeros, no '+', no spaces, int64 range. */
export function parseRedisInteger(b: Uint8Array): bigint | undefined {
  const n = b.length;
  if (n === 0 || n > 20) return undefined;
  let i = 0;
  const negative = b[0] === 45;
  if (negative) {
    i = 1;
    if (n === 1) return undefined;
  }
  if (b[i] === 48) {
    return n === 1 ? 0n : undefined;
  }
  let small = 0;
  for (let j = i; j < n; j++) {
    const d = (b[j] as number) - 48;
    if (d < 0 || d > 9) return undefined;
    small = small * 10 + d;
  }
  if (small <= Number.MAX_SAFE_INTEGER) return BigInt(negative ? -small : small);
  const value = BigInt(Buffer.from(b.buffer, b.byteOffset, n).toString("latin1"));
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

function humanBytes(n: number): string {
  // Redis's bytesToHuman: B, K, M, G with two decimals.
  if (n < 1024) return `${n}B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(2)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(2)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}

const INFO_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "keyspace"] as const;
type InfoSection = (typeof INFO_SECTIONS)[number];

export class AuxiliaryCommands implements CommandDispatcher {
  /** Applied writes since start; the snapshot timer compares it to decide "changed". */
  changes = 0;
  /** Versions <= this are gone and refused (RC.FLUSH / FLUSHALL). */
  flushFloor = 0;
  private readonly store: Store;
  private readonly clock: HybridClock;
  private readonly metrics: AuxiliaryMetrics;
  private readonly info: NodeInfo;
  private readonly common: CommonContext;
  private readonly now: () => number;
  private readonly meta = new EntryMeta();
  private readonly ref = new ValueRef();
  private readonly put: PutArgs = {
    key: Buffer.alloc(0),
    value: Buffer.alloc(0),
    version: 0,
    expiresAt: 0,
  };
  /** Encodes RC.SCAN's entries before their count is known. */
  private readonly scanOut = new RespWriter();
  private scanRanges: RangeSet | undefined = undefined;
  private readonly scanParser = new ScanParser();
  /** Keeps the keys of the scan's ranges; hashes them where they lie, with no view made. */
  private readonly scanFilter = (bytes: Uint8Array, offset: number, length: number): boolean =>
    (this.scanRanges as RangeSet).has(hashKeyAt(bytes, offset, length));
  private scanCount = 0;
  /** The page RC.SCANPAGE builds, and a reader for RC.PUTPAGE's and RC.CDELPAGE's. */
  private readonly pageOut = new PageWriter();
  private readonly pageIn = new PageReader();

  constructor(options: AuxiliaryCommandsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.metrics = options.metrics;
    this.info = options.info;
    this.common = options.common;
    this.now = options.now ?? Date.now;
  }

  dispatch(conn: ClientConnection, args: Buffer[]): void {
    const id = commandId(args[0] as Buffer);
    try {
      this.run(id, conn, args);
      this.metrics.ok[id] = this.metrics.ok[id]! + 1;
    } catch (err) {
      this.metrics.errors[id] = this.metrics.errors[id]! + 1;
      throw err;
    }
  }

  afterBatch(commands: number, ms: number): void {
    if (commands > 0) this.metrics.latency.observe(ms / 1000 / commands, commands);
  }

  private run(id: number, conn: ClientConnection, args: Buffer[]): void {
    const out = conn.out;
    switch (id) {
      case C_GET: {
        if (args.length !== 2) throw arityError("get");
        const ref = this.ref;
        if (this.store.getRef(args[1] as Buffer, ref))
          out.bulkSlice(ref.buffer, ref.offset, ref.length);
        else out.nullBulk();
        return;
      }
      case C_SET:
        if (args.length === 3) {
          this.store.set(args[1] as Buffer, args[2] as Buffer, this.clock.next(), 0);
          this.changes++;
          out.simple(OK);
        } else {
          this.set(out, args);
        }
        return;
      case C_RC_PUT:
        this.rcPut(out, parsePut(args, this.put));
        return;
      case C_RC_GET:
        this.rcGet(out, parseGet(args));
        return;
      case C_RC_MPUT:
        this.rcMPut(out, args);
        return;
      case C_DEL:
        this.del(out, args);
        return;
      case C_EXISTS: {
        if (args.length < 2) throw arityError("exists");
        let n = 0;
        for (let i = 1; i < args.length; i++) if (this.store.has(args[i] as Buffer)) n++;
        out.integer(n);
        return;
      }
      case C_TTL:
      case C_PTTL:
        this.ttl(out, args, id === C_TTL);
        return;
      case C_DBSIZE:
        if (args.length !== 1) throw arityError("dbsize");
        out.integer(this.store.stats.entries);
        return;
      case C_INFO:
        this.infoCommand(out, args);
        return;
      case C_FLUSHALL: {
        if (args.length > 2) throw new RingcacheError("BAD_REQUEST", "syntax error");
        if (args.length === 2) {
          const mode = (args[1] as Buffer).toString("latin1").toLowerCase();
          if (mode !== "async" && mode !== "sync") {
            throw new RingcacheError("BAD_REQUEST", "syntax error");
          }
        }
        this.flush(this.clock.next());
        out.simple(OK);
        return;
      }
      case C_RC_DEL:
        this.rcDel(out, args);
        return;
      case C_RC_CDEL: {
        const { key, version } = parseKeyVersion(args, "rc.cdel");
        const removed = this.store.deleteIfVersion(key, version);
        if (removed) this.changes++;
        out.integer(removed ? 1 : 0);
        return;
      }
      case C_RC_MCDEL: {
        const n = parseMCDelCount(args);
        // Every version is checked before anything is removed: a bad entry changes nothing.
        const entries = Array.from({ length: n }, (_, i) => parseMCDelEntry(args, i));
        let removed = 0;
        for (const { key, version } of entries) {
          if (this.store.deleteIfVersion(key, version)) removed++;
        }
        this.changes += removed;
        out.integer(removed);
        return;
      }
      case C_RC_EXPIRE:
        this.rcExpire(out, args);
        return;
      case C_RC_INCRBY:
        this.rcIncrBy(out, args);
        return;
      case C_RC_SCAN:
        this.rcScan(out, args);
        return;
      case C_RC_SCANPAGE:
        this.rcScanPage(out, args);
        return;
      case C_RC_PUTPAGE:
        this.rcPutPage(out, parsePageArg(args, "rc.putpage"));
        return;
      case C_RC_CDELPAGE:
        this.rcCDelPage(out, parsePageArg(args, "rc.cdelpage"));
        return;
      case C_RC_STATS:
        if (args.length !== 1) throw arityError("rc.stats");
        out.bulkString(JSON.stringify(this.stats()));
        return;
      case C_RC_FLUSH:
        this.flush(parseFlush(args));
        out.integer(1);
        return;
      case C_BGSAVE:
        if (args.length > 2) throw new RingcacheError("BAD_REQUEST", "syntax error");
        if (!this.info.startSnapshot()) {
          throw new RingcacheError("BAD_REQUEST", "Background save already in progress");
        }
        out.simple("Background saving started");
        return;
      case C_LASTSAVE:
        if (args.length !== 1) throw arityError("lastsave");
        out.integer(Math.floor(this.info.snapshot().lastSuccessAt / 1000));
        return;
      case C_UNKNOWN:
        throw unknownCommand(args);
      default:
        if (id <= C_COMMON_LAST) {
          handleCommonCommand(conn, this.common, COMMAND_NAMES[id] as string, args);
          return;
        }
        throw unknownCommand(args);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Plain commands

  /** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL], as Redis 7 parses it. */
  private set(out: RespWriter, args: Buffer[]): void {
    if (args.length < 3) throw arityError("set");
    let nx = false;
    let xx = false;
    let get = false;
    let keepTtl = false;
    let unit = ""; // "ex" | "px" | "exat" | "pxat"
    let amount: Buffer | undefined;
    for (let i = 3; i < args.length; i++) {
      const opt = (args[i] as Buffer).toString("latin1").toLowerCase();
      const hasNext = i + 1 < args.length;
      if (opt === "nx" && !xx) nx = true;
      else if (opt === "xx" && !nx) xx = true;
      else if (opt === "get") get = true;
      else if (opt === "keepttl" && unit === "") keepTtl = true;
      else if (
        (opt === "ex" || opt === "px" || opt === "exat" || opt === "pxat") &&
        unit === "" &&
        !keepTtl &&
        hasNext
      ) {
        unit = opt;
        amount = args[++i];
      } else {
        throw new RingcacheError("BAD_REQUEST", "syntax error");
      }
    }
    const key = args[1] as Buffer;
    const now = this.now();
    let expiresAt = 0;
    if (amount !== undefined) expiresAt = setExpiry(unit, amount, now);
    const live = this.store.meta(key, this.meta) && !this.meta.isTombstone;
    if (keepTtl && live) expiresAt = this.meta.expiresAt;
    // GET's old value must be copied before the write replaces it (store views die then).
    let old: Buffer | null = null;
    if (get && live) {
      const view = this.store.peek(key);
      old = view === undefined ? null : Buffer.from(view);
    }
    if ((nx && live) || (xx && !live)) {
      if (get) out.bulk(old);
      else out.nullBulk();
      return;
    }
    const version = this.clock.next();
    if (expiresAt !== 0 && expiresAt <= now) this.store.delete(key, version);
    else this.store.set(key, args[2] as Buffer, version, expiresAt);
    this.changes++;
    if (get) out.bulk(old);
    else out.simple(OK);
  }

  private del(out: RespWriter, args: Buffer[]): void {
    if (args.length < 2) throw arityError("del");
    let removed = 0;
    for (let i = 1; i < args.length; i++) {
      if (this.store.delete(args[i] as Buffer, this.clock.next())) removed++;
    }
    this.changes++;
    out.integer(removed);
  }

  private ttl(out: RespWriter, args: Buffer[], seconds: boolean): void {
    if (args.length !== 2) throw arityError(seconds ? "ttl" : "pttl");
    const meta = this.meta;
    if (!this.store.meta(args[1] as Buffer, meta) || meta.isTombstone) {
      out.integer(-2);
      return;
    }
    if (meta.expiresAt === 0) {
      out.integer(-1);
      return;
    }
    const ms = Math.max(0, meta.expiresAt - this.now());
    out.integer(seconds ? Math.floor((ms + 500) / 1000) : ms);
  }

  private infoCommand(out: RespWriter, args: Buffer[]): void {
    let wanted: Set<InfoSection>;
    if (args.length === 1) wanted = new Set(INFO_SECTIONS);
    else {
      wanted = new Set();
      for (let i = 1; i < args.length; i++) {
        const name = (args[i] as Buffer).toString("latin1").toLowerCase();
        if (name === "all" || name === "default" || name === "everything") {
          for (const s of INFO_SECTIONS) wanted.add(s);
        } else if ((INFO_SECTIONS as readonly string[]).includes(name)) {
          wanted.add(name as InfoSection);
        }
      }
    }
    const parts: string[] = [];
    for (const section of INFO_SECTIONS) {
      if (wanted.has(section)) parts.push(this.infoSection(section));
    }
    out.bulkString(parts.join("\r\n"));
  }

  private infoSection(section: InfoSection): string {
    const lines: string[] = [];
    const stats = this.store.stats;
    const conns = this.info.connections();
    const now = this.now();
    switch (section) {
      case "server": {
        const uptime = Math.floor((now - this.info.startedAt) / 1000);
        lines.push(
          "# Server",
          `redis_version:${this.common.version}`,
          "ringcache_version:0.1.0",
          "ringcache_role:auxiliary",
          `ringcache_node_id:${this.info.id}`,
          "redis_mode:standalone",
          `os:${process.platform} ${process.arch}`,
          "arch_bits:64",
          `process_id:${process.pid}`,
          `tcp_port:${this.info.port()}`,
          `uptime_in_seconds:${uptime}`,
          `uptime_in_days:${Math.floor(uptime / 86400)}`,
          `node_version:${process.versions.node}`,
        );
        break;
      }
      case "clients":
        lines.push(
          "# Clients",
          `connected_clients:${conns.open}`,
          `maxclients:${this.info.maxClients}`,
        );
        break;
      case "memory": {
        const rss = process.memoryUsage.rss();
        const max = this.store.maxBytes;
        lines.push(
          "# Memory",
          `used_memory:${stats.bytes}`,
          `used_memory_human:${humanBytes(stats.bytes)}`,
          `used_memory_rss:${rss}`,
          `used_memory_rss_human:${humanBytes(rss)}`,
          `used_memory_dataset:${stats.bytes}`,
          `ringcache_store_allocated:${this.store.memoryBytes()}`,
          `ringcache_tombstone_memory:${stats.tombstoneBytes}`,
          `maxmemory:${max}`,
          `maxmemory_human:${humanBytes(max)}`,
          `maxmemory_policy:${this.store.eviction === "lru" ? "allkeys-lru" : "noeviction"}`,
        );
        break;
      }
      case "persistence": {
        const snap = this.info.snapshot();
        lines.push(
          "# Persistence",
          "loading:0",
          `rdb_changes_since_last_save:${this.changes - this.changesAtLastSnapshot}`,
          `rdb_bgsave_in_progress:${snap.running ? 1 : 0}`,
          `rdb_last_save_time:${Math.floor(snap.lastSuccessAt / 1000)}`,
          `rdb_last_bgsave_status:${snap.lastFailed ? "err" : "ok"}`,
          `rdb_last_bgsave_time_sec:${snap.lastSuccessAt === 0 ? -1 : Math.round(snap.lastDurationMs / 1000)}`,
          `ringcache_snapshot_duration_ms:${Math.round(snap.lastDurationMs)}`,
          `ringcache_snapshot_failures:${snap.failures}`,
          `ringcache_restored_snapshot_time:${Math.floor(this.info.restoredSnapshotAt() / 1000)}`,
          `ringcache_restored_keys:${this.info.restoredEntries()}`,
          `ringcache_flush_floor:${this.flushFloor}`,
        );
        break;
      }
      case "stats":
        lines.push(
          "# Stats",
          `total_connections_received:${conns.total}`,
          `total_commands_processed:${conns.commands}`,
          `rejected_connections:${conns.rejected}`,
          `expired_keys:${stats.expirations}`,
          `evicted_keys:${stats.evictions}`,
          `keyspace_hits:${stats.hits}`,
          `keyspace_misses:${stats.misses}`,
          `ringcache_tombstones:${stats.tombstones}`,
        );
        break;
      case "keyspace":
        lines.push("# Keyspace");
        if (stats.entries > 0) {
          lines.push(`db0:keys=${stats.entries},expires=${this.countExpiring()},avg_ttl=0`);
        }
        break;
    }
    return lines.join("\r\n") + "\r\n";
  }

  /** Live entries with an expiry. O(n): only INFO asks, as redis-cli does by hand. */
  private countExpiring(): number {
    let n = 0;
    let cursor = 0;
    do {
      cursor = this.store.scan(cursor, 65536, (_k, _v, _version, expiresAt, tombstone) => {
        if (!tombstone && expiresAt !== 0) n++;
      });
    } while (cursor !== 0);
    return n;
  }

  /** Set by the node when a snapshot starts, for rdb_changes_since_last_save. */
  changesAtLastSnapshot = 0;

  // -------------------------------------------------------------------------------------------
  // Internal commands

  /** The version held (entry, tombstone or the flush floor) if it blocks `version`, else -1. */
  private blocking(key: Buffer, version: number): number {
    const held = Math.max(this.store.currentVersion(key), this.flushFloor);
    return held >= version ? held : -1;
  }

  private rcPut(out: RespWriter, put: PutArgs): void {
    this.clock.observe(put.version);
    if (put.version <= this.flushFloor) {
      out.integer(-this.blocking(put.key, put.version));
      return;
    }
    if (this.store.putIfNewer(put.key, put.value, put.version, put.expiresAt)) {
      this.changes++;
      out.integer(1);
    } else {
      out.integer(-this.store.currentVersion(put.key));
    }
  }

  private rcMPut(out: RespWriter, args: Buffer[]): void {
    const n = parseMPutCount(args);
    out.arrayHeader(n);
    for (let i = 0; i < n; i++) {
      try {
        this.rcPut(out, parseMPutEntry(args, i, this.put));
      } catch (err) {
        if (!(err instanceof RingcacheError)) throw err;
        out.error(err.respLine);
      }
    }
  }

  private rcGet(out: RespWriter, key: Buffer): void {
    const ref = this.ref;
    const meta = this.meta;
    if (this.store.getRef(key, ref)) {
      writeGetReplySlice(
        out,
        ref.buffer,
        ref.offset,
        ref.length,
        ref.version,
        ref.expiresAt === 0 ? -1 : Math.max(0, ref.expiresAt - this.now()),
      );
    } else if (this.store.meta(key, meta) && meta.isTombstone) {
      writeGetReply(out, null, meta.version, -2);
    } else {
      out.nullArray();
    }
  }

  private rcDel(out: RespWriter, args: Buffer[]): void {
    const { key, version } = parseKeyVersion(args, "rc.del");
    this.clock.observe(version);
    const held = this.blocking(key, version);
    if (held >= 0) {
      out.integer(-held);
      return;
    }
    const removed = this.store.delete(key, version);
    this.changes++;
    out.integer(removed ? 1 : 0);
  }

  private rcExpire(out: RespWriter, args: Buffer[]): void {
    const { key, expiresAt, version } = parseExpire(args);
    this.clock.observe(version);
    const held = this.blocking(key, version);
    if (held >= 0) {
      out.integer(-held);
      return;
    }
    const applied = this.store.setExpiry(
      key,
      Math.min(expiresAt, Number.MAX_SAFE_INTEGER),
      version,
    );
    if (applied) this.changes++;
    out.integer(applied ? 1 : 0);
  }

  private rcIncrBy(out: RespWriter, args: Buffer[]): void {
    const { key, delta, version } = parseIncrBy(args);
    this.clock.observe(version);
    const held = this.blocking(key, version);
    if (held >= 0) throw new RingcacheError("STALE_VERSION", String(held));
    const current = this.store.get(key);
    let value = 0n;
    let expiresAt = 0;
    if (current !== undefined) {
      const parsed = parseRedisInteger(current);
      if (parsed === undefined) throw new RingcacheError("NOT_INTEGER", NOT_INTEGER);
      value = parsed;
      this.store.meta(key, this.meta);
      expiresAt = this.meta.expiresAt;
    }
    const next = value + delta;
    if (next < INT64_MIN || next > INT64_MAX) {
      throw new RingcacheError("BAD_REQUEST", "increment or decrement would overflow");
    }
    const bytes = Buffer.from(next.toString(), "latin1");
    this.store.set(key, bytes, version, expiresAt);
    this.changes++;
    out.arrayHeader(2);
    out.bulk(bytes);
    out.integer(expiresAt);
  }

  /** Writes one scanned entry (the store has already applied the ranges) into scanOut. */
  private readonly scanVisitor = (
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void => {
    const w = this.scanOut;
    w.bulk(key);
    w.bulk(value);
    w.integer(version);
    w.integer(expiresAt);
    w.integer(tombstone ? 1 : 0);
    this.scanCount++;
  };

  private rcScan(out: RespWriter, args: Buffer[]): void {
    this.scanOut.take(); // what a failed scan left
    this.scanCount = 0;
    const next = this.scanSlots(args, this.scanVisitor, () => false);
    out.arrayHeader(2);
    out.integer(next);
    out.arrayHeader(this.scanCount * 5);
    out.raw(this.scanOut.take());
  }

  /**
   * RC.SCAN's and RC.SCANPAGE's walk: parses the arguments, then visits the store's slots from
   * the cursor, SCAN_STEP at a time, until `count` were visited, the store ends, or `full()`.
   * Returns the cursor to go on from (0 at the end).
   */
  private scanSlots(args: Buffer[], visitor: ScanVisitor, full: () => boolean): number {
    const { cursor, count, ranges } = this.scanParser.parse(args);
    if (cursor === 1) throw new RingcacheError("BAD_REQUEST", "invalid cursor");
    this.scanRanges = ranges;
    const filter = ranges === undefined ? undefined : this.scanFilter;
    let next = cursor;
    try {
      let left = count;
      do {
        const step = Math.min(left, SCAN_STEP);
        next = this.store.scan(next, step, visitor, filter);
        left -= step;
      } while (next !== 0 && left > 0 && !full());
    } catch (err) {
      if (err instanceof RangeError) throw new RingcacheError("BAD_REQUEST", "invalid cursor");
      throw err;
    } finally {
      this.scanRanges = undefined;
    }
    return next;
  }

  /** Writes one scanned entry into the page RC.SCANPAGE is building. */
  private readonly pageVisitor = (
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void => {
    this.pageOut.add(key, value, version, expiresAt, tombstone);
  };

  /**
   * RC.SCANPAGE: RC.SCAN's entries as one page, which also ends early once it holds about
   * SCAN_PAGE_BYTES (the slots are visited in steps, so a page of large values stays bounded).
   */
  private rcScanPage(out: RespWriter, args: Buffer[]): void {
    const page = this.pageOut;
    page.reset();
    const next = this.scanSlots(args, this.pageVisitor, this.pageFull);
    out.arrayHeader(2);
    out.integer(next);
    out.bulk(page.view());
    page.reset();
  }

  private readonly pageFull = (): boolean => this.pageOut.length >= SCAN_PAGE_BYTES;

  /**
   * RC.PUTPAGE: every entry as RC.PUT (a tombstone as RC.DEL) would apply it, after the whole
   * page was checked. Replies the number applied; entries refused because the node holds a
   * newer version are not errors. An entry the store cannot take (too large for it) makes the
   * reply an error, after the others were applied, so the sender keeps its copy.
   */
  private rcPutPage(out: RespWriter, page: Buffer): void {
    checkPage(page);
    const r = this.pageIn.reset(page);
    const floor = this.flushFloor;
    let applied = 0;
    let failed = 0;
    let first: RingcacheError | undefined;
    while (r.next()) {
      const version = r.version;
      this.clock.observe(version);
      if (version <= floor) continue;
      const key = r.key();
      try {
        if (r.tombstone) {
          if (this.store.currentVersion(key) >= version) continue;
          this.store.delete(key, version);
        } else if (!this.store.putIfNewer(key, r.value(), version, r.expiresAt)) {
          continue;
        }
        applied++;
      } catch (err) {
        if (!(err instanceof RingcacheError)) throw err;
        if (failed++ === 0) first = err;
      }
    }
    this.changes += applied;
    if (first !== undefined) {
      throw new RingcacheError(
        first.code,
        `${failed} entries of the page could not be stored (first: ${first.message})`,
      );
    }
    out.integer(applied);
  }

  /** RC.CDELPAGE: RC.CDEL of each entry's key and version, after the whole page was checked. */
  private rcCDelPage(out: RespWriter, page: Buffer): void {
    checkPage(page);
    const r = this.pageIn.reset(page);
    let removed = 0;
    while (r.next()) {
      if (this.store.deleteIfVersion(r.key(), r.version)) removed++;
    }
    this.changes += removed;
    out.integer(removed);
  }

  /** RC.STATS's body. */
  stats(): NodeStats & { maxEntries: number; flushFloor: number } {
    const s = this.store.stats;
    return {
      id: this.info.id,
      entries: s.entries,
      bytes: s.bytes,
      maxBytes: this.store.maxBytes,
      maxEntries: Number.isFinite(this.store.maxEntries) ? this.store.maxEntries : 0,
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

/** SET's expiry option to an absolute Unix ms, with Redis's checks and messages. */
function setExpiry(unit: string, amount: Buffer, now: number): number {
  const parsed = parseRedisInteger(amount);
  if (parsed === undefined) throw new RingcacheError("NOT_INTEGER", NOT_INTEGER);
  const invalid = (): RingcacheError =>
    new RingcacheError("BAD_REQUEST", "invalid expire time in 'set' command");
  if (parsed <= 0n) throw invalid();
  const seconds = unit === "ex" || unit === "exat";
  if (seconds && parsed > INT64_MAX / 1000n) throw invalid();
  let ms = seconds ? parsed * 1000n : parsed;
  if (unit === "ex" || unit === "px") {
    if (ms > INT64_MAX - BigInt(now)) throw invalid();
    ms += BigInt(now);
  }
  // Beyond 2^53 ms (285,000 years) the store cannot tell expiries apart: same as "far".
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}

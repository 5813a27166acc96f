// The store: an LRU of binary keys and values with versions, expiries and tombstones.
//
// Nothing on the hot path is a JS object per entry. An entry is a *slot*: a 48-byte record in
// one ArrayBuffer, read through a Float64Array and a Uint32Array view of the same memory, so a
// lookup touches one or two cache lines instead of one per field:
//
//   f64 [0]  version      f64 [1]  expiresAt (ms since epoch, 0 = never; a tombstone's death)
//   u32 [4]  next         u32 [5]  prev          (LRU list, or the tombstone list)
//   u32 [6]  hash         u32 [7]  chunk address (see slab.ts)
//   u32 [8]  state << 24 | key length            u32 [9]  value length
//   u32 [10] bucket next  u32 [11] bucket prev   (the scan index, below)
//
// Slots 0 and 1 are the sentinels of two circular lists, so linking never tests for ends:
//
//   LRU:        [0] <-> least recent <-> ... <-> most recent <-> [0]
//   tombstones: [1] <-> oldest       <-> ... <-> newest      <-> [1]
//
// The hash table is open addressing with linear probing over a Uint32Array and backward-shift
// deletion, so it never holds deleted markers. A bucket is two words: the slot index (< 2^26)
// with 5 bits of the key's hash above it as a tag, and a copy of the slot's chunk address. The
// tag rejects most probes of other keys without reading anything else, and the address lets a
// lookup load the chunk (to compare the key) and the slot record at the same time instead of
// one after the other: at a million entries these are cache misses, and overlapping them is
// what makes a lookup fast. An empty bucket is 0 (slot 0 is a sentinel). Hashes are 30 bits.
// Growing the table rehashes bucket positions only: slots never move, which is what lets a scan
// cursor be a slot index (see scan). Free slots are chained through their `next` word. Key and
// value bytes live in slab chunks the store owns (slab.ts).
//
// The scan index: every slot in the table (live or tombstone) is on the chain of its *scan
// bucket*, the top 16 bits of the key's ring hash (hashKey in ring/hash.ts, the hash that
// places keys). A master's SCAN walks the cluster in that order, so each node answers a bucket
// whole by walking one chain (scanBucket) instead of its whole store:
//
//   heads[b] ─► slot ◄─► slot ◄─► slot ─► 0        b = hashKey(key) >>> 16
//
// A chain is doubly linked so a removal is O(1); the first slot's prev word is HEAD_LINK | b.
// Cost: 8 bytes per slot, 256 KiB of heads, and one ring hash per new key.
//
// Memory: `stats.bytes` charges each entry its chunk's share of a slab page plus
// ENTRY_OVERHEAD, and stays within maxBytes (tombstones likewise within maxTombstoneBytes). The
// slab keeps its pages within those two budgets plus a few pages per size class (slab.ts), so
// memoryBytes() tracks what the store really holds.
//
// Versions: a write applies only if newer than the version held for the key, live or not. An
// expired or evicted entry becomes a tombstone in place (its version keeps blocking older
// writes); a delete leaves one too, even for an absent key. Tombstones are bounded by count,
// bytes and age, and the oldest go first. See docs/design.md, "Versions" and "Tombstones".

import { RingcacheError } from "../errors.js";
import { hashKey as ringHash } from "../ring/hash.js";
import { packWords, xxhash32Words } from "./hash.js";
import { CHUNK_HEADER, OFFSET_BITS, OFFSET_MASK, Slab } from "./slab.js";

/**
 * Bytes charged per entry (and per tombstone) on top of its chunk: the 48-byte slot record and
 * the slot's share of the hash table (8 bytes per bucket at a load of 0.35-0.7: 11-23 bytes),
 * plus part of the headroom that growing the slot array by 1.5x leaves.
 */
export const ENTRY_OVERHEAD = 80;

/** Scan buckets: a key's bucket is the top SCAN_BUCKET_BITS of its ring hash. */
export const SCAN_BUCKET_BITS = 16;
export const SCAN_BUCKETS = 1 << SCAN_BUCKET_BITS;

/** Longest key, in bytes (its length shares a word with the slot state). */
export const MAX_KEY_LENGTH = 0xffffff;

/** Options of a Store; every field is optional and validated once by the constructor. */
export interface StoreOptions {
  /** Most live entries (tombstones not counted). Default: unbounded (2^26 slots). */
  maxEntries?: number;
  /** Most bytes charged to live entries (see Store.entryBytes). Default 256 MiB. */
  maxBytes?: number;
  /** `lru` evicts the least recently used entries; `noeviction` refuses the write. */
  eviction?: "lru" | "noeviction";
  /** How long a tombstone blocks older writes, in ms. Default 1 hour. */
  tombstoneTtlMs?: number;
  /** Most tombstones kept; the oldest are dropped first. Default 1,000,000. */
  maxTombstones?: number;
  /** Most bytes charged to tombstones. Default maxBytes / 8. */
  maxTombstoneBytes?: number;
  /** Keep a tombstone for an evicted entry, so an older copy cannot come back. Default true. */
  evictionTombstones?: boolean;
  /** Clock in ms since the epoch. Default Date.now. */
  now?: () => number;
  /** Slots and hash buckets to allocate up front. Default 1024. */
  initialCapacity?: number;
}

/** Counters of a Store: one object, updated in place, cheap to read at any time. */
export interface StoreStats {
  /** Live entries (DBSIZE); expired entries count until they are found or swept. */
  readonly entries: number;
  /** Bytes charged to live entries; at most maxBytes. */
  readonly bytes: number;
  readonly tombstones: number;
  /** Bytes charged to tombstones; at most maxTombstoneBytes. */
  readonly tombstoneBytes: number;
  readonly hits: number;
  readonly misses: number;
  /** Live entries dropped to make room. */
  readonly evictions: number;
  /** Live entries dropped because their expiry passed (lazily, by sweep, or as LRU victims). */
  readonly expirations: number;
}

/** Metadata of one key, filled in place by Store.meta. */
export class EntryMeta {
  version = 0;
  /** For a live entry its expiry (0 = never); for a tombstone, when it dies. */
  expiresAt = 0;
  isTombstone = false;
}

/**
 * Where a value lies, filled in place by Store.getRef/peekRef: `buffer[offset, offset+length)`.
 * Valid until the next mutating call on the store; copy the bytes out at once.
 */
export class ValueRef {
  buffer: Buffer = EMPTY;
  offset = 0;
  length = 0;
  version = 0;
  expiresAt = 0;
}

/**
 * Receives one live entry or tombstone of a scan. `key` and `value` are views into the store,
 * valid until the next mutating call: the visitor copies what it keeps and must not mutate
 * the store. A tombstone has an empty value and `expiresAt` is when it dies.
 */
export type ScanVisitor = (
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
  isTombstone: boolean,
) => void;

/**
 * Receives one entry of a bucket scan (Store.scanBucket), with nothing allocated: the key lies
 * in `bytes[offset, offset + length)`, valid during the call only; the visitor must not mutate
 * the store. An expired entry comes as the tombstone it becomes.
 */
export type BucketVisitor = (
  bytes: Uint8Array,
  offset: number,
  length: number,
  version: number,
  isTombstone: boolean,
) => void;

/**
 * Chooses which keys a scan visits, from the key's bytes `bytes[offset, offset + length)`,
 * before any view of the entry is made (valid during the call only).
 */
export type ScanFilter = (bytes: Uint8Array, offset: number, length: number) => boolean;

const EMPTY = Buffer.alloc(0);
const EMPTY_VIEW = new Uint8Array(0);
const MAX_SLOTS = 1 << 26;
/** The largest memory budget a store takes: 16 GiB. */
export const STORE_MAX_BYTES = 2 ** 34;
const MAX_BYTES = STORE_MAX_BYTES;
const MAX_VERSION = Number.MAX_SAFE_INTEGER;

const LRU = 0;
const TOMBS = 1;
const FIRST_SLOT = 2;

const FREE = 0;
const LIVE = 1;
const TOMB = 2;

const WORDS = 12;
const F64S = 6;
const W_NEXT = 4;
const W_PREV = 5;
const W_HASH = 6;
const W_ADDR = 7;
const W_KEY = 8;
const W_VALUE = 9;
const W_BNEXT = 10;
const W_BPREV = 11;
/** A bucket prev word with this bit is the chain's head: the low bits are the bucket. */
const HEAD_LINK = 0x80000000;
const KEY_MASK = 0xffffff;
const HASH_MASK = 0x3fffffff;
const SLOT_MASK = 0x3ffffff;
const TAG_MASK = 0x7c000000;

/** A bucket's tag for hash `h`: its top 5 bits, placed above the slot index. */
function tagOf(h: number): number {
  return (h >>> 25) << 26;
}

const MAX_LOAD = 0.7;
/**
 * Past this load the table's successor (twice the buckets) starts being built, a few slots per
 * insert, so that it is complete before MAX_LOAD: no single write waits for a whole rehash.
 */
const GROW_LOAD = 0.5;
/** Slots an insert moves into the successor while one is being built. */
const GROW_STEP = 8;
/** Slots checked per round of sweepExpired before deciding whether to go on. */
const SWEEP_ROUND = 20;

class Counters implements StoreStats {
  entries = 0;
  bytes = 0;
  tombstones = 0;
  tombstoneBytes = 0;
  hits = 0;
  misses = 0;
  evictions = 0;
  expirations = 0;
}

/** Puts slot `s` (hash `h`, chunk `addr`) into a table by linear probing. */
function putBucket(table: Uint32Array, mask: number, h: number, s: number, addr: number): void {
  let i = h & mask;
  while (table[2 * i] !== 0) i = (i + 1) & mask;
  table[2 * i] = tagOf(h) | s;
  table[2 * i + 1] = addr;
}

/** Sets the chunk address in slot `s`'s bucket (hash `h`). */
function setBucketAddr(table: Uint32Array, mask: number, h: number, s: number, addr: number): void {
  let i = h & mask;
  while ((table[2 * i]! & SLOT_MASK) !== s) i = (i + 1) & mask;
  table[2 * i + 1] = addr;
}

/** Takes slot `s` (hash `h`) out of a table, shifting later members of its probe run back. */
function removeBucket(
  table: Uint32Array,
  mask: number,
  w: Uint32Array,
  h: number,
  s: number,
): void {
  let i = h & mask;
  while ((table[2 * i]! & SLOT_MASK) !== s) i = (i + 1) & mask;
  for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
    const e = table[2 * j]!;
    if (e === 0) break;
    const home = w[(e & SLOT_MASK) * WORDS + W_HASH]! & mask;
    // Move the bucket back into the hole at i unless its home lies cyclically in (i, j].
    if (i <= j ? home <= i || home > j : home <= i && home > j) {
      table[2 * i] = e;
      table[2 * i + 1] = table[2 * j + 1]!;
      i = j;
    }
  }
  table[2 * i] = 0;
}

function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (value === Infinity && max === Infinity) return value;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new RingcacheError("CONFIG", `store option ${name} must be an integer ${range}`);
  }
  return value;
}

function checkVersion(version: number): void {
  if (!(version >= 0 && version <= MAX_VERSION) || Math.floor(version) !== version) {
    throw new RangeError(`version must be an integer in [0, 2^53), got ${version}`);
  }
}

function checkExpiry(expiresAt: number): void {
  if (!(expiresAt >= 0 && expiresAt <= MAX_VERSION)) {
    throw new RangeError(`expiresAt must be ms since the epoch (0 = never), got ${expiresAt}`);
  }
}

/**
 * An LRU store of opaque binary keys and values, each entry with a version and an expiry.
 *
 * Writes copy the caller's key and value bytes in (they may be views of a socket chunk). Reads
 * return views into memory the store owns, never copies: a view stays valid only until the next
 * mutating call on the store (any write, delete, get, sweep or flush), so callers copy it into
 * their output at once. getRef/peekRef read without allocating anything; get/peek allocate only
 * the small view object. Synchronous and single-threaded; no timers, no I/O.
 */
export class Store {
  /** Most live entries. */
  readonly maxEntries: number;
  /** Most bytes charged to live entries. */
  readonly maxBytes: number;
  readonly eviction: "lru" | "noeviction";
  readonly tombstoneTtlMs: number;
  readonly maxTombstones: number;
  readonly maxTombstoneBytes: number;
  readonly evictionTombstones: boolean;

  private readonly now: () => number;
  private readonly counters = new Counters();
  private readonly slab: Slab;
  /** The slab's page array (the same object), read on every lookup. */
  private readonly pages: Buffer[];
  /** The slab's int32 page views (the same object). */
  private readonly pageWords: Int32Array[];
  private readonly slotLimit: number;
  private f64: Float64Array;
  private w: Uint32Array;
  private capacity: number;
  /** Slots [0, used) have been handed out at least once. */
  private used = FIRST_SLOT;
  /** Head of the free-slot chain (linked through `next`), 0 when empty. */
  private freeSlot = 0;
  /** Buckets of two words: tag | slot, chunk address. */
  private table: Uint32Array;
  /** Buckets - 1 (a power of two minus one). */
  private mask: number;
  /** Slots in the table: live entries and tombstones. */
  private tableCount = 0;
  /**
   * The table's successor while it is built (null otherwise): it holds every slot of the table
   * below `built` (the build goes in slot order), kept up to date by insert, remove and
   * setAddr. Lookups use `table` only until the successor takes over.
   */
  private nextTable: Uint32Array | null = null;
  private nextMask = 0;
  private built = 0;
  /** Live entries that have an expiry; sweeps skip their work while this is 0. */
  private expiring = 0;
  private sweepCursor = FIRST_SLOT;
  /** The key of the latest hashKey call, packed in words: find and write read it. */
  private keyWords = new Int32Array(64);
  private valueScratch = Buffer.alloc(256);
  /** The scan index: the first slot of each scan bucket's chain, 0 when empty. */
  private readonly heads = new Uint32Array(SCAN_BUCKETS);

  constructor(options: StoreOptions = {}) {
    this.maxBytes = integerOption("maxBytes", options.maxBytes, 256 * 1024 * 1024, 1024, MAX_BYTES);
    this.maxTombstones = integerOption(
      "maxTombstones",
      options.maxTombstones,
      1_000_000,
      0,
      MAX_SLOTS / 2,
    );
    const entryLimit = MAX_SLOTS - FIRST_SLOT - this.maxTombstones;
    this.maxEntries = Math.min(
      integerOption("maxEntries", options.maxEntries, entryLimit, 1, Infinity),
      entryLimit,
    );
    this.maxTombstoneBytes = integerOption(
      "maxTombstoneBytes",
      options.maxTombstoneBytes,
      Math.ceil(this.maxBytes / 8),
      0,
      MAX_BYTES,
    );
    this.tombstoneTtlMs = integerOption(
      "tombstoneTtlMs",
      options.tombstoneTtlMs,
      3_600_000,
      0,
      MAX_VERSION,
    );
    const eviction = options.eviction ?? "lru";
    if (eviction !== "lru" && eviction !== "noeviction") {
      throw new RingcacheError(
        "CONFIG",
        `store option eviction must be "lru" or "noeviction", got ${String(eviction)}`,
      );
    }
    this.eviction = eviction;
    this.evictionTombstones = options.evictionTombstones ?? true;
    if (typeof this.evictionTombstones !== "boolean") {
      throw new RingcacheError("CONFIG", "store option evictionTombstones must be a boolean");
    }
    const now = options.now ?? Date.now;
    if (typeof now !== "function") {
      throw new RingcacheError("CONFIG", "store option now must be a function returning ms");
    }
    this.now = now;
    this.slotLimit = this.maxEntries + this.maxTombstones + FIRST_SLOT;
    const initial = integerOption("initialCapacity", options.initialCapacity, 1024, 0, MAX_SLOTS);
    this.capacity = Math.min(this.slotLimit, Math.max(16, initial + FIRST_SLOT));
    const records = new ArrayBuffer(this.capacity * WORDS * 4);
    this.f64 = new Float64Array(records);
    this.w = new Uint32Array(records);
    this.initSentinels();
    let buckets = 16;
    while (buckets * MAX_LOAD < initial) buckets *= 2;
    this.table = new Uint32Array(buckets * 2);
    this.mask = buckets - 1;
    this.slab = new Slab(this.maxBytes + this.maxTombstoneBytes, (slot, addr) => {
      this.setAddr(slot, addr);
    });
    this.pages = this.slab.pages;
    this.pageWords = this.slab.words;
  }

  /** The counters, updated in place (the same object for the store's life). */
  get stats(): StoreStats {
    return this.counters;
  }

  /**
   * Bytes charged for an entry with a key and a value of these lengths: its slab chunk (its
   * share of a page) or its own Buffer, plus ENTRY_OVERHEAD. `stats.bytes` is their sum.
   */
  entryBytes(keyLength: number, valueLength: number): number {
    return this.slab.charge(CHUNK_HEADER + keyLength + valueLength) + ENTRY_OVERHEAD;
  }

  /**
   * Bytes the store really holds: slab pages, large values' Buffers, slot records, table, scan
   * index heads.
   */
  memoryBytes(): number {
    return (
      this.slab.allocatedBytes +
      this.f64.byteLength +
      this.table.byteLength +
      (this.nextTable?.byteLength ?? 0) +
      this.heads.byteLength
    );
  }

  /** Looks a key up, marking it most recently used; counts a hit or a miss. The view stays
   * valid until the next mutating call (a get may drop an expired entry, so it is one). */
  get(key: Uint8Array): Uint8Array | undefined {
    const s = this.liveSlot(key);
    if (s === 0) {
      this.counters.misses++;
      return undefined;
    }
    this.counters.hits++;
    this.touch(s);
    return this.valueView(s);
  }

  /** Like get, but fills `out` instead of allocating a view; returns false on a miss. */
  getRef(key: Uint8Array, out: ValueRef): boolean {
    const s = this.liveSlot(key);
    if (s === 0) {
      this.counters.misses++;
      return false;
    }
    this.counters.hits++;
    this.touch(s);
    this.fillRef(s, out);
    return true;
  }

  /** Looks a key up without touching recency, counters or expired entries. */
  peek(key: Uint8Array): Uint8Array | undefined {
    const s = this.peekSlot(key);
    return s === 0 ? undefined : this.valueView(s);
  }

  /** Like peek, filling `out`; returns false when there is no live entry. */
  peekRef(key: Uint8Array, out: ValueRef): boolean {
    const s = this.peekSlot(key);
    if (s === 0) return false;
    this.fillRef(s, out);
    return true;
  }

  /** True when a live, unexpired entry exists (no recency touch, not counted). */
  has(key: Uint8Array): boolean {
    return this.peekSlot(key) !== 0;
  }

  /**
   * Fills `out` with the key's version and expiry, and whether it is a tombstone (an expired
   * entry reads as the tombstone it is about to become). Returns false when the store holds
   * nothing for the key. Read-only.
   */
  meta(key: Uint8Array, out: EntryMeta): boolean {
    const s = this.find(key, this.hashKey(key));
    if (s === 0) return false;
    const b = s * F64S;
    const state = this.w[s * WORDS + W_KEY]! >>> 24;
    const version = this.f64[b]!;
    let expiresAt = this.f64[b + 1]!;
    let tomb = state === TOMB;
    if (expiresAt !== 0) {
      const now = this.now();
      if (tomb) {
        if (expiresAt <= now) return false;
      } else if (expiresAt <= now) {
        expiresAt += this.tombstoneTtlMs;
        if (expiresAt <= now) return false;
        tomb = true;
      }
    }
    out.version = version;
    out.expiresAt = expiresAt;
    out.isTombstone = tomb;
    return true;
  }

  /** The version held for the key (live entry or tombstone), or -1 when there is none. */
  currentVersion(key: Uint8Array): number {
    const s = this.find(key, this.hashKey(key));
    if (s === 0) return -1;
    const expiresAt = this.f64[s * F64S + 1]!;
    if (expiresAt !== 0) {
      const now = this.now();
      const tomb = this.w[s * WORDS + W_KEY]! >>> 24 === TOMB;
      if (tomb ? expiresAt <= now : expiresAt + this.tombstoneTtlMs <= now) return -1;
    }
    return this.f64[s * F64S]!;
  }

  /**
   * Stores a value unconditionally (a local write), replacing any entry or tombstone, and marks
   * it most recently used. Copies `key` and `value`. Throws VALUE_TOO_LARGE when the entry alone
   * exceeds maxBytes, OUT_OF_MEMORY under noeviction when it does not fit.
   */
  set(key: Uint8Array, value: Uint8Array, version: number, expiresAt: number): void {
    checkVersion(version);
    checkExpiry(expiresAt);
    const h = this.hashKey(key);
    this.write(key, h, this.find(key, h), value, version, expiresAt);
  }

  /**
   * Stores the value only if `version` is strictly newer than the version held for the key
   * (live entry or tombstone). Returns true when applied; otherwise the store is unchanged and
   * currentVersion(key) tells what won. Copies the bytes; throws like set.
   */
  putIfNewer(key: Uint8Array, value: Uint8Array, version: number, expiresAt: number): boolean {
    checkVersion(version);
    checkExpiry(expiresAt);
    const h = this.hashKey(key);
    const s = this.find(key, h);
    if (s !== 0 && this.blocks(s, version)) return false;
    this.write(key, h, s, value, version, expiresAt);
    return true;
  }

  /**
   * Deletes with a version: a live entry older than `version` is removed (returns true), and a
   * tombstone with `version` is left (or an older tombstone raised to it), even when the key is
   * absent. A newer or equal entry or tombstone wins and nothing changes (returns false).
   */
  delete(key: Uint8Array, version: number): boolean {
    checkVersion(version);
    const h = this.hashKey(key);
    const s = this.find(key, h);
    if (s === 0) {
      this.addTombstone(key, h, version);
      return false;
    }
    const bw = s * WORDS;
    if (this.w[bw + W_KEY]! >>> 24 === LIVE) {
      const expiresAt = this.f64[s * F64S + 1]!;
      const now = expiresAt !== 0 ? this.now() : 0;
      if (expiresAt === 0 || expiresAt > now) {
        if (version <= this.f64[s * F64S]!) return false;
        this.unlinkLive(s);
        const at = now === 0 ? this.now() : now;
        this.toTombstone(s, version, at, true);
        this.trimTombstones(at);
        return true;
      }
      this.expireSlot(s, now);
      return this.delete(key, version);
    }
    // A tombstone: raise it if this delete is newer (and it is still alive).
    const now = this.now();
    if (this.f64[s * F64S + 1]! <= now) {
      this.dropTombstone(s);
      this.addTombstone(key, h, version);
      return false;
    }
    if (version > this.f64[s * F64S]!) {
      this.f64[s * F64S] = version;
      this.f64[s * F64S + 1] = now + this.tombstoneTtlMs;
      this.unlink(s);
      this.linkBefore(s, TOMBS);
    }
    return false;
  }

  /**
   * Removes the live entry only if its version is exactly `version`, leaving no tombstone (an
   * entry copied elsewhere and unchanged since). Returns true when removed.
   */
  deleteIfVersion(key: Uint8Array, version: number): boolean {
    const s = this.peekSlot(key);
    if (s === 0 || this.f64[s * F64S] !== version) return false;
    this.unlinkLive(s);
    this.dropSlot(s);
    return true;
  }

  /**
   * Sets a live entry's expiry (0 = never) and version, keeping its value and recency.
   * Returns false when there is no live entry.
   */
  setExpiry(key: Uint8Array, expiresAt: number, version: number): boolean {
    checkVersion(version);
    checkExpiry(expiresAt);
    const s = this.liveSlot(key);
    if (s === 0) return false;
    const b = s * F64S;
    const before = this.f64[b + 1]!;
    if (before === 0 && expiresAt !== 0) this.expiring++;
    else if (before !== 0 && expiresAt === 0) this.expiring--;
    this.f64[b + 1] = expiresAt;
    this.f64[b] = version;
    return true;
  }

  /**
   * Visits the live entries and tombstones of up to `count` slots from `cursor` (0 to start)
   * and returns the cursor to continue from, 0 when the scan is finished. An entry present for
   * the whole scan is visited exactly once, whatever happens between calls (writes, deletes,
   * evictions, growth): slots never move and the cursor is a slot index. An expired entry is
   * visited as the tombstone it becomes; dead tombstones are skipped. Read-only. With a
   * `filter`, only the entries whose key it accepts are visited.
   */
  scan(cursor: number, count: number, visitor: ScanVisitor, filter?: ScanFilter): number {
    let s = cursor === 0 ? FIRST_SLOT : cursor;
    if (!Number.isInteger(s) || s < FIRST_SLOT) throw new RangeError(`bad scan cursor ${cursor}`);
    const end = Math.min(this.used, s + Math.max(1, count));
    const now = this.now();
    const w = this.w;
    const f64 = this.f64;
    for (; s < end; s++) {
      const state = w[s * WORDS + W_KEY]! >>> 24;
      if (state === FREE) continue;
      const version = f64[s * F64S]!;
      let expiresAt = f64[s * F64S + 1]!;
      let tomb = state === TOMB;
      if (expiresAt !== 0 && expiresAt <= now) {
        if (tomb) continue;
        expiresAt += this.tombstoneTtlMs;
        if (expiresAt <= now) continue;
        tomb = true;
      }
      if (filter !== undefined) {
        const addr = w[s * WORDS + W_ADDR]!;
        const start = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
        const page = this.pages[addr >>> OFFSET_BITS]!;
        if (!filter(page, start, w[s * WORDS + W_KEY]! & KEY_MASK)) continue;
      }
      visitor(this.keyView(s), tomb ? EMPTY_VIEW : this.valueView(s), version, expiresAt, tomb);
    }
    return s < this.used ? s : 0;
  }

  /**
   * Visits the live entries and tombstones of one scan bucket (the keys whose ring hash's top
   * 16 bits are `bucket`), in no particular order, and returns how many it visited. An expired
   * entry is visited as the tombstone it becomes; dead tombstones are skipped. Read-only. A
   * bucket is visited whole in one call, so a walk by buckets sees every entry present
   * throughout it exactly once, whatever happens between calls.
   */
  scanBucket(bucket: number, visitor: BucketVisitor): number {
    if (!(bucket >= 0 && bucket < SCAN_BUCKETS) || Math.floor(bucket) !== bucket) {
      throw new RangeError(`bad scan bucket ${bucket}`);
    }
    let s = this.heads[bucket]!;
    if (s === 0) return 0;
    const now = this.now();
    const w = this.w;
    const f64 = this.f64;
    const pages = this.pages;
    let visited = 0;
    for (; s !== 0; s = w[s * WORDS + W_BNEXT]!) {
      const version = f64[s * F64S]!;
      const expiresAt = f64[s * F64S + 1]!;
      let tomb = w[s * WORDS + W_KEY]! >>> 24 === TOMB;
      if (expiresAt !== 0 && expiresAt <= now) {
        if (tomb || expiresAt + this.tombstoneTtlMs <= now) continue;
        tomb = true;
      }
      const addr = w[s * WORDS + W_ADDR]!;
      const start = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
      visitor(pages[addr >>> OFFSET_BITS]!, start, w[s * WORDS + W_KEY]! & KEY_MASK, version, tomb);
      visited++;
    }
    return visited;
  }

  /**
   * Whether scan bucket `bucket` holds any slot (live, tombstone or expired): a walk skips an
   * empty bucket with one read.
   */
  bucketUsed(bucket: number): boolean {
    return this.heads[bucket] !== 0;
  }

  /**
   * Reclaims expired memory with bounded work, like Redis's active expiry: drops dead
   * tombstones from the old end, then checks up to `maxChecks` slots (in rounds of 20,
   * continuing from where the last sweep stopped) and turns expired entries into tombstones,
   * going on while more than a tenth of the entries with an expiry in a round had expired.
   * Costs nothing while no entry has an expiry. Returns entries expired plus tombstones dropped.
   */
  sweepExpired(maxChecks: number, now: number = this.now()): number {
    let done = 0;
    let checks = 0;
    for (; checks < maxChecks && this.counters.tombstones > 0; checks++) {
      if (this.f64[this.w[TOMBS * WORDS + W_NEXT]! * F64S + 1]! > now) break;
      this.dropOldestTombstone();
      done++;
    }
    while (this.expiring > 0 && checks < maxChecks) {
      const w = this.w;
      const f64 = this.f64;
      let withExpiry = 0;
      let expired = 0;
      const roundEnd = Math.min(checks + SWEEP_ROUND, maxChecks);
      for (; checks < roundEnd; checks++) {
        let s = this.sweepCursor;
        if (s >= this.used) s = FIRST_SLOT;
        this.sweepCursor = s + 1;
        if (w[s * WORDS + W_KEY]! >>> 24 !== LIVE) continue;
        const expiresAt = f64[s * F64S + 1]!;
        if (expiresAt === 0) continue;
        withExpiry++;
        if (expiresAt <= now) {
          this.expireSlot(s, now);
          expired++;
        }
      }
      done += expired;
      if (withExpiry > 0 && expired * 10 <= withExpiry) break;
    }
    return done;
  }

  /** Drops every entry and tombstone and releases the slab pages. Counters of hits, misses,
   * evictions and expirations are kept. */
  flushAll(): void {
    this.slab.reset();
    this.capacity = Math.min(this.capacity, 1024 + FIRST_SLOT);
    const records = new ArrayBuffer(this.capacity * WORDS * 4);
    this.f64 = new Float64Array(records);
    this.w = new Uint32Array(records);
    this.initSentinels();
    this.used = FIRST_SLOT;
    this.freeSlot = 0;
    this.table = new Uint32Array(Math.min(this.table.length, 4096));
    this.mask = this.table.length / 2 - 1;
    this.heads.fill(0);
    this.tableCount = 0;
    this.nextTable = null;
    this.expiring = 0;
    this.sweepCursor = FIRST_SLOT;
    this.counters.entries = 0;
    this.counters.bytes = 0;
    this.counters.tombstones = 0;
    this.counters.tombstoneBytes = 0;
  }

  /**
   * Checks every internal invariant (lists, table, counters, slab addresses) and throws an
   * Error naming the first one broken. O(n): for tests and debugging.
   */
  checkIntegrity(): void {
    const w = this.w;
    const fail = (what: string): never => {
      throw new Error(`store integrity: ${what}`);
    };
    let live = 0;
    let bytes = 0;
    let expiring = 0;
    for (
      let s = w[LRU * WORDS + W_NEXT]!, prev = LRU;
      s !== LRU;
      prev = s, s = w[s * WORDS + W_NEXT]!
    ) {
      if (w[s * WORDS + W_PREV] !== prev) fail(`LRU prev link of slot ${s}`);
      if (w[s * WORDS + W_KEY]! >>> 24 !== LIVE) fail(`slot ${s} in the LRU list is not live`);
      live++;
      bytes += this.slotBytes(s);
      if (this.f64[s * F64S + 1] !== 0) expiring++;
      if (live > this.used) fail("LRU list has a cycle");
    }
    let tombs = 0;
    let tombBytes = 0;
    for (
      let s = w[TOMBS * WORDS + W_NEXT]!, prev = TOMBS;
      s !== TOMBS;
      prev = s, s = w[s * WORDS + W_NEXT]!
    ) {
      if (w[s * WORDS + W_PREV] !== prev) fail(`tombstone prev link of slot ${s}`);
      if (w[s * WORDS + W_KEY]! >>> 24 !== TOMB) fail(`slot ${s} in the tombstone list is not one`);
      tombs++;
      tombBytes += this.slotBytes(s);
      if (tombs > this.used) fail("tombstone list has a cycle");
    }
    const c = this.counters;
    if (live !== c.entries) fail(`entries ${c.entries} but ${live} in the LRU list`);
    if (bytes !== c.bytes) fail(`bytes ${c.bytes} but ${bytes} charged`);
    if (tombs !== c.tombstones) fail(`tombstones ${c.tombstones} but ${tombs} listed`);
    if (tombBytes !== c.tombstoneBytes) fail(`tombstoneBytes ${c.tombstoneBytes} but ${tombBytes}`);
    if (expiring !== this.expiring) fail(`expiring ${this.expiring} but ${expiring}`);
    if (c.entries > this.maxEntries || c.bytes > this.maxBytes) fail("over the entry budget");
    if (c.tombstones > this.maxTombstones || c.tombstoneBytes > this.maxTombstoneBytes) {
      fail("over the tombstone budget");
    }
    let inTable = 0;
    for (let i = 0; i < this.table.length; i += 2) {
      const e = this.table[i]!;
      if (e === 0) continue;
      const s = e & SLOT_MASK;
      if (this.table[i + 1] !== w[s * WORDS + W_ADDR]) fail(`bucket ${i} has a stale address`);
      if ((e & TAG_MASK) !== tagOf(w[s * WORDS + W_HASH]!)) fail(`bucket ${i} has a wrong tag`);
      inTable++;
      if (w[s * WORDS + W_KEY]! >>> 24 === FREE) fail(`free slot ${s} in the table`);
      const key = this.keyView(s);
      if (this.hashKey(key) !== w[s * WORDS + W_HASH])
        fail(`slot ${s} hash does not match its key`);
      if (this.find(key, w[s * WORDS + W_HASH]!) !== s) fail(`slot ${s} unreachable by probing`);
      const owner = this.slab.ownerOf(w[s * WORDS + W_ADDR]!);
      if (owner !== -1 && owner !== s) fail(`chunk of slot ${s} is owned by slot ${owner}`);
    }
    if (inTable !== this.tableCount || inTable !== live + tombs) {
      fail(`table holds ${inTable}, count ${this.tableCount}, listed ${live + tombs}`);
    }
    // The scan index: every slot of the table on its bucket's chain, once, and nothing else.
    let chained = 0;
    for (let bucket = 0; bucket < SCAN_BUCKETS; bucket++) {
      let prev = (HEAD_LINK | bucket) >>> 0;
      for (let s = this.heads[bucket]!; s !== 0; prev = s, s = w[s * WORDS + W_BNEXT]!) {
        if (w[s * WORDS + W_BPREV] !== prev) fail(`scan chain prev link of slot ${s}`);
        if (w[s * WORDS + W_KEY]! >>> 24 === FREE) fail(`free slot ${s} on a scan chain`);
        if (ringHash(this.keyView(s)) >>> (32 - SCAN_BUCKET_BITS) !== bucket) {
          fail(`slot ${s} is on scan chain ${bucket}, not its key's`);
        }
        if (++chained > this.used) fail("a scan chain has a cycle");
      }
    }
    if (chained !== inTable) fail(`scan chains hold ${chained} slots, the table ${inTable}`);
    const next = this.nextTable;
    if (next !== null) {
      // The successor holds exactly the table's slots below `built`, each where probing finds it.
      let expected = 0;
      for (let i = 0; i < this.table.length; i += 2) {
        const e = this.table[i]!;
        if (e !== 0 && (e & SLOT_MASK) < this.built) expected++;
      }
      let held = 0;
      for (let i = 0; i < next.length; i += 2) {
        const e = next[i]!;
        if (e === 0) continue;
        held++;
        const s = e & SLOT_MASK;
        if (s >= this.built) fail(`successor holds slot ${s}, past the build at ${this.built}`);
        if (w[s * WORDS + W_KEY]! >>> 24 === FREE) fail(`free slot ${s} in the successor`);
        if (next[i + 1] !== w[s * WORDS + W_ADDR])
          fail(`successor bucket ${i} has a stale address`);
        let j = w[s * WORDS + W_HASH]! & this.nextMask;
        while (next[2 * j] !== 0 && (next[2 * j]! & SLOT_MASK) !== s) j = (j + 1) & this.nextMask;
        if (2 * j !== i) fail(`slot ${s} unreachable by probing the successor`);
      }
      if (held !== expected)
        fail(`successor holds ${held} slots, the table ${expected} below ${this.built}`);
    }
    if (this.slab.overflowPages !== 0) fail(`${this.slab.overflowPages} slab pages over the limit`);
  }

  // ---- lookups ----------------------------------------------------------------------------

  /**
   * 30-bit hash of a key (a small integer, with room for the bucket tag). Packs the key into
   * keyWords, which the next find and write read: call it first for each key.
   */
  private hashKey(key: Uint8Array): number {
    const need = (key.length + 3) >>> 2;
    if (this.keyWords.length < need) this.keyWords = new Int32Array(need);
    else if (need <= 64 && this.keyWords.length > 4096) this.keyWords = new Int32Array(64); // a huge key's scratch is not kept
    packWords(key, this.keyWords);
    return xxhash32Words(this.keyWords, key.length) & HASH_MASK;
  }

  /** Slot of the key just hashed (live or tombstone), or 0. */
  private find(key: Uint8Array, h: number): number {
    const table = this.table;
    const mask = this.mask;
    const w = this.w;
    const kw = this.keyWords;
    const n = key.length;
    const full = n >>> 2;
    const tailMask = (1 << ((n & 3) * 8)) - 1;
    const tag = tagOf(h);
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = table[2 * i]!;
      if (e === 0) return 0;
      if ((e & TAG_MASK) !== tag) continue;
      const s = e & SLOT_MASK;
      // Read the record and the chunk independently, so their cache misses overlap. A stored
      // key shorter than this one may let the word loop read past it (into its value or the
      // next chunk, never outside the page's typed array bounds checks): the length check
      // below rejects it.
      const keyWord = w[s * WORDS + W_KEY]!;
      const addr = table[2 * i + 1]!;
      const pw = this.pageWords[addr >>> OFFSET_BITS]!;
      const at = (((addr & OFFSET_MASK) << 3) + CHUNK_HEADER) >>> 2;
      let m = 0;
      while (m < full && pw[at + m] === kw[m]) m++;
      if (
        m === full &&
        (tailMask === 0 || ((pw[at + m]! ^ kw[m]!) & tailMask) === 0) &&
        (keyWord & KEY_MASK) === n
      ) {
        return s;
      }
    }
  }

  /** Live slot of the key, dropping it (into a tombstone) if expired; 0 when none. */
  private liveSlot(key: Uint8Array): number {
    const s = this.find(key, this.hashKey(key));
    if (s === 0 || this.w[s * WORDS + W_KEY]! >>> 24 !== LIVE) return 0;
    const expiresAt = this.f64[s * F64S + 1]!;
    if (expiresAt !== 0) {
      const now = this.now();
      if (expiresAt <= now) {
        this.expireSlot(s, now);
        return 0;
      }
    }
    return s;
  }

  /** Live, unexpired slot of the key without side effects; 0 when none. */
  private peekSlot(key: Uint8Array): number {
    const s = this.find(key, this.hashKey(key));
    if (s === 0 || this.w[s * WORDS + W_KEY]! >>> 24 !== LIVE) return 0;
    const expiresAt = this.f64[s * F64S + 1]!;
    return expiresAt !== 0 && expiresAt <= this.now() ? 0 : s;
  }

  /** True when what slot `s` holds is at least as new as `version` (so the write loses). */
  private blocks(s: number, version: number): boolean {
    if (version > this.f64[s * F64S]!) return false;
    const expiresAt = this.f64[s * F64S + 1]!;
    if (expiresAt === 0) return true;
    const now = this.now();
    if (this.w[s * WORDS + W_KEY]! >>> 24 === TOMB) return expiresAt > now;
    return expiresAt + this.tombstoneTtlMs > now;
  }

  private valueView(s: number): Uint8Array {
    const b = s * WORDS;
    const addr = this.w[b + W_ADDR]!;
    const start = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER + (this.w[b + W_KEY]! & KEY_MASK);
    return new Uint8Array(this.pages[addr >>> OFFSET_BITS]!.buffer, start, this.w[b + W_VALUE]);
  }

  private keyView(s: number): Uint8Array {
    const b = s * WORDS;
    const addr = this.w[b + W_ADDR]!;
    const start = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
    const n = this.w[b + W_KEY]! & KEY_MASK;
    return new Uint8Array(this.pages[addr >>> OFFSET_BITS]!.buffer, start, n);
  }

  private fillRef(s: number, out: ValueRef): void {
    const b = s * WORDS;
    const addr = this.w[b + W_ADDR]!;
    const page = this.pages[addr >>> OFFSET_BITS]!;
    if (out.buffer !== page) out.buffer = page; // skips a write barrier: pages are few
    out.offset = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER + (this.w[b + W_KEY]! & KEY_MASK);
    out.length = this.w[b + W_VALUE]!;
    out.version = this.f64[s * F64S]!;
    out.expiresAt = this.f64[s * F64S + 1]!;
  }

  private slotBytes(s: number): number {
    const b = s * WORDS;
    const size = CHUNK_HEADER + (this.w[b + W_KEY]! & KEY_MASK) + this.w[b + W_VALUE]!;
    return this.slab.charge(size) + ENTRY_OVERHEAD;
  }

  // ---- writes -----------------------------------------------------------------------------

  /**
   * Stores key/value at slot `s` (an existing live entry or tombstone of this key) or at a new
   * slot when `s` is 0, evicting as needed.
   */
  private write(
    key: Uint8Array,
    h: number,
    s: number,
    value: Uint8Array,
    version: number,
    expiresAt: number,
  ): void {
    const n = key.length;
    if (n > MAX_KEY_LENGTH) {
      throw new RingcacheError("KEY_TOO_LARGE", `key of ${n} bytes is over ${MAX_KEY_LENGTH}`);
    }
    const size = CHUNK_HEADER + n + value.length;
    const charge = this.slab.charge(size) + ENTRY_OVERHEAD;
    if (charge > this.maxBytes) {
      throw new RingcacheError(
        "VALUE_TOO_LARGE",
        `entry of ${charge} bytes is larger than the store's maxBytes ${this.maxBytes}`,
      );
    }
    const c = this.counters;
    const w = this.w;
    const live = s !== 0 && w[s * WORDS + W_KEY]! >>> 24 === LIVE;
    const oldCharge = live ? this.slotBytes(s) : 0;
    if (
      c.entries + (live ? 0 : 1) > this.maxEntries ||
      c.bytes - oldCharge + charge > this.maxBytes
    ) {
      if (this.eviction === "noeviction") {
        throw new RingcacheError(
          "OUT_OF_MEMORY",
          "command not allowed when used memory > 'maxmemory'.",
        );
      }
    }
    // A new slot joins its scan bucket's chain: hash the key now, before evictions below may
    // overwrite it (it may be a view of this store's memory).
    const bucket = s === 0 ? ringHash(key) >>> (32 - SCAN_BUCKET_BITS) : 0;
    // The value may be such a view too: take it aside first. (The key is already aside, packed
    // in keyWords.)
    value = this.outside(value);
    let oldSize = 0;
    if (s !== 0) {
      // Detach the old entry or tombstone so eviction never picks it; the slot stays in the table.
      oldSize =
        CHUNK_HEADER + (this.w[s * WORDS + W_KEY]! & KEY_MASK) + this.w[s * WORDS + W_VALUE]!;
      if (live) {
        this.unlinkLive(s);
      } else {
        this.unlink(s);
        c.tombstones--;
        c.tombstoneBytes -= this.slotBytes(s);
      }
    }
    while (c.entries + 1 > this.maxEntries || c.bytes + charge > this.maxBytes) this.evictOne();
    let addr: number;
    if (s === 0) {
      s = this.newSlot();
      addr = this.slab.alloc(size, s);
      this.w[s * WORDS + W_HASH] = h;
      this.w[s * WORDS + W_ADDR] = addr;
      this.insert(s, h, addr);
      this.linkBucket(s, bucket);
    } else if (this.slab.sameChunk(oldSize, size)) {
      addr = this.w[s * WORDS + W_ADDR]!;
    } else {
      this.slab.free(this.w[s * WORDS + W_ADDR]!);
      addr = this.slab.alloc(size, s);
      this.setAddr(s, addr);
    }
    const bw = s * WORDS;
    const words = this.w;
    words[bw + W_KEY] = (LIVE << 24) | n;
    words[bw + W_VALUE] = value.length;
    this.f64[s * F64S] = version;
    this.f64[s * F64S + 1] = expiresAt;
    const off = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
    this.writeKey(addr, n);
    if (value.length !== 0) this.pages[addr >>> OFFSET_BITS]!.set(value, off + n);
    this.linkBefore(s, LRU);
    c.entries++;
    c.bytes += charge;
    if (expiresAt !== 0) this.expiring++;
  }

  /** Copies the packed key (keyWords) into the chunk at `addr`; the padding of its last word
   * spills into the value's place, which is written next. */
  private writeKey(addr: number, n: number): void {
    const pw = this.pageWords[addr >>> OFFSET_BITS]!;
    const at = (((addr & OFFSET_MASK) << 3) + CHUNK_HEADER) >>> 2;
    const kw = this.keyWords;
    for (let m = 0, words = (n + 3) >>> 2; m < words; m++) pw[at + m] = kw[m]!;
  }

  /** `bytes` itself, or a copy in scratch memory when it lies in this store's pages. */
  private outside(bytes: Uint8Array): Uint8Array {
    if (!this.slab.owns(bytes.buffer)) return bytes;
    if (this.valueScratch.length < bytes.length) this.valueScratch = Buffer.alloc(bytes.length);
    this.valueScratch.set(bytes);
    return this.valueScratch.subarray(0, bytes.length);
  }

  /** Makes room by dropping the least recently used entry (into a tombstone if configured). */
  private evictOne(): void {
    const s = this.w[LRU * WORDS + W_NEXT]!;
    if (s === LRU) throw new Error("store: nothing left to evict (a bug)");
    const expiresAt = this.f64[s * F64S + 1]!;
    const now = this.now();
    this.unlinkLive(s);
    if (expiresAt !== 0 && expiresAt <= now) {
      this.counters.expirations++;
      this.toTombstone(s, this.f64[s * F64S]!, now, false);
    } else {
      this.counters.evictions++;
      if (this.evictionTombstones) this.toTombstone(s, this.f64[s * F64S]!, now, false);
      else this.dropSlot(s);
    }
    this.trimTombstones(now);
  }

  /** An expired live slot becomes a tombstone with its version (dropped if already dead). */
  private expireSlot(s: number, now: number): void {
    this.counters.expirations++;
    this.unlinkLive(s);
    this.toTombstone(s, this.f64[s * F64S]!, now, false);
    this.trimTombstones(now);
  }

  /**
   * Turns slot `s` (detached from the LRU list and uncounted) into a tombstone of `version`.
   * An expired entry's tombstone dies tombstoneTtlMs after its expiry, others after `now`.
   * With `shrink`, the value's bytes are released by moving the key to a smaller chunk.
   */
  private toTombstone(s: number, version: number, now: number, shrink: boolean): void {
    const b = s * WORDS;
    const expiresAt = this.f64[s * F64S + 1]!;
    const dies = (expiresAt !== 0 && expiresAt <= now ? expiresAt : now) + this.tombstoneTtlMs;
    if (dies <= now || this.maxTombstones === 0) {
      this.dropSlot(s);
      return;
    }
    const n = this.w[b + W_KEY]! & KEY_MASK;
    const oldSize = CHUNK_HEADER + n + this.w[b + W_VALUE]!;
    if (shrink && !this.slab.sameChunk(oldSize, CHUNK_HEADER + n)) {
      const addr = this.slab.alloc(CHUNK_HEADER + n, s);
      const old = this.w[b + W_ADDR]!; // read after alloc: the chunk may have moved
      const from = ((old & OFFSET_MASK) << 3) + CHUNK_HEADER;
      this.pages[old >>> OFFSET_BITS]!.copy(
        this.pages[addr >>> OFFSET_BITS]!,
        ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER,
        from,
        from + n,
      );
      this.slab.free(old);
      this.setAddr(s, addr);
      this.w[b + W_VALUE] = 0;
    }
    this.w[b + W_KEY] = (TOMB << 24) | n;
    this.f64[s * F64S] = version;
    this.f64[s * F64S + 1] = dies;
    this.linkBefore(s, TOMBS);
    this.counters.tombstones++;
    this.counters.tombstoneBytes += this.slotBytes(s);
  }

  /** Leaves a tombstone for a key the store does not hold. */
  private addTombstone(key: Uint8Array, h: number, version: number): void {
    const now = this.now();
    if (this.tombstoneTtlMs === 0 || this.maxTombstones === 0) return;
    const size = CHUNK_HEADER + key.length;
    if (
      key.length > MAX_KEY_LENGTH ||
      this.slab.charge(size) + ENTRY_OVERHEAD > this.maxTombstoneBytes
    ) {
      return;
    }
    // Make room first, so the new tombstone is never the one trimmed.
    const charge = this.slab.charge(size) + ENTRY_OVERHEAD;
    const c = this.counters;
    this.dropDeadTombstones(now);
    while (
      c.tombstones + 1 > this.maxTombstones ||
      c.tombstoneBytes + charge > this.maxTombstoneBytes
    ) {
      this.dropOldestTombstone();
    }
    const bucket = ringHash(key) >>> (32 - SCAN_BUCKET_BITS);
    const s = this.newSlot();
    const addr = this.slab.alloc(size, s);
    const b = s * WORDS;
    this.w[b + W_HASH] = h;
    this.w[b + W_ADDR] = addr;
    this.insert(s, h, addr);
    this.linkBucket(s, bucket);
    this.w[b + W_KEY] = (TOMB << 24) | key.length;
    this.w[b + W_VALUE] = 0;
    this.f64[s * F64S] = version;
    this.f64[s * F64S + 1] = now + this.tombstoneTtlMs;
    this.writeKey(addr, key.length);
    this.linkBefore(s, TOMBS);
    c.tombstones++;
    c.tombstoneBytes += charge;
  }

  /** Drops dead tombstones from the old end, then the oldest while over a bound. */
  private trimTombstones(now: number): void {
    const c = this.counters;
    if (c.tombstones === 0) return;
    this.dropDeadTombstones(now);
    while (c.tombstones > this.maxTombstones || c.tombstoneBytes > this.maxTombstoneBytes) {
      this.dropOldestTombstone();
    }
  }

  private dropDeadTombstones(now: number): void {
    for (
      let t = this.w[TOMBS * WORDS + W_NEXT]!;
      t !== TOMBS;
      t = this.w[TOMBS * WORDS + W_NEXT]!
    ) {
      if (this.f64[t * F64S + 1]! > now) return;
      this.dropOldestTombstone();
    }
  }

  private dropOldestTombstone(): void {
    this.dropTombstone(this.w[TOMBS * WORDS + W_NEXT]!);
  }

  private dropTombstone(t: number): void {
    this.counters.tombstones--;
    this.counters.tombstoneBytes -= this.slotBytes(t);
    this.unlink(t);
    this.dropSlot(t);
  }

  /** Removes a live slot from the LRU list and the live counters. */
  private unlinkLive(s: number): void {
    this.unlink(s);
    this.counters.entries--;
    this.counters.bytes -= this.slotBytes(s);
    if (this.f64[s * F64S + 1] !== 0) this.expiring--;
  }

  /** Frees a slot (already out of its list and counters): chunk, table bucket, scan chain, slot. */
  private dropSlot(s: number): void {
    const b = s * WORDS;
    this.slab.free(this.w[b + W_ADDR]!);
    this.remove(s);
    this.unlinkBucket(s);
    this.w[b + W_KEY] = FREE << 24;
    this.w[b + W_NEXT] = this.freeSlot;
    this.freeSlot = s;
  }

  // ---- lists --------------------------------------------------------------------------------

  private touch(s: number): void {
    const w = this.w;
    if (w[LRU * WORDS + W_PREV] === s) return;
    this.unlink(s);
    this.linkBefore(s, LRU);
  }

  private unlink(s: number): void {
    const w = this.w;
    const b = s * WORDS;
    const next = w[b + W_NEXT]!;
    const prev = w[b + W_PREV]!;
    w[prev * WORDS + W_NEXT] = next;
    w[next * WORDS + W_PREV] = prev;
  }

  /** Links `s` just before sentinel `head`: the most recent end of that list. */
  private linkBefore(s: number, head: number): void {
    const w = this.w;
    const last = w[head * WORDS + W_PREV]!;
    w[s * WORDS + W_NEXT] = head;
    w[s * WORDS + W_PREV] = last;
    w[last * WORDS + W_NEXT] = s;
    w[head * WORDS + W_PREV] = s;
  }

  private initSentinels(): void {
    for (const head of [LRU, TOMBS]) {
      this.w[head * WORDS + W_NEXT] = head;
      this.w[head * WORDS + W_PREV] = head;
    }
  }

  // ---- the scan index -----------------------------------------------------------------------

  /** Puts slot `s` first on the chain of scan bucket `bucket`. */
  private linkBucket(s: number, bucket: number): void {
    const w = this.w;
    const first = this.heads[bucket]!;
    w[s * WORDS + W_BNEXT] = first;
    w[s * WORDS + W_BPREV] = HEAD_LINK | bucket;
    if (first !== 0) w[first * WORDS + W_BPREV] = s;
    this.heads[bucket] = s;
  }

  /** Takes slot `s` off its scan bucket's chain. */
  private unlinkBucket(s: number): void {
    const w = this.w;
    const next = w[s * WORDS + W_BNEXT]!;
    const prev = w[s * WORDS + W_BPREV]!;
    if ((prev & HEAD_LINK) !== 0) this.heads[prev & ~HEAD_LINK] = next;
    else w[prev * WORDS + W_BNEXT] = next;
    if (next !== 0) w[next * WORDS + W_BPREV] = prev;
  }

  // ---- slots and the table ------------------------------------------------------------------

  private newSlot(): number {
    let s = this.freeSlot;
    if (s !== 0) {
      this.freeSlot = this.w[s * WORDS + W_NEXT]!;
      return s;
    }
    if (this.used === this.capacity) this.growSlots();
    s = this.used++;
    return s;
  }

  private growSlots(): void {
    const capacity = Math.min(this.slotLimit, Math.ceil(this.capacity * 1.5));
    if (capacity <= this.capacity) throw new Error("store: slot limit reached (a bug)");
    const records = new ArrayBuffer(capacity * WORDS * 4);
    new Uint8Array(records).set(new Uint8Array(this.f64.buffer));
    this.f64 = new Float64Array(records);
    this.w = new Uint32Array(records);
    this.capacity = capacity;
  }

  /** Puts slot `s` (not yet in it) into the table under hash `h`, with its chunk address. */
  private insert(s: number, h: number, addr: number): void {
    const buckets = this.mask + 1;
    if (this.tableCount + 1 > buckets * MAX_LOAD) this.growTable();
    else if (this.nextTable === null && this.tableCount + 1 > buckets * GROW_LOAD) {
      this.nextTable = new Uint32Array(this.table.length * 2);
      this.nextMask = buckets * 2 - 1;
      this.built = FIRST_SLOT;
    }
    // The build steps first: it skips `s`, whose record is not written yet (its state is still
    // free), so `s` goes into the successor here when the build has passed it.
    if (this.nextTable !== null) this.buildSome(GROW_STEP);
    putBucket(this.table, this.mask, h, s, addr);
    this.tableCount++;
    if (this.nextTable !== null && s < this.built)
      putBucket(this.nextTable, this.nextMask, h, s, addr);
  }

  /** Records a new chunk address of slot `s` in its record and its bucket. */
  private setAddr(s: number, addr: number): void {
    this.w[s * WORDS + W_ADDR] = addr;
    const h = this.w[s * WORDS + W_HASH]!;
    setBucketAddr(this.table, this.mask, h, s, addr);
    if (this.nextTable !== null && s < this.built) {
      setBucketAddr(this.nextTable, this.nextMask, h, s, addr);
    }
  }

  /**
   * Moves up to `n` slots (in slot order, from `built`) into the successor table; once every
   * slot is in, the successor becomes the table.
   */
  private buildSome(n: number): void {
    const next = this.nextTable as Uint32Array;
    const mask = this.nextMask;
    const w = this.w;
    const end = Math.min(this.used, this.built + n);
    let s = this.built;
    for (; s < end; s++) {
      const b = s * WORDS;
      if (w[b + W_KEY]! >>> 24 === FREE) continue;
      putBucket(next, mask, w[b + W_HASH]!, s, w[b + W_ADDR]!);
    }
    this.built = s;
    if (s >= this.used) {
      this.table = next;
      this.mask = mask;
      this.nextTable = null;
    }
  }

  /** Makes the table twice as large now, finishing a successor in progress if there is one. */
  private growTable(): void {
    if (this.nextTable === null) {
      this.nextTable = new Uint32Array(this.table.length * 2);
      this.nextMask = this.mask * 2 + 1;
      this.built = FIRST_SLOT;
    }
    this.buildSome(Infinity);
  }

  /** Takes slot `s` out of the table (and the successor), shifting later buckets back. */
  private remove(s: number): void {
    const h = this.w[s * WORDS + W_HASH]!;
    removeBucket(this.table, this.mask, this.w, h, s);
    if (this.nextTable !== null && s < this.built) {
      removeBucket(this.nextTable, this.nextMask, this.w, h, s);
    }
    this.tableCount--;
  }
}

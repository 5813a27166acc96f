// A reference model of the Store for property tests: plain Maps and arrays, written from the
// Store's documented contract, so a random sequence of operations must give the same answers,
// the same eviction victims and the same counters on both.

import { RingcacheError } from "../../src/errors.js";

export interface ModelConfig {
  maxEntries: number;
  maxBytes: number;
  noeviction: boolean;
  tombstoneTtlMs: number;
  maxTombstones: number;
  maxTombstoneBytes: number;
  evictionTombstones: boolean;
  /** Bytes charged for an entry of these key and value lengths (the store's entryBytes). */
  charge: (keyLength: number, valueLength: number) => number;
}

interface Live {
  value: Buffer;
  version: number;
  expiresAt: number;
}

interface Tomb {
  version: number;
  dies: number;
  charge: number;
}

export interface ModelStats {
  entries: number;
  bytes: number;
  tombstones: number;
  tombstoneBytes: number;
  hits: number;
  misses: number;
  evictions: number;
  expirations: number;
}

const id = (key: Uint8Array): string => Buffer.from(key).toString("hex");

export class StoreModel {
  now = 1_000_000;
  readonly stats: ModelStats = {
    entries: 0,
    bytes: 0,
    tombstones: 0,
    tombstoneBytes: 0,
    hits: 0,
    misses: 0,
    evictions: 0,
    expirations: 0,
  };
  /** Live entries; Map order is recency, least recent first. */
  private readonly live = new Map<string, Live>();
  /** Tombstones; Map order is age, oldest first. */
  private readonly tombs = new Map<string, Tomb>();
  private readonly keyLength = new Map<string, number>();
  private readonly config: ModelConfig;

  constructor(config: ModelConfig) {
    this.config = config;
  }

  get(key: Uint8Array): Buffer | undefined {
    const k = id(key);
    const e = this.live.get(k);
    if (e === undefined) {
      this.stats.misses++;
      return undefined;
    }
    if (e.expiresAt !== 0 && e.expiresAt <= this.now) {
      this.expire(k, e);
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.live.delete(k);
    this.live.set(k, e);
    return e.value;
  }

  peek(key: Uint8Array): Buffer | undefined {
    const e = this.live.get(id(key));
    if (e === undefined || (e.expiresAt !== 0 && e.expiresAt <= this.now)) return undefined;
    return e.value;
  }

  /** [version, expiresAt or tombstone death, isTombstone] or undefined. */
  meta(key: Uint8Array): [number, number, boolean] | undefined {
    const k = id(key);
    const e = this.live.get(k);
    if (e !== undefined) {
      if (e.expiresAt === 0 || e.expiresAt > this.now) return [e.version, e.expiresAt, false];
      const dies = e.expiresAt + this.config.tombstoneTtlMs;
      return dies > this.now ? [e.version, dies, true] : undefined;
    }
    const t = this.tombs.get(k);
    if (t === undefined || t.dies <= this.now) return undefined;
    return [t.version, t.dies, true];
  }

  currentVersion(key: Uint8Array): number {
    return this.meta(key)?.[0] ?? -1;
  }

  set(key: Uint8Array, value: Uint8Array, version: number, expiresAt: number): void {
    this.write(key, value, version, expiresAt);
  }

  putIfNewer(key: Uint8Array, value: Uint8Array, version: number, expiresAt: number): boolean {
    const held = this.heldVersion(id(key));
    if (held !== undefined && version <= held) return false;
    this.write(key, value, version, expiresAt);
    return true;
  }

  delete(key: Uint8Array, version: number): boolean {
    const k = id(key);
    const e = this.live.get(k);
    if (e !== undefined) {
      if (e.expiresAt === 0 || e.expiresAt > this.now) {
        if (version <= e.version) return false;
        this.unlive(k, e);
        this.toTombstone(k, version, e.expiresAt, this.config.charge(key.length, 0));
        this.trim();
        return true;
      }
      this.expire(k, e);
      return this.delete(key, version);
    }
    const t = this.tombs.get(k);
    if (t === undefined) {
      this.addTombstone(key, version);
    } else if (t.dies <= this.now) {
      this.dropTomb(k, t);
      this.addTombstone(key, version);
    } else if (version > t.version) {
      this.tombs.delete(k);
      this.tombs.set(k, { ...t, version, dies: this.now + this.config.tombstoneTtlMs });
    }
    return false;
  }

  deleteIfVersion(key: Uint8Array, version: number): boolean {
    const k = id(key);
    const e = this.live.get(k);
    if (e === undefined || (e.expiresAt !== 0 && e.expiresAt <= this.now)) return false;
    if (e.version !== version) return false;
    this.unlive(k, e);
    return true;
  }

  setExpiry(key: Uint8Array, expiresAt: number, version: number): boolean {
    const k = id(key);
    const e = this.live.get(k);
    if (e === undefined) return false;
    if (e.expiresAt !== 0 && e.expiresAt <= this.now) {
      this.expire(k, e);
      return false;
    }
    e.expiresAt = expiresAt;
    e.version = version;
    return true;
  }

  /** Every key the model holds something for (live or tombstone, dead or not). */
  keys(): string[] {
    return [...this.live.keys(), ...this.tombs.keys()];
  }

  // ---- internals, mirroring the contract ----------------------------------------------------

  private heldVersion(k: string): number | undefined {
    const e = this.live.get(k);
    if (e !== undefined) {
      if (e.expiresAt === 0 || e.expiresAt + this.config.tombstoneTtlMs > this.now)
        return e.version;
      return undefined;
    }
    const t = this.tombs.get(k);
    return t !== undefined && t.dies > this.now ? t.version : undefined;
  }

  private write(key: Uint8Array, value: Uint8Array, version: number, expiresAt: number): void {
    const k = id(key);
    const c = this.config;
    const charge = c.charge(key.length, value.length);
    if (charge > c.maxBytes) throw new RingcacheError("VALUE_TOO_LARGE", "too large");
    const old = this.live.get(k);
    const oldCharge = old === undefined ? 0 : c.charge(key.length, old.value.length);
    const grows = old === undefined ? 1 : 0;
    if (
      c.noeviction &&
      (this.stats.entries + grows > c.maxEntries ||
        this.stats.bytes - oldCharge + charge > c.maxBytes)
    ) {
      throw new RingcacheError("OUT_OF_MEMORY", "oom");
    }
    if (old !== undefined) {
      this.unlive(k, old);
    } else {
      const t = this.tombs.get(k);
      if (t !== undefined) this.dropTomb(k, t);
    }
    while (this.stats.entries + 1 > c.maxEntries || this.stats.bytes + charge > c.maxBytes) {
      this.evictOne();
    }
    this.keyLength.set(k, key.length);
    this.live.set(k, { value: Buffer.from(value), version, expiresAt });
    this.stats.entries++;
    this.stats.bytes += charge;
  }

  private evictOne(): void {
    const [k, e] = this.live.entries().next().value as [string, Live];
    this.unlive(k, e);
    const charge = this.config.charge(this.keyLength.get(k)!, e.value.length);
    if (e.expiresAt !== 0 && e.expiresAt <= this.now) {
      this.stats.expirations++;
      this.toTombstone(k, e.version, e.expiresAt, charge);
    } else {
      this.stats.evictions++;
      if (this.config.evictionTombstones) this.toTombstone(k, e.version, e.expiresAt, charge);
    }
    this.trim();
  }

  private expire(k: string, e: Live): void {
    this.stats.expirations++;
    this.unlive(k, e);
    this.toTombstone(
      k,
      e.version,
      e.expiresAt,
      this.config.charge(this.keyLength.get(k)!, e.value.length),
    );
    this.trim();
  }

  private unlive(k: string, e: Live): void {
    this.live.delete(k);
    this.stats.entries--;
    this.stats.bytes -= this.config.charge(this.keyLength.get(k)!, e.value.length);
  }

  private toTombstone(k: string, version: number, expiresAt: number, charge: number): void {
    const from = expiresAt !== 0 && expiresAt <= this.now ? expiresAt : this.now;
    const dies = from + this.config.tombstoneTtlMs;
    if (dies <= this.now || this.config.maxTombstones === 0) return;
    this.tombs.set(k, { version, dies, charge });
    this.stats.tombstones++;
    this.stats.tombstoneBytes += charge;
  }

  private addTombstone(key: Uint8Array, version: number): void {
    const c = this.config;
    if (c.tombstoneTtlMs === 0 || c.maxTombstones === 0) return;
    const charge = c.charge(key.length, 0);
    if (charge > c.maxTombstoneBytes) return;
    this.dropDead();
    while (
      this.stats.tombstones + 1 > c.maxTombstones ||
      this.stats.tombstoneBytes + charge > c.maxTombstoneBytes
    ) {
      this.dropOldest();
    }
    const k = id(key);
    this.keyLength.set(k, key.length);
    this.tombs.set(k, { version, dies: this.now + c.tombstoneTtlMs, charge });
    this.stats.tombstones++;
    this.stats.tombstoneBytes += charge;
  }

  private trim(): void {
    if (this.stats.tombstones === 0) return;
    this.dropDead();
    const c = this.config;
    while (
      this.stats.tombstones > c.maxTombstones ||
      this.stats.tombstoneBytes > c.maxTombstoneBytes
    ) {
      this.dropOldest();
    }
  }

  private dropDead(): void {
    for (const [k, t] of this.tombs) {
      if (t.dies > this.now) return;
      this.dropTomb(k, t);
    }
  }

  private dropOldest(): void {
    const [k, t] = this.tombs.entries().next().value as [string, Tomb];
    this.dropTomb(k, t);
  }

  private dropTomb(k: string, t: Tomb): void {
    this.tombs.delete(k);
    this.stats.tombstones--;
    this.stats.tombstoneBytes -= t.charge;
  }
}

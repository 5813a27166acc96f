import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RingcacheError } from "../../../src/errors.js";
import {
  EntryMeta,
  MAX_KEY_LENGTH,
  Store,
  ValueRef,
  type StoreOptions,
} from "../../../src/store/store.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const text = (v: Uint8Array | undefined): string | undefined =>
  v === undefined ? undefined : Buffer.from(v).toString("latin1");

/** A store on a clock the test moves by hand. */
function clocked(options: StoreOptions = {}): { store: Store; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const store = new Store({ ...options, now: () => clock.now });
  return { store, clock };
}

function keysOf(store: Store): string[] {
  const out: string[] = [];
  let cursor = 0;
  do {
    cursor = store.scan(cursor, 7, (key, _value, _version, _expiresAt, isTombstone) => {
      if (!isTombstone) out.push(text(key)!);
    });
  } while (cursor !== 0);
  return out.sort();
}

function isCode(code: string, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RingcacheError, `expected a RingcacheError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

describe("Store: LRU", () => {
  it("evicts the least recently used entry when over maxEntries", () => {
    const store = new Store({ maxEntries: 3 });
    store.set(b("a"), b("1"), 1, 0);
    store.set(b("b"), b("2"), 1, 0);
    store.set(b("c"), b("3"), 1, 0);
    assert.equal(text(store.get(b("a"))), "1"); // a is now the most recent
    store.set(b("d"), b("4"), 1, 0);
    assert.deepEqual(keysOf(store), ["a", "c", "d"]);
    store.set(b("c"), b("3'"), 2, 0); // a write is a use too
    store.set(b("e"), b("5"), 1, 0);
    assert.deepEqual(keysOf(store), ["c", "d", "e"]);
    assert.equal(store.stats.evictions, 2);
    assert.equal(store.stats.entries, 3);
    store.checkIntegrity();
  });

  it("peek and has do not touch recency", () => {
    const store = new Store({ maxEntries: 2 });
    store.set(b("a"), b("1"), 1, 0);
    store.set(b("b"), b("2"), 1, 0);
    assert.equal(text(store.peek(b("a"))), "1");
    assert.ok(store.has(b("a")));
    store.set(b("c"), b("3"), 1, 0);
    assert.equal(store.peek(b("a")), undefined);
    assert.deepEqual(keysOf(store), ["b", "c"]);
    assert.equal(store.stats.hits + store.stats.misses, 0);
  });

  it("evicts by bytes until the new entry fits", () => {
    // What an entry is charged depends on the page size, which depends on the budget.
    const store = new Store({ maxBytes: 2100 });
    const each = store.entryBytes(1, 300);
    assert.ok(each * 4 <= 2100 && each * 5 > 2100, `${each} bytes per entry`);
    for (const k of "abcd") store.set(b(k), Buffer.alloc(300, k), 1, 0);
    assert.equal(store.stats.bytes, each * 4);
    store.set(b("e"), Buffer.alloc(300, "e"), 1, 0);
    assert.deepEqual(keysOf(store), ["b", "c", "d", "e"]);
    // A value twice as big evicts as many as it takes.
    store.set(b("f"), Buffer.alloc(600, "f"), 1, 0);
    assert.ok(store.stats.bytes <= store.maxBytes);
    assert.equal(store.peek(b("b")), undefined);
    assert.equal(text(store.peek(b("f"))), "f".repeat(600));
    store.checkIntegrity();
  });

  it("refuses a value larger than the whole budget", () => {
    const store = new Store({ maxBytes: 4096 });
    store.set(b("keep"), b("me"), 1, 0);
    assert.throws(
      () => store.set(b("big"), Buffer.alloc(5000), 2, 0),
      isCode("VALUE_TOO_LARGE", /larger than the store's maxBytes 4096/),
    );
    assert.throws(
      () => store.putIfNewer(b("big"), Buffer.alloc(5000), 2, 0),
      isCode("VALUE_TOO_LARGE"),
    );
    assert.equal(text(store.get(b("keep"))), "me");
  });

  it("noeviction refuses writes over the budget with Redis's OOM message", () => {
    const store = new Store({ maxEntries: 2, eviction: "noeviction" });
    store.set(b("a"), b("1"), 1, 0);
    store.set(b("b"), b("2"), 1, 0);
    assert.throws(
      () => store.set(b("c"), b("3"), 1, 0),
      (err: unknown) => {
        assert.ok(err instanceof RingcacheError);
        assert.equal(err.respLine, "OOM command not allowed when used memory > 'maxmemory'.");
        return true;
      },
    );
    store.set(b("a"), b("overwrite fits"), 2, 0); // replacing an entry needs no new room
    assert.equal(store.stats.evictions, 0);
    store.delete(b("b"), 2);
    store.set(b("c"), b("3"), 1, 0);
    assert.deepEqual(keysOf(store), ["a", "c"]);
  });

  it("noeviction counts bytes too", () => {
    const store = new Store({ maxBytes: 1500, eviction: "noeviction" });
    const each = store.entryBytes(1, 400);
    assert.ok(each * 2 <= 1500 && each * 3 > 1500, `${each} bytes per entry`);
    store.set(b("a"), Buffer.alloc(400), 1, 0);
    store.set(b("b"), Buffer.alloc(400), 1, 0);
    assert.throws(() => store.set(b("c"), Buffer.alloc(400), 1, 0), isCode("OUT_OF_MEMORY"));
    assert.throws(() => store.set(b("a"), Buffer.alloc(1200), 2, 0), isCode("OUT_OF_MEMORY"));
    assert.equal(store.peek(b("a"))?.length, 400);
  });
});

describe("Store: TTL", () => {
  it("never returns an expired entry, and drops it when found", () => {
    const { store, clock } = clocked();
    store.set(b("k"), b("v"), 5, clock.now + 100);
    store.set(b("forever"), b("v"), 5, 0);
    clock.now += 99;
    assert.equal(text(store.get(b("k"))), "v");
    clock.now += 1;
    assert.equal(store.peek(b("k")), undefined);
    assert.equal(store.has(b("k")), false);
    assert.equal(store.stats.entries, 2, "peek leaves it for get or a sweep");
    assert.equal(store.get(b("k")), undefined);
    assert.equal(store.stats.entries, 1);
    assert.equal(store.stats.expirations, 1);
    assert.equal(store.stats.misses, 1);
    assert.equal(text(store.get(b("forever"))), "v");
    store.checkIntegrity();
  });

  it("keeps an expired entry's version as a tombstone, so older copies cannot return", () => {
    const { store, clock } = clocked({ tombstoneTtlMs: 1000 });
    store.set(b("k"), b("v"), 10, clock.now + 5);
    clock.now += 10;
    const meta = new EntryMeta();
    assert.ok(store.meta(b("k"), meta));
    assert.deepEqual(
      { ...meta },
      { version: 10, expiresAt: clock.now - 5 + 1000, isTombstone: true },
    );
    assert.equal(store.putIfNewer(b("k"), b("old"), 9, 0), false);
    assert.equal(store.currentVersion(b("k")), 10);
    assert.equal(store.stats.tombstones, 0, "read-only calls change nothing");
    assert.equal(store.get(b("k")), undefined);
    assert.equal(store.stats.tombstones, 1);
    assert.equal(store.putIfNewer(b("k"), b("old"), 10, 0), false);
    clock.now += 1000;
    assert.equal(store.currentVersion(b("k")), -1, "the tombstone died");
    assert.equal(store.putIfNewer(b("k"), b("new"), 3, 0), true);
    assert.equal(text(store.get(b("k"))), "new");
  });

  it("sweeps expired entries with bounded work", () => {
    const { store, clock } = clocked({ evictionTombstones: false, tombstoneTtlMs: 1 });
    for (let i = 0; i < 1000; i++) store.set(b(`k${i}`), b("v"), 1, i < 900 ? clock.now + 10 : 0);
    clock.now += 10;
    const swept = store.sweepExpired(50);
    assert.ok(swept > 0 && swept <= 50, `swept ${swept}`);
    while (store.stats.entries > 100) {
      const before = store.stats.entries;
      store.sweepExpired(200);
      assert.ok(store.stats.entries < before, "each sweep makes progress while most expired");
    }
    assert.equal(store.stats.entries, 100);
    assert.equal(store.stats.expirations, 900);
    clock.now += 1;
    assert.ok(store.sweepExpired(10_000) > 0);
    assert.equal(store.stats.tombstones, 0, "dead tombstones are dropped by the sweep");
    assert.equal(store.sweepExpired(10_000), 0);
    store.checkIntegrity();
  });

  it("stops sweeping early when few entries have expired", () => {
    const { store, clock } = clocked();
    for (let i = 0; i < 1000; i++)
      store.set(b(`k${i}`), b("v"), 1, clock.now + (i % 50 === 0 ? 1 : 1e9));
    clock.now += 1;
    assert.ok(store.sweepExpired(1000) < 20, "a round that finds under 10% expired ends the sweep");
  });

  it("costs nothing when no entry has an expiry", () => {
    let reads = 0;
    const store = new Store({
      now: () => {
        reads++;
        return 0;
      },
    });
    for (let i = 0; i < 100; i++) store.set(b(`k${i}`), b("v"), 1, 0);
    for (let i = 0; i < 100; i++) store.get(b(`k${i}`));
    assert.equal(store.sweepExpired(1000), 0);
    assert.equal(reads, 1, "only the sweep's default `now` read the clock");
  });

  it("setExpiry changes the TTL and the version of a live entry only", () => {
    const { store, clock } = clocked();
    store.set(b("k"), b("v"), 1, 0);
    assert.equal(store.setExpiry(b("k"), clock.now + 50, 2), true);
    assert.equal(store.currentVersion(b("k")), 2);
    assert.equal(store.setExpiry(b("absent"), clock.now + 50, 2), false);
    clock.now += 50;
    assert.equal(store.setExpiry(b("k"), 0, 3), false, "already expired");
    store.set(b("p"), b("v"), 1, clock.now + 5);
    assert.equal(store.setExpiry(b("p"), 0, 2), true);
    clock.now += 100;
    assert.equal(text(store.get(b("p"))), "v", "persisted");
    store.checkIntegrity();
  });
});

describe("Store: versions and tombstones", () => {
  it("putIfNewer applies only strictly newer versions", () => {
    const store = new Store();
    assert.equal(store.currentVersion(b("k")), -1);
    assert.equal(store.putIfNewer(b("k"), b("v5"), 5, 0), true);
    assert.equal(store.putIfNewer(b("k"), b("v4"), 4, 0), false);
    assert.equal(store.putIfNewer(b("k"), b("v5'"), 5, 0), false, "an equal version is a replay");
    assert.equal(text(store.get(b("k"))), "v5");
    assert.equal(store.currentVersion(b("k")), 5);
    assert.equal(store.putIfNewer(b("k"), b("v6"), 6, 0), true);
    assert.equal(text(store.get(b("k"))), "v6");
    const max = Number.MAX_SAFE_INTEGER;
    assert.equal(store.putIfNewer(b("k"), b("max"), max, 0), true);
    assert.equal(store.currentVersion(b("k")), max);
    assert.throws(() => store.putIfNewer(b("k"), b("x"), max + 2, 0), RangeError);
    assert.throws(() => store.putIfNewer(b("k"), b("x"), 1.5, 0), RangeError);
    assert.throws(() => store.set(b("k"), b("x"), -1, 0), RangeError);
    assert.throws(() => store.set(b("k"), b("x"), 1, -5), RangeError);
  });

  it("delete leaves a tombstone that blocks older and equal puts, even for an absent key", () => {
    const store = new Store();
    store.set(b("k"), b("v"), 5, 0);
    assert.equal(store.delete(b("k"), 4), false, "an older delete loses");
    assert.equal(text(store.get(b("k"))), "v");
    assert.equal(store.delete(b("k"), 7), true);
    assert.equal(store.get(b("k")), undefined);
    assert.equal(store.currentVersion(b("k")), 7);
    assert.equal(store.putIfNewer(b("k"), b("old"), 6, 0), false);
    assert.equal(store.putIfNewer(b("k"), b("old"), 7, 0), false);
    assert.equal(store.putIfNewer(b("k"), b("new"), 8, 0), true);
    assert.equal(store.stats.tombstones, 0, "the put replaced the tombstone");

    assert.equal(store.delete(b("never-seen"), 3), false);
    assert.equal(store.currentVersion(b("never-seen")), 3);
    assert.equal(store.putIfNewer(b("never-seen"), b("snapshot"), 2, 0), false);
    assert.equal(store.delete(b("never-seen"), 9), false);
    assert.equal(store.currentVersion(b("never-seen")), 9, "a newer delete raises the tombstone");
    assert.equal(store.delete(b("never-seen"), 4), false);
    assert.equal(store.currentVersion(b("never-seen")), 9);
    assert.equal(store.stats.entries, 1, "tombstones are not entries");
    assert.equal(store.stats.tombstones, 1);
    store.checkIntegrity();
  });

  it("set overwrites unconditionally, tombstones included", () => {
    const store = new Store();
    store.delete(b("k"), 10);
    store.set(b("k"), b("local"), 1, 0);
    assert.equal(text(store.get(b("k"))), "local");
    assert.equal(store.currentVersion(b("k")), 1);
    store.set(b("k"), b("again"), 0, 0);
    assert.equal(store.currentVersion(b("k")), 0);
  });

  it("tombstones die after tombstoneTtlMs", () => {
    const { store, clock } = clocked({ tombstoneTtlMs: 500 });
    store.delete(b("k"), 10);
    clock.now += 499;
    assert.equal(store.putIfNewer(b("k"), b("old"), 9, 0), false);
    clock.now += 1;
    assert.equal(store.currentVersion(b("k")), -1);
    assert.equal(store.putIfNewer(b("k"), b("old"), 9, 0), true);
    store.delete(b("j"), 1);
    clock.now += 500;
    store.delete(b("other"), 1); // any tombstone write drops dead ones from the old end
    assert.equal(store.stats.tombstones, 1);
    store.checkIntegrity();
  });

  it("bounds tombstones by count and bytes, dropping the oldest first", () => {
    const store = new Store({ maxTombstones: 3 });
    for (const k of ["a", "b", "c", "d"]) store.delete(b(k), 1);
    assert.equal(store.stats.tombstones, 3);
    assert.equal(store.currentVersion(b("a")), -1);
    assert.equal(store.currentVersion(b("d")), 1);

    const probe = new Store();
    const each = probe.entryBytes(1, 0);
    const small = new Store({ maxTombstoneBytes: each * 2 });
    for (const k of ["a", "b", "c"]) small.delete(b(k), 1);
    assert.equal(small.stats.tombstones, 2);
    assert.equal(small.stats.tombstoneBytes, each * 2);
    assert.equal(small.currentVersion(b("a")), -1);
    small.delete(b("b"), 2); // raising a tombstone makes it the newest
    small.delete(b("z"), 1);
    assert.equal(small.currentVersion(b("b")), 2);
    assert.equal(small.currentVersion(b("c")), -1);
    small.checkIntegrity();
  });

  it("an evicted entry leaves a tombstone unless told otherwise", () => {
    const store = new Store({ maxEntries: 1 });
    store.set(b("a"), b("1"), 7, 0);
    store.set(b("b"), b("2"), 1, 0);
    assert.equal(store.currentVersion(b("a")), 7);
    assert.equal(store.putIfNewer(b("a"), b("stale"), 6, 0), false);

    const forgetful = new Store({ maxEntries: 1, evictionTombstones: false });
    forgetful.set(b("a"), b("1"), 7, 0);
    forgetful.set(b("b"), b("2"), 1, 0);
    assert.equal(forgetful.currentVersion(b("a")), -1);
    assert.equal(forgetful.stats.tombstones, 0);
  });

  it("deleteIfVersion removes only an unchanged entry, leaving no tombstone", () => {
    const store = new Store();
    store.set(b("k"), b("v"), 5, 0);
    assert.equal(store.deleteIfVersion(b("k"), 4), false);
    assert.equal(store.deleteIfVersion(b("k"), 6), false);
    assert.equal(store.deleteIfVersion(b("k"), 5), true);
    assert.equal(store.currentVersion(b("k")), -1);
    assert.equal(store.stats.tombstones, 0);
    assert.equal(store.deleteIfVersion(b("k"), 5), false);
    store.delete(b("t"), 3);
    assert.equal(store.deleteIfVersion(b("t"), 3), false, "tombstones are not entries");
  });
});

describe("Store: binary keys and memory", () => {
  it("keys are opaque bytes: NUL, 0xFF, empty, and prefixes are all distinct", () => {
    const store = new Store();
    const keys = [
      Uint8Array.of(),
      Uint8Array.of(0),
      Uint8Array.of(0, 0),
      Uint8Array.of(0xff),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff),
      Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0),
      Uint8Array.of(0xc3, 0x28), // not UTF-8
      b("a"),
      b("a\0"),
    ];
    keys.forEach((key, i) => store.set(key, Uint8Array.of(i), i, 0));
    keys.forEach((key, i) => assert.deepEqual(store.get(key), Uint8Array.of(i), `key ${i}`));
    assert.equal(store.stats.entries, keys.length);
    const seen: number[] = [];
    store.scan(0, 1000, (_key, value) => seen.push(value[0]!));
    assert.deepEqual(
      seen.sort((x, y) => x - y),
      keys.map((_, i) => i),
    );
    store.checkIntegrity();
  });

  it("copies keys and values in; views passed back in are safe", () => {
    const store = new Store();
    const key = b("key");
    const value = b("value");
    store.set(key, value, 1, 0);
    key.fill(0);
    value.fill(0);
    assert.equal(text(store.get(b("key"))), "value");
    // A view of the store's own memory as the value of another write.
    const view = store.get(b("key"))!;
    store.set(b("copy"), view, 2, 0);
    store.set(b("key"), view.subarray(1), 3, 0);
    assert.equal(text(store.get(b("copy"))), "value");
    assert.equal(text(store.get(b("key"))), "alue");
  });

  it("getRef and peekRef fill a reusable reference without copying", () => {
    const { store, clock } = clocked();
    store.set(b("k"), b("hello"), 42, clock.now + 1000);
    const ref = new ValueRef();
    assert.equal(store.getRef(b("k"), ref), true);
    assert.equal(ref.buffer.toString("latin1", ref.offset, ref.offset + ref.length), "hello");
    assert.equal(ref.version, 42);
    assert.equal(ref.expiresAt, clock.now + 1000);
    assert.equal(store.peekRef(b("nope"), ref), false);
    assert.equal(store.getRef(b("nope"), ref), false);
    assert.equal(store.stats.hits, 1);
    assert.equal(store.stats.misses, 1);
  });

  it("stores values larger than a slab chunk in buffers of their own", () => {
    const store = new Store({ maxBytes: 4 * 1024 * 1024 });
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    store.set(b("big"), big, 1, 0);
    assert.ok(Buffer.from(store.get(b("big"))!).equals(big));
    assert.ok(store.stats.bytes >= big.length);
    const before = store.memoryBytes();
    store.delete(b("big"), 2);
    assert.ok(store.memoryBytes() < before - 190_000, "its buffer is released");
    store.checkIntegrity();
  });

  it("reuses slab memory under churn of varying sizes, keeping every value intact", () => {
    const PHASES: [number, number][] = [
      [0, 60],
      [300, 500],
      [100, 200],
      [400, 500],
    ];
    const maxBytes = 2 * 1024 * 1024;
    const store = new Store({ maxBytes });
    let seed = 7;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const written = new Map<string, number>(); // key -> step of its last write
    const valueAt = (step: number, size: number): Buffer => Buffer.alloc(size, step & 0xff);
    const sizes = new Map<string, number>();
    const slab = (
      store as unknown as {
        slab: { allocatedBytes: number; limitBytes: number; evacuatedPages: number };
      }
    ).slab;
    let peak = 0;
    for (let i = 0; i < 60_000; i++) {
      // Phases favour different sizes, so pages must move between size classes; a few values
      // are too big for a chunk and get buffers of their own.
      const [lo, hi] = PHASES[Math.floor(i / 15_000)]!;
      const size =
        random() < 0.05 ? 600 + Math.floor(random() * 3000) : lo + Math.floor(random() * (hi - lo));
      const name = `k${Math.floor(random() * 5000)}`;
      if (random() < 0.2) {
        store.delete(b(name), i);
        written.delete(name);
      } else {
        store.set(b(name), valueAt(i, size), i, 0);
        written.set(name, i);
        sizes.set(name, size);
      }
      assert.ok(store.stats.bytes <= maxBytes);
      assert.ok(slab.allocatedBytes <= slab.limitBytes, `slab holds ${slab.allocatedBytes}`);
      if (i % 1000 === 0) peak = Math.max(peak, store.memoryBytes());
    }
    store.checkIntegrity();
    assert.ok(slab.evacuatedPages > 0, "pages changed size class");
    // The slab's limit is the entry and tombstone budgets plus a few pages per size class.
    assert.ok(slab.limitBytes <= (maxBytes + store.maxTombstoneBytes) * 1.05);
    // Slot records and the table for ~10k slots come on top.
    const bound = slab.limitBytes + 1024 * 1024;
    assert.ok(peak <= bound, `memory peaked at ${peak}, bound ${bound}`);
    // Whatever survived eviction holds exactly its last write, wherever its bytes were moved.
    let live = 0;
    for (const [name, step] of written) {
      const v = store.peek(b(name));
      if (v === undefined) continue;
      live++;
      assert.ok(Buffer.from(v).equals(valueAt(step, sizes.get(name)!)), name);
    }
    assert.equal(live, store.stats.entries);
  });

  it("takes keys of any length up to MAX_KEY_LENGTH", () => {
    const store = new Store({ maxBytes: 64 * 1024 * 1024 });
    const long = Buffer.alloc(100_000, 0xab);
    store.set(long, b("long"), 1, 0);
    store.set(b("short"), b("s"), 1, 0);
    assert.equal(text(store.get(long)), "long");
    long[99_999] = 0;
    assert.equal(store.get(long), undefined, "the last byte matters");
    assert.throws(
      () => store.set(Buffer.alloc(MAX_KEY_LENGTH + 1), b("v"), 1, 0),
      isCode("KEY_TOO_LARGE"),
    );
    store.checkIntegrity();
  });

  it("keeps stats in step", () => {
    const store = new Store({ maxEntries: 2 });
    store.set(b("a"), b("1"), 1, 0);
    store.get(b("a"));
    store.get(b("zz"));
    store.set(b("b"), b("2"), 1, 0);
    store.set(b("c"), b("3"), 1, 0);
    store.delete(b("c"), 2);
    assert.deepEqual(
      { ...store.stats },
      {
        entries: 1,
        bytes: store.entryBytes(1, 1),
        tombstones: 2,
        tombstoneBytes: store.entryBytes(1, 1) * 2,
        hits: 1,
        misses: 1,
        evictions: 1,
        expirations: 0,
      },
    );
    assert.equal(store.stats, store.stats, "one object, updated in place");
  });

  it("flushAll drops entries and tombstones and releases memory", () => {
    const store = new Store();
    for (let i = 0; i < 5000; i++) store.set(b(`k${i}`), Buffer.alloc(100), i, 0);
    store.delete(b("k1"), 9999);
    const full = store.memoryBytes();
    store.flushAll();
    assert.equal(store.stats.entries, 0);
    assert.equal(store.stats.tombstones, 0);
    assert.equal(store.stats.bytes, 0);
    assert.equal(store.currentVersion(b("k1")), -1);
    assert.ok(store.memoryBytes() < full / 4);
    assert.equal(
      store.scan(0, 100, () => assert.fail("nothing to visit")),
      0,
    );
    store.set(b("again"), b("v"), 1, 0);
    assert.equal(text(store.get(b("again"))), "v");
    store.checkIntegrity();
  });
});

describe("Store: scan", () => {
  it("visits live entries and tombstones by cursor until 0", () => {
    const { store, clock } = clocked({ tombstoneTtlMs: 100 });
    for (let i = 0; i < 50; i++) store.set(b(`k${i}`), b(`v${i}`), i + 1, 0);
    store.delete(b("k3"), 100);
    store.delete(b("gone"), 100);
    store.set(b("short"), b("lived"), 7, clock.now + 10);
    clock.now += 10;
    const live = new Map<string, string>();
    const tombs = new Map<string, number>();
    let cursor = 0;
    let calls = 0;
    do {
      cursor = store.scan(cursor, 8, (key, value, version, expiresAt, isTombstone) => {
        if (isTombstone) {
          assert.equal(value.length, 0);
          tombs.set(text(key)!, version);
          assert.ok(expiresAt > clock.now);
        } else {
          live.set(text(key)!, text(value)!);
        }
      });
      calls++;
    } while (cursor !== 0);
    assert.ok(calls >= 7);
    assert.equal(live.size, 49);
    assert.equal(live.get("k10"), "v10");
    assert.deepEqual([...tombs].sort(), [
      ["gone", 100],
      ["k3", 100],
      ["short", 7], // expired: reported as the tombstone it becomes
    ]);
    clock.now += 100;
    let visited = 0;
    store.scan(0, 1000, (_k, _v, _ver, _exp, isTombstone) => {
      assert.equal(isTombstone, false, "dead tombstones are skipped");
      visited++;
    });
    assert.equal(visited, 49);
  });

  it("rejects a cursor it never returned", () => {
    const store = new Store();
    assert.throws(() => store.scan(1, 10, () => undefined), RangeError);
    assert.throws(() => store.scan(2.5, 10, () => undefined), RangeError);
    assert.equal(
      store.scan(1_000_000, 10, () => undefined),
      0,
      "a cursor past the end is done",
    );
  });
});

describe("Store: options", () => {
  it("validates each option once, naming it", () => {
    const bad: [StoreOptions, RegExp][] = [
      [{ maxBytes: 10 }, /maxBytes must be an integer between 1024/],
      [{ maxBytes: 1.5e3 + 0.5 }, /maxBytes/],
      [{ maxEntries: 0 }, /maxEntries must be an integer >= 1/],
      [{ maxTombstones: -1 }, /maxTombstones/],
      [{ maxTombstoneBytes: -1 }, /maxTombstoneBytes/],
      [{ tombstoneTtlMs: 0.5 }, /tombstoneTtlMs/],
      [{ initialCapacity: -1 }, /initialCapacity/],
      [{ eviction: "allkeys-lfu" as "lru" }, /eviction must be "lru" or "noeviction"/],
      [{ now: 5 as unknown as () => number }, /now must be a function/],
    ];
    for (const [options, message] of bad) {
      assert.throws(() => new Store(options), isCode("CONFIG", message), JSON.stringify(options));
    }
    const store = new Store({ maxEntries: Infinity });
    assert.ok(store.maxEntries > 1_000_000);
    assert.equal(store.maxBytes, 256 * 1024 * 1024);
    assert.equal(store.maxTombstoneBytes, 32 * 1024 * 1024);
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RingcacheError } from "../../src/errors.js";
import { hashKey, hashKeyAt } from "../../src/ring/hash.js";
import { EntryMeta, Store } from "../../src/store/store.js";
import { StoreModel } from "./store-model.js";

// Keys are bytes: the empty key, NUL, 0xFF, keys that are prefixes of others, a long one.
const KEYS: Uint8Array[] = [
  Uint8Array.of(),
  Uint8Array.of(0),
  Uint8Array.of(0, 0),
  Uint8Array.of(0xff),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff),
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0),
  Buffer.from("a"),
  Buffer.from("ab"),
  Buffer.from("abcd"),
  Buffer.from("abcde"),
  Buffer.from("user:1234567890"),
  Buffer.alloc(41, 7),
];

type Op =
  | { op: "set" | "put"; key: number; size: number; version: number; ttl: number }
  | { op: "get" | "peek" | "meta"; key: number }
  | { op: "delete" | "deleteIfVersion"; key: number; version: number }
  | { op: "setExpiry"; key: number; ttl: number; version: number }
  | { op: "advance"; ms: number };

const key = fc.integer({ min: 0, max: KEYS.length - 1 });
const version = fc.integer({ min: 0, max: 40 });
const ttl = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 60 }));
// Sizes cross slab classes and, past 508 bytes at these budgets, the own-buffer path.
const size = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 700 }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ op: fc.constantFrom("set", "put"), key, size, version, ttl }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constantFrom("get", "peek", "meta"), key }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constantFrom("delete", "deleteIfVersion"), key, version }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("setExpiry"), key, ttl, version }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("advance"), ms: fc.integer({ min: 0, max: 40 }) }),
  },
);

const configArb = fc.record({
  maxEntries: fc.integer({ min: 1, max: 8 }),
  maxBytes: fc.integer({ min: 1024, max: 4000 }),
  noeviction: fc.boolean(),
  tombstoneTtlMs: fc.integer({ min: 0, max: 80 }),
  maxTombstones: fc.integer({ min: 0, max: 6 }),
  maxTombstoneBytes: fc.integer({ min: 0, max: 3000 }),
  evictionTombstones: fc.boolean(),
});

function valueOf(size: number, seed: number): Buffer {
  const v = Buffer.alloc(size);
  for (let i = 0; i < size; i++) v[i] = (seed * 31 + i * 7) & 0xff;
  return v;
}

/** Runs `f` on both, expecting the same result or the same RingcacheError code. */
function same<T>(what: string, onStore: () => T, onModel: () => T): void {
  let a: T | RingcacheError;
  let b: T | RingcacheError;
  try {
    a = onStore();
  } catch (err) {
    if (!(err instanceof RingcacheError)) throw err;
    a = err;
  }
  try {
    b = onModel();
  } catch (err) {
    if (!(err instanceof RingcacheError)) throw err;
    b = err;
  }
  if (a instanceof RingcacheError || b instanceof RingcacheError) {
    assert.equal(
      a instanceof RingcacheError && a.code,
      b instanceof RingcacheError && b.code,
      what,
    );
  } else {
    const norm = (x: T): unknown => (x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x);
    assert.deepEqual(norm(a), norm(b), what);
  }
}

describe("Store against a reference model", () => {
  it("gives the same answers, victims, versions and counters for random operations", () => {
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 150, size: "max" }), (config, ops) => {
        let now = 1_000_000;
        const store = new Store({
          maxEntries: config.maxEntries,
          maxBytes: config.maxBytes,
          eviction: config.noeviction ? "noeviction" : "lru",
          tombstoneTtlMs: config.tombstoneTtlMs,
          maxTombstones: config.maxTombstones,
          maxTombstoneBytes: config.maxTombstoneBytes,
          evictionTombstones: config.evictionTombstones,
          initialCapacity: 0,
          now: () => now,
        });
        const model = new StoreModel({ ...config, charge: (k, v) => store.entryBytes(k, v) });
        const meta = new EntryMeta();
        ops.forEach((o, step) => {
          const what = `step ${step}: ${JSON.stringify(o)}`;
          switch (o.op) {
            case "set":
            case "put": {
              const k = KEYS[o.key]!;
              const v = valueOf(o.size, step);
              const exp = o.ttl === 0 ? 0 : now + o.ttl;
              if (o.op === "set") {
                same(
                  what,
                  () => store.set(k, v, o.version, exp),
                  () => model.set(k, v, o.version, exp),
                );
              } else {
                same(
                  what,
                  () => store.putIfNewer(k, v, o.version, exp),
                  () => model.putIfNewer(k, v, o.version, exp),
                );
              }
              break;
            }
            case "get":
              same(
                what,
                () => store.get(KEYS[o.key]!),
                () => model.get(KEYS[o.key]!),
              );
              break;
            case "peek":
              same(
                what,
                () => store.peek(KEYS[o.key]!),
                () => model.peek(KEYS[o.key]!),
              );
              break;
            case "meta":
              same(
                what,
                () =>
                  store.meta(KEYS[o.key]!, meta)
                    ? [meta.version, meta.expiresAt, meta.isTombstone]
                    : undefined,
                () => model.meta(KEYS[o.key]!),
              );
              break;
            case "delete":
              same(
                what,
                () => store.delete(KEYS[o.key]!, o.version),
                () => model.delete(KEYS[o.key]!, o.version),
              );
              break;
            case "deleteIfVersion": {
              // Mostly the version held, so the delete can succeed.
              const held = model.currentVersion(KEYS[o.key]!);
              const v = o.version % 3 === 0 || held < 0 ? o.version : held;
              same(
                what,
                () => store.deleteIfVersion(KEYS[o.key]!, v),
                () => model.deleteIfVersion(KEYS[o.key]!, v),
              );
              break;
            }
            case "setExpiry": {
              const exp = o.ttl === 0 ? 0 : now + o.ttl;
              same(
                what,
                () => store.setExpiry(KEYS[o.key]!, exp, o.version),
                () => model.setExpiry(KEYS[o.key]!, exp, o.version),
              );
              break;
            }
            case "advance":
              now += o.ms;
              model.now = now;
              break;
          }
          assert.deepEqual({ ...store.stats }, model.stats, `stats after ${what}`);
          for (const k of KEYS) {
            assert.equal(store.currentVersion(k), model.currentVersion(k), `version after ${what}`);
          }
          store.checkIntegrity();
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe("Store scan while mutating", () => {
  it("returns every entry present for the whole scan exactly once", () => {
    const scanOp = fc.record({
      op: fc.constantFrom("set", "delete", "get", "evict", "advance", "sweep", "scan", "scan"),
      key: fc.integer({ min: 0, max: 199 }),
      n: fc.integer({ min: 0, max: 400 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 150 }),
        fc.array(scanOp, { minLength: 1, maxLength: 150, size: "max" }),
        fc.integer({ min: 1, max: 20 }),
        (maxEntries, ops, count) => {
          let now = 1_000_000;
          const store = new Store({
            maxEntries,
            maxTombstones: 40,
            tombstoneTtlMs: 50,
            initialCapacity: 0,
            now: () => now,
          });
          const k = (i: number): Buffer => Buffer.from(`key-${i}`);
          for (let i = 0; i < maxEntries; i++)
            store.set(k(i), valueOf(i % 50, i), 1, i % 7 === 0 ? now + 100 : 0);
          const meta = new EntryMeta();
          const presentNow = (): Set<string> => {
            const out = new Set<string>();
            for (let i = 0; i < 200; i++) if (store.meta(k(i), meta)) out.add(`key-${i}`);
            return out;
          };
          let throughout = presentNow();
          const visits = new Map<string, number>();
          let cursor = 0;
          let started = false;
          for (const o of ops) {
            switch (o.op) {
              case "set":
                store.set(k(o.key), valueOf(o.n, o.key), o.n + 2, o.n % 5 === 0 ? now + o.n : 0);
                break;
              case "delete":
                store.delete(k(o.key), o.n + 2);
                break;
              case "get":
                store.get(k(o.key));
                break;
              case "evict":
                // A burst of new keys forces evictions and slot reuse.
                for (let i = 0; i < o.n % 30; i++)
                  store.set(k(200 + i + o.key), valueOf(8, i), 1, 0);
                break;
              case "advance":
                now += o.n % 60;
                break;
              case "sweep":
                store.sweepExpired(o.n);
                break;
              case "scan":
                cursor = store.scan(cursor, count, (key) => {
                  const name = Buffer.from(key).toString();
                  visits.set(name, (visits.get(name) ?? 0) + 1);
                });
                started = true;
                break;
            }
            const present = presentNow();
            throughout = new Set([...throughout].filter((x) => present.has(x)));
            if (started && cursor === 0) break;
          }
          // Finish the scan without further changes.
          while (!started || cursor !== 0) {
            started = true;
            cursor = store.scan(cursor, count, (key) => {
              const name = Buffer.from(key).toString();
              visits.set(name, (visits.get(name) ?? 0) + 1);
            });
          }
          for (const name of throughout) {
            assert.equal(
              visits.get(name),
              1,
              `${name} present throughout, visited ${visits.get(name) ?? 0}`,
            );
          }
          store.checkIntegrity();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a filtered scan visits exactly what an unfiltered one does that the filter accepts", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 120 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 4 }),
        (ops, count, modulus) => {
          let now = 1_000_000;
          const store = new Store({ tombstoneTtlMs: 50, initialCapacity: 0, now: () => now });
          ops.forEach((o, step) => {
            if (o.op === "set" || o.op === "put") {
              store.set(KEYS[o.key]!, valueOf(o.size, step), o.version, o.ttl && now + o.ttl);
            } else if (o.op === "delete") store.delete(KEYS[o.key]!, o.version);
            else if (o.op === "advance") now += o.ms;
          });
          const seen = (filtered: boolean): string[] => {
            const out: string[] = [];
            let cursor = 0;
            do {
              cursor = store.scan(
                cursor,
                count,
                (k, v, version, expiresAt, tomb) => {
                  if (filtered || hashKey(k) % modulus === 0) {
                    out.push(
                      `${Buffer.from(k).toString("hex")} ${v.length} ${version} ${expiresAt} ${tomb}`,
                    );
                  }
                },
                filtered ? (bytes, at, n) => hashKeyAt(bytes, at, n) % modulus === 0 : undefined,
              );
            } while (cursor !== 0);
            return out;
          };
          assert.deepEqual(seen(true), seen(false));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("Store scan by buckets (the scan index)", () => {
  /** Plain keys and keys of four hash tags, so some buckets hold many keys. */
  const k = (i: number): Buffer => Buffer.from(i % 3 === 0 ? `{g${i % 4}}key-${i}` : `key-${i}`);
  const bucketOf = (key: Uint8Array): number => hashKey(key) >>> 16;
  /** Every bucket a key of the test may be in, ascending: the walk's order. */
  const buckets = [...new Set(Array.from({ length: 260 }, (_, i) => bucketOf(k(i))))].sort(
    (a, b) => a - b,
  );

  it("walks every entry present for the whole walk exactly once, each in its own bucket", () => {
    const scanOp = fc.record({
      op: fc.constantFrom("set", "delete", "get", "evict", "advance", "sweep", "walk", "walk"),
      key: fc.integer({ min: 0, max: 199 }),
      n: fc.integer({ min: 0, max: 400 }),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 5, max: 150 }),
        fc.array(scanOp, { minLength: 1, maxLength: 150, size: "max" }),
        fc.integer({ min: 1, max: 20 }),
        (maxEntries, ops, step) => {
          let now = 1_000_000;
          const store = new Store({
            maxEntries,
            maxTombstones: 40,
            tombstoneTtlMs: 50,
            initialCapacity: 0,
            now: () => now,
          });
          for (let i = 0; i < maxEntries; i++)
            store.set(k(i), valueOf(i % 50, i), 1, i % 7 === 0 ? now + 100 : 0);
          const meta = new EntryMeta();
          const presentNow = (): Set<string> => {
            const out = new Set<string>();
            for (let i = 0; i < 260; i++) if (store.meta(k(i), meta)) out.add(k(i).toString());
            return out;
          };
          let throughout = presentNow();
          const visits = new Map<string, number>();
          let at = 0;
          const walk = (): void => {
            for (const end = Math.min(buckets.length, at + step); at < end; at++) {
              const bucket = buckets[at]!;
              let n = 0;
              const visited = store.scanBucket(bucket, (bytes, offset, length) => {
                const key = Buffer.from(bytes.subarray(offset, offset + length));
                assert.equal(bucketOf(key), bucket, `${key.toString()} in bucket ${bucket}`);
                visits.set(key.toString(), (visits.get(key.toString()) ?? 0) + 1);
                n++;
              });
              assert.equal(visited, n);
            }
          };
          for (const o of ops) {
            switch (o.op) {
              case "set":
                store.set(k(o.key), valueOf(o.n, o.key), o.n + 2, o.n % 5 === 0 ? now + o.n : 0);
                break;
              case "delete":
                store.delete(k(o.key), o.n + 2);
                break;
              case "get":
                store.get(k(o.key));
                break;
              case "evict":
                for (let i = 0; i < o.n % 30; i++)
                  store.set(k(200 + ((i + o.key) % 60)), valueOf(8, i), 1, 0);
                break;
              case "advance":
                now += o.n % 60;
                break;
              case "sweep":
                store.sweepExpired(o.n);
                break;
              case "walk":
                walk();
                break;
            }
            const present = presentNow();
            throughout = new Set([...throughout].filter((x) => present.has(x)));
            if (at === buckets.length) break;
          }
          while (at < buckets.length) walk();
          for (const name of throughout) {
            assert.equal(
              visits.get(name),
              1,
              `${name} present throughout, visited ${visits.get(name) ?? 0}`,
            );
          }
          for (const [name, n] of visits) assert.equal(n, 1, `${name} visited ${n} times`);
          store.checkIntegrity();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("visits, over all buckets, exactly what a scan by slots visits", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        let now = 1_000_000;
        const store = new Store({ tombstoneTtlMs: 50, initialCapacity: 0, now: () => now });
        ops.forEach((o, step) => {
          if (o.op === "set" || o.op === "put") {
            store.set(KEYS[o.key]!, valueOf(o.size, step), o.version, o.ttl && now + o.ttl);
          } else if (o.op === "delete") store.delete(KEYS[o.key]!, o.version);
          else if (o.op === "deleteIfVersion") store.deleteIfVersion(KEYS[o.key]!, o.version);
          else if (o.op === "advance") now += o.ms;
        });
        const bySlots: string[] = [];
        let cursor = 0;
        do {
          cursor = store.scan(cursor, 7, (key, _v, version, _e, tomb) => {
            bySlots.push(`${Buffer.from(key).toString("hex")} ${version} ${tomb}`);
          });
        } while (cursor !== 0);
        const byBuckets: string[] = [];
        for (const key of KEYS) {
          const bucket = bucketOf(key);
          if (!store.bucketUsed(bucket)) continue;
          store.scanBucket(bucket, (bytes, offset, length, version, tomb) => {
            if (!Buffer.from(bytes.subarray(offset, offset + length)).equals(key)) return;
            byBuckets.push(`${Buffer.from(key).toString("hex")} ${version} ${tomb}`);
          });
        }
        assert.deepEqual(byBuckets.sort(), bySlots.sort());
        store.checkIntegrity();
      }),
      { numRuns: 300 },
    );
  });

  it("empties every bucket on flushAll", () => {
    const store = new Store();
    for (let i = 0; i < 500; i++) store.set(k(i), valueOf(10, i), 1, 0);
    store.flushAll();
    for (const bucket of buckets) assert.equal(store.bucketUsed(bucket), false);
    store.set(k(1), valueOf(1, 1), 2, 0);
    assert.equal(
      store.scanBucket(bucketOf(k(1)), () => {}),
      1,
    );
    store.checkIntegrity();
  });
});

describe("Store growth", () => {
  it("finds every key while its table grows in steps, through writes, deletes and evictions", () => {
    // Hundreds of keys from an empty store: the table doubles several times, and between a
    // growth's start and its end (a few slots moved per insert) deletes, rewrites that move
    // chunks, and evictions (a small entry budget) hit slots on both sides of the build.
    const op = fc.record({
      kind: fc.constantFrom("set", "set", "set", "delete", "drop"),
      key: fc.integer({ min: 0, max: 899 }),
      size: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 600 })),
    });
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1500, maxLength: 2500 }),
        fc.boolean(),
        (ops, tight) => {
          const store = new Store({ initialCapacity: 0, maxEntries: tight ? 500 : 100_000 });
          const keys = Array.from({ length: 900 }, (_, i) => Buffer.from(`grow:${i}`));
          /** What each key holds as far as this test wrote it (evictions may drop live ones). */
          const held = new Map<number, { version: number; size: number }>();
          let version = 0;
          ops.forEach((o, step) => {
            const k = keys[o.key] as Buffer;
            if (o.kind === "set") {
              store.set(k, Buffer.alloc(o.size, o.key % 251), ++version, 0);
              held.set(o.key, { version, size: o.size });
            } else if (o.kind === "delete") {
              store.delete(k, ++version);
              held.delete(o.key);
            } else {
              store.deleteIfVersion(k, held.get(o.key)?.version ?? 0);
              held.delete(o.key);
            }
            if (step % 9 === 0) store.checkIntegrity();
          });
          store.checkIntegrity();
          for (const [i, want] of held) {
            const got = store.peek(keys[i] as Buffer);
            if (got === undefined) {
              assert.ok(tight, `grow:${i} lost without eviction pressure`);
              continue;
            }
            assert.equal(got.length, want.size, `grow:${i}`);
            assert.equal(store.currentVersion(keys[i] as Buffer), want.version, `grow:${i}`);
          }
          if (!tight) assert.equal(store.stats.entries, held.size);
        },
      ),
      { numRuns: 25 },
    );
  });
});

// LRU benchmark: ringcache's Store against lru-cache@11 and mnemonist's LRUCache.
//
//   node --expose-gc dist/bench/lru.js        (npm run bench:lru builds first)
//
// Throughput: a 90/10 get/set mix over a Zipf (s = 0.99) keyspace of 2M keys, with room for 1M
// live entries of 100-byte values, prefilled. Every Store write is a versioned putIfNewer with
// an expiry far in the future, so versions and TTL checks are on; reads use getRef, the
// zero-allocation read a server uses to copy a value into its reply. The Store runs twice: with
// its default clock (Date.now on every access to an entry with an expiry, ~50 ns on this VM)
// and with the clock a server passes in, read once per batch of 16 operations (one socket read
// of pipelined commands; Redis likewise reads the time once per command, not per key access).
//
// Keys arrive as a server sees them: every operation has its own key object, none identical to
// the one stored. The Store gets a Buffer view of the operation's bytes; the rivals get a fresh
// string, which V8 hashes on lookup and compares by characters, as for a decoded request. Key
// objects are made before each round, outside the timing (so nobody pays for parsing or
// decoding), and dropped after it. Rivals copy each value into a fresh Buffer on set, as a
// server must (the socket chunk is reused).
//
// Rounds of 250k operations alternate between the contenders so they share the machine's
// load; each one's median round is reported, and a ratio is the median over rounds of the
// ratio measured within the round, so a burst of load from elsewhere cancels out.
//
// Memory: heap + external bytes per entry after gc for 1M fresh entries, baseline subtracted.
import { LRUCache as LRUCacheMnemonist } from "mnemonist";
import { LRUCache } from "lru-cache";
import { Store, ValueRef } from "../src/store/store.js";

const KEYS = 2_000_000;
const LIVE = 1_000_000;
const VALUE_BYTES = 100;
const KEY_BYTES = 16;
const OPS = 2_000_000;
const ROUNDS = 24;
/** Operations timed per round: round r runs the r-th window of the sequence (wrapping). */
const ROUND_OPS = 250_000;
const FAR_FUTURE = Date.now() + 365 * 24 * 3600 * 1000;

const gc = (globalThis as { gc?: (options?: { type: "minor" | "major" }) => void }).gc;
if (gc === undefined) {
  console.error("run with --expose-gc: node --expose-gc dist/bench/lru.js");
  process.exit(2);
}

/** xorshift32: a seeded generator so every run replays the same sequence. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** `key:` + 12 decimal digits: 16 bytes. */
function keyText(id: number): string {
  return "key:" + String(id).padStart(KEY_BYTES - 4, "0");
}

/** The operations: key ids drawn from Zipf(0.99) over ranks, ranks shuffled over ids. */
function makeWorkload(): { ops: Uint32Array; sets: Uint8Array } {
  const random = rng(0x5eed);
  const cdf = new Float64Array(KEYS);
  let total = 0;
  for (let r = 0; r < KEYS; r++) {
    total += 1 / Math.pow(r + 1, 0.99);
    cdf[r] = total;
  }
  const perm = new Uint32Array(KEYS);
  for (let i = 0; i < KEYS; i++) perm[i] = i;
  for (let i = KEYS - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const ops = new Uint32Array(OPS);
  const sets = new Uint8Array(OPS);
  for (let i = 0; i < OPS; i++) {
    const u = random() * total;
    let lo = 0;
    let hi = KEYS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    ops[i] = perm[lo]!;
    sets[i] = random() < 0.1 ? 1 : 0;
  }
  return { ops, sets };
}

/** One round's key objects, index 0 = the window's first operation. */
interface RoundKeys {
  sets: Uint8Array;
  views: Buffer[];
  strings: string[];
}

interface Contender {
  name: string;
  prefill(): void;
  /** Runs one round; returns the elapsed ns. */
  run(keys: RoundKeys): number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function main(): void {
  const started = Date.now();
  const { ops, sets } = makeWorkload();
  // The request stream: operation i's key at [i * KEY_BYTES, (i + 1) * KEY_BYTES).
  const stream = Buffer.alloc(OPS * KEY_BYTES);
  for (let i = 0; i < OPS; i++) stream.write(keyText(ops[i]!), i * KEY_BYTES, "latin1");
  const roundKeys = (from: number): RoundKeys => {
    const views: Buffer[] = [];
    const strings: string[] = [];
    for (let i = from; i < from + ROUND_OPS; i++) {
      views.push(stream.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES));
      strings.push(stream.toString("latin1", i * KEY_BYTES, (i + 1) * KEY_BYTES));
    }
    return { sets: sets.subarray(from, from + ROUND_OPS), views, strings };
  };
  const fillKey = Buffer.alloc(KEY_BYTES);
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let sink = 0;

  const ref = new ValueRef();
  const store = new Store({ maxEntries: LIVE, maxBytes: 2 ** 30, initialCapacity: LIVE });
  let clock = Date.now();
  const batched = new Store({
    maxEntries: LIVE,
    maxBytes: 2 ** 30,
    initialCapacity: LIVE,
    now: () => clock,
  });
  let version = 1;
  const lru = new LRUCache<string, Buffer>({ max: LIVE });
  const mn = new LRUCacheMnemonist<string, Buffer>(LIVE);

  const prefillStore = (s: Store): void => {
    for (let i = 0; i < LIVE; i++) {
      fillKey.write(keyText(i), 0, "latin1");
      s.putIfNewer(fillKey, value, version++, FAR_FUTURE);
    }
  };
  const contenders: Contender[] = [
    {
      name: "ringcache Store",
      prefill: () => prefillStore(store),
      run({ sets, views }) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < views.length; i++) {
          const key = views[i]!;
          if (sets[i] === 1) store.putIfNewer(key, value, version++, FAR_FUTURE);
          else if (store.getRef(key, ref)) sink += ref.length;
        }
        return Number(process.hrtime.bigint() - t);
      },
    },
    {
      name: "Store, batch clock",
      prefill: () => prefillStore(batched),
      run({ sets, views }) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < views.length; i++) {
          if ((i & 15) === 0) clock = Date.now();
          const key = views[i]!;
          if (sets[i] === 1) batched.putIfNewer(key, value, version++, FAR_FUTURE);
          else if (batched.getRef(key, ref)) sink += ref.length;
        }
        return Number(process.hrtime.bigint() - t);
      },
    },
    {
      name: "lru-cache@11",
      prefill() {
        for (let i = 0; i < LIVE; i++) lru.set(keyText(i), Buffer.from(value));
      },
      run({ sets, strings }) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < strings.length; i++) {
          const key = strings[i]!;
          if (sets[i] === 1) lru.set(key, Buffer.from(value));
          else sink += lru.get(key)?.length ?? 0;
        }
        return Number(process.hrtime.bigint() - t);
      },
    },
    {
      name: "mnemonist LRUCache",
      prefill() {
        for (let i = 0; i < LIVE; i++) mn.set(keyText(i), Buffer.from(value));
      },
      run({ sets, strings }) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < strings.length; i++) {
          const key = strings[i]!;
          if (sets[i] === 1) mn.set(key, Buffer.from(value));
          else sink += mn.get(key)?.length ?? 0;
        }
        return Number(process.hrtime.bigint() - t);
      },
    },
  ];

  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (const c of contenders) c.prefill();
  const warm = roundKeys(OPS - ROUND_OPS);
  for (const c of contenders) c.run(warm);
  for (let round = 0; round < ROUNDS; round++) {
    const keys = roundKeys((round * ROUND_OPS) % OPS);
    for (const c of contenders) {
      // Each contender starts with an empty young generation (the last one's garbage gone).
      gc!({ type: "minor" });
      rates.get(c.name)!.push(ROUND_OPS / (c.run(keys) / 1e9));
    }
  }
  const hits = store.stats.hits / (store.stats.hits + store.stats.misses);
  store.flushAll();
  batched.flushAll();
  lru.clear();
  mn.clear();

  // Memory: 1M fresh entries each, keys decoded from bytes as a server would.
  const perEntry = new Map<string, number>();
  const measure = (name: string, fill: () => unknown): void => {
    gc!();
    gc!();
    const before = process.memoryUsage();
    const held = fill();
    gc!();
    gc!();
    const after = process.memoryUsage();
    const delta = after.heapUsed + after.external - (before.heapUsed + before.external);
    perEntry.set(name, delta / LIVE);
    sink += held === undefined ? 0 : 1;
  };
  measure("ringcache Store", () => {
    const s = new Store({ maxEntries: LIVE, maxBytes: 2 ** 30 });
    for (let i = 0; i < LIVE; i++) {
      fillKey.write(keyText(i), 0, "latin1");
      s.putIfNewer(fillKey, value, i + 1, FAR_FUTURE);
    }
    return s;
  });
  measure("lru-cache@11", () => {
    const c = new LRUCache<string, Buffer>({ max: LIVE });
    for (let i = 0; i < LIVE; i++) {
      fillKey.write(keyText(i), 0, "latin1");
      c.set(fillKey.toString("latin1"), Buffer.from(value));
    }
    return c;
  });
  measure("mnemonist LRUCache", () => {
    const c = new LRUCacheMnemonist<string, Buffer>(LIVE);
    for (let i = 0; i < LIVE; i++) {
      fillKey.write(keyText(i), 0, "latin1");
      c.set(fillKey.toString("latin1"), Buffer.from(value));
    }
    return c;
  });

  const m = (xs: number[]): string => (median(xs) / 1e6).toFixed(2);
  const row = (name: string): string => {
    const r = rates.get(name)!;
    const mem = perEntry.get(name) ?? perEntry.get("ringcache Store")!;
    const range = `${(Math.min(...r) / 1e6).toFixed(2)}-${(Math.max(...r) / 1e6).toFixed(2)}`;
    return `| ${name.padEnd(18)} | ${m(r).padStart(5)} M | ${range.padStart(9)} M | ${mem.toFixed(0).padStart(5)} B |`;
  };
  console.log(
    `${ROUNDS} rounds x ${ROUND_OPS / 1000}k ops, 90/10 get/set, Zipf 0.99 over ${KEYS / 1e6}M ` +
      `keys, ${LIVE / 1e6}M live, ${VALUE_BYTES} B values, ${KEY_BYTES} B keys; ` +
      `Store hit rate ${(hits * 100).toFixed(1)}%`,
  );
  console.log("| implementation     | ops/s    | rounds        | bytes/entry |");
  console.log("| ------------------ | -------- | ------------- | ----------- |");
  for (const c of contenders) console.log(row(c.name));
  const lruRates = rates.get("lru-cache@11")!;
  const mnRates = rates.get("mnemonist LRUCache")!;
  for (const name of ["ringcache Store", "Store, batch clock"]) {
    const ratios = rates.get(name)!.map((r, i) => r / Math.max(lruRates[i]!, mnRates[i]!));
    console.log(
      `${name}: ops/s vs the faster rival ${median(ratios).toFixed(2)}x ` +
        `(rounds ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}; target >= 1.0x)`,
    );
  }
  const mem = perEntry.get("ringcache Store")! / perEntry.get("lru-cache@11")!;
  console.log(`bytes/entry vs lru-cache: ${mem.toFixed(2)}x (target <= 0.75x)`);
  console.log(`(${((Date.now() - started) / 1000).toFixed(1)} s${sink === -1 ? "" : ""})`);
}

main();

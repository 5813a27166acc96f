// The scan index's cost on the store's writes and reads: this build's Store against the Store of
// another build (an older commit compiled elsewhere), in one process, rounds alternating.
//
//   git archive <commit> | tar -x -C /tmp/base && ln -s "$PWD/node_modules" /tmp/base/
//   (cd /tmp/base && npx tsc -p tsconfig.json)
//   node --expose-gc dist/bench/store-index.js --baseline /tmp/base/dist/src/store/store.js
//
//   put  putIfNewer of new keys into a full store (1M entries, 100-byte values): each one
//        takes a new slot (this build: hashes the key for its scan bucket, links it) and
//        evicts the least recently used entry (this build: unlinks it)
//   get  getRef of present keys, random order
// Each figure is the median of its rounds, in ns per operation; rounds alternate which build
// goes first, and the ratios are the median of the ratios within a round.
import { pathToFileURL } from "node:url";
import { Store, ValueRef } from "../src/store/store.js";

const at = process.argv.indexOf("--baseline");
const baselinePath = at >= 0 ? process.argv[at + 1] : undefined;
if (baselinePath === undefined) {
  console.error("usage: store-index --baseline <an older build's dist/src/store/store.js>");
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with --expose-gc");
  process.exit(2);
}

type StoreClass = typeof Store;
const baseline = (await import(pathToFileURL(baselinePath).href)) as {
  Store: StoreClass;
  ValueRef: typeof ValueRef;
};

const LIVE = 1_000_000;
const OPS = 500_000;
const ROUNDS = 11;
const key = (i: number): Buffer => Buffer.from(`key:${String(i).padStart(12, "0")}`);
const value = Buffer.alloc(100, 7);

/** ns per put of a new key into a full store, and per get of a present key. */
function measure(S: StoreClass, R: typeof ValueRef, keys: Buffer[]): { put: number; get: number } {
  const store = new S({ maxEntries: LIVE, maxBytes: 1024 * 1024 * 1024, initialCapacity: LIVE });
  for (let i = 0; i < LIVE; i++) store.putIfNewer(keys[i] as Buffer, value, 1, 0);
  gc?.();
  let t = process.hrtime.bigint();
  for (let i = LIVE; i < LIVE + OPS; i++) store.putIfNewer(keys[i] as Buffer, value, 1, 0);
  const put = Number(process.hrtime.bigint() - t) / OPS;
  const ref = new R();
  let x = 12345;
  t = process.hrtime.bigint();
  for (let i = 0; i < OPS; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    store.getRef(keys[LIVE - (x % (LIVE - OPS))] as Buffer, ref);
  }
  const get = Number(process.hrtime.bigint() - t) / OPS;
  return { put, get };
}

const keys = Array.from({ length: LIVE + OPS }, (_, i) => key(i));
const figures = {
  base: { put: [] as number[], get: [] as number[] },
  now: { put: [] as number[], get: [] as number[] },
};
for (let round = 0; round < ROUNDS; round++) {
  const builds = [
    ["base", baseline.Store, baseline.ValueRef],
    ["now", Store, ValueRef],
  ] as const;
  // Either build goes first every other round: what one leaves to the collector lands on both.
  for (const [name, S, R] of round % 2 === 0 ? builds : [...builds].reverse()) {
    gc?.();
    gc?.();
    const f = measure(S, R, keys);
    figures[name].put.push(f.put);
    figures[name].get.push(f.get);
  }
}
const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
console.log("| build | put new key (evicting) ns | get hit ns |");
console.log("| --- | ---: | ---: |");
for (const name of ["base", "now"] as const) {
  console.log(
    `| ${name} | ${median(figures[name].put).toFixed(0)} | ${median(figures[name].get).toFixed(0)} |`,
  );
}
// The ratio within each round, then their median: a burst of load elsewhere cancels out.
const ratio = (op: "put" | "get"): string =>
  median(figures.now[op].map((x, i) => x / (figures.base[op][i] as number))).toFixed(2);
console.log(
  `this build's time per operation / the baseline's: put ${ratio("put")}x, get ${ratio("get")}x`,
);

// The key hash of ringcache: key bytes -> uint32 ring position.
//
// `hashKey` is a stable contract. Masters route with it and auxiliary nodes filter their scans
// by hash range with it, so two builds that disagree on a single value route a key to a node
// that does not hold it. Changing it is a data migration, not a refactor: the known-answer
// tests in test/unit/ring-hash.test.ts pin it.
//
// Hash tags (docs/design.md, "Ring and replication"): a key that holds `{…}` is placed by the
// tag alone, Redis Cluster's rule exactly: the first `{`, the first `}` after it, and at least
// one byte between them; otherwise the whole key. So `{user:1}:name` and `{user:1}:mail` share
// owners. Every part that places keys (routing, scans by range, moves, the store's scan index)
// calls hashKey or hashKeyAt, never murmur3_32 on a key.
//
// Three candidates, written from their published algorithm descriptions and checked against
// the reference implementations' outputs:
//   fnv1a32     FNV-1a, 32-bit: one xor and one multiply per byte.
//   murmur3_32  MurmurHash3_x86_32 (Appleby, SMHasher): 4-byte blocks, fmix32 finaliser.
//   xxhash32    XXH32 (Collet): four 4-byte lanes per 16-byte stripe, then an avalanche.
//
// Choice: murmur3_32, seed 0, by measurement (`node dist/bench/ring.js`; the figures are in
// docs/benchmarks.md, "Ring", "Candidate hashes"):
//
//   - Distribution. FNV-1a fails on structured input: its last byte reaches the high bits
//     through a single multiply, so sequential keys clump (chi2/df 2.75 where random gives
//     1.00 +- 0.04), a flip of some input bits flips some output bits always or never (bias
//     0.5), and the vnode strings `id#0..id#159` land in clusters (the largest of 10 members
//     gets 1.55x the mean instead of the ~1.12x of random positions). murmur3 and xxhash32 are
//     indistinguishable from random on all three tests.
//   - Speed. murmur3 is the fastest on cache-sized keys and steady from run to run. xxhash32
//     matched it (a little ahead at 16 and 40 bytes) in two runs of five and ran at half
//     speed or less in the others: V8 re-optimises its two code paths (under and over 16
//     bytes) when the first long key arrives (`--trace-deopt` shows the bailout) and the
//     result varies. FNV-1a, a byte at a time, only keeps up at 8 bytes.

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The key hash every part of ringcache places keys by: murmur3_32 (seed 0) of the key's hash
 * tag when it has one, else of the whole key. Returns a uint32.
 */
export function hashKey(key: Uint8Array): number {
  return hashKeyAt(key, 0, key.length);
}

/** hashKey of the key lying in `bytes[offset, offset + length)`, with no view made. */
export function hashKeyAt(bytes: Uint8Array, offset: number, length: number): number {
  const end = offset + length;
  let open = offset;
  while (open < end && bytes[open] !== OPEN_BRACE) open++;
  if (open < end) {
    let close = open + 1;
    while (close < end && bytes[close] !== CLOSE_BRACE) close++;
    if (close < end && close > open + 1) return murmur3_32At(bytes, open + 1, close - open - 1, 0);
  }
  return murmur3_32At(bytes, offset, length, 0);
}

/**
 * Where the bytes that place a key lie: `[start, end)` within `key` (its hash tag, or the whole
 * key). hashKey(key) is murmur3_32 of exactly these bytes.
 */
export function placedPart(key: Uint8Array): { start: number; end: number } {
  const open = key.indexOf(OPEN_BRACE);
  if (open >= 0) {
    const close = key.indexOf(CLOSE_BRACE, open + 1);
    if (close > open + 1) return { start: open + 1, end: close };
  }
  return { start: 0, end: key.length };
}

/** FNV-1a, 32-bit (offset basis 0x811c9dc5, prime 0x01000193). Returns a uint32. */
export function fnv1a32(key: Uint8Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key[i]!, 0x01000193);
  }
  return h >>> 0;
}

const M3_C1 = 0xcc9e2d51 | 0;
const M3_C2 = 0x1b873593 | 0;

/** MurmurHash3_x86_32 over the bytes, little-endian blocks, as in SMHasher. Returns a uint32. */
export function murmur3_32(key: Uint8Array, seed = 0): number {
  return murmur3_32At(key, 0, key.length, seed);
}

/**
 * murmur3_32 of `bytes[offset, offset + len)`, without a view of it: a scan hashes every key in
 * a store page, and a view per key was most of what it allocated.
 */
export function murmur3_32At(bytes: Uint8Array, offset: number, len: number, seed = 0): number {
  const tail = offset + (len & ~3);
  let h = seed | 0;
  let i = offset;
  for (; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest !== 0) {
    let k = bytes[i]!;
    if (rest >= 2) k ^= bytes[i + 1]! << 8;
    if (rest === 3) k ^= bytes[i + 2]! << 16;
    k = Math.imul(k, M3_C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, M3_C2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const X_P1 = 0x9e3779b1 | 0;
const X_P2 = 0x85ebca77 | 0;
const X_P3 = 0xc2b2ae3d | 0;
const X_P4 = 0x27d4eb2f | 0;
const X_P5 = 0x165667b1 | 0;

/** XXH32 over the bytes, little-endian lanes, as in the xxHash specification. Returns a uint32. */
export function xxhash32(key: Uint8Array, seed = 0): number {
  const len = key.length;
  // The 16-byte stripes live in their own function: inlined here, V8 allocated registers
  // badly and the short-key path ran at half speed.
  let h = len >= 16 ? xxhashStripes(key, len, seed) : (seed + X_P5) | 0;
  let i = len & ~15;
  h = (h + len) | 0;
  for (; i + 4 <= len; i += 4) {
    h = (h + Math.imul(read32(key, i), X_P3)) | 0;
    h = Math.imul((h << 17) | (h >>> 15), X_P4);
  }
  for (; i < len; i++) {
    h = (h + Math.imul(key[i]!, X_P5)) | 0;
    h = Math.imul((h << 11) | (h >>> 21), X_P1);
  }
  h ^= h >>> 15;
  h = Math.imul(h, X_P2);
  h ^= h >>> 13;
  h = Math.imul(h, X_P3);
  h ^= h >>> 16;
  return h >>> 0;
}

/** XXH32's four accumulators over the whole 16-byte stripes, merged. `len` >= 16. */
function xxhashStripes(key: Uint8Array, len: number, seed: number): number {
  let v1 = (seed + X_P1 + X_P2) | 0;
  let v2 = (seed + X_P2) | 0;
  let v3 = seed | 0;
  let v4 = (seed - X_P1) | 0;
  const last = len - 16;
  for (let i = 0; i <= last; i += 16) {
    v1 = (v1 + Math.imul(read32(key, i), X_P2)) | 0;
    v1 = Math.imul((v1 << 13) | (v1 >>> 19), X_P1);
    v2 = (v2 + Math.imul(read32(key, i + 4), X_P2)) | 0;
    v2 = Math.imul((v2 << 13) | (v2 >>> 19), X_P1);
    v3 = (v3 + Math.imul(read32(key, i + 8), X_P2)) | 0;
    v3 = Math.imul((v3 << 13) | (v3 >>> 19), X_P1);
    v4 = (v4 + Math.imul(read32(key, i + 12), X_P2)) | 0;
    v4 = Math.imul((v4 << 13) | (v4 >>> 19), X_P1);
  }
  return (
    (((v1 << 1) | (v1 >>> 31)) +
      ((v2 << 7) | (v2 >>> 25)) +
      ((v3 << 12) | (v3 >>> 20)) +
      ((v4 << 18) | (v4 >>> 14))) |
    0
  );
}

function read32(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

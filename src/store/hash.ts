// xxHash32 (the public algorithm by Yann Collet) over a key packed into 32-bit words.
//
// Keys are packed once into little-endian int32 words (`packWords`); the hash then reads whole
// words, and the store compares a candidate key word by word against the chunk that holds it
// (chunks are 4-byte aligned). In V8 each typed-array byte load costs about as much as a word
// load, so packing once and comparing words cut a 16-byte lookup's key work by more than half.
//
// Why this hash (measured: docs/benchmarks.md, "The store's key hash"): xxHash32 is the
// fastest from 16 bytes up (it mixes four independent lanes per 16-byte stripe) and ties at 8;
// its avalanche is good enough that the low bits alone index a power-of-two open-addressing
// table, which plain FNV-1a is not. The store's hash stays internal: the ring has its own.

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

/**
 * Packs `key` into little-endian int32 words in `out`, the last word zero-padded; `out` must
 * hold at least ceil(key.length / 4) words.
 */
export function packWords(key: Uint8Array, out: Int32Array): void {
  const n = key.length;
  const full = n & ~3;
  let w = 0;
  for (let i = 0; i < full; i += 4) {
    out[w++] = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
  }
  if (full !== n) {
    let last = key[full]!;
    if (full + 1 < n) last |= key[full + 1]! << 8;
    if (full + 2 < n) last |= key[full + 2]! << 16;
    out[w] = last;
  }
}

function lane(acc: number, input: number): number {
  acc = (acc + Math.imul(input, P2)) | 0;
  return Math.imul((acc << 13) | (acc >>> 19), P1);
}

/**
 * xxHash32 with seed 0 of the `n` bytes packed in `words`, as a *signed* 32-bit integer
 * (`>>> 0` gives the usual unsigned value): an int32 stays a small integer in V8, where an
 * unsigned value above 2^31 would be boxed on every call that is not inlined.
 */
export function xxhash32Words(words: Int32Array, n: number): number {
  let w = 0;
  let h: number;
  if (n >= 16) {
    let v1 = (P1 + P2) | 0;
    let v2 = P2;
    let v3 = 0;
    let v4 = -P1 | 0;
    const stripes = n >>> 4;
    for (let s = 0; s < stripes; s++, w += 4) {
      v1 = lane(v1, words[w]!);
      v2 = lane(v2, words[w + 1]!);
      v3 = lane(v3, words[w + 2]!);
      v4 = lane(v4, words[w + 3]!);
    }
    h =
      (((v1 << 1) | (v1 >>> 31)) +
        ((v2 << 7) | (v2 >>> 25)) +
        ((v3 << 12) | (v3 >>> 20)) +
        ((v4 << 18) | (v4 >>> 14))) |
      0;
  } else {
    h = P5;
  }
  h = (h + n) | 0;
  const fullWords = n >>> 2;
  for (; w < fullWords; w++) {
    h = (h + Math.imul(words[w]!, P3)) | 0;
    h = Math.imul((h << 17) | (h >>> 15), P4);
  }
  const tail = n & 3;
  if (tail !== 0) {
    const last = words[w]!;
    for (let i = 0; i < tail; i++) {
      h = (h + Math.imul((last >>> (8 * i)) & 0xff, P5)) | 0;
      h = Math.imul((h << 11) | (h >>> 21), P1);
    }
  }
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h | 0;
}

let scratch = new Int32Array(16);

/** xxHash32 with seed 0 of all bytes of `key`, signed (see xxhash32Words). */
export function xxhash32(key: Uint8Array): number {
  const need = (key.length + 3) >>> 2;
  if (scratch.length < need) scratch = new Int32Array(need);
  packWords(key, scratch);
  return xxhash32Words(scratch, key.length);
}

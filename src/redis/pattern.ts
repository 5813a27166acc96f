// Redis's glob patterns over key bytes, as SCAN MATCH and KEYS match them (Redis's
// stringmatchlen, case-sensitive): `*` any run of bytes, `?` one byte, `[...]` one byte of a set
// (`^` first negates, `a-z` ranges, `\x` a literal x), `\x` the literal x, anything else itself.
// docs/design.md, "SCAN, KEYS and RANDOMKEY".
//
// The pattern is compiled once into tokens, each set into a 256-bit table, so matching a key is
// a loop over bytes with no allocation. A pattern is at most MAX_PATTERN bytes, so compiling
// one costs at most a few MB, whatever a client sends. Every token but `*` takes exactly one byte, so the
// classic two-pointer walk (on a mismatch, let the last `*` take one more byte) decides what
// Redis's recursion decides, in O(pattern x key) at worst instead of exponential time.
//
// Redis's quirks are kept, since a pattern must select the same keys on both: a set ends at the
// first `]` not escaped, or at the pattern's end; `[]` matches nothing and `[^]` any byte; a
// range reads the byte after `-` even when it is `]` (`[a-]` is the range a..`]`, and the set
// goes on); range ends compare as signed chars, as C's `char` does here; a `\` that ends the
// pattern is a literal `\`; the empty key matches only the empty pattern and `*` alone.

import { RingcacheError } from "../errors.js";

/** The longest pattern accepted: a quarter of a MiB (four times the default max-key-size). */
export const MAX_PATTERN = 256 * 1024;

/** The error for a longer pattern. */
export function patternTooLong(): RingcacheError {
  return new RingcacheError("BAD_REQUEST", `pattern is longer than ${MAX_PATTERN} bytes`);
}

const STAR = -1;
const ANY = -2;
/** Tokens >= 0 are literal bytes; tokens <= SET_BASE are sets: SET_BASE - index. */
const SET_BASE = -3;

/** A compiled pattern. */
export class KeyPattern {
  /** The pattern is `*`, which matches every key: a scan can skip matching. */
  readonly matchesAll: boolean;
  private readonly tokens: Int32Array;
  /** Set k is the 256 bits sets[8k .. 8k + 8). */
  private readonly sets: Uint32Array;

  /** Throws patternTooLong() past MAX_PATTERN bytes. */
  constructor(pattern: Uint8Array) {
    const n = pattern.length;
    if (n > MAX_PATTERN) throw patternTooLong();
    const tokens = new Int32Array(n);
    let m = 0;
    let setCount = 0;
    for (let i = 0; i < n; i++) if (pattern[i] === 0x5b) setCount++;
    const sets = new Uint32Array(8 * setCount);
    const set = new Uint8Array(256);
    setCount = 0;
    let i = 0;
    while (i < n) {
      const c = pattern[i]!;
      if (c === 0x2a) {
        if (m === 0 || tokens[m - 1] !== STAR) tokens[m++] = STAR;
        i++;
      } else if (c === 0x3f) {
        tokens[m++] = ANY;
        i++;
      } else if (c === 0x5b) {
        set.fill(0);
        i = parseSet(pattern, i + 1, set);
        for (let b = 0; b < 256; b++)
          if (set[b] === 1) sets[8 * setCount + (b >>> 5)]! |= 1 << (b & 31);
        tokens[m++] = SET_BASE - setCount++;
      } else if (c === 0x5c && i + 1 < n) {
        tokens[m++] = pattern[i + 1]!;
        i += 2;
      } else {
        tokens[m++] = c;
        i++;
      }
    }
    this.tokens = tokens.slice(0, m);
    this.sets = sets;
    this.matchesAll = n === 1 && pattern[0] === 0x2a;
  }

  /** Whether the key `bytes[offset, offset + length)` matches. */
  matches(bytes: Uint8Array, offset: number, length: number): boolean {
    const tokens = this.tokens;
    const m = tokens.length;
    // Redis's loop never runs on an empty key, so trailing stars are not skipped for it.
    if (length === 0) return m === 0 || this.matchesAll;
    const end = offset + length;
    let t = 0;
    let s = offset;
    let starT = -1;
    let starS = 0;
    while (s < end) {
      const token = t < m ? tokens[t]! : 0;
      if (t < m && token === STAR) {
        starT = t++;
        starS = s;
        continue;
      }
      if (t < m && this.takes(token, bytes[s]!)) {
        t++;
        s++;
        continue;
      }
      if (starT < 0) return false;
      t = starT + 1;
      s = ++starS;
    }
    while (t < m && tokens[t] === STAR) t++;
    return t === m;
  }

  /** Whether a one-byte token takes byte `b`. */
  private takes(token: number, b: number): boolean {
    if (token >= 0) return token === b;
    if (token === ANY) return true;
    return ((this.sets[8 * (SET_BASE - token) + (b >>> 5)]! >>> (b & 31)) & 1) === 1;
  }
}

/**
 * Reads a set from pattern[i] (just past its `[`) into `set` (1 = taken), as Redis's loop
 * reads it; returns the index after it.
 */
function parseSet(pattern: Uint8Array, i: number, set: Uint8Array): number {
  const n = pattern.length;
  const negate = i < n && pattern[i] === 0x5e;
  if (negate) i++;
  for (;;) {
    const left = n - i;
    if (left >= 2 && pattern[i] === 0x5c) {
      set[pattern[i + 1]!] = 1;
      i += 2;
    } else if (left >= 1 && pattern[i] === 0x5d) {
      i++;
      break;
    } else if (left === 0) {
      break;
    } else if (left >= 3 && pattern[i + 1] === 0x2d) {
      let lo = signed(pattern[i]!);
      let hi = signed(pattern[i + 2]!);
      if (lo > hi) [lo, hi] = [hi, lo];
      for (let b = 0; b < 256; b++) {
        const v = signed(b);
        if (v >= lo && v <= hi) set[b] = 1;
      }
      i += 3;
    } else {
      set[pattern[i]!] = 1;
      i++;
    }
  }
  if (negate) for (let b = 0; b < 256; b++) set[b] = set[b] === 1 ? 0 : 1;
  return i;
}

/** A byte as C's signed `char`. */
function signed(b: number): number {
  return (b << 24) >> 24;
}

// INCRBYFLOAT's arithmetic as Redis 7.0 does it on x86_64 (docs/design.md, "Client interfaces"):
// both numbers read as C's strtold reads them into an 80-bit `long double` (a 64-bit
// significand), added with one rounding to nearest, ties to even, and printed with `%.17Lf`
// before the trailing zeros of the fraction are cut. JS doubles round differently (0.1 + 0.2),
// so the 80-bit values are kept exactly, in BigInts:
//
//   value = (-1)^neg × mant × 2^exp      mant < 2^64, exp ≥ MIN_EXP
//
//   "0.1" ─► nearest mant×2^exp (exact rational rounding) ─┐
//   "0.2" ─► nearest mant×2^exp ───────────────────────────┴─► exact sum ─► rounded to 64 bits
//        ─► round(|value| × 10^17) half to even ─► "0.30000000000000000" ─► "0.3"
//
// A string is a valid float when all of it is one number (decimal or hexadecimal, "inf" and
// "infinity" included), it starts with no space, is shorter than 5120 bytes, is not NaN, and
// does not overflow nor underflow to zero. Pure: no I/O, nothing but BigInt.
import { RingcacheError } from "../errors.js";

/** Bits of the significand, the integer bit included. */
const MANT_BITS = 64;
/** The exponent of the smallest subnormal, 2^-16445: no value has finer bits. */
const MIN_EXP = -16382 - (MANT_BITS - 1);
/** The largest exponent of a 64-bit significand: (2^64 - 1) × 2^16320 is the largest finite. */
const MAX_EXP = 16383 - (MANT_BITS - 1);
/** Redis refuses strings of this many bytes or more (its parse buffer). */
const MAX_CHARS = 5 * 1024;
/** Exponents are read up to this magnitude; beyond it any nonzero value overflows or underflows. */
const EXPONENT_CAP = 10_000_000;

const FINITE = 0;
const INFINITE = 1;
const NAN = 2;

/** An 80-bit extended value, held exactly. */
export interface LongDouble {
  /** FINITE, INFINITE or NAN. */
  readonly kind: number;
  readonly neg: boolean;
  /** The significand, below 2^64; 0n for zero. */
  readonly mant: bigint;
  readonly exp: number;
}

const ZERO: LongDouble = { kind: FINITE, neg: false, mant: 0n, exp: 0 };
const TWO_64 = 1n << 64n;
const TEN_17 = 10n ** 17n;

/** Redis's "value is not a valid float". */
export function notFloat(): RingcacheError {
  return new RingcacheError("BAD_REQUEST", "value is not a valid float");
}

/** Redis's "increment would produce NaN or Infinity". */
export function nanOrInfinity(): RingcacheError {
  return new RingcacheError("BAD_REQUEST", "increment would produce NaN or Infinity");
}

/**
 * INCRBYFLOAT: the text Redis stores and replies for `current` (null: no key, 0) plus `incr`.
 * Throws Redis's errors.
 */
export function incrByFloat(current: Uint8Array | null, incr: Uint8Array): string {
  const a = current === null ? ZERO : parseLongDouble(current);
  if (a === null) throw notFloat();
  const b = parseLongDouble(incr);
  if (b === null) throw notFloat();
  const sum = addLongDouble(a, b);
  if (sum.kind !== FINITE) throw nanOrInfinity();
  return formatLongDouble(sum);
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

function infinity(neg: boolean): LongDouble {
  return { kind: INFINITE, neg, mant: 0n, exp: 0 };
}

/**
 * The 80-bit value nearest to num / den × 2^exp2 (num ≥ 0, den > 0), ties to even, with
 * gradual underflow; infinite past the largest finite value. A nonzero input may round to zero.
 */
export function roundToLongDouble(
  neg: boolean,
  num: bigint,
  den: bigint,
  exp2: number,
): LongDouble {
  if (num === 0n) return { kind: FINITE, neg, mant: 0n, exp: 0 };
  // num/den × 2^(exp2 - e) lies in [2^63, 2^65) for this e; one step down fixes the rest.
  let e = exp2 + bitLength(num) - bitLength(den) - MANT_BITS;
  if (e < MIN_EXP) e = MIN_EXP;
  let [q, r, d] = divide(num, den, exp2 - e);
  if (q >= TWO_64) {
    e++;
    [q, r, d] = divide(num, den, exp2 - e);
  }
  const twice = r * 2n;
  if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
  if (q === TWO_64) {
    q >>= 1n;
    e++;
  }
  if (e > MAX_EXP) return infinity(neg);
  return { kind: FINITE, neg, mant: q, exp: e };
}

/** Quotient and remainder of num × 2^shift / den, and the divisor they refer to. */
function divide(num: bigint, den: bigint, shift: number): [bigint, bigint, bigint] {
  const n = shift >= 0 ? num << BigInt(shift) : num;
  const d = shift >= 0 ? den : den << BigInt(-shift);
  const q = n / d;
  return [q, n - q * d, d];
}

/** a + b rounded once to 80 bits, as the x87 adds: NaN for inf - inf. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble {
  if (a.kind === NAN || b.kind === NAN) return { kind: NAN, neg: false, mant: 0n, exp: 0 };
  if (a.kind === INFINITE || b.kind === INFINITE) {
    if (a.kind === INFINITE && b.kind === INFINITE && a.neg !== b.neg) {
      return { kind: NAN, neg: false, mant: 0n, exp: 0 };
    }
    return a.kind === INFINITE ? a : b;
  }
  if (a.mant === 0n && b.mant === 0n)
    return { kind: FINITE, neg: a.neg && b.neg, mant: 0n, exp: 0 };
  if (a.mant === 0n) return b;
  if (b.mant === 0n) return a;
  const e = Math.min(a.exp, b.exp);
  const sa = a.mant << BigInt(a.exp - e);
  const sb = b.mant << BigInt(b.exp - e);
  const sum = (a.neg ? -sa : sa) + (b.neg ? -sb : sb);
  // An exact zero sum is +0 when rounding to nearest.
  if (sum === 0n) return ZERO;
  return roundToLongDouble(sum < 0n, sum < 0n ? -sum : sum, 1n, e);
}

/**
 * `%.17Lf` with the fraction's trailing zeros (and a bare point) cut, and "-0" written "0":
 * Redis's human-friendly long double text. Finite values only.
 */
export function formatLongDouble(x: LongDouble): string {
  let scaled: bigint;
  if (x.exp >= 0) {
    scaled = (x.mant << BigInt(x.exp)) * TEN_17;
  } else {
    const n = x.mant * TEN_17;
    const shift = BigInt(-x.exp);
    scaled = n >> shift;
    const rest = n - (scaled << shift);
    const half = 1n << (shift - 1n);
    if (rest > half || (rest === half && (scaled & 1n) === 1n)) scaled++;
  }
  const whole = (scaled / TEN_17).toString();
  let fraction = (scaled % TEN_17).toString().padStart(17, "0");
  let end = fraction.length;
  while (end > 0 && fraction.charCodeAt(end - 1) === 0x30) end--;
  fraction = fraction.slice(0, end);
  const text = `${x.neg ? "-" : ""}${whole}${fraction.length > 0 ? "." : ""}${fraction}`;
  return text === "-0" ? "0" : text;
}

// ---------------------------------------------------------------------------------------------
// Parsing, as strtold reads a whole string

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Whether b[at..] spells `word` (lower case), ignoring case. */
function spells(b: Uint8Array, at: number, word: string): boolean {
  if (b.length - at !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if (((b[at + i] as number) | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Reads `[e|p][+|-]digits` at b[at..] to the end; null when anything else is there. The
 * magnitude is capped: past it every nonzero significand overflows or underflows anyway.
 */
function readExponent(b: Uint8Array, at: number): number | null {
  let i = at;
  let negative = false;
  if (b[i] === 0x2b || b[i] === 0x2d) negative = b[i++] === 0x2d;
  if (i >= b.length) return null;
  let e = 0;
  for (; i < b.length; i++) {
    const c = b[i] as number;
    if (!isDigit(c)) return null;
    e = Math.min(e * 10 + (c - 0x30), EXPONENT_CAP);
  }
  return negative ? -e : e;
}

/**
 * The value of `b` as Redis's string2ld reads it (strtold over the whole string), or null
 * when it is not a valid float.
 */
export function parseLongDouble(b: Uint8Array): LongDouble | null {
  const n = b.length;
  if (n === 0 || n >= MAX_CHARS || isSpace(b[0] as number)) return null;
  let i = 0;
  let neg = false;
  if (b[0] === 0x2b || b[0] === 0x2d) {
    neg = b[0] === 0x2d;
    i = 1;
  }
  if (i >= n) return null;
  const first = (b[i] as number) | 0x20;
  if (first === 0x69 /* i */) {
    return spells(b, i, "inf") || spells(b, i, "infinity") ? infinity(neg) : null;
  }
  // "nan" and "nan(...)" are NaN, which Redis refuses; so is anything else starting with n.
  if (first === 0x6e /* n */) return null;
  if (b[i] === 0x30 && i + 1 < n && ((b[i + 1] as number) | 0x20) === 0x78) {
    return parseHex(b, i + 2, neg);
  }
  return parseDecimal(b, i, neg);
}

function parseDecimal(b: Uint8Array, start: number, neg: boolean): LongDouble | null {
  const n = b.length;
  let i = start;
  let digits = "";
  let fractionDigits = 0;
  let seen = 0;
  for (; i < n && isDigit(b[i] as number); i++, seen++)
    digits += String.fromCharCode(b[i] as number);
  if (i < n && b[i] === 0x2e) {
    for (i++; i < n && isDigit(b[i] as number); i++, seen++, fractionDigits++) {
      digits += String.fromCharCode(b[i] as number);
    }
  }
  if (seen === 0) return null;
  let exponent = 0;
  if (i < n) {
    if (((b[i] as number) | 0x20) !== 0x65 /* e */) return null;
    const e = readExponent(b, i + 1);
    if (e === null) return null;
    exponent = e;
  }
  const significant = digits.replace(/^0+/, "");
  if (significant.length === 0) return { kind: FINITE, neg, mant: 0n, exp: 0 };
  // value = D × 10^k with D of `nd` digits: 10^(k+nd-1) ≤ value < 10^(k+nd).
  const k = exponent - fractionDigits;
  const nd = significant.length;
  // The largest finite is about 1.19e4932; the smallest subnormal about 3.6e-4951.
  if (k + nd > 4940) return null;
  if (k + nd < -4960) return null;
  const d = BigInt(significant);
  const x =
    k >= 0
      ? roundToLongDouble(neg, d * 10n ** BigInt(k), 1n, 0)
      : roundToLongDouble(neg, d, 10n ** BigInt(-k), 0);
  // Overflow (ERANGE with HUGE_VAL) and underflow to zero (ERANGE with 0) are refused.
  return x.kind !== FINITE || x.mant === 0n ? null : x;
}

function parseHex(b: Uint8Array, start: number, neg: boolean): LongDouble | null {
  const n = b.length;
  let i = start;
  let h = 0n;
  let fractionDigits = 0;
  let seen = 0;
  for (; i < n && hexValue(b[i] as number) >= 0; i++, seen++) {
    h = (h << 4n) | BigInt(hexValue(b[i] as number));
  }
  if (i < n && b[i] === 0x2e) {
    for (i++; i < n && hexValue(b[i] as number) >= 0; i++, seen++, fractionDigits++) {
      h = (h << 4n) | BigInt(hexValue(b[i] as number));
    }
  }
  // "0x" with no digit reads as 0 followed by "x…": not all of the string.
  if (seen === 0) return null;
  let exponent = 0;
  if (i < n) {
    if (((b[i] as number) | 0x20) !== 0x70 /* p */) return null;
    const e = readExponent(b, i + 1);
    if (e === null) return null;
    exponent = e;
  }
  if (h === 0n) return { kind: FINITE, neg, mant: 0n, exp: 0 };
  const exp2 = exponent - 4 * fractionDigits;
  const top = bitLength(h) + exp2;
  if (top > 16400 || top < -16500) return null;
  const x = roundToLongDouble(neg, h, 1n, exp2);
  return x.kind !== FINITE || x.mant === 0n ? null : x;
}

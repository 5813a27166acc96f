// Redis's integer arguments: signed 64-bit decimals as string2ll reads them (an optional '-',
// no '+', no spaces, no leading zeros, nothing past the int64 range). Both nodes read every
// integer argument of a Redis command through here (docs/design.md, "Client interfaces").
import { RingcacheError } from "../errors.js";

export const INT64_MAX = 2n ** 63n - 1n;
export const INT64_MIN = -(2n ** 63n);

/** Redis's "value is not an integer or out of range". */
export function notInteger(): RingcacheError {
  return new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
}

/** The integer `b` spells as Redis's string2ll reads it, or null when it is not one. */
export function parseInt64(b: Uint8Array): bigint | null {
  const n = b.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  const negative = b[0] === 0x2d;
  if (negative) {
    i = 1;
    if (n === 1) return null;
  }
  if (b[i] === 0x30) return n === 1 ? 0n : null;
  // Up to 15 digits stay exact in a double: no string is made for them.
  let small = 0;
  for (let j = i; j < n; j++) {
    const d = (b[j] as number) - 0x30;
    if (d < 0 || d > 9) return null;
    small = small * 10 + d;
  }
  if (small <= Number.MAX_SAFE_INTEGER) return BigInt(negative ? -small : small);
  const value = BigInt(Buffer.from(b.buffer, b.byteOffset, n).toString("latin1"));
  return value < INT64_MIN || value > INT64_MAX ? null : value;
}

/**
 * The integer `b` spells as parseInt64 reads it, as a number, when it has at most 15 digits
 * (exact in a double); null otherwise, or when it is not an integer. No BigInt is made.
 */
export function parseSmallInt(b: Uint8Array): number | null {
  const n = b.length;
  if (n === 0 || n > 16) return null;
  let i = 0;
  const negative = b[0] === 0x2d;
  if (negative) {
    i = 1;
    if (n === 1) return null;
  }
  if (n - i > 15) return null;
  if (b[i] === 0x30) return n === 1 ? 0 : null;
  let value = 0;
  for (let j = i; j < n; j++) {
    const d = (b[j] as number) - 0x30;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  return negative ? -value : value;
}

// Redis 7's string edits, shared by both nodes (docs/design.md, "Client interfaces"): GETRANGE's
// index rules, SETRANGE's and APPEND's new values, and the size a string may grow to. Pure:
// values in, new values out, Redis's texts for what is refused.
import { RingcacheError } from "../errors.js";
import { notInteger, parseInt64 } from "./integers.js";

/** Redis's proto-max-bulk-len: no string grows past it (512 MB). */
export const PROTO_MAX_BULK_LEN = 512 * 1024 * 1024;

/**
 * Refuses a string of `total` bytes: past Redis's own limit with Redis's text, past this
 * master's --max-value-size (`limit`) with one that names it.
 */
export function checkStringLength(total: number, limit: number): void {
  if (total > PROTO_MAX_BULK_LEN) {
    throw new RingcacheError(
      "BAD_REQUEST",
      "string exceeds maximum allowed size (proto-max-bulk-len)",
    );
  }
  if (total > limit) {
    throw new RingcacheError(
      "VALUE_TOO_LARGE",
      `string exceeds maximum allowed size (max-value-size, ${limit} bytes)`,
    );
  }
}

/** SETRANGE's offset: an int64, not negative ("offset is out of range"). */
export function parseOffset(arg: Buffer): bigint {
  const offset = parseInt64(arg);
  if (offset === null) throw notInteger();
  if (offset < 0n) throw new RingcacheError("BAD_REQUEST", "offset is out of range");
  return offset;
}

/** GETRANGE's (and SUBSTR's) start and end: int64s, Redis's text otherwise. */
export function parseIndex(arg: Buffer): bigint {
  const index = parseInt64(arg);
  if (index === null) throw notInteger();
  return index;
}

/**
 * The bytes [from, to) GETRANGE answers of a string of `length` bytes: negative indexes count
 * from the end, both are clamped into the string, and an empty range is [0, 0).
 */
export function rangeOf(length: number, start: bigint, end: bigint): [number, number] {
  if (start < 0n && end < 0n && start > end) return [0, 0];
  const n = BigInt(length);
  if (start < 0n) start += n;
  if (end < 0n) end += n;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= n) end = n - 1n;
  if (start > end || length === 0) return [0, 0];
  return [Number(start), Number(end) + 1];
}

/**
 * SETRANGE's new value: `current` (null: none) with `value` written at `offset`, zero bytes
 * filling any gap. The caller has checked the size (checkStringLength) and that `value` is
 * not empty (an empty one changes nothing).
 */
export function setRange(current: Uint8Array | null, offset: number, value: Uint8Array): Buffer {
  const have = current === null ? 0 : current.length;
  const out = Buffer.alloc(Math.max(have, offset + value.length));
  if (current !== null) out.set(current, 0);
  out.set(value, offset);
  return out;
}

/** APPEND's new value. */
export function appended(current: Uint8Array | null, value: Uint8Array): Buffer {
  if (current === null) return Buffer.from(value);
  const out = Buffer.allocUnsafe(current.length + value.length);
  out.set(current, 0);
  out.set(value, current.length);
  return out;
}

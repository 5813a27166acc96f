import { RingcacheError } from "../../errors.js";

/**
 * Bounds on what a peer may make a decoder hold. Every bound is checked against the lengths a
 * frame *claims* before its bytes arrive, so a hostile header is refused at once, and nothing
 * is ever allocated from a claimed length: memory grows only with bytes actually received.
 */
export interface RespLimits {
  /** Longest bulk string, in bytes. Default 16 MiB; at most 512 MiB (Redis's own ceiling). */
  readonly maxBulkLength: number;
  /**
   * Most elements of one command (`*N`), or of one reply counting the elements of its nested
   * arrays too. Default 1,048,576. Each element costs an object, so this bounds the objects one
   * frame can make a decoder create.
   */
  readonly maxArrayLength: number;
  /** Longest inline command line (or simple-string/error reply line), in bytes. Default 64 KiB. */
  readonly maxInlineLength: number;
  /**
   * Most payload bytes one command (or one reply) may claim in total: the sum of its bulk
   * lengths. Bounds what a connection's decoder holds. Default 64 MiB, and never less than
   * `maxBulkLength + BUFFER_HEADROOM` so that the longest bulk fits with its command name and key.
   */
  readonly maxBufferedBytes: number;
  /** Deepest nesting of arrays in a reply (the command decoder has no nesting). Default 64. */
  readonly maxNestingDepth: number;
}

const MiB = 1024 * 1024;

/** The ceiling of `maxBulkLength`, as in Redis (`proto-max-bulk-len` may not exceed 512 MiB). */
export const MAX_BULK_LENGTH_CEILING = 512 * MiB;

/** Room `maxBufferedBytes` must leave beyond `maxBulkLength`: the command name and key. */
export const BUFFER_HEADROOM = 4096;

export const DEFAULT_LIMITS: RespLimits = Object.freeze({
  maxBulkLength: 16 * MiB,
  maxArrayLength: 1024 * 1024,
  maxInlineLength: 64 * 1024,
  maxBufferedBytes: 64 * MiB,
  maxNestingDepth: 64,
});

function checkInteger(name: keyof RespLimits, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RingcacheError(
      "CONFIG",
      `RESP limit ${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
}

/**
 * Fills the defaults into a partial set of limits and validates the result once, so that the
 * decoders' hot paths can trust it. When only `maxBulkLength` is raised, `maxBufferedBytes`
 * follows it; when both are given and the buffer is too small for the bulk, this throws a
 * `CONFIG` error naming the field.
 */
export function resolveLimits(partial?: Partial<RespLimits>): RespLimits {
  if (partial === undefined) return DEFAULT_LIMITS;
  const maxBulkLength = partial.maxBulkLength ?? DEFAULT_LIMITS.maxBulkLength;
  checkInteger("maxBulkLength", maxBulkLength, 0, MAX_BULK_LENGTH_CEILING);
  const maxBufferedBytes =
    partial.maxBufferedBytes ??
    Math.max(DEFAULT_LIMITS.maxBufferedBytes, maxBulkLength + BUFFER_HEADROOM);
  checkInteger(
    "maxBufferedBytes",
    maxBufferedBytes,
    maxBulkLength + BUFFER_HEADROOM,
    Number.MAX_SAFE_INTEGER,
  );
  const limits: RespLimits = {
    maxBulkLength,
    maxArrayLength: partial.maxArrayLength ?? DEFAULT_LIMITS.maxArrayLength,
    maxInlineLength: partial.maxInlineLength ?? DEFAULT_LIMITS.maxInlineLength,
    maxBufferedBytes,
    maxNestingDepth: partial.maxNestingDepth ?? DEFAULT_LIMITS.maxNestingDepth,
  };
  checkInteger("maxArrayLength", limits.maxArrayLength, 1, 2 ** 31 - 1);
  checkInteger("maxInlineLength", limits.maxInlineLength, 1, 512 * MiB);
  checkInteger("maxNestingDepth", limits.maxNestingDepth, 1, 1 << 16);
  return Object.freeze(limits);
}

// Expiry arguments as Redis 7 reads them: EXPIRE's options (NX | XX | GT | LT) and times, and
// the conversion of any absolute time to what a store keeps. Expiries are absolute Unix
// milliseconds, 0 for none (docs/design.md, "Client interfaces").
import { RingcacheError } from "../errors.js";
import { INT64_MAX, INT64_MIN, notInteger, parseInt64 } from "./integers.js";
import { lower } from "./errors.js";

// The master's ExpireOp reads these bits (master/ops/conditional.ts).
export const EXPIRE_NX = 1;
export const EXPIRE_XX = 2;
export const EXPIRE_GT = 4;
export const EXPIRE_LT = 8;

/** Redis's "invalid expire time in '<command>' command". */
export function invalidExpire(command: string): RingcacheError {
  return new RingcacheError("BAD_REQUEST", `invalid expire time in '${command}' command`);
}

/**
 * Absolute Unix ms as a JS number: past times stay past (0 and below become 0, "already
 * expired"), and futures beyond 2^53 ms (285,000 years), which a store cannot tell apart, are
 * capped there.
 */
export function toExpiryMs(when: bigint): number {
  if (when <= 0n) return 0;
  if (when > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(when);
}

/** EXPIRE-family options from args[3] on (NX | XX | GT | LT), checked as Redis 7 does. */
export function parseExpireFlags(args: readonly Buffer[]): number {
  let flags = 0;
  for (let j = 3; j < args.length; j++) {
    const raw = args[j] as Buffer;
    const opt = lower(raw);
    if (opt === "nx") flags |= EXPIRE_NX;
    else if (opt === "xx") flags |= EXPIRE_XX;
    else if (opt === "gt") flags |= EXPIRE_GT;
    else if (opt === "lt") flags |= EXPIRE_LT;
    else throw new RingcacheError("BAD_REQUEST", `Unsupported option ${raw.toString("latin1")}`);
  }
  if ((flags & EXPIRE_NX) !== 0 && (flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT)) !== 0) {
    throw new RingcacheError(
      "BAD_REQUEST",
      "NX and XX, GT or LT options at the same time are not compatible",
    );
  }
  if ((flags & EXPIRE_GT) !== 0 && (flags & EXPIRE_LT) !== 0) {
    throw new RingcacheError(
      "BAD_REQUEST",
      "GT and LT options at the same time are not compatible",
    );
  }
  return flags;
}

/**
 * The absolute expiry (Unix ms) an EXPIRE-family command asks for, with Redis's overflow
 * checks. `basetime` is now for EXPIRE/PEXPIRE and 0 for the *AT forms.
 */
export function parseExpireTime(
  arg: Buffer,
  seconds: boolean,
  basetime: number,
  command: string,
): number {
  let when = parseInt64(arg);
  if (when === null) throw notInteger();
  if (seconds) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw invalidExpire(command);
    when *= 1000n;
  }
  if (when > INT64_MAX - BigInt(basetime)) throw invalidExpire(command);
  return toExpiryMs(when + BigInt(basetime));
}

// SET's options as Redis 7 reads them (parseExtendedStringArgumentsOrReply): NX, XX, GET,
// KEEPTTL and one of EX, PX, EXAT, PXAT; the syntax first, then the expiry's value, with
// Redis's texts (docs/design.md, "Client interfaces"). GETEX reads the same expiries, or
// PERSIST, and SETEX and PSETEX an expiry of their own.
import { INT64_MAX, notInteger, parseInt64, parseSmallInt } from "./integers.js";
import { invalidExpire, toExpiryMs } from "./expire.js";
import { lower, syntaxError } from "./errors.js";

// The master's SetOp reads these bits (master/ops/conditional.ts).
export const SET_NX = 1;
export const SET_XX = 2;
export const SET_GET = 4;
export const SET_KEEPTTL = 8;

export interface SetOptions {
  /** SET_NX | SET_XX | SET_GET | SET_KEEPTTL. */
  readonly flags: number;
  /** Absolute expiry in Unix ms; 0 for none. */
  readonly expiresAt: number;
}

/** A SET with no options (argc 3): nothing to parse, nothing to allocate. */
export const PLAIN_SET: SetOptions = { flags: 0, expiresAt: 0 };

/** Expiry units: seconds or ms, from now or from the epoch. */
export const UNIT_EX = 1;
export const UNIT_PX = 2;
export const UNIT_EXAT = 3;
export const UNIT_PXAT = 4;
const EXPIRY_UNITS = new Map([
  ["ex", UNIT_EX],
  ["px", UNIT_PX],
  ["exat", UNIT_EXAT],
  ["pxat", UNIT_PXAT],
]);

/**
 * The options of `SET key value [options]` from args[3] on. An expiry unit may repeat (the
 * last value wins) but not change; KEEPTTL excludes any unit; NX excludes XX.
 */
export function parseSetOptions(args: readonly Buffer[], now: number): SetOptions {
  if (args.length <= 3) return PLAIN_SET;
  let flags = 0;
  let unit = 0;
  let expire: Buffer | undefined;
  for (let j = 3; j < args.length; j++) {
    const opt = lower(args[j] as Buffer);
    const next = args[j + 1];
    const optUnit = EXPIRY_UNITS.get(opt) ?? 0;
    if (opt === "nx" && (flags & SET_XX) === 0) flags |= SET_NX;
    else if (opt === "xx" && (flags & SET_NX) === 0) flags |= SET_XX;
    else if (opt === "get") flags |= SET_GET;
    else if (opt === "keepttl" && unit === 0) flags |= SET_KEEPTTL;
    else if (
      optUnit !== 0 &&
      (flags & SET_KEEPTTL) === 0 &&
      (unit === 0 || unit === optUnit) &&
      next !== undefined
    ) {
      unit = optUnit;
      expire = next;
      j++;
    } else {
      throw syntaxError();
    }
  }
  if (expire === undefined) return { flags, expiresAt: 0 };
  return { flags, expiresAt: parseExpiry(expire, unit, now, "set") };
}

/**
 * The absolute expiry (Unix ms) that `arg` asks for in `unit` (UNIT_EX … UNIT_PXAT), with
 * Redis's checks and texts: a positive integer whose time in ms fits 64 bits.
 */
export function parseExpiry(arg: Buffer, unit: number, now: number, command: string): number {
  // The common case, up to 12 digits: exact in doubles, and far below every limit.
  if (arg.length <= 12) {
    const small = parseSmallInt(arg);
    if (small !== null) {
      if (small <= 0) throw invalidExpire(command);
      const ms = unit === UNIT_EX || unit === UNIT_EXAT ? small * 1000 : small;
      return unit === UNIT_EX || unit === UNIT_PX ? ms + now : ms;
    }
  }
  const value = parseInt64(arg);
  if (value === null) throw notInteger();
  const seconds = unit === UNIT_EX || unit === UNIT_EXAT;
  if (value <= 0n || (seconds && value > INT64_MAX / 1000n)) throw invalidExpire(command);
  let ms = seconds ? value * 1000n : value;
  if (unit === UNIT_EX || unit === UNIT_PX) ms += BigInt(now);
  if (ms > INT64_MAX) throw invalidExpire(command);
  return toExpiryMs(ms);
}

/** GETEX's options: none (a plain read), PERSIST, or an expiry still to be read. */
export interface GetExOptions {
  readonly persist: boolean;
  /** UNIT_EX … UNIT_PXAT, or 0 with no expiry. */
  readonly unit: number;
  /** The expiry's argument (read only once the key is known to exist, as Redis does). */
  readonly expire: Buffer | null;
}

/**
 * The syntax of `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]` from args[2] on: a unit may
 * repeat (the last value wins) but not change, and PERSIST excludes any unit; anything else,
 * SET's own options included, is a syntax error.
 */
export function parseGetExOptions(args: readonly Buffer[]): GetExOptions {
  let persist = false;
  let unit = 0;
  let expire: Buffer | null = null;
  for (let j = 2; j < args.length; j++) {
    const opt = lower(args[j] as Buffer);
    const next = args[j + 1];
    const optUnit = EXPIRY_UNITS.get(opt) ?? 0;
    if (opt === "persist" && unit === 0) persist = true;
    else if (optUnit !== 0 && !persist && (unit === 0 || unit === optUnit) && next !== undefined) {
      unit = optUnit;
      expire = next;
      j++;
    } else {
      throw syntaxError();
    }
  }
  return { persist, unit, expire };
}

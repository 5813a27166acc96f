// SET's options as Redis 7 reads them (parseExtendedStringArgumentsOrReply): NX, XX, GET,
// KEEPTTL and one of EX, PX, EXAT, PXAT; the syntax first, then the expiry's value, with
// Redis's texts (docs/design.md, "Client interfaces").
import { INT64_MAX, notInteger, parseInt64 } from "./integers.js";
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

const UNIT_EX = 1;
const UNIT_PX = 2;
const UNIT_EXAT = 3;
const UNIT_PXAT = 4;
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
  const value = parseInt64(expire);
  if (value === null) throw notInteger();
  const seconds = unit === UNIT_EX || unit === UNIT_EXAT;
  if (value <= 0n || (seconds && value > INT64_MAX / 1000n)) throw invalidExpire("set");
  let ms = seconds ? value * 1000n : value;
  if (unit === UNIT_EX || unit === UNIT_PX) ms += BigInt(now);
  if (ms > INT64_MAX) throw invalidExpire("set");
  return { flags, expiresAt: toExpiryMs(ms) };
}

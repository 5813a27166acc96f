// RC.MODIFY: a read-modify-write of one key, computed on the key's first live owner with the
// master's version, whose outcome the master then copies to the other owners with that same
// version (docs/design.md, "Master ↔ auxiliary protocol"). The encoder (masters), the parser
// (auxiliary nodes) and the reply's reader are here, one contract for both ends.
//
//   RC.MODIFY key version limit op [arg …]
//     INCRBY delta | INCRBYFLOAT incr | APPEND value | SETRANGE offset value | GETSET value
//     | GETDEL | GETEX PERSIST | GETEX PXAT ms
//   limit: the largest value the result may be (the master's --max-value-size)
//
//   reply *4 [:effect value :expiresAt answer]
//     effect 0 NONE  nothing changed                   (value nil, expiresAt 0)
//            1 PUT   the key holds value, expiresAt    the other owners get RC.PUT
//            2 DEL   the key is gone (a tombstone)     the other owners get RC.DEL
//     answer: the client's result: :n, $bytes or nil
//   -STALE V   the node holds V ≥ version: nothing changed, retry with a newer version
//   -ERR …     Redis's text (not an integer, not a valid float, string too long …)
import { RingcacheError } from "../../errors.js";
import { INT64_MAX, INT64_MIN, parseInt64 } from "../../redis/integers.js";
import { RespReplyError, type RespValue, type RespWriter } from "../resp/index.js";
import { StaleVersionError } from "./entries.js";
import { parseUint, parseVersion, unexpected } from "./wire.js";

export const MODIFY_NAME = Buffer.from("RC.MODIFY");

/** What RC.MODIFY computes. */
export type Modification =
  | { readonly op: "INCRBY"; readonly delta: bigint }
  | { readonly op: "INCRBYFLOAT"; readonly incr: Buffer }
  | { readonly op: "APPEND" | "GETSET"; readonly value: Buffer }
  | { readonly op: "SETRANGE"; readonly offset: bigint; readonly value: Buffer }
  | { readonly op: "GETDEL" }
  /** expiresAt: absolute Unix ms; 0 is PERSIST. */
  | { readonly op: "GETEX"; readonly expiresAt: number };

export type ModifyOpName = Modification["op"];

/** How the other owners get the outcome. */
export const EFFECT_NONE = 0;
export const EFFECT_PUT = 1;
export const EFFECT_DEL = 2;

const OP_BULKS: Readonly<Record<ModifyOpName, Buffer>> = {
  INCRBY: Buffer.from("INCRBY"),
  INCRBYFLOAT: Buffer.from("INCRBYFLOAT"),
  APPEND: Buffer.from("APPEND"),
  SETRANGE: Buffer.from("SETRANGE"),
  GETSET: Buffer.from("GETSET"),
  GETDEL: Buffer.from("GETDEL"),
  GETEX: Buffer.from("GETEX"),
};
const PERSIST = Buffer.from("PERSIST");
const PXAT = Buffer.from("PXAT");

/** The arguments each operation takes after its name. */
const OP_ARGS: Readonly<Record<ModifyOpName, number>> = {
  INCRBY: 1,
  INCRBYFLOAT: 1,
  APPEND: 1,
  SETRANGE: 2,
  GETSET: 1,
  GETDEL: 0,
  GETEX: 0,
};

export function encodeModify(
  out: RespWriter,
  key: Uint8Array,
  version: number,
  limit: number,
  mod: Modification,
): void {
  const extra = mod.op === "GETEX" ? (mod.expiresAt === 0 ? 1 : 2) : OP_ARGS[mod.op];
  out.arrayHeader(5 + extra);
  out.bulk(MODIFY_NAME);
  out.bulk(key);
  out.bulkDecimal(version);
  out.bulkDecimal(limit);
  out.bulk(OP_BULKS[mod.op]);
  switch (mod.op) {
    case "INCRBY":
      out.bulkString(mod.delta.toString());
      break;
    case "INCRBYFLOAT":
      out.bulk(mod.incr);
      break;
    case "APPEND":
    case "GETSET":
      out.bulk(mod.value);
      break;
    case "SETRANGE":
      out.bulkString(mod.offset.toString());
      out.bulk(mod.value);
      break;
    case "GETDEL":
      break;
    case "GETEX":
      if (mod.expiresAt === 0) {
        out.bulk(PERSIST);
      } else {
        out.bulk(PXAT);
        out.bulkDecimal(mod.expiresAt);
      }
      break;
  }
}

export interface ModifyArgs {
  readonly key: Buffer;
  readonly version: number;
  readonly limit: number;
  /** Views of the command's arguments: valid during the call only. */
  readonly mod: Modification;
}

function wrongArity(): RingcacheError {
  return new RingcacheError("BAD_REQUEST", "wrong number of arguments for 'rc.modify' command");
}

const OP_NAMES = Object.keys(OP_BULKS) as ModifyOpName[];

/** The operation `name` spells in any case, without making a string; null for none. */
function opNamed(name: Buffer): ModifyOpName | null {
  for (const op of OP_NAMES) {
    const known = OP_BULKS[op];
    if (known.length !== name.length) continue;
    let i = 0;
    while (i < known.length && ((name[i] as number) & 0xdf) === known[i]) i++;
    if (i === known.length) return op;
  }
  return null;
}

/** Server side: args are views valid during the call. */
export function parseModify(args: Buffer[]): ModifyArgs {
  if (args.length < 5) throw wrongArity();
  const key = args[1] as Buffer;
  const version = parseVersion(args[2]);
  const limit = parseUint(args[3], "limit");
  const op = opNamed(args[4] as Buffer);
  if (op === null) {
    const name = (args[4] as Buffer).toString("latin1").toUpperCase().slice(0, 32);
    throw new RingcacheError("BAD_REQUEST", `unknown RC.MODIFY operation '${name}'`);
  }
  const rest = args.length - 5;
  let mod: Modification;
  if (op === "GETEX") {
    const how = rest >= 1 ? (args[5] as Buffer).toString("latin1").toUpperCase() : "";
    if (how === "PERSIST" && rest === 1) mod = { op, expiresAt: 0 };
    else if (how === "PXAT" && rest === 2) {
      const at = parseUint(args[6], "expiry");
      if (at === 0) throw new RingcacheError("BAD_REQUEST", "invalid expiry");
      mod = { op, expiresAt: at };
    } else throw wrongArity();
    return { key, version, limit, mod };
  }
  if (rest !== OP_ARGS[op]) throw wrongArity();
  const a = args[5] as Buffer;
  switch (op) {
    case "INCRBY": {
      const delta = parseInt64(a);
      if (delta === null) {
        throw new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
      }
      mod = { op, delta };
      break;
    }
    case "INCRBYFLOAT":
      mod = { op, incr: a };
      break;
    case "APPEND":
    case "GETSET":
      mod = { op, value: a };
      break;
    case "SETRANGE": {
      const offset = parseInt64(a);
      if (offset === null || offset < 0n) throw new RingcacheError("BAD_REQUEST", "invalid offset");
      mod = { op, offset, value: args[6] as Buffer };
      break;
    }
    default:
      mod = { op: "GETDEL" };
  }
  return { key, version, limit, mod };
}

/** Server side: the reply. `value` and `answer` are written (copied) at once. */
export function writeModifyReply(
  out: RespWriter,
  effect: number,
  value: Uint8Array | null,
  expiresAt: number,
  answer: number | bigint | Uint8Array | null,
): void {
  out.arrayHeader(4);
  out.integer(effect);
  out.bulk(value);
  out.integer(expiresAt);
  if (answer === null || answer instanceof Uint8Array) out.bulk(answer);
  else out.integer(answer);
}

export interface ModifyResult {
  /** EFFECT_NONE, EFFECT_PUT or EFFECT_DEL. */
  readonly effect: number;
  /** PUT: the new value (a view of the reply, valid during the reply callback only). */
  readonly value: Buffer | null;
  readonly expiresAt: number;
  /** The command's result: an integer, bytes (a view, like value) or null. */
  readonly answer: number | bigint | Buffer | null;
}

/** The reply of RC.MODIFY; a refusal throws StaleVersionError, an error its RingcacheError. */
export function readModifyReply(reply: RespValue): ModifyResult {
  if (reply instanceof RespReplyError) {
    const m = /^STALE (\d+)/.exec(reply.message);
    if (m !== null) throw new StaleVersionError(Number(m[1]));
    const prefix = reply.prefix;
    const text = reply.message.slice(prefix.length + 1);
    if (prefix === "ERR") throw new RingcacheError("BAD_REQUEST", text);
    if (prefix === "WRONGTYPE") throw new RingcacheError("WRONG_TYPE", text);
    throw unexpected(reply);
  }
  if (!Array.isArray(reply) || reply.length !== 4) throw unexpected(reply);
  const [effect, value, expiresAt, answer] = reply;
  if (
    (effect !== EFFECT_NONE && effect !== EFFECT_PUT && effect !== EFFECT_DEL) ||
    (value !== null && !Buffer.isBuffer(value)) ||
    (effect === EFFECT_PUT && value === null) ||
    typeof expiresAt !== "number" ||
    !(answer === null || Buffer.isBuffer(answer) || isInteger(answer))
  ) {
    throw unexpected(reply);
  }
  return { effect, value, expiresAt, answer };
}

function isInteger(v: RespValue | undefined): v is number | bigint {
  return typeof v === "number" || (typeof v === "bigint" && v >= INT64_MIN && v <= INT64_MAX);
}

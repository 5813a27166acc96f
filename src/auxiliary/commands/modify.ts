// An auxiliary node's read-modify-writes: RC.MODIFY, and RC.INCRBY of earlier masters
// (docs/design.md, "Master ↔ auxiliary protocol"). The node is the key's first live owner: it
// reads the value, computes the new one as Redis 7 does, stores it with the master's version
// and answers what the other owners must get (the same version: RC.PUT or RC.DEL) and what
// the client gets. A version at or below what the node holds is refused (-STALE V) and
// changes nothing; so is every input Redis would refuse.
import { RingcacheError } from "../../errors.js";
import {
  EFFECT_DEL,
  EFFECT_NONE,
  EFFECT_PUT,
  parseIncrBy,
  parseModify,
  writeModifyReply,
  type Modification,
} from "../../protocol/internal/index.js";
import type { RespWriter } from "../../protocol/resp/index.js";
import { INT64_MAX, INT64_MIN, notInteger, parseInt64 } from "../../redis/integers.js";
import { incrByFloat } from "../../redis/long-double.js";
import { appended, checkStringLength, setRange } from "../../redis/strings.js";
import type { AuxiliaryCommands } from "./dispatcher.js";

/** What a modification did: how the other owners get it, and the client's result. */
export interface Outcome {
  readonly effect: number;
  /** PUT: the value now held (a buffer of its own). */
  readonly value: Buffer | null;
  readonly expiresAt: number;
  readonly answer: number | bigint | Buffer | null;
}

/** RC.MODIFY key version limit op [arg …] */
export function rcModify(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const { key, version, limit, mod } = parseModify(args);
  const o = modify(a, key, version, limit, mod);
  writeModifyReply(out, o.effect, o.value, o.expiresAt, o.answer);
}

/** RC.INCRBY key delta version: INCRBY through the same path, answered as before. */
export function rcIncrBy(a: AuxiliaryCommands, out: RespWriter, args: Buffer[]): void {
  const { key, delta, version } = parseIncrBy(args);
  const o = modify(a, key, version, Number.MAX_SAFE_INTEGER, { op: "INCRBY", delta });
  out.arrayHeader(2);
  out.bulk(o.value);
  out.integer(o.expiresAt);
}

/**
 * Applies `mod` to `key` with `version`, refusing it (STALE) when the node holds that version
 * or a newer one. `limit` bounds the values APPEND, SETRANGE and GETSET may leave.
 */
export function modify(
  a: AuxiliaryCommands,
  key: Buffer,
  version: number,
  limit: number,
  mod: Modification,
): Outcome {
  a.clock.observe(version);
  const held = a.blocking(key, version);
  if (held >= 0) throw new RingcacheError("STALE_VERSION", String(held));
  const ref = a.ref;
  const live = a.store.getRef(key, ref);
  // A view of the stored value: valid until the store next changes.
  const current = live ? ref.buffer.subarray(ref.offset, ref.offset + ref.length) : null;
  const expiresAt = live ? ref.expiresAt : 0;
  switch (mod.op) {
    case "INCRBY": {
      let value = 0n;
      if (current !== null) {
        const parsed = parseInt64(current);
        if (parsed === null) throw notInteger();
        value = parsed;
      }
      const next = value + mod.delta;
      if (next < INT64_MIN || next > INT64_MAX) {
        throw new RingcacheError("BAD_REQUEST", "increment or decrement would overflow");
      }
      return put(a, key, version, Buffer.from(next.toString(), "latin1"), expiresAt, next);
    }
    case "INCRBYFLOAT": {
      const text = Buffer.from(incrByFloat(current, mod.incr), "latin1");
      return put(a, key, version, text, expiresAt, text);
    }
    case "APPEND": {
      checkStringLength((current?.length ?? 0) + mod.value.length, limit);
      const value = appended(current, mod.value);
      return put(a, key, version, value, expiresAt, value.length);
    }
    case "SETRANGE": {
      // Writing nothing changes nothing, whatever the offset: the length is the answer.
      if (mod.value.length === 0) return none(current?.length ?? 0);
      const end = mod.offset + BigInt(mod.value.length);
      checkStringLength(end > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(end), limit);
      const value = setRange(current, Number(mod.offset), mod.value);
      return put(a, key, version, value, expiresAt, value.length);
    }
    case "GETSET": {
      checkStringLength(mod.value.length, limit);
      const old = current === null ? null : Buffer.from(current);
      // A plain SET: the new value has no expiry.
      return put(a, key, version, Buffer.from(mod.value), 0, old);
    }
    case "GETDEL": {
      const old = current === null ? null : Buffer.from(current);
      // A tombstone even for no key, as RC.DEL leaves: masters send GETDEL to every owner at
      // once, and an older copy still on its way to this one must be refused.
      a.store.delete(key, version);
      a.changes++;
      return { effect: EFFECT_DEL, value: null, expiresAt: 0, answer: old };
    }
    case "GETEX": {
      if (current === null) return none(null);
      const old = Buffer.from(current);
      // PERSIST of a key with no expiry changes nothing.
      if (mod.expiresAt === 0 && expiresAt === 0) return none(old);
      a.store.setExpiry(key, mod.expiresAt, version);
      a.changes++;
      return { effect: EFFECT_PUT, value: old, expiresAt: mod.expiresAt, answer: old };
    }
  }
}

function put(
  a: AuxiliaryCommands,
  key: Buffer,
  version: number,
  value: Buffer,
  expiresAt: number,
  answer: number | bigint | Buffer | null,
): Outcome {
  a.store.set(key, value, version, expiresAt);
  a.changes++;
  return { effect: EFFECT_PUT, value, expiresAt, answer };
}

function none(answer: number | Buffer | null): Outcome {
  return { effect: EFFECT_NONE, value: null, expiresAt: 0, answer };
}

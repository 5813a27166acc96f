import type { RespReplyError } from "./reply-error.js";

/**
 * A decoded RESP2 reply:
 *   `+OK`          → "OK" (string)           `-ERR x`   → RespReplyError
 *   `:42`          → 42 (number; bigint outside the safe-integer range)
 *   `$3 foo`       → Buffer                  `$-1`      → null
 *   `*2 ...`       → RespValue[]             `*-1`      → null
 */
export type RespValue = string | number | bigint | Buffer | null | RespReplyError | RespValue[];

/**
 * A decoded reply of a RESP3 connection: RespValue's types, and
 *   `_`            → null                    `#t` `#f`  → true, false
 *   `,1.5`         → RespDouble              `(123…`    → bigint
 *   `%2 k v k v`   → RespMap                 `~2 a b`   → RespSet
 *   `=7 txt:abc`   → RespVerbatim            `!5 ERR x` → RespReplyError
 * Push (`>`) and attribute (`|`) frames are not decoded: no ringcache node sends them.
 */
export type Resp3Value =
  | string
  | number
  | bigint
  | boolean
  | Buffer
  | null
  | RespReplyError
  | RespDouble
  | RespMap
  | RespSet
  | RespVerbatim
  | Resp3Value[];

/** A RESP3 map, as its keys and values alternate on the wire (keys may be any value). */
export class RespMap {
  readonly entries: Resp3Value[];
  constructor(entries: Resp3Value[]) {
    this.entries = entries;
  }
}

/** A RESP3 set, its members in wire order. */
export class RespSet {
  readonly items: Resp3Value[];
  constructor(items: Resp3Value[]) {
    this.items = items;
  }
}

/** A RESP3 double (kept apart from integers: `,1` and `:1` are different replies). */
export class RespDouble {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/** A RESP3 verbatim string: its three-letter format ("txt", "mkd") and its bytes. */
export class RespVerbatim {
  readonly format: string;
  readonly text: Buffer;
  constructor(format: string, text: Buffer) {
    this.format = format;
    this.text = text;
  }
}

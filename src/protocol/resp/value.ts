import type { RespReplyError } from "./reply-error.js";

/**
 * A decoded RESP2 reply:
 *   `+OK`          → "OK" (string)           `-ERR x`   → RespReplyError
 *   `:42`          → 42 (number; bigint outside the safe-integer range)
 *   `$3 foo`       → Buffer                  `$-1`      → null
 *   `*2 ...`       → RespValue[]             `*-1`      → null
 */
export type RespValue = string | number | bigint | Buffer | null | RespReplyError | RespValue[];

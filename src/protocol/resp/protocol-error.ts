import { RingcacheError } from "../../errors.js";

/**
 * A malformed frame. Its message mirrors Redis's wording where Redis has one, so a server that
 * replies `-ERR <message>` and closes behaves like Redis does. After reporting one, a decoder
 * is dead: it ignores further input until `reset()`.
 */
export class RespProtocolError extends RingcacheError {
  constructor(message: string) {
    super("PROTOCOL", message);
    this.name = "RespProtocolError";
  }
}

// The messages, in one place so that tests and the server can refer to them.
export const INVALID_MULTIBULK_LENGTH = "Protocol error: invalid multibulk length";
export const INVALID_BULK_LENGTH = "Protocol error: invalid bulk length";
export const TOO_BIG_INLINE_REQUEST = "Protocol error: too big inline request";
export const UNBALANCED_QUOTES = "Protocol error: unbalanced quotes in request";
/** Redis waits forever for the end of such a line (see inline.ts); we refuse it at once. */
export const NUL_IN_INLINE_REQUEST = "Protocol error: NUL byte in inline request";
/** Redis skips the two bytes after a bulk without looking; we check them to catch desyncs early. */
export const EXPECTED_CRLF_AFTER_BULK = "Protocol error: expected CRLF after bulk data";
/** The total a command claims exceeds `maxBufferedBytes` (Redis: client-query-buffer-limit). */
export const QUERY_BUFFER_LIMIT = "Protocol error: request exceeds the query buffer limit";
export const INVALID_INTEGER = "Protocol error: invalid integer reply";
export const TOO_BIG_REPLY_LINE = "Protocol error: too big reply line";
export const TOO_DEEP_REPLY = "Protocol error: reply nested too deep";
export const EXPECTED_CRLF_AFTER_LINE = "Protocol error: expected CRLF after reply line";

/** Redis's `Protocol error: expected '$', got 'x'`, with the offending byte as a character. */
export function expectedDollar(got: number): string {
  return `Protocol error: expected '$', got '${String.fromCharCode(got)}'`;
}

/**
 * A RESP3 reply whose body breaks its type's grammar (`_x`, `#y`, `,1.2.3`, `=2 ab` with no
 * format), by its type byte.
 */
export function invalidReply(type: number): string {
  return `Protocol error: invalid '${String.fromCharCode(type)}' reply`;
}

/** A reply that does not start with a type byte the decoder reads (RESP2's `+ - : $ *`). */
export function unknownReplyType(got: number): string {
  return `Protocol error: unknown reply type '${String.fromCharCode(got)}'`;
}

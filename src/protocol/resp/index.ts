// The RESP codec: pure, synchronous, socket-free. Servers decode commands and write replies
// (RESP2, or RESP3 per connection after HELLO 3); clients (masters talking to auxiliary nodes,
// tests) encode commands and decode replies.
//
//   client ── encodeCommand / RespWriter.command ──► CommandDecoder ─► onCommand(args)
//   client ◄── ReplyDecoder ─► onReply(value)  ◄──── RespWriter (one Buffer per flush)

export { CommandDecoder, type CommandHandler } from "./command-decoder.js";
export { ReplyDecoder, type ReplyDecoderOptions, type ReplyHandler } from "./reply-decoder.js";
export { RespWriter, encodeCommand, replyIn, type RespProtocol } from "./writer.js";
export { formatDouble } from "./double.js";
export { splitInlineArgs } from "./inline.js";
export {
  BUFFER_HEADROOM,
  DEFAULT_LIMITS,
  MAX_BULK_LENGTH_CEILING,
  type RespLimits,
  resolveLimits,
} from "./limits.js";
export {
  EXPECTED_CRLF_AFTER_BULK,
  EXPECTED_CRLF_AFTER_LINE,
  INVALID_BULK_LENGTH,
  INVALID_INTEGER,
  INVALID_MULTIBULK_LENGTH,
  NUL_IN_INLINE_REQUEST,
  QUERY_BUFFER_LIMIT,
  RespProtocolError,
  TOO_BIG_INLINE_REQUEST,
  TOO_BIG_REPLY_LINE,
  TOO_DEEP_REPLY,
  UNBALANCED_QUOTES,
  expectedDollar,
  invalidReply,
  unknownReplyType,
} from "./protocol-error.js";
export { RespReplyError } from "./reply-error.js";
export {
  RespDouble,
  RespMap,
  RespSet,
  RespVerbatim,
  type Resp3Value,
  type RespValue,
} from "./value.js";

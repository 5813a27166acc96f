// The RESP2 codec: pure, synchronous, socket-free. Servers decode commands and write replies;
// clients (masters talking to auxiliary nodes, tests) encode commands and decode replies.

export { RespWriter, encodeCommand } from "./writer.js";
export { RespReplyError } from "./reply-error.js";
export type { RespValue } from "./value.js";

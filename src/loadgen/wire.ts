// The contract between a connection and a protocol: how to encode one request into a frame,
// and a streaming parser that reports each reply, in order, as an outcome. RESP and HTTP
// implement it (resp.ts, http.ts); the connection, the runner and the statistics never see
// bytes of either protocol.
import type { Op } from "./workload.js";

/** A value (GET hit), +OK, an integer, a 2xx status. */
export const REPLY_OK = 0;
/** A nil reply or HTTP 404: a cache miss. */
export const REPLY_MISS = 1;
export type Outcome = typeof REPLY_OK | typeof REPLY_MISS;

export interface ReplySink {
  /** One complete reply, in request order. */
  reply(outcome: Outcome): void;
  /**
   * One complete error reply, in request order. `kind` is short and stable, for counting
   * ("ERR", "CLUSTERDOWN", "HTTP 503"); `message` is the text a person reads.
   */
  errorReply(kind: string, message: string): void;
  /**
   * The reply about to be reported is the server's last on this connection (HTTP
   * `Connection: close`): send nothing more, and reopen once it is answered or closed.
   */
  serverClosing(): void;
}

export interface ReplyParser {
  /** Consumes bytes; calls the sink once per complete reply. Throws WireError on garbage. */
  feed(chunk: Buffer): void;
  /** Forgets any partial reply (after the connection is reopened). */
  reset(): void;
}

export interface Wire {
  /** Bytes that encode() will write for this request. */
  requestSize(op: Op, valueSize: number): number;
  /** Writes one request at `offset`; returns the offset after it. */
  encode(buf: Buffer, offset: number, op: Op, key: number, valueSize: number): number;
  createParser(sink: ReplySink): ReplyParser;
}

/** Bytes the peer sent that are not a valid reply; the connection is reopened. */
export class WireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

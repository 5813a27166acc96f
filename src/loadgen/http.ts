// HTTP/1.1 for the load generator, pipelined over plain sockets: Node's http client sends one
// request per connection at a time and costs more CPU per request than the server under test,
// which would make the generator the bottleneck. Requests follow the masters' key API:
//
//   GET /v1/keys/<key> HTTP/1.1           200 + value: hit    404: miss
//   PUT /v1/keys/<key>[?ttl=<s>] HTTP/1.1 2xx: stored         anything else: an error reply
//
// Keys are letters, digits and : _ . - (see options.ts): none needs percent-encoding in a path.
// A response with `Connection: close` is the last on its connection; the connection reopens
// (connection.ts) and re-issues requests the server dropped.
import { decimalLength, OP_GET, writeDecimal, type Op, type Workload } from "./workload.js";
import {
  REPLY_MISS,
  REPLY_OK,
  WireError,
  type ReplyParser,
  type ReplySink,
  type Wire,
} from "./wire.js";

const CR = 0x0d;
const LF = 0x0a;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
/** Longer response heads are refused: a cache's replies have a handful of headers. */
const MAX_HEAD = 64 * 1024;

export const KEYS_PATH = "/v1/keys/";

function hostHeader(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class HttpWire implements Wire {
  private readonly workload: Workload;
  private readonly getHead: Buffer;
  private readonly getTail: Buffer;
  private readonly putHead: Buffer;
  /** From after the key up to "Content-Length: ". */
  private readonly putMiddle: Buffer;

  constructor(workload: Workload, ttlSeconds: number, host: string, port: number) {
    this.workload = workload;
    const hostLine = `Host: ${hostHeader(host, port)}\r\n`;
    this.getHead = Buffer.from(`GET ${KEYS_PATH}`, "latin1");
    this.getTail = Buffer.from(` HTTP/1.1\r\n${hostLine}\r\n`, "latin1");
    this.putHead = Buffer.from(`PUT ${KEYS_PATH}`, "latin1");
    const query = ttlSeconds > 0 ? `?ttl=${ttlSeconds}` : "";
    this.putMiddle = Buffer.from(
      `${query} HTTP/1.1\r\n${hostLine}Content-Type: application/octet-stream\r\nContent-Length: `,
      "latin1",
    );
  }

  requestSize(op: Op, valueSize: number): number {
    if (op === OP_GET) return this.getHead.length + this.workload.keyLength + this.getTail.length;
    return (
      this.putHead.length +
      this.workload.keyLength +
      this.putMiddle.length +
      decimalLength(valueSize) +
      4 +
      valueSize
    );
  }

  encode(buf: Buffer, offset: number, op: Op, key: number, valueSize: number): number {
    let at = offset;
    if (op === OP_GET) {
      at += this.getHead.copy(buf, at);
      at = this.workload.writeKey(buf, at, key);
      at += this.getTail.copy(buf, at);
      return at;
    }
    at += this.putHead.copy(buf, at);
    at = this.workload.writeKey(buf, at, key);
    at += this.putMiddle.copy(buf, at);
    at = writeDecimal(buf, at, valueSize);
    at += HEAD_END.copy(buf, at);
    return this.workload.writeValue(buf, at, valueSize);
  }

  createParser(sink: ReplySink): ReplyParser {
    return new HttpResponseParser(sink);
  }
}

// Parser states.
const H_HEAD = 0; // status line and headers, up to the empty line
const H_BODY = 1; // a Content-Length body
const H_CHUNK_SIZE = 2; // a chunk-size line (hex, optional extensions), up to LF
const H_CHUNK_DATA = 3; // chunk data and its CRLF
const H_TRAILER = 4; // trailer lines after the last chunk, up to an empty line

const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)[ \t]*(?=\r\n|$)/;
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/;
const CONNECTION_CLOSE = /\r\nconnection:[^\r]*close/;

/**
 * Reads pipelined HTTP/1.1 responses (Content-Length or chunked bodies) and classifies each by
 * status: 2xx is REPLY_OK, 404 is REPLY_MISS, anything else an error reply of kind
 * "HTTP <status>". Bodies are skipped, never copied.
 */
export class HttpResponseParser implements ReplyParser {
  private readonly sink: ReplySink;
  private state = H_HEAD;
  /** Bytes of a head split across chunks. */
  private partial: Buffer | undefined;
  private status = 0;
  private statusLine = "";
  /** The response being read announced Connection: close. */
  private closing = false;
  private remaining = 0;
  private chunkSize = 0;
  private chunkDigits = 0;
  private inExtension = false;
  private lineLength = 0;

  constructor(sink: ReplySink) {
    this.sink = sink;
  }

  reset(): void {
    this.state = H_HEAD;
    this.partial = undefined;
    this.remaining = 0;
    this.closing = false;
  }

  feed(input: Buffer): void {
    let chunk = input;
    let n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case H_HEAD: {
          let buf = chunk;
          let from = i;
          if (this.partial !== undefined) {
            buf = Buffer.concat([this.partial, chunk.subarray(i)]);
            from = 0;
            this.partial = undefined;
          }
          const end = buf.indexOf(HEAD_END, from);
          if (end < 0) {
            if (buf.length - from > MAX_HEAD) throw new WireError("HTTP response head too long");
            this.partial = Buffer.from(buf.subarray(from)); // a copy: the chunk is not ours
            i = n;
            break;
          }
          this.head(buf.toString("latin1", from, end));
          if (buf !== chunk) {
            // Continue in the joined buffer, past the head.
            chunk = buf;
            n = buf.length;
          }
          i = end + 4;
          break;
        }
        case H_BODY: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.done();
          break;
        }
        case H_CHUNK_SIZE: {
          const c = chunk[i++] ?? 0;
          if (c === LF) {
            if (this.chunkDigits === 0) throw new WireError("HTTP chunk without a size");
            if (this.chunkSize === 0) {
              this.lineLength = 0;
              this.state = H_TRAILER;
            } else {
              this.remaining = this.chunkSize + 2;
              this.state = H_CHUNK_DATA;
            }
          } else if (c === 0x3b) {
            this.inExtension = true; // ;name=value
          } else if (!this.inExtension && c !== CR && c !== 0x20 && c !== 0x09) {
            const digit = hexValue(c);
            if (digit < 0 || ++this.chunkDigits > 12) throw new WireError("bad HTTP chunk size");
            this.chunkSize = this.chunkSize * 16 + digit;
          }
          break;
        }
        case H_CHUNK_DATA: {
          const take = Math.min(this.remaining, n - i);
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.startChunk();
          break;
        }
        case H_TRAILER: {
          const c = chunk[i++] ?? 0;
          if (c === LF) {
            if (this.lineLength === 0) this.done();
            this.lineLength = 0;
          } else if (c !== CR) {
            this.lineLength++;
          }
          break;
        }
      }
    }
  }

  private head(text: string): void {
    // "HTTP/1.1 200 OK"
    if (!text.startsWith("HTTP/1.")) throw new WireError("not an HTTP/1.x response");
    const lineEnd = text.indexOf("\r\n");
    this.statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
    const status = Number(text.slice(9, 12));
    if (!Number.isInteger(status) || status < 100) {
      throw new WireError(`bad HTTP status line ${JSON.stringify(this.statusLine)}`);
    }
    this.status = status;
    if (status < 200) return; // 1xx: informational, the real response follows
    const lower = text.toLowerCase();
    // NGINX says this after keepalive_requests responses on one connection (1000 by default).
    this.closing = CONNECTION_CLOSE.test(lower);
    if (CHUNKED.test(lower)) {
      this.startChunk();
      return;
    }
    const length = CONTENT_LENGTH.exec(lower);
    if (length !== null) {
      this.remaining = Number(length[1]);
      if (this.remaining === 0) this.done();
      else this.state = H_BODY;
      return;
    }
    if (status === 204 || status === 304) {
      this.done();
      return;
    }
    // A body delimited by closing the connection cannot be pipelined.
    throw new WireError(`HTTP ${status} response without Content-Length or chunked encoding`);
  }

  private startChunk(): void {
    this.chunkSize = 0;
    this.chunkDigits = 0;
    this.inExtension = false;
    this.state = H_CHUNK_SIZE;
  }

  private done(): void {
    this.state = H_HEAD;
    if (this.closing) {
      this.closing = false;
      this.sink.serverClosing();
    }
    const status = this.status;
    if (status >= 200 && status < 300) this.sink.reply(REPLY_OK);
    else if (status === 404) this.sink.reply(REPLY_MISS);
    else this.sink.errorReply(`HTTP ${status}`, this.statusLine);
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

// RESP for the load generator: an encoder for the two commands a run sends (GET, SET with an
// optional EX) and a streaming reply parser that only classifies replies. It never copies a
// value: bulk payloads are skipped by counting bytes. The shared codec in src/protocol/resp/
// can replace this once it exists; the Wire interface is the seam.
//
//   GET  *2\r\n$3\r\nGET\r\n$<klen>\r\n<key>\r\n
//   SET  *3\r\n$3\r\nSET\r\n$<klen>\r\n<key>\r\n$<vlen>\r\n<value>\r\n
//        (*5 and $2\r\nEX\r\n$<n>\r\n<ttl>\r\n appended when a TTL is set)
import { decimalLength, OP_GET, writeDecimal, type Op, type Workload } from "./workload.js";
import {
  REPLY_MISS,
  REPLY_OK,
  WireError,
  type Outcome,
  type ReplyParser,
  type ReplySink,
  type Wire,
} from "./wire.js";

const CR = 0x0d;
const LF = 0x0a;
const DOLLAR = 0x24;

export class RespWire implements Wire {
  private readonly workload: Workload;
  private readonly getHead: Buffer;
  private readonly setHead: Buffer;
  /** "$2\r\nEX\r\n$<n>\r\n<ttl>\r\n", or empty without a TTL. */
  private readonly setTail: Buffer;

  constructor(workload: Workload, ttlSeconds: number) {
    this.workload = workload;
    const klen = workload.keyLength;
    this.getHead = Buffer.from(`*2\r\n$3\r\nGET\r\n$${klen}\r\n`, "latin1");
    const argc = ttlSeconds > 0 ? 5 : 3;
    this.setHead = Buffer.from(`*${argc}\r\n$3\r\nSET\r\n$${klen}\r\n`, "latin1");
    const ttl = String(ttlSeconds);
    this.setTail =
      ttlSeconds > 0
        ? Buffer.from(`$2\r\nEX\r\n$${ttl.length}\r\n${ttl}\r\n`, "latin1")
        : Buffer.alloc(0);
  }

  requestSize(op: Op, valueSize: number): number {
    const key = this.workload.keyLength + 2;
    if (op === OP_GET) return this.getHead.length + key;
    return (
      this.setHead.length +
      key +
      1 +
      decimalLength(valueSize) +
      2 +
      valueSize +
      2 +
      this.setTail.length
    );
  }

  encode(buf: Buffer, offset: number, op: Op, key: number, valueSize: number): number {
    let at = offset;
    if (op === OP_GET) {
      at += this.getHead.copy(buf, at);
      at = this.workload.writeKey(buf, at, key);
      buf[at++] = CR;
      buf[at++] = LF;
      return at;
    }
    at += this.setHead.copy(buf, at);
    at = this.workload.writeKey(buf, at, key);
    buf[at++] = CR;
    buf[at++] = LF;
    buf[at++] = DOLLAR;
    at = writeDecimal(buf, at, valueSize);
    buf[at++] = CR;
    buf[at++] = LF;
    at = this.workload.writeValue(buf, at, valueSize);
    buf[at++] = CR;
    buf[at++] = LF;
    at += this.setTail.copy(buf, at);
    return at;
  }

  createParser(sink: ReplySink): ReplyParser {
    return new RespReplyParser(sink);
  }
}

// Parser states.
const S_TYPE = 0; // expecting a type byte
const S_LENGTH = 1; // reading the length of a $ bulk or * array, up to LF
const S_LINE = 2; // skipping a +simple / :integer line, up to LF
const S_ERROR = 3; // collecting an -error line, up to LF
const S_BULK = 4; // skipping a bulk payload and its CRLF

const MAX_ERROR_TEXT = 256;
const MAX_DEPTH = 32;

/**
 * Classifies RESP2 replies (and the RESP3 null `_`): a bulk or simple string, an integer or an
 * array is REPLY_OK, a nil bulk or nil array is REPLY_MISS, an -error line is an error reply.
 * Errors nested inside arrays belong to the array, which counts as one reply. Bytes may arrive
 * split anywhere: all state lives in fields.
 */
export class RespReplyParser implements ReplyParser {
  private readonly sink: ReplySink;
  private state = S_TYPE;
  /** "$" or "*": what the length being read is for. */
  private lengthOf = 0;
  /** What the line being skipped is: a value (+, :) or the RESP3 null (_). */
  private lineOutcome: Outcome = REPLY_OK;
  private length = 0;
  private negative = false;
  private lengthDigits = 0;
  private bulkRemaining = 0;
  private errorText = "";
  /** Elements still expected by each open array, outermost first. */
  private readonly open: number[] = [];

  constructor(sink: ReplySink) {
    this.sink = sink;
  }

  reset(): void {
    this.state = S_TYPE;
    this.length = 0;
    this.negative = false;
    this.lengthDigits = 0;
    this.bulkRemaining = 0;
    this.errorText = "";
    this.open.length = 0;
  }

  feed(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case S_TYPE: {
          const c = chunk[i++] ?? 0;
          switch (c) {
            case 0x24: // $
            case 0x2a: // *
              this.lengthOf = c;
              this.length = 0;
              this.negative = false;
              this.lengthDigits = 0;
              this.state = S_LENGTH;
              break;
            case 0x2b: // + simple string
            case 0x3a: // : integer
              this.lineOutcome = REPLY_OK;
              this.state = S_LINE;
              break;
            case 0x2d: // - error
              this.errorText = "";
              this.state = S_ERROR;
              break;
            case 0x5f: // _ RESP3 null, followed by CRLF
              this.lineOutcome = REPLY_MISS;
              this.state = S_LINE;
              break;
            default:
              throw new WireError(`unexpected RESP type byte 0x${c.toString(16)}`);
          }
          break;
        }
        case S_LENGTH: {
          const c = chunk[i++] ?? 0;
          if (c >= 0x30 && c <= 0x39) {
            this.length = this.length * 10 + (c - 0x30);
            if (++this.lengthDigits > 15) throw new WireError("RESP length too long");
          } else if (c === 0x2d && this.lengthDigits === 0 && !this.negative) {
            this.negative = true;
          } else if (c === LF) {
            if (this.lengthDigits === 0) throw new WireError("RESP length without digits");
            this.lengthRead();
          } else if (c !== CR) {
            throw new WireError(`unexpected byte 0x${c.toString(16)} in a RESP length`);
          }
          break;
        }
        case S_LINE: {
          const lf = chunk.indexOf(LF, i);
          if (lf < 0) {
            i = n;
            break;
          }
          i = lf + 1;
          this.state = S_TYPE;
          this.element(this.lineOutcome);
          break;
        }
        case S_ERROR: {
          const lf = chunk.indexOf(LF, i);
          const end = lf < 0 ? n : lf;
          if (this.errorText.length < MAX_ERROR_TEXT) {
            const room = MAX_ERROR_TEXT - this.errorText.length;
            this.errorText += chunk.toString("latin1", i, Math.min(end, i + room));
          }
          if (lf < 0) {
            i = n;
            break;
          }
          i = lf + 1;
          this.state = S_TYPE;
          this.errorLine(this.errorText.replace(/\r$/, ""));
          break;
        }
        case S_BULK: {
          const take = Math.min(this.bulkRemaining, n - i);
          i += take;
          this.bulkRemaining -= take;
          if (this.bulkRemaining === 0) {
            this.state = S_TYPE;
            this.element(REPLY_OK);
          }
          break;
        }
      }
    }
  }

  private lengthRead(): void {
    this.state = S_TYPE;
    const nil = this.negative;
    if (nil && this.length !== 1) throw new WireError(`negative RESP length -${this.length}`);
    if (this.lengthOf === 0x24) {
      if (nil) this.element(REPLY_MISS);
      else {
        this.bulkRemaining = this.length + 2; // payload and its CRLF
        this.state = S_BULK;
      }
      return;
    }
    // An array: nil, empty, or open until its elements arrive.
    if (nil) this.element(REPLY_MISS);
    else if (this.length === 0) this.element(REPLY_OK);
    else {
      if (this.open.length >= MAX_DEPTH) throw new WireError("RESP arrays nested too deep");
      this.open.push(this.length);
    }
  }

  /** A complete value: the reply itself at top level, or one element of the innermost array. */
  private element(outcome: Outcome): void {
    let result = outcome;
    for (;;) {
      const depth = this.open.length;
      if (depth === 0) {
        this.sink.reply(result);
        return;
      }
      const left = (this.open[depth - 1] ?? 1) - 1;
      if (left > 0) {
        this.open[depth - 1] = left;
        return;
      }
      this.open.pop();
      result = REPLY_OK; // a completed array is a value, whatever its elements were
    }
  }

  private errorLine(text: string): void {
    if (this.open.length > 0) {
      this.element(REPLY_OK);
      return;
    }
    const space = text.indexOf(" ");
    const kind = (space < 0 ? text : text.slice(0, space)) || "ERR";
    this.sink.errorReply(kind, text);
  }
}

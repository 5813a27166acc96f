import {
  BANG,
  COLON,
  COMMA,
  CR,
  DOLLAR,
  EMPTY,
  EQUALS,
  HASH,
  LF,
  LPAREN,
  MINUS,
  PERCENT,
  PLUS,
  STAR,
  TILDE,
  UNDERSCORE,
} from "./bytes.js";
import { IntegerReader } from "./integer-reader.js";
import { type RespLimits, resolveLimits } from "./limits.js";
import {
  EXPECTED_CRLF_AFTER_BULK,
  EXPECTED_CRLF_AFTER_LINE,
  INVALID_BULK_LENGTH,
  INVALID_INTEGER,
  INVALID_MULTIBULK_LENGTH,
  QUERY_BUFFER_LIMIT,
  RespProtocolError,
  TOO_BIG_REPLY_LINE,
  TOO_DEEP_REPLY,
  invalidReply,
  unknownReplyType,
} from "./protocol-error.js";
import { RespReplyError } from "./reply-error.js";
import {
  RespDouble,
  RespMap,
  RespSet,
  RespVerbatim,
  type Resp3Value,
  type RespValue,
} from "./value.js";

/** Receives what a ReplyDecoder finds, first in first out. One object per connection. */
export interface ReplyHandler<V extends Resp3Value = RespValue> {
  /**
   * One complete top-level reply. Arrays are the handler's to keep; Buffers in it (bulks) are
   * valid only until this call returns: they may be views of the chunk being fed, and keeping
   * one pins that whole chunk. Copy the bytes you keep.
   */
  onReply(value: V): void;
  /** The stream is malformed. Called at most once; the decoder is dead afterwards. */
  onProtocolError(err: RespProtocolError): void;
}

// Decoder states: at a type byte, in an integer line, a bulk/array header, bulk data, or a
// simple-string / error line. Arrays are a stack of frames, so nesting never recurses.
const R_TYPE = 0;
const R_INTEGER = 1;
const R_BULK_LENGTH = 2;
const R_ARRAY_LENGTH = 3;
const R_BULK_DATA = 4;
const R_LINE = 5;
const R_DEAD = 6;

const MIN_ASSEMBLY = 1024;

/** What a RESP3 line or bulk that breaks its type's grammar decodes to: a protocol error. */
const INVALID: unique symbol = Symbol("invalid");
const DOUBLE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const BIG_NUMBER = /^-?\d+$/;

export interface ReplyDecoderOptions {
  /**
   * Decode RESP3's types too (a client that said `HELLO 3`); then handle Resp3Value. Off, a
   * RESP3 type byte is an unknown reply type, as it is on every internal link.
   */
  readonly resp3?: boolean;
}

/**
 * The client side of RESP: turns what a server replies into values, streaming across chunks,
 * in order. Pure and synchronous. Same zero-copy rule and same limits as CommandDecoder; in a
 * reply, `maxArrayLength` bounds the elements of the whole reply, nested arrays included (a
 * map of n pairs counts 2n). RESP2 unless built with `{ resp3: true }` (then `V` is
 * Resp3Value).
 */
export class ReplyDecoder<V extends Resp3Value = RespValue> {
  private readonly handler: ReplyHandler<V>;
  private readonly limits: RespLimits;
  private readonly resp3: boolean;
  private readonly integer = new IntegerReader();
  private state = R_TYPE;
  /** Open arrays, outermost first: their elements so far and how many are still due. */
  private readonly stackItems: Resp3Value[][] = [];
  private readonly stackLeft: number[] = [];
  /** Each open aggregate's type byte: STAR, PERCENT (map) or TILDE (set). */
  private readonly stackType: number[] = [];
  /** The type byte of the aggregate header being read (STAR but while a RESP3 one is read). */
  private aggregateType = STAR;
  /** DOLLAR, but while RESP3's EQUALS (verbatim) or BANG (blob error) is read. */
  private bulkType = DOLLAR;
  /** Elements the current reply has announced (all its arrays); <= limits.maxArrayLength. */
  private elements = 0;
  /** Sum of the bulk lengths the current reply has claimed; <= limits.maxBufferedBytes. */
  private claimed = 0;
  /** Payload bytes held for the reply in progress. */
  private held = 0;
  private bulkLength = 0;
  private bulkReceived = 0;
  /** The line's type byte (PLUS, MINUS, or a RESP3 one); whether its CR ended a chunk. */
  private lineType = 0;
  private lineCR = false;
  /** The line is one of RESP3's (`_ , # (`), not `+` or `-`. */
  private lineResp3 = false;
  private assembly: Buffer = EMPTY;
  private assembled = 0;
  private generation = 0;

  constructor(
    handler: ReplyHandler<V>,
    limits?: Partial<RespLimits>,
    options: ReplyDecoderOptions = {},
  ) {
    this.handler = handler;
    this.limits = resolveLimits(limits);
    this.resp3 = options.resp3 === true;
  }

  /** Payload bytes held for a reply not yet complete. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Forgets any partial reply and a past protocol error. */
  reset(): void {
    this.generation++;
    this.clear(R_TYPE);
  }

  /**
   * Decodes `chunk`, calling `onReply` for every reply it completes, in order, or
   * `onProtocolError` once. Never throws on bad input; a handler that calls `reset()` stops
   * the rest of the chunk.
   */
  feed(chunk: Buffer): void {
    const end = chunk.length;
    const generation = this.generation;
    const integer = this.integer;
    const limits = this.limits;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case R_TYPE: {
          const c = chunk[pos]!;
          pos++;
          if (c === DOLLAR) {
            integer.begin(limits.maxBulkLength, 1, false);
            this.state = R_BULK_LENGTH;
          } else if (c === STAR) {
            integer.begin(limits.maxArrayLength, 1, false);
            this.state = R_ARRAY_LENGTH;
          } else if (c === COLON) {
            integer.begin(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
            this.state = R_INTEGER;
          } else if (c === PLUS || c === MINUS) {
            this.lineType = c;
            this.lineCR = false;
            this.state = R_LINE;
          } else if (!this.resp3) {
            return this.fail(unknownReplyType(c));
          } else if (c === UNDERSCORE || c === COMMA || c === HASH || c === LPAREN) {
            this.lineType = c;
            this.lineResp3 = true;
            this.lineCR = false;
            this.state = R_LINE;
          } else if (c === PERCENT || c === TILDE) {
            integer.begin(limits.maxArrayLength, 0, false); // no null map or set
            this.aggregateType = c;
            this.state = R_ARRAY_LENGTH;
          } else if (c === EQUALS || c === BANG) {
            integer.begin(limits.maxBulkLength, 0, false); // no null verbatim or blob error
            this.bulkType = c;
            this.state = R_BULK_LENGTH;
          } else {
            return this.fail(unknownReplyType(c));
          }
          break;
        }

        case R_INTEGER: {
          pos = integer.read(chunk, pos, end);
          if (pos < 0) return this.fail(INVALID_INTEGER);
          if (!integer.done) return;
          let value: number | bigint;
          if (integer.big !== null) value = integer.negative ? -integer.big : integer.big;
          else value = integer.negative ? -integer.value : integer.value;
          if (!this.complete(value, generation)) return;
          break;
        }

        case R_BULK_LENGTH: {
          pos = integer.read(chunk, pos, end);
          if (pos < 0) return this.fail(INVALID_BULK_LENGTH);
          if (!integer.done) return;
          if (integer.negative) {
            if (!this.complete(null, generation)) return; // `$-1`
            break;
          }
          const length = integer.value;
          if (this.claimed + length > limits.maxBufferedBytes) return this.fail(QUERY_BUFFER_LIMIT);
          this.claimed += length;
          if (end - pos < length + 2) {
            this.bulkLength = length;
            this.bulkReceived = 0;
            this.state = R_BULK_DATA;
            break;
          }
          const stop = pos + length;
          if (chunk[stop] !== CR || chunk[stop + 1] !== LF) {
            return this.fail(EXPECTED_CRLF_AFTER_BULK);
          }
          const bulk = length === 0 ? EMPTY : chunk.subarray(pos, stop);
          pos = stop + 2;
          this.held += length;
          if (this.bulkType !== DOLLAR) {
            if (!this.completeTyped(bulk, generation)) return;
            break;
          }
          if (!this.complete(bulk, generation)) return;
          break;
        }

        case R_ARRAY_LENGTH: {
          pos = integer.read(chunk, pos, end);
          if (pos < 0) return this.fail(INVALID_MULTIBULK_LENGTH);
          if (!integer.done) return;
          if (integer.negative) {
            if (!this.complete(null, generation)) return; // `*-1`
            break;
          }
          const type = this.aggregateType;
          this.aggregateType = STAR;
          const n = type === PERCENT ? 2 * integer.value : integer.value;
          if (n === 0) {
            if (!this.complete(this.aggregate(type, []), generation)) return;
            break;
          }
          if (this.stackItems.length >= limits.maxNestingDepth) return this.fail(TOO_DEEP_REPLY);
          this.elements += n;
          if (this.elements > limits.maxArrayLength) return this.fail(INVALID_MULTIBULK_LENGTH);
          this.stackItems.push([]);
          this.stackLeft.push(n);
          this.stackType.push(type);
          this.state = R_TYPE;
          break;
        }

        case R_BULK_DATA: {
          const missing = this.bulkLength - this.bulkReceived;
          if (missing > 0) {
            const n = Math.min(missing, end - pos);
            if (n === this.bulkLength) this.assembly = chunk.subarray(pos, pos + n);
            else this.append(chunk, pos, n, this.bulkLength);
            this.bulkReceived += n;
            this.held += n;
            pos += n;
            break;
          }
          if (chunk[pos] !== (missing === 0 ? CR : LF)) return this.fail(EXPECTED_CRLF_AFTER_BULK);
          pos++;
          if (++this.bulkReceived < this.bulkLength + 2) break;
          const bulk = this.bulkLength === 0 ? EMPTY : this.assembly;
          this.assembly = EMPTY;
          this.assembled = 0;
          if (this.bulkType !== DOLLAR) {
            if (!this.completeTyped(bulk, generation)) return;
            break;
          }
          if (!this.complete(bulk, generation)) return;
          break;
        }

        case R_LINE: {
          const max = limits.maxInlineLength;
          if (this.lineCR) {
            if (chunk[pos] !== LF) return this.fail(EXPECTED_CRLF_AFTER_LINE);
            pos++;
            const line = this.assembly.subarray(0, this.assembled);
            if (this.lineResp3) {
              if (!this.completeResp3Line(line, 0, line.length, generation)) return;
              break;
            }
            if (!this.complete(this.lineValue(line, 0, line.length), generation)) return;
            break;
          }
          const cr = chunk.indexOf(CR, pos);
          const stop = cr < 0 ? end : cr;
          if (this.assembled + (stop - pos) > max) return this.fail(TOO_BIG_REPLY_LINE);
          if (cr < 0 || cr + 1 === end || this.assembled > 0) {
            this.append(chunk, pos, stop - pos, max);
            if (cr < 0) {
              pos = end;
              break;
            }
            if (cr + 1 === end) {
              this.lineCR = true; // the LF comes with the next chunk
              pos = end;
              break;
            }
            if (chunk[cr + 1] !== LF) return this.fail(EXPECTED_CRLF_AFTER_LINE);
            pos = cr + 2;
            const line = this.assembly;
            if (this.lineResp3) {
              if (!this.completeResp3Line(line, 0, this.assembled, generation)) return;
              break;
            }
            if (!this.complete(this.lineValue(line, 0, this.assembled), generation)) return;
            break;
          }
          // The hot path: the whole line is in this chunk.
          if (chunk[cr + 1] !== LF) return this.fail(EXPECTED_CRLF_AFTER_LINE);
          if (this.lineResp3) {
            const start = pos;
            pos = cr + 2;
            if (!this.completeResp3Line(chunk, start, cr, generation)) return;
            break;
          }
          const value = this.lineValue(chunk, pos, cr);
          pos = cr + 2;
          if (!this.complete(value, generation)) return;
          break;
        }

        default:
          return; // R_DEAD
      }
    }
  }

  /** The value of a `+` or `-` line; "OK" and "PONG", the common ones, are not re-decoded. */
  private lineValue(buf: Buffer, start: number, stop: number): string | RespReplyError {
    const n = stop - start;
    let text: string;
    if (n === 2 && buf[start] === 79 && buf[start + 1] === 75) {
      text = "OK";
    } else if (
      n === 4 &&
      buf[start] === 80 &&
      buf[start + 1] === 79 &&
      buf[start + 2] === 78 &&
      buf[start + 3] === 71
    ) {
      text = "PONG";
    } else {
      text = buf.toString("utf8", start, stop);
    }
    return this.lineType === MINUS ? new RespReplyError(text) : text;
  }

  /** Completes a RESP3 line: `_` null, `#` boolean, `,` double, `(` big number. */
  private completeResp3Line(buf: Buffer, start: number, stop: number, generation: number): boolean {
    this.lineResp3 = false;
    const value = this.resp3Line(buf.toString("latin1", start, stop));
    if (value === INVALID) {
      this.fail(invalidReply(this.lineType));
      return false;
    }
    return this.complete(value, generation);
  }

  private resp3Line(text: string): Resp3Value | typeof INVALID {
    switch (this.lineType) {
      case UNDERSCORE:
        return text === "" ? null : INVALID;
      case HASH:
        return text === "t" ? true : text === "f" ? false : INVALID;
      case COMMA: {
        const lower = text.toLowerCase();
        if (lower === "inf" || lower === "+inf") return new RespDouble(Infinity);
        if (lower === "-inf") return new RespDouble(-Infinity);
        if (lower === "nan" || lower === "-nan") return new RespDouble(NaN);
        return DOUBLE.test(text) ? new RespDouble(Number(text)) : INVALID;
      }
      default: // LPAREN
        return BIG_NUMBER.test(text) ? BigInt(text) : INVALID;
    }
  }

  /** Completes a verbatim string (`=`: at least "xxx:") or a blob error (`!`). */
  private completeTyped(bulk: Buffer, generation: number): boolean {
    const type = this.bulkType;
    this.bulkType = DOLLAR;
    if (type === BANG) return this.complete(new RespReplyError(bulk.toString("utf8")), generation);
    if (bulk.length < 4 || bulk[3] !== 58) {
      this.fail(invalidReply(type));
      return false;
    }
    const text = bulk.subarray(4);
    return this.complete(new RespVerbatim(bulk.toString("latin1", 0, 3), text), generation);
  }

  /** An aggregate's value once its elements are in. */
  private aggregate(type: number, items: Resp3Value[]): Resp3Value {
    if (type === PERCENT) return new RespMap(items);
    if (type === TILDE) return new RespSet(items);
    return items;
  }

  /**
   * A value is complete: it fills a slot of the innermost open array, which may complete that
   * array, and so on outwards; a complete top-level value goes to the handler. Returns false
   * when the handler reset the decoder meanwhile.
   */
  private complete(value: Resp3Value, generation: number): boolean {
    this.state = R_TYPE;
    this.assembly = EMPTY;
    this.assembled = 0;
    let v = value;
    for (let depth = this.stackItems.length; depth > 0; depth--) {
      const items = this.stackItems[depth - 1]!;
      items.push(v);
      const left = this.stackLeft[depth - 1]! - 1;
      if (left > 0) {
        this.stackLeft[depth - 1] = left;
        return true;
      }
      this.stackItems.pop();
      this.stackLeft.pop();
      const type = this.stackType.pop() as number;
      v = type === STAR ? items : this.aggregate(type, items);
    }
    this.elements = 0;
    this.claimed = 0;
    this.held = 0;
    // A RESP2 decoder (V = RespValue) only ever builds RESP2 values.
    this.handler.onReply(v as V);
    return this.generation === generation;
  }

  private append(chunk: Buffer, pos: number, n: number, cap: number): void {
    const need = this.assembled + n;
    let buf = this.assembly;
    if (need > buf.length) {
      const size = Math.min(cap, Math.max(need, buf.length * 2, MIN_ASSEMBLY));
      const grown = Buffer.allocUnsafe(size);
      buf.copy(grown, 0, 0, this.assembled);
      this.assembly = buf = grown;
    }
    chunk.copy(buf, this.assembled, pos, pos + n);
    this.assembled = need;
  }

  private clear(state: number): void {
    this.state = state;
    this.stackItems.length = 0;
    this.stackLeft.length = 0;
    this.stackType.length = 0;
    this.aggregateType = STAR;
    this.bulkType = DOLLAR;
    this.lineResp3 = false;
    this.elements = 0;
    this.claimed = 0;
    this.held = 0;
    this.assembly = EMPTY;
    this.assembled = 0;
  }

  private fail(message: string): void {
    this.generation++;
    this.clear(R_DEAD);
    this.handler.onProtocolError(new RespProtocolError(message));
  }
}

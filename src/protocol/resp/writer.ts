import {
  COLON,
  COMMA,
  CR,
  DOLLAR,
  EMPTY,
  EQUALS,
  HASH,
  LF,
  MINUS,
  PERCENT,
  PLUS,
  STAR,
  TILDE,
  UNDERSCORE,
} from "./bytes.js";
import { formatDouble } from "./double.js";
import { RespReplyError } from "./reply-error.js";
import { RespDouble, RespMap, RespSet, RespVerbatim, type Resp3Value } from "./value.js";

/** The protocol a connection speaks: RESP2 until its client says `HELLO 3`. */
export type RespProtocol = 2 | 3;

const INITIAL_CAPACITY = 16 * 1024;
/**
 * After handing its buffer out, a writer starts again no bigger than this: one huge reply must
 * not make every later flush allocate as much.
 */
const MAX_RETAINED_CAPACITY = 1024 * 1024;
/**
 * Up to this many bytes a byte loop copies faster than TypedArray#set (measured on Node 20:
 * 5 bytes take 0.6× the time of set(), 16 bytes 1.7×).
 */
const TINY = 8;
/** Room for the longest header: a type byte, 20 digits with sign, CRLF. */
const MAX_HEADER = 24;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const OK_REPLY = Buffer.from("+OK\r\n", "latin1");
const PONG_REPLY = Buffer.from("+PONG\r\n", "latin1");
/** RESP3's one null, for a missing value and a missing array alike. */
const RESP3_NULL = Buffer.from("_\r\n", "latin1");

/**
 * A whole reply built before its connection's protocol was known (a prebuilt `$-1` or `*-1`,
 * or a scratch writer's RESP2 output of a null), in the form `protocol` spells it. Every
 * deferred reply goes through here (`DeferredReply.complete`), so a prebuilt null is right on
 * a RESP3 connection without its command knowing. Other replies pass through as they are.
 */
export function replyIn(reply: Buffer, protocol: RespProtocol): Buffer {
  if (
    protocol === 3 &&
    reply.length === 5 &&
    reply[1] === MINUS &&
    reply[2] === 49 &&
    (reply[0] === DOLLAR || reply[0] === STAR)
  ) {
    return RESP3_NULL;
  }
  return reply;
}

/** Number of decimal digits of a non-negative safe integer. */
function decimalLength(n: number): number {
  let digits = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    digits++;
  }
  return digits;
}

/** Bytes `*N` headers and `$len` headers of an encoded command take, for sizing it. */
function headerLength(n: number): number {
  return 1 + decimalLength(n) + 2;
}

function argLength(arg: Uint8Array | string): number {
  return typeof arg === "string" ? Buffer.byteLength(arg, "utf8") : arg.length;
}

/** CR and LF become spaces: a line that reaches the wire can never start a second reply. */
function sanitizeLine(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === CR || c === LF) return s.replace(/[\r\n]/g, " ");
  }
  return s;
}

function checkInteger(n: number | bigint): void {
  if (typeof n === "bigint") {
    if (n < INT64_MIN || n > INT64_MAX) {
      throw new RangeError(`RESP integer out of the 64-bit range: ${n}`);
    }
  } else if (!Number.isSafeInteger(n)) {
    throw new RangeError(`RESP integer must be a safe integer, got ${n}`);
  }
}

/**
 * Encodes RESP into one growable buffer, so that all the replies of one event-loop turn leave
 * as ONE Buffer (one socket write). Every method copies what it is given at once: a `bulk`
 * source may be a view into a store slab that the next mutation overwrites.
 *
 * The writer carries its connection's protocol: the forms RESP2 and RESP3 spell differently
 * (nulls, maps, sets, doubles, booleans, verbatim strings) follow `protocol`, so a command
 * writes `nullBulk()` or `mapHeader(n)` and its reply is right for either client.
 *
 * `take()` hands the bytes out and starts over. The writer never overwrites memory it handed
 * out: a small batch is copied out and the buffer reused; a large one is handed out as is and
 * the writer moves to a fresh buffer.
 */
export class RespWriter {
  /** 2 until the connection switches (HELLO 3); only the forms that differ consult it. */
  protocol: RespProtocol;
  private buf: Buffer;
  private len = 0;
  private readonly initialCapacity: number;

  constructor(initialCapacity = INITIAL_CAPACITY, protocol: RespProtocol = 2) {
    this.protocol = protocol;
    this.initialCapacity = Math.max(64, initialCapacity);
    this.buf = Buffer.allocUnsafe(this.initialCapacity);
  }

  /** Encodes a command as clients send it: an array of bulk strings. One exact allocation. */
  static encodeCommand(args: readonly (Uint8Array | string)[]): Buffer {
    return encodeCommand(args);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.len;
  }

  /** `+s\r\n`. CR and LF in `s` become spaces. */
  simple(s: string): this {
    if (s === "OK") return this.raw(OK_REPLY);
    if (s === "PONG") return this.raw(PONG_REPLY);
    return this.line(PLUS, sanitizeLine(s));
  }

  /** `-line\r\n`, e.g. `error("ERR unknown command")`. CR and LF become spaces. */
  error(line: string): this {
    return this.line(MINUS, sanitizeLine(line));
  }

  /** `:n\r\n`. `n` must be a safe integer, or a bigint within 64 bits (RangeError otherwise). */
  integer(n: number | bigint): this {
    if (typeof n === "number" && n >= 0 && n <= 0x7fffffff && (n | 0) === n) {
      this.header(COLON, n); // the common case: a small count
      return this;
    }
    checkInteger(n);
    if (typeof n === "number") {
      this.reserve(MAX_HEADER);
      this.buf[this.len++] = COLON;
      if (n < 0) {
        this.buf[this.len++] = MINUS;
        n = -n;
      }
      this.len = writeDigits(this.buf, this.len, n);
      this.crlf();
      return this;
    }
    return this.line(COLON, n.toString());
  }

  /** `$len\r\n<bytes>\r\n`, copying the bytes now; null gives the null bulk `$-1\r\n`. */
  bulk(b: Uint8Array | null): this {
    return b === null ? this.nullBulk() : this.bulkSlice(b, 0, b.length);
  }

  /** `$len\r\n<bytes>\r\n` of `source[offset, offset + length)`, copied now (no view made). */
  bulkSlice(source: Uint8Array, offset: number, length: number): this {
    this.reserve(MAX_HEADER + length + 2);
    this.header(DOLLAR, length);
    const buf = this.buf;
    let len = this.len;
    if (length <= TINY) {
      for (let i = 0; i < length; i++) buf[len + i] = source[offset + i]!;
    } else {
      const whole = offset === 0 && length === source.length;
      buf.set(whole ? source : source.subarray(offset, offset + length), len);
    }
    len += length;
    buf[len] = CR;
    buf[len + 1] = LF;
    this.len = len + 2;
    return this;
  }

  /**
   * `$len\r\n` alone: the caller sends the bulk's `length` bytes and its CRLF itself (a large
   * payload handed to the socket as it is, after what this writer holds).
   */
  bulkHeader(length: number): this {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`RESP bulk length must be a non-negative integer, got ${length}`);
    }
    this.reserve(MAX_HEADER);
    this.header(DOLLAR, length);
    return this;
  }

  /**
   * A bulk of the decimal digits of `n`, as `bulkString(String(n))` writes it, but written
   * straight into the buffer for a non-negative safe integer (versions, expiries, counts): no
   * string is made.
   */
  bulkDecimal(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) return this.bulkString(String(n));
    this.reserve(2 * MAX_HEADER);
    const buf = this.buf;
    const len = writeHeader(buf, this.len, DOLLAR, decimalLength(n));
    const end = writeDigits(buf, len, n);
    buf[end] = CR;
    buf[end + 1] = LF;
    this.len = end + 2;
    return this;
  }

  /** A bulk of the UTF-8 bytes of `s`. */
  bulkString(s: string): this {
    const n = Buffer.byteLength(s, "utf8");
    this.reserve(MAX_HEADER + n + 2);
    this.header(DOLLAR, n);
    this.len += this.buf.write(s, this.len, "utf8");
    this.crlf();
    return this;
  }

  /** `*n\r\n`; the caller then writes the n elements. */
  arrayHeader(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`RESP array length must be a non-negative integer, got ${n}`);
    }
    this.reserve(MAX_HEADER);
    this.header(STAR, n);
    return this;
  }

  /** A missing value (GET on a missing key): `$-1\r\n` in RESP2, `_\r\n` in RESP3. */
  nullBulk(): this {
    if (this.protocol === 3) return this.null3();
    this.reserve(5);
    const buf = this.buf;
    const len = this.len;
    buf[len] = DOLLAR;
    buf[len + 1] = MINUS;
    buf[len + 2] = 49; // '1'
    buf[len + 3] = CR;
    buf[len + 4] = LF;
    this.len = len + 5;
    return this;
  }

  /** A missing array: `*-1\r\n` in RESP2, `_\r\n` in RESP3. */
  nullArray(): this {
    if (this.protocol === 3) return this.null3();
    this.reserve(5);
    const buf = this.buf;
    const len = this.len;
    buf[len] = STAR;
    buf[len + 1] = MINUS;
    buf[len + 2] = 49;
    buf[len + 3] = CR;
    buf[len + 4] = LF;
    this.len = len + 5;
    return this;
  }

  /**
   * `%n\r\n` in RESP3, `*2n\r\n` (a flat array) in RESP2; the caller then writes n keys,
   * each followed by its value (CONFIG GET, HELLO, HGETALL).
   */
  mapHeader(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`RESP map length must be a non-negative integer, got ${n}`);
    }
    this.reserve(MAX_HEADER);
    if (this.protocol === 3) this.header(PERCENT, n);
    else this.header(STAR, 2 * n);
    return this;
  }

  /** `~n\r\n` in RESP3, `*n\r\n` in RESP2; the caller then writes n members (SMEMBERS). */
  setHeader(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`RESP set length must be a non-negative integer, got ${n}`);
    }
    this.reserve(MAX_HEADER);
    this.header(this.protocol === 3 ? TILDE : STAR, n);
    return this;
  }

  /**
   * A double as Redis 7.0 writes one (`%.17g`, `inf`, `-inf`, `nan`): `,1.5\r\n` in RESP3, a
   * bulk of the same text in RESP2 (ZSCORE).
   */
  double(x: number): this {
    const text = formatDouble(x);
    if (this.protocol === 2) return this.bulkString(text);
    return this.line(COMMA, text);
  }

  /** `#t\r\n` / `#f\r\n` in RESP3, `:1\r\n` / `:0\r\n` in RESP2. */
  boolean(b: boolean): this {
    if (this.protocol === 2) return this.integer(b ? 1 : 0);
    this.reserve(4);
    const buf = this.buf;
    const len = this.len;
    buf[len] = HASH;
    buf[len + 1] = b ? 116 : 102; // 't' : 'f'
    buf[len + 2] = CR;
    buf[len + 3] = LF;
    this.len = len + 4;
    return this;
  }

  /**
   * Text meant for people (INFO, CLIENT INFO, CLIENT LIST): `=len\r\ntxt:<text>\r\n` in RESP3,
   * a bulk of the UTF-8 text in RESP2. `format` is RESP3's three-letter hint ("txt", "mkd").
   */
  verbatim(text: string | Uint8Array, format = "txt"): this {
    if (!/^[\x21-\x39\x3b-\x7e]{3}$/.test(format)) {
      throw new RangeError(`RESP verbatim format must be 3 characters, got '${format}'`);
    }
    if (this.protocol === 2) {
      return typeof text === "string"
        ? this.bulkString(text)
        : this.bulkSlice(text, 0, text.length);
    }
    const n = typeof text === "string" ? Buffer.byteLength(text, "utf8") : text.length;
    this.reserve(MAX_HEADER + 4 + n + 2);
    this.header(EQUALS, n + 4);
    this.len += this.buf.write(format, this.len, "latin1");
    this.buf[this.len++] = 58; // ':'
    if (typeof text === "string") this.len += this.buf.write(text, this.len, "utf8");
    else {
      this.buf.set(text, this.len);
      this.len += n;
    }
    this.crlf();
    return this;
  }

  /** Bytes that are already RESP (a precomputed reply), copied as they are. */
  raw(bytes: Uint8Array): this {
    const n = bytes.length;
    this.reserve(n);
    const buf = this.buf;
    const len = this.len;
    if (n <= TINY) {
      for (let i = 0; i < n; i++) buf[len + i] = bytes[i]!;
    } else {
      buf.set(bytes, len);
    }
    this.len = len + n;
    return this;
  }

  /** A command as clients send it: `*N` then N bulks (strings as UTF-8). */
  command(args: readonly (Uint8Array | string)[]): this {
    let total = headerLength(args.length);
    for (const arg of args) {
      const n = argLength(arg);
      total += headerLength(n) + n + 2;
    }
    this.reserve(total);
    this.len = writeCommand(this.buf, this.len, args);
    return this;
  }

  /**
   * Any decoded value, so that a reply can be relayed: strings as simple strings, Buffers as
   * bulks, RespReplyError as errors, arrays recursively, null as the null bulk; RESP3's maps,
   * sets, doubles, booleans and verbatim strings in this writer's protocol.
   */
  value(v: Resp3Value): this {
    if (v === null) return this.nullBulk();
    if (typeof v === "string") return this.simple(v);
    if (typeof v === "number" || typeof v === "bigint") return this.integer(v);
    if (typeof v === "boolean") return this.boolean(v);
    if (v instanceof RespReplyError) return this.error(v.message);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const item of v) this.value(item);
      return this;
    }
    if (v instanceof RespMap) {
      this.mapHeader(v.entries.length >>> 1);
      for (const item of v.entries) this.value(item);
      return this;
    }
    if (v instanceof RespSet) {
      this.setHeader(v.items.length);
      for (const item of v.items) this.value(item);
      return this;
    }
    if (v instanceof RespDouble) return this.double(v.value);
    if (v instanceof RespVerbatim) return this.verbatim(v.text, v.format);
    return this.bulk(v);
  }

  /**
   * Everything written since the last take, as one Buffer the caller owns; the writer is then
   * empty. Small batches are copied out (the buffer is reused); a batch filling more than half
   * the buffer is handed out as is, and the writer starts a fresh buffer.
   */
  take(): Buffer {
    const n = this.len;
    if (n === 0) return EMPTY;
    this.len = 0;
    const buf = this.buf;
    if (n <= buf.length >>> 1) {
      const out = Buffer.allocUnsafe(n);
      buf.copy(out, 0, 0, n);
      return out;
    }
    this.buf = Buffer.allocUnsafe(
      Math.max(this.initialCapacity, Math.min(buf.length, MAX_RETAINED_CAPACITY)),
    );
    return buf.subarray(0, n);
  }

  // --- internals ---------------------------------------------------------------------------

  /** Makes room for `n` more bytes, doubling the buffer when it is too small. */
  private reserve(n: number): void {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }

  /** `<type><n>\r\n` for a non-negative safe integer n. */
  private header(type: number, n: number): void {
    if (this.len + MAX_HEADER > this.buf.length) this.reserve(MAX_HEADER);
    this.len = writeHeader(this.buf, this.len, type, n);
  }

  /** RESP3's null, `_\r\n`. */
  private null3(): this {
    this.reserve(3);
    const buf = this.buf;
    const len = this.len;
    buf[len] = UNDERSCORE;
    buf[len + 1] = CR;
    buf[len + 2] = LF;
    this.len = len + 3;
    return this;
  }

  private crlf(): void {
    this.buf[this.len] = CR;
    this.buf[this.len + 1] = LF;
    this.len += 2;
  }

  private line(type: number, text: string): this {
    const n = Buffer.byteLength(text, "utf8");
    this.reserve(n + 3);
    this.buf[this.len++] = type;
    this.len += this.buf.write(text, this.len, "utf8");
    this.crlf();
    return this;
  }
}

/** Writes `*N` and N bulks at `pos` of a buffer sized for them; returns the end position. */
function writeCommand(buf: Buffer, pos: number, args: readonly (Uint8Array | string)[]): number {
  pos = writeHeader(buf, pos, STAR, args.length);
  for (const arg of args) {
    if (typeof arg === "string") {
      const n = Buffer.byteLength(arg, "utf8");
      pos = writeHeader(buf, pos, DOLLAR, n);
      pos += buf.write(arg, pos, "utf8");
    } else {
      pos = writeHeader(buf, pos, DOLLAR, arg.length);
      buf.set(arg, pos);
      pos += arg.length;
    }
    buf[pos++] = CR;
    buf[pos++] = LF;
  }
  return pos;
}

/** `<type><n>\r\n` at `pos`; returns the end position. */
function writeHeader(buf: Buffer, pos: number, type: number, n: number): number {
  buf[pos] = type;
  const end = writeDigits(buf, pos + 1, n);
  buf[end] = CR;
  buf[end + 1] = LF;
  return end + 2;
}

/** The decimal digits of a non-negative safe integer at `pos`, without making a string. */
function writeDigits(buf: Buffer, pos: number, n: number): number {
  if (n < 10) {
    buf[pos] = 48 + n;
    return pos + 1;
  }
  const end = pos + decimalLength(n);
  let p = end;
  while (n >= 10) {
    const q = Math.floor(n / 10);
    buf[--p] = 48 + (n - q * 10);
    n = q;
  }
  buf[p - 1] = 48 + n;
  return end;
}

/**
 * Encodes one command (`*N` then N bulk strings, strings as UTF-8) into a Buffer of exactly its
 * size. Pure: the result shares nothing with the arguments.
 */
export function encodeCommand(args: readonly (Uint8Array | string)[]): Buffer {
  let total = headerLength(args.length);
  for (const arg of args) {
    const n = argLength(arg);
    total += headerLength(n) + n + 2;
  }
  const out = Buffer.allocUnsafe(total);
  writeCommand(out, 0, args);
  return out;
}

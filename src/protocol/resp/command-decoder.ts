import { CR, DOLLAR, EMPTY, LF, STAR } from "./bytes.js";
import { splitInlineArgs } from "./inline.js";
import { IntegerReader } from "./integer-reader.js";
import { type RespLimits, resolveLimits } from "./limits.js";
import {
  EXPECTED_CRLF_AFTER_BULK,
  INVALID_BULK_LENGTH,
  INVALID_MULTIBULK_LENGTH,
  NUL_IN_INLINE_REQUEST,
  QUERY_BUFFER_LIMIT,
  RespProtocolError,
  TOO_BIG_INLINE_REQUEST,
  UNBALANCED_QUOTES,
  expectedDollar,
} from "./protocol-error.js";

/** Receives what a CommandDecoder finds, in stream order. One object per connection. */
export interface CommandHandler {
  /**
   * One command. The array is the handler's to keep. The Buffers in it are valid only until
   * this call returns: they may be views of the chunk being fed (zero-copy), and keeping one
   * would pin that whole socket chunk. Copy the bytes you keep (a stored key or value).
   */
  onCommand(args: Buffer[]): void;
  /** The stream is malformed. Called at most once; the decoder is dead afterwards. */
  onProtocolError(err: RespProtocolError): void;
}

// Decoder states. A command is either a multibulk array or an inline line:
//
//   IDLE ─'*'─► COUNT ─N>0─► DOLLAR ─'$'─► LENGTH ─┬─► bulk+CRLF within the chunk: a view ─┐
//    │            │                ▲               └─► DATA: bulk spans chunks, assembled ─┤
//    │            └─N<=0: skipped  └───────────── fewer than N args ◄─────────────────────┤
//    │                                                N args ─► onCommand ─► IDLE ◄───────┘
//    └─other─► INLINE ─LF─► split ─► onCommand ─► IDLE
//
// Any violation leads to DEAD, reported once through onProtocolError.
const S_IDLE = 0;
const S_COUNT = 1;
const S_DOLLAR = 2;
const S_LENGTH = 3;
const S_DATA = 4;
const S_INLINE = 5;
const S_DEAD = 6;

/** Smallest buffer used to assemble a bulk or line that spans chunks. */
const MIN_ASSEMBLY = 1024;

/**
 * The server side of RESP2: turns the bytes clients send into commands. Pure and synchronous;
 * correct for any split of the stream, pipelining included.
 *
 * Zero-copy: a bulk that lies within one chunk is handed out as a view of that chunk; only a
 * bulk (or inline line) that spans chunks is copied, into a Buffer that grows with the bytes
 * actually received (never sized from a claimed length). So a chunk passed to `feed` must stay
 * unmodified until the commands that use it are delivered; socket chunks are never reused, so
 * a server feeding its 'data' chunks has nothing to do.
 */
export class CommandDecoder {
  private readonly handler: CommandHandler;
  private readonly limits: RespLimits;
  private readonly integer = new IntegerReader();
  private state = S_IDLE;
  /** Number of arguments the current `*N` command has announced. */
  private argc = 0;
  /** Arguments of the current command decoded so far (length < argc). */
  private args: Buffer[] = [];
  /** Sum of the bulk lengths the current command has claimed; <= limits.maxBufferedBytes. */
  private claimed = 0;
  /** Payload bytes held for the command in progress (completed args + `assembled`). */
  private held = 0;
  /** Length the current bulk announced. */
  private bulkLength = 0;
  /** Bytes of the current bulk received so far: its data, then its CR and LF. */
  private bulkReceived = 0;
  /** A bulk or inline line that spans chunks, assembled here; `assembled` bytes are valid. */
  private assembly: Buffer = EMPTY;
  private assembled = 0;
  /** Bumped by reset() and on failure, so that a handler that resets stops the current feed. */
  private generation = 0;
  /** Set by pause(): the current feed stops after the command being handled. */
  private pausing = false;

  constructor(handler: CommandHandler, limits?: Partial<RespLimits>) {
    this.handler = handler;
    this.limits = resolveLimits(limits);
  }

  /** Payload bytes held for a command not yet complete (its args so far, partial bulk/line). */
  get bufferedBytes(): number {
    return this.held;
  }

  /**
   * Called from a handler: the current `feed` returns right after this command, reporting how
   * much of its chunk it consumed; the caller feeds the rest later (backpressure).
   */
  pause(): void {
    this.pausing = true;
  }

  /** Forgets any partial command and a past protocol error: the decoder starts afresh. */
  reset(): void {
    this.generation++;
    this.clear(S_IDLE);
  }

  /**
   * Decodes `chunk`, calling `onCommand` for every command it completes, synchronously and in
   * order, or `onProtocolError` once if the stream is malformed. Never throws on bad input (a
   * throwing handler's exception propagates, and the rest of the chunk is dropped). If a
   * handler calls `reset()`, the rest of the chunk is dropped too. Returns the number of bytes
   * consumed: all of them, unless a handler called `pause()` (then the bytes after the command
   * it was handling are left for the caller to feed again).
   */
  feed(chunk: Buffer): number {
    const end = chunk.length;
    const generation = this.generation;
    const integer = this.integer;
    this.pausing = false;
    let pos = 0;
    while (pos < end) {
      switch (this.state) {
        case S_IDLE: {
          if (chunk[pos] === STAR) {
            // Negative counts are skipped like Redis does, however large (up to 2^53).
            integer.begin(this.limits.maxArrayLength, Number.MAX_SAFE_INTEGER, false);
            this.state = S_COUNT;
            pos++;
          } else {
            this.state = S_INLINE;
          }
          break;
        }

        case S_COUNT: {
          pos = integer.read(chunk, pos, end);
          if (pos < 0) return this.fail(INVALID_MULTIBULK_LENGTH, end);
          if (!integer.done) return end;
          if (integer.negative || integer.value === 0) {
            this.state = S_IDLE; // `*0` and `*-1`: an empty command, skipped as Redis does
          } else {
            this.argc = integer.value;
            this.state = S_DOLLAR;
          }
          break;
        }

        case S_DOLLAR: {
          const c = chunk[pos]!;
          if (c !== DOLLAR) return this.fail(expectedDollar(c), end);
          integer.begin(this.limits.maxBulkLength, 0, false);
          this.state = S_LENGTH;
          pos++;
          break;
        }

        case S_LENGTH: {
          pos = integer.read(chunk, pos, end);
          if (pos < 0) return this.fail(INVALID_BULK_LENGTH, end);
          if (!integer.done) return end;
          const length = integer.value;
          if (this.claimed + length > this.limits.maxBufferedBytes) {
            return this.fail(QUERY_BUFFER_LIMIT, end);
          }
          this.claimed += length;
          if (end - pos < length + 2) {
            this.bulkLength = length;
            this.bulkReceived = 0;
            this.state = S_DATA;
            break;
          }
          // The hot path: the bulk and its CRLF are all in this chunk; hand out a view.
          const stop = pos + length;
          if (chunk[stop] !== CR || chunk[stop + 1] !== LF) {
            return this.fail(EXPECTED_CRLF_AFTER_BULK, end);
          }
          this.args.push(length === 0 ? EMPTY : chunk.subarray(pos, stop));
          pos = stop + 2;
          this.held += length;
          if (this.args.length === this.argc) {
            if (!this.emit(this.args, generation)) return this.stop(pos, end);
          } else {
            this.state = S_DOLLAR;
          }
          break;
        }

        case S_DATA: {
          const missing = this.bulkLength - this.bulkReceived;
          if (missing > 0) {
            const n = Math.min(missing, end - pos);
            if (n === this.bulkLength) {
              this.assembly = chunk.subarray(pos, pos + n); // all data here, only CRLF is not
            } else {
              this.append(chunk, pos, n, this.bulkLength);
            }
            this.bulkReceived += n;
            this.held += n;
            pos += n;
            break;
          }
          // The data is complete: its CR, then its LF, each possibly in a chunk of its own.
          if (chunk[pos] !== (missing === 0 ? CR : LF))
            return this.fail(EXPECTED_CRLF_AFTER_BULK, end);
          pos++;
          if (++this.bulkReceived < this.bulkLength + 2) break;
          this.args.push(this.bulkLength === 0 ? EMPTY : this.assembly);
          this.assembly = EMPTY;
          this.assembled = 0;
          if (this.args.length === this.argc) {
            if (!this.emit(this.args, generation)) return this.stop(pos, end);
          } else {
            this.state = S_DOLLAR;
          }
          break;
        }

        case S_INLINE: {
          const max = this.limits.maxInlineLength;
          const newline = chunk.indexOf(LF, pos);
          const stop = newline < 0 ? end : newline;
          // +1: the line may end in a CR that is not part of it.
          if (this.assembled + (stop - pos) > max + 1)
            return this.fail(TOO_BIG_INLINE_REQUEST, end);
          if (newline < 0) {
            this.append(chunk, pos, stop - pos, max + 1);
            this.held += stop - pos;
            pos = end;
            break;
          }
          let line: Buffer;
          if (this.assembled === 0) {
            line = chunk.subarray(pos, stop);
          } else {
            this.append(chunk, pos, stop - pos, max + 1);
            line = this.assembly.subarray(0, this.assembled);
          }
          pos = newline + 1;
          if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
          if (line.length > max) return this.fail(TOO_BIG_INLINE_REQUEST, end);
          if (line.indexOf(0) >= 0) return this.fail(NUL_IN_INLINE_REQUEST, end);
          const args = splitInlineArgs(line);
          if (args === null) return this.fail(UNBALANCED_QUOTES, end);
          if (args.length === 0) {
            this.clear(S_IDLE); // a blank line: skipped, as Redis does
          } else if (!this.emit(args, generation)) {
            return this.stop(pos, end);
          }
          break;
        }

        default:
          return end; // S_DEAD: ignore everything until reset()
      }
    }
    return end;
  }

  /** Where a feed that emit() stopped ends: after the command when paused, else (reset) all. */
  private stop(pos: number, end: number): number {
    if (!this.pausing) return end;
    this.pausing = false;
    return pos;
  }

  /** Hands a complete command out; false when the handler reset or paused the decoder. */
  private emit(args: Buffer[], generation: number): boolean {
    this.args = [];
    this.claimed = 0;
    this.held = 0;
    this.assembly = EMPTY;
    this.assembled = 0;
    this.state = S_IDLE;
    this.handler.onCommand(args);
    return this.generation === generation && !this.pausing;
  }

  /**
   * Appends `n` bytes of `chunk` to the assembly buffer, growing it by doubling but never past
   * `cap` (the announced bulk length, or the line limit). Growth follows the bytes received, so
   * a header that claims 500 MB but sends 10 bytes costs about a kilobyte.
   */
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
    this.args = [];
    this.claimed = 0;
    this.held = 0;
    this.assembly = EMPTY;
    this.assembled = 0;
  }

  private fail(message: string, end: number): number {
    this.generation++;
    this.clear(S_DEAD);
    this.handler.onProtocolError(new RespProtocolError(message));
    return end;
  }
}

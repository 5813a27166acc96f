import { CR, LF, MINUS } from "./bytes.js";

// Phases of one integer line, `-?[1-9][0-9]*\r\n` or `0\r\n`.
const P_START = 0; // expecting '-' or the first digit
const P_SIGN = 1; // after '-': expecting 1-9
const P_DIGITS = 2; // in the digits: expecting a digit or CR
const P_ZERO = 3; // after a lone '0': expecting CR
const P_CR = 4; // after CR: expecting LF
const P_DONE = 5;

/** Digits of the longest 64-bit integer; longer lines are refused without reading them all. */
const MAX_DIGITS = 19;

/**
 * Reads one integer line (`123\r\n`) incrementally, byte by byte, across any number of chunks.
 * The grammar is Redis's `string2ll`: an optional '-', no '+', no leading zeros, no "-0", no
 * spaces, then CRLF. Every magnitude is checked against a bound as soon as its digit arrives, so
 * `$99999999999999999999` fails at the digit that crosses the limit, whatever the split.
 *
 * One instance per decoder, reused for every header (stable shape, nothing allocated).
 */
export class IntegerReader {
  /** The magnitude (exact while it fits the bounds, which are safe integers). */
  value = 0;
  negative = false;
  /** The magnitude once it exceeds the safe-integer range (only when begun with `allowBig`). */
  big: bigint | null = null;
  /** True once the whole line, CRLF included, has been read. */
  done = false;
  private phase = P_START;
  private digits = 0;
  private maxPositive = 0;
  private maxNegative = 0;
  private allowBig = false;

  /**
   * Starts a new line. A positive magnitude above `maxPositive`, or a negative one above
   * `maxNegative`, is an error; with `allowBig`, magnitudes past 2^53 continue as a bigint.
   */
  begin(maxPositive: number, maxNegative: number, allowBig: boolean): void {
    this.value = 0;
    this.negative = false;
    this.big = null;
    this.done = false;
    this.phase = P_START;
    this.digits = 0;
    this.maxPositive = maxPositive;
    this.maxNegative = maxNegative;
    this.allowBig = allowBig;
  }

  /**
   * Consumes bytes from `buf[pos..end)` and returns the position after them: either just after
   * the LF (then `done` is true) or `end` (more bytes needed). Returns -1 when the bytes cannot
   * be such an integer line or the magnitude crosses its bound.
   */
  read(buf: Buffer, pos: number, end: number): number {
    let phase = this.phase;
    let value = this.value;
    while (pos < end) {
      const c = buf[pos++]!;
      if (phase === P_DIGITS) {
        const d = c - 48;
        if (d >= 0 && d <= 9) {
          if (++this.digits > MAX_DIGITS) return -1;
          if (this.big !== null) {
            this.big = this.big * 10n + BigInt(d);
            continue;
          }
          const next = value * 10 + d;
          if (next > (this.negative ? this.maxNegative : this.maxPositive)) {
            if (!this.allowBig) return -1;
            this.big = BigInt(value) * 10n + BigInt(d);
            continue;
          }
          value = next;
          continue;
        }
        if (c !== CR) return -1;
        phase = P_CR;
      } else if (phase === P_CR) {
        if (c !== LF) return -1;
        this.phase = P_DONE;
        this.value = value;
        this.done = true;
        return pos;
      } else if (phase === P_START) {
        if (c >= 49 && c <= 57) {
          value = c - 48;
          this.digits = 1;
          if (value > this.maxPositive) return -1;
          phase = P_DIGITS;
        } else if (c === 48) {
          phase = P_ZERO;
        } else if (c === MINUS) {
          this.negative = true;
          phase = P_SIGN;
        } else {
          return -1;
        }
      } else if (phase === P_SIGN) {
        if (c < 49 || c > 57) return -1;
        value = c - 48;
        this.digits = 1;
        if (value > this.maxNegative) return -1;
        phase = P_DIGITS;
      } else if (phase === P_ZERO) {
        if (c !== CR) return -1;
        phase = P_CR;
      } else {
        return -1; // P_DONE: read past the end of a finished line (a caller bug)
      }
    }
    this.phase = phase;
    this.value = value;
    return pos;
  }
}

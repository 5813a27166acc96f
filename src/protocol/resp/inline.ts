// Inline commands (`PING\r\n`, `SET k "a b"\r\n`): what a person types into telnet or nc.
// The splitting follows Redis's sdssplitargs, quirks included, so that a line means the same
// here as it does to Redis:
//   - blanks between tokens are any of space \t \n \v \f \r; a NUL byte ends the line;
//   - a token is plain bytes, optionally followed by one quoted part: "..." understands
//     \xHH \n \r \t \b \a and \<any> escapes, '...' understands only \';
//   - a closing quote must be followed by a blank or the end of the line, otherwise the line
//     is refused ("unbalanced quotes"), as is a quote that never closes;
//   - empty arguments (`""`) are dropped, as Redis's processInlineBuffer does.
// (Redis never executes an inline line holding a NUL byte: its strchr() stops there and waits
// for a newline that it cannot see. The decoder refuses such a line outright.)

/** isspace() in the C locale: what separates tokens. */
function isBlank(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** What ends a plain token: narrower than isBlank (\v and \f belong to the token, as in Redis). */
function endsPlain(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const DQUOTE = 34;
const SQUOTE = 39;
const BACKSLASH = 92;

/**
 * Splits one inline line (without its line ending) into arguments. Plain tokens are views of
 * `line`; tokens with a quoted part are fresh Buffers. Returns null when quotes are unbalanced.
 * An empty or blank line gives no arguments (Redis skips it). A NUL byte ends the line, as it
 * ends the C string in sdssplitargs.
 */
export function splitInlineArgs(line: Buffer): Buffer[] | null {
  let end = line.indexOf(0);
  if (end < 0) end = line.length;
  const args: Buffer[] = [];
  let p = 0;
  for (;;) {
    while (p < end && isBlank(line[p]!)) p++;
    if (p >= end) return args;
    const start = p;
    while (p < end) {
      const c = line[p]!;
      if (endsPlain(c) || c === DQUOTE || c === SQUOTE) break;
      p++;
    }
    const quote = p < end ? line[p]! : 0;
    if (quote !== DQUOTE && quote !== SQUOTE) {
      args.push(line.subarray(start, p)); // plain token (never empty): p is at a blank or the end
      continue;
    }
    // A quoted part follows the plain prefix [start, p). The decoded bytes are never longer
    // than the source, so one buffer of that size is enough.
    const out = Buffer.allocUnsafe(end - start);
    let n = line.copy(out, 0, start, p);
    p++;
    let closed = false;
    while (p < end) {
      const c = line[p]!;
      if (quote === DQUOTE) {
        if (c === BACKSLASH && p + 3 < end && line[p + 1] === 120 /* x */) {
          const hi = hexValue(line[p + 2]!);
          const lo = hexValue(line[p + 3]!);
          if (hi >= 0 && lo >= 0) {
            out[n++] = hi * 16 + lo;
            p += 4;
            continue;
          }
        }
        if (c === BACKSLASH && p + 1 < end) {
          const e = line[p + 1]!;
          out[n++] =
            e === 110 /* n */
              ? 10
              : e === 114 /* r */
                ? 13
                : e === 116 /* t */
                  ? 9
                  : e === 98 /* b */
                    ? 8
                    : e === 97 /* a */
                      ? 7
                      : e;
          p += 2;
          continue;
        }
      } else if (c === BACKSLASH && p + 1 < end && line[p + 1] === SQUOTE) {
        out[n++] = SQUOTE;
        p += 2;
        continue;
      }
      if (c === quote) {
        // The closing quote must be followed by a blank or the end of the line.
        if (p + 1 < end && !isBlank(line[p + 1]!)) return null;
        p++;
        closed = true;
        break;
      }
      out[n++] = c;
      p++;
    }
    if (!closed) return null;
    if (n > 0) args.push(out.subarray(0, n));
  }
}

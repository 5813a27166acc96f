// Byte values of the RESP wire format, shared by the decoders and the writer.

export const CR = 13; // '\r'
export const LF = 10; // '\n'
export const STAR = 42; // '*' array
export const DOLLAR = 36; // '$' bulk string
export const PLUS = 43; // '+' simple string
export const MINUS = 45; // '-' error, and the sign of a negative number
export const COLON = 58; // ':' integer
export const ZERO = 48; // '0'

/**
 * The one zero-length Buffer handed out for every empty bulk (`$0`). Sharing it is safe: a
 * zero-length Buffer has no bytes anyone could overwrite, and it saves an object per empty arg.
 */
export const EMPTY = Buffer.alloc(0);

// RESP3's type bytes (a connection speaks RESP3 after `HELLO 3`).
export const UNDERSCORE = 95; // '_' null
export const PERCENT = 37; // '%' map
export const TILDE = 126; // '~' set
export const COMMA = 44; // ',' double
export const HASH = 35; // '#' boolean
export const EQUALS = 61; // '=' verbatim string
export const LPAREN = 40; // '(' big number
export const BANG = 33; // '!' blob error

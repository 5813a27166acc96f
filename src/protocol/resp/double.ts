// Doubles as Redis 7.0 writes them in replies: C's printf("%.17g"), with "inf", "-inf" and
// "nan" spelled out. A RESP3 connection gets `,<text>\r\n`, a RESP2 one a bulk of the text.
//
// The digits come from the double's exact decimal expansion, rounded half to even as glibc
// rounds, because JS's toPrecision rounds an exact tie up: 1125899906842624.25 is
// "1125899906842624.2" in Redis and "1125899906842624.3" from toPrecision(17).

const PRECISION = 17;
const view = new DataView(new ArrayBuffer(8));

/** `x` as C's `%.17g` formats it (Redis's addReplyDouble). */
export function formatDouble(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const sign = x < 0 ? "-" : "";
  let { digits, exponent } = exactDecimal(Math.abs(x));
  ({ digits, exponent } = roundHalfEven(digits, exponent));
  if (exponent < -4 || exponent >= PRECISION) {
    const fraction = stripZeros(digits.slice(1));
    const e = Math.abs(exponent);
    return `${sign}${digits[0]}${fraction === "" ? "" : `.${fraction}`}e${exponent < 0 ? "-" : "+"}${e < 10 ? "0" : ""}${e}`;
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${stripZeros(digits)}`;
  const fraction = stripZeros(digits.slice(exponent + 1));
  return `${sign}${digits.slice(0, exponent + 1)}${fraction === "" ? "" : `.${fraction}`}`;
}

/**
 * The exact decimal digits of a positive finite double (no leading zeros) and the power of ten
 * of the first one: x = 0.d1d2… × 10^(exponent + 1).
 */
function exactDecimal(x: number): { digits: string; exponent: number } {
  view.setFloat64(0, x);
  const high = view.getUint32(0);
  const low = view.getUint32(4);
  const biased = (high >>> 20) & 0x7ff;
  let mantissa = (BigInt(high & 0xfffff) << 32n) | BigInt(low);
  let power: number; // x = mantissa × 2^power
  if (biased === 0) {
    power = -1074; // subnormal
  } else {
    mantissa |= 1n << 52n;
    power = biased - 1075;
  }
  if (power >= 0) {
    const digits = (mantissa << BigInt(power)).toString();
    return { digits, exponent: digits.length - 1 };
  }
  // mantissa / 2^k = mantissa × 5^k / 10^k
  const digits = (mantissa * 5n ** BigInt(-power)).toString();
  return { digits, exponent: digits.length - 1 + power };
}

/** The first PRECISION digits, rounded half to even; a carry may move the exponent. */
function roundHalfEven(digits: string, exponent: number): { digits: string; exponent: number } {
  if (digits.length <= PRECISION) return { digits: digits.padEnd(PRECISION, "0"), exponent };
  const head = digits.slice(0, PRECISION);
  const first = digits.charCodeAt(PRECISION) - 48;
  let up = first > 5;
  if (first === 5) {
    const restNonZero = /[1-9]/.test(digits.slice(PRECISION + 1));
    up = restNonZero || (head.charCodeAt(PRECISION - 1) - 48) % 2 === 1;
  }
  if (!up) return { digits: head, exponent };
  const rounded = (BigInt(head) + 1n).toString();
  if (rounded.length > PRECISION)
    return { digits: rounded.slice(0, PRECISION), exponent: exponent + 1 };
  return { digits: rounded, exponent };
}

function stripZeros(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 48) end--;
  return s.slice(0, end);
}

// Hot-path encoders for the internal write commands a master sends most (RC.PUT, RC.MPUT,
// RC.DEL): byte for byte what protocol/internal.ts's encodePut, encodeMPut and encodeDel write
// (a unit test holds them to it), but the version and expiry go to the wire as digits written
// straight into a scratch buffer, with no string made per request.
import type { RespWriter } from "../protocol/resp/index.js";

const PUT_HEAD = Buffer.from("*5\r\n$6\r\nRC.PUT\r\n");
const DEL_HEAD = Buffer.from("*3\r\n$6\r\nRC.DEL\r\n");
const MPUT_NAME = Buffer.from("$7\r\nRC.MPUT\r\n");

const CR = 13;
const LF = 10;
const DOLLAR = 36;
const ZERO = 48;

// Two bulk decimals of at most 16 digits each fit in 2 * (1 + 2 + 2 + 16 + 2) bytes.
const scratch = Buffer.alloc(64);
/** views[n] = scratch[0, n): handed to RespWriter.raw, which copies at once. */
const views: Buffer[] = Array.from({ length: scratch.length + 1 }, (_, n) =>
  scratch.subarray(0, n),
);

function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Writes `$<len>\r\n<digits>\r\n` for a non-negative safe integer at `pos`; returns the end. */
function writeBulkDecimal(buf: Buffer, pos: number, n: number): number {
  const d = digitCount(n);
  buf[pos++] = DOLLAR;
  if (d >= 10) buf[pos++] = ZERO + Math.floor(d / 10);
  buf[pos++] = ZERO + (d % 10);
  buf[pos++] = CR;
  buf[pos++] = LF;
  let end = pos + d;
  for (let i = end - 1; i >= pos; i--) {
    const q = Math.floor(n / 10);
    buf[i] = ZERO + (n - q * 10);
    n = q;
  }
  buf[end++] = CR;
  buf[end++] = LF;
  return end;
}

/** The four bulks of one put (key, value, version, expiry), as RC.PUT and RC.MPUT carry them. */
export function putEntry(
  out: RespWriter,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
): void {
  out.bulk(key);
  out.bulk(value);
  const end = writeBulkDecimal(scratch, writeBulkDecimal(scratch, 0, version), expiresAt);
  out.raw(views[end] as Buffer);
}

/** RC.PUT key value version expiresAt (see protocol/internal.ts). */
export function putCommand(
  out: RespWriter,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
): void {
  out.raw(PUT_HEAD);
  putEntry(out, key, value, version, expiresAt);
}

/** RC.PUT framing around one entry written by putEntry. */
export function putFrame(out: RespWriter, entry: Uint8Array): void {
  out.raw(PUT_HEAD);
  out.raw(entry);
}

/** RC.MPUT n framing around `n` entries written back to back by putEntry. */
export function mputFrame(out: RespWriter, n: number, entries: Uint8Array): void {
  out.arrayHeader(2 + 4 * n);
  out.raw(MPUT_NAME);
  out.raw(views[writeBulkDecimal(scratch, 0, n)] as Buffer);
  out.raw(entries);
}

/** RC.DEL key version (see protocol/internal.ts). */
export function delCommand(out: RespWriter, key: Uint8Array, version: number): void {
  out.raw(DEL_HEAD);
  out.bulk(key);
  out.raw(views[writeBulkDecimal(scratch, 0, version)] as Buffer);
}

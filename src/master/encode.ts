// Hot-path encoders for the internal write commands a master sends most (RC.PUT, RC.MPUT,
// RC.DEL): byte for byte what protocol/internal.ts's encodePut, encodeMPut and encodeDel write
// (a unit test holds them to it), with the fixed parts of each command precomputed.
import type { RespWriter } from "../protocol/resp/index.js";

const PUT_HEAD = Buffer.from("*5\r\n$6\r\nRC.PUT\r\n");
const DEL_HEAD = Buffer.from("*3\r\n$6\r\nRC.DEL\r\n");
const MPUT_NAME = Buffer.from("$7\r\nRC.MPUT\r\n");

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
  out.bulkDecimal(version);
  out.bulkDecimal(expiresAt);
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
  out.bulkDecimal(n);
  out.raw(entries);
}

/** RC.DEL key version (see protocol/internal.ts). */
export function delCommand(out: RespWriter, key: Uint8Array, version: number): void {
  out.raw(DEL_HEAD);
  out.bulk(key);
  out.bulkDecimal(version);
}

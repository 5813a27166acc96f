// What a run asks for: which operation, which key, how large a value. Pure and synchronous;
// the drivers only encode what it picks.
//
// Keys are `<prefix><index as 12 zero-padded digits>` (key:000000004711), the shape
// redis-benchmark uses for key:__rand_int__, so both tools can address the same keys. Every key
// has the same length, which lets the encoders precompute their frames.
import { KEY_DIGITS, type Distribution } from "./options.js";
import type { Random } from "./random.js";
import { ZipfSampler } from "./zipf.js";

export const OP_GET = 0;
export const OP_SET = 1;
export type Op = typeof OP_GET | typeof OP_SET;

export interface WorkloadSpec {
  readonly keyspace: number;
  readonly keyPrefix: string;
  readonly distribution: Distribution;
  readonly zipfSkew: number;
  readonly readRatio: number;
  readonly valueSizeMin: number;
  readonly valueSizeMax: number;
}

const DIGIT_0 = 0x30;
const VALUE_BYTE = 0x78; // "x", as redis-benchmark fills its values

export class Workload {
  readonly keyspace: number;
  /** Bytes of every key. */
  readonly keyLength: number;
  readonly valueSizeMin: number;
  readonly valueSizeMax: number;
  private readonly prefix: Buffer;
  private readonly readRatio: number;
  private readonly random: Random;
  private readonly zipf: ZipfSampler | undefined;
  /** valueSizeMax bytes of filler; values are copied from its start. */
  private readonly filler: Buffer;

  constructor(spec: WorkloadSpec, random: Random) {
    this.keyspace = spec.keyspace;
    this.prefix = Buffer.from(spec.keyPrefix, "latin1");
    this.keyLength = this.prefix.length + KEY_DIGITS;
    this.valueSizeMin = spec.valueSizeMin;
    this.valueSizeMax = spec.valueSizeMax;
    this.readRatio = spec.readRatio;
    this.random = random;
    this.zipf =
      spec.distribution === "zipf"
        ? new ZipfSampler(spec.keyspace, spec.zipfSkew, random)
        : undefined;
    this.filler = Buffer.alloc(spec.valueSizeMax, VALUE_BYTE);
  }

  nextOp(): Op {
    // readRatio 1 never draws a write and 0 never draws a read: next() is in [0, 1).
    return this.random.next() < this.readRatio ? OP_GET : OP_SET;
  }

  /** A key index in [0, keyspace). With Zipf, index 0 is the hottest key. */
  nextKey(): number {
    return this.zipf !== undefined ? this.zipf.sample() : this.random.nextInt(this.keyspace);
  }

  nextValueSize(): number {
    const span = this.valueSizeMax - this.valueSizeMin;
    return span === 0 ? this.valueSizeMin : this.valueSizeMin + this.random.nextInt(span + 1);
  }

  /** Writes key `index` at `offset`; returns the offset after it. */
  writeKey(buf: Buffer, offset: number, index: number): number {
    this.prefix.copy(buf, offset);
    const end = offset + this.keyLength;
    let n = index;
    for (let i = end - 1; i >= end - KEY_DIGITS; i--) {
      const q = Math.floor(n / 10);
      buf[i] = DIGIT_0 + (n - q * 10);
      n = q;
    }
    return end;
  }

  /** The key as a string (reports, tests). */
  keyString(index: number): string {
    const buf = Buffer.allocUnsafe(this.keyLength);
    this.writeKey(buf, 0, index);
    return buf.toString("latin1");
  }

  /** Writes `size` value bytes at `offset`; returns the offset after them. */
  writeValue(buf: Buffer, offset: number, size: number): number {
    return offset + this.filler.copy(buf, offset, 0, size);
  }
}

/** Decimal digits of a non-negative integer (frame lengths). */
export function decimalLength(n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  return digits;
}

/** Writes a non-negative integer in decimal at `offset`; returns the offset after it. */
export function writeDecimal(buf: Buffer, offset: number, n: number): number {
  const end = offset + decimalLength(n);
  let x = n;
  for (let i = end - 1; i >= offset; i--) {
    const q = Math.floor(x / 10);
    buf[i] = DIGIT_0 + (x - q * 10);
    x = q;
  }
  return end;
}

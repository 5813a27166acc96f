// A small, fast, seedable pseudo-random generator for the load generator. Math.random cannot be
// seeded, and a seed makes a run's key sequence reproducible (the report records it).
//
// The generator is SFC32 (Chris Doty-Humphrey's "small fast counter", public domain): 128 bits
// of state, passes PractRand/BigCrush, and uses only 32-bit integer arithmetic, which V8 keeps
// in registers. Not cryptographic; it only has to spread keys and pick operations.

const TWO_POW_32 = 4294967296;

/** SplitMix32-style mixer: turns consecutive seeds into well-spread state words. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** `seed` is any integer; the same seed gives the same sequence. */
  constructor(seed: number) {
    const s = seed >>> 0;
    this.a = mix32(s);
    this.b = mix32(s ^ 0x6a09e667);
    this.c = mix32(s ^ 0xbb67ae85);
    this.d = 1;
    // Discard the first outputs so that nearby seeds diverge fully.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform float in [0, 1) with 53 bits of resolution. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /**
   * A uniform integer in [0, n) for 1 <= n <= 2^53. Below 2^32 it uses one draw and a
   * multiply (Lemire's method without the rejection step: the bias is below n / 2^32, far
   * under what a load test can see).
   */
  nextInt(n: number): number {
    if (n <= TWO_POW_32) return Math.floor((this.nextUint32() / TWO_POW_32) * n);
    return Math.floor(this.next() * n);
  }
}

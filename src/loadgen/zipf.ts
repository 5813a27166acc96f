// Zipf-distributed ranks in O(1) time and memory per draw, for key spaces of any size.
//
// Rank k (1-based) has probability k^-s / H(N, s). A table of cumulative probabilities would
// cost 8 bytes per key and a binary search per draw; instead this uses rejection-inversion
// (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from monotone
// discrete distributions", ACM TOMACS 6(3), 1996): invert the integral of the continuous
// density x^-s, round to the nearest integer, and accept unless the point falls in the thin
// sliver where the continuous hat exceeds the discrete mass. Acceptance is above 90% for every
// s > 0, so a draw costs about one log and one exp.

import type { Random } from "./random.js";

/** log1p(x) / x, continuous at 0. */
function log1pOverX(x: number): number {
  if (Math.abs(x) > 1e-8) return Math.log1p(x) / x;
  return 1 - x * (0.5 - x * (1 / 3 - 0.25 * x));
}

/** expm1(x) / x, continuous at 0. */
function expm1OverX(x: number): number {
  if (Math.abs(x) > 1e-8) return Math.expm1(x) / x;
  return 1 + x * 0.5 * (1 + (x / 3) * (1 + 0.25 * x));
}

export class ZipfSampler {
  /** Number of ranks N; draws are 0-based ranks in [0, N). */
  readonly size: number;
  /** The exponent s (> 0): 0.99 is the classic YCSB skew; larger is more skewed. */
  readonly skew: number;
  private readonly random: Random;
  // Precomputed bounds of the inverted integral (see sample()).
  private readonly integralX1: number;
  private readonly integralN: number;
  private readonly squeeze: number;

  constructor(size: number, skew: number, random: Random) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`bad Zipf size ${size}`);
    if (!(skew > 0) || !Number.isFinite(skew)) throw new RangeError(`bad Zipf skew ${skew}`);
    this.size = size;
    this.skew = skew;
    this.random = random;
    this.integralX1 = this.integral(1.5) - 1;
    this.integralN = this.integral(size + 0.5);
    this.squeeze = 2 - this.integralInverse(this.integral(2.5) - this.density(2));
  }

  /** A 0-based rank: 0 is the most frequent. */
  sample(): number {
    const n = this.size;
    for (;;) {
      const u = this.integralN + this.random.next() * (this.integralX1 - this.integralN);
      const x = this.integralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > n) k = n;
      if (k - x <= this.squeeze || u >= this.integral(k + 0.5) - this.density(k)) return k - 1;
    }
  }

  /** The exact probability of 0-based rank `rank` (for tests and reports; O(N) once). */
  static probabilities(size: number, skew: number): Float64Array {
    const p = new Float64Array(size);
    let total = 0;
    for (let k = 1; k <= size; k++) {
      const w = Math.pow(k, -skew);
      p[k - 1] = w;
      total += w;
    }
    for (let i = 0; i < size; i++) p[i] = (p[i] ?? 0) / total;
    return p;
  }

  /** x^-s */
  private density(x: number): number {
    return Math.exp(-this.skew * Math.log(x));
  }

  /** ∫_1^x t^-s dt = (x^(1-s) - 1) / (1-s), and log x at s = 1. */
  private integral(x: number): number {
    const logX = Math.log(x);
    return expm1OverX((1 - this.skew) * logX) * logX;
  }

  /** The inverse of integral(). */
  private integralInverse(u: number): number {
    let t = u * (1 - this.skew);
    if (t < -1) t = -1; // rounding at the far end of the range
    return Math.exp(log1pOverX(t) * u);
  }
}

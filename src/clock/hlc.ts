// Hybrid logical clock: the source of every write's version.
//
// A version is a JS number below 2^53, laid out as
//
//   version = logicalMs * 4096 + sequence * 16 + tag
//             └ 41 bits ┘        └ 8 bits ┘      └ 4 bits: the master's tag (0..15)
//
// logicalMs counts milliseconds since 2024-01-01 (so 41 bits last until about 2093) and never
// runs behind the wall clock nor behind any version this clock has observed. The sequence
// orders writes within one millisecond (256 per ms; beyond that the clock borrows the next
// millisecond, which the wall clock soon catches up with). The tag breaks ties between masters
// deterministically: two masters never produce the same version.
//
// What must stay true: next() is strictly increasing, and after observe(v) every next() > v.
// Why every copy path applies only newer versions: docs/design.md, "Versions".

export const CLOCK_EPOCH_MS = Date.UTC(2024, 0, 1);
export const MAX_TAG = 15;
const SEQ_LIMIT = 256;
const MS_FACTOR = 4096;
const SEQ_FACTOR = 16;

export class HybridClock {
  readonly tag: number;
  private readonly now: () => number;
  // Invariant: (lastMs, lastSeq) is the greatest (ms, seq) pair issued or observed.
  private lastMs: number;
  private lastSeq: number;

  constructor(tag: number, now: () => number = Date.now) {
    if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) {
      throw new RangeError(`clock tag must be an integer from 0 to ${MAX_TAG}, got ${tag}`);
    }
    this.tag = tag;
    this.now = now;
    this.lastMs = 0;
    this.lastSeq = 0;
  }

  /** A version greater than every version issued or observed so far. */
  next(): number {
    const physical = this.now() - CLOCK_EPOCH_MS;
    if (physical > this.lastMs) {
      this.lastMs = physical;
      this.lastSeq = 0;
    } else if (++this.lastSeq >= SEQ_LIMIT) {
      this.lastMs += 1;
      this.lastSeq = 0;
    }
    return this.lastMs * MS_FACTOR + this.lastSeq * SEQ_FACTOR + this.tag;
  }

  /**
   * Advances the clock past a version seen elsewhere (a peer's clock, or an owner that holds a
   * newer version than a write carried), so the next version issued here is greater.
   */
  observe(version: number): void {
    if (!Number.isSafeInteger(version) || version < 0) return;
    const ms = Math.floor(version / MS_FACTOR);
    const seq = Math.floor((version % MS_FACTOR) / SEQ_FACTOR);
    if (ms > this.lastMs || (ms === this.lastMs && seq > this.lastSeq)) {
      this.lastMs = ms;
      this.lastSeq = seq;
    }
  }

  /** The greatest version this clock has issued or observed, as a version with this tag. */
  peek(): number {
    return this.lastMs * MS_FACTOR + this.lastSeq * SEQ_FACTOR + this.tag;
  }
}

/** Wall-clock milliseconds (Unix epoch) at which a version was issued, for logs and metrics. */
export function versionTimeMs(version: number): number {
  return Math.floor(version / MS_FACTOR) + CLOCK_EPOCH_MS;
}

/** The greatest version any clock can have issued by a wall-clock time (Unix ms). */
export function latestVersionAt(unixMs: number): number {
  return (Math.floor(unixMs) - CLOCK_EPOCH_MS + 1) * MS_FACTOR - 1;
}

// Rate limiting of wrong secrets, per client address (RESP AUTH and HELLO AUTH, the master's
// HTTP Bearer token). Per address, not per connection: a guesser that reconnects, or opens many
// connections, keeps its delay.
//
//   failure(addr) ─► failures in the window + 1 = n ─► answer at max(now, notBefore) + n × step
//                    (n × step capped at maxDelay); notBefore = that time
//
// So wrong answers to one address are spaced out in time: however many guesses it pipelines or
// spreads over connections, it learns at most one answer per step × n (at worst one per
// maxDelay). A right secret is answered at once and resets nothing: clients behind one address
// (NGINX, NAT) must not clear a guesser's count by logging in.
//
// What must stay true: memory is bounded (at most maxAddresses entries, least recently failed
// evicted first; an address quiet for forgetAfterMs starts over), and a caller never holds more
// than maxBacklogMs of delayed answers per address (past that failure() says "drop").

export interface AuthLimiterOptions {
  /** Delay added per failure in the window. */
  readonly stepMs?: number;
  /** Largest spacing between two wrong answers to one address. */
  readonly maxDelayMs?: number;
  /** An address with no failure for this long starts over. */
  readonly forgetAfterMs?: number;
  /** Addresses remembered at most. */
  readonly maxAddresses?: number;
  /** Past this much queued delay for one address, further wrong attempts are dropped. */
  readonly maxBacklogMs?: number;
  readonly now?: () => number;
}

interface Entry {
  failures: number;
  /** When the last wrong answer to this address is (or was) due, in now() ms. */
  notBefore: number;
  lastFailureAt: number;
}

/** A wrong answer's delay in ms from now, or DROP: close the connection without answering. */
export const DROP = -1;

export class AuthLimiter {
  readonly stepMs: number;
  readonly maxDelayMs: number;
  readonly forgetAfterMs: number;
  readonly maxAddresses: number;
  readonly maxBacklogMs: number;
  private readonly now: () => number;
  /** By address; Map order is the order of last failure (oldest first). */
  private readonly entries = new Map<string, Entry>();
  /** Wrong attempts dropped for exceeding the backlog. */
  dropped = 0;

  constructor(options: AuthLimiterOptions = {}) {
    this.stepMs = options.stepMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 2000;
    this.forgetAfterMs = options.forgetAfterMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 4096;
    this.maxBacklogMs = options.maxBacklogMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Addresses currently remembered. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Records a wrong secret from `address`; returns in how many ms to answer it, or DROP when
   * this address already has maxBacklogMs of answers waiting.
   */
  failure(address: string): number {
    const now = this.now();
    const key = normalize(address);
    let e = this.entries.get(key);
    if (e !== undefined && now - e.lastFailureAt > this.forgetAfterMs) e = undefined;
    if (e !== undefined && e.notBefore - now >= this.maxBacklogMs) {
      this.dropped++;
      return DROP;
    }
    if (e === undefined) e = { failures: 0, notBefore: now, lastFailureAt: now };
    e.failures++;
    e.lastFailureAt = now;
    e.notBefore = Math.max(now, e.notBefore) + Math.min(this.maxDelayMs, e.failures * this.stepMs);
    // Re-insert: the most recently failed address goes last.
    this.entries.delete(key);
    this.entries.set(key, e);
    this.prune(now);
    return e.notBefore - now;
  }

  /** Forgets expired addresses from the oldest end, and the oldest ones past maxAddresses. */
  private prune(now: number): void {
    for (const [key, e] of this.entries) {
      const expired = now - e.lastFailureAt > this.forgetAfterMs && e.notBefore <= now;
      if (!expired && this.entries.size <= this.maxAddresses) break;
      this.entries.delete(key);
    }
  }
}

/** One key per client host: an IPv4 address seen through an IPv6 socket is the same client. */
function normalize(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

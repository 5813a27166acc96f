// Time as the master's connections see it: the clock they stamp requests with, the timers of
// their timeouts, backoffs, probe deadlines and intervals, and the end-of-turn callback their
// writes are coalesced by. Real timers by default; a simulation passes a ManualScheduler and
// runs time itself (docs/design.md, "Master ↔ auxiliary protocol").
import { performance } from "node:perf_hooks";

/** A scheduled callback, to cancel. Opaque. */
export type Timer = object;

export interface Scheduler {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  /** Wall-clock Unix milliseconds (health timestamps, expiries, snapshot ages). */
  wallNow(): number;
  /** Runs `callback` once, `delayMs` from now. Never keeps the process alive by itself. */
  schedule(delayMs: number, callback: () => void): Timer;
  cancel(timer: Timer): void;
  /** Runs `callback` once this event-loop turn's work is done (writes coalesce until then). */
  soon(callback: () => void): void;
  /** A number in [0, 1): jitter drawn here replays with the simulation's seed. */
  random(): number;
}

class RealScheduler implements Scheduler {
  now(): number {
    return performance.now();
  }

  wallNow(): number {
    return Date.now();
  }

  schedule(delayMs: number, callback: () => void): Timer {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return timer;
  }

  cancel(timer: Timer): void {
    clearTimeout(timer as NodeJS.Timeout);
  }

  soon(callback: () => void): void {
    setImmediate(callback);
  }

  random(): number {
    return Math.random();
  }
}

/** A promise resolved `ms` from now on the scheduler's clock. */
export function sleepOn(scheduler: Scheduler, ms: number): Promise<void> {
  return new Promise((resolve) => {
    scheduler.schedule(ms, resolve);
  });
}

/** Node's own timers and clock. */
export const REAL_TIME: Scheduler = new RealScheduler();

class ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled = false;
  constructor(at: number, seq: number, callback: () => void) {
    this.at = at;
    this.seq = seq;
    this.callback = callback;
  }
}

/**
 * A clock that moves only when told to. Callbacks run in time order, and in scheduling order
 * at equal times; soon() is a timer due now. Nothing runs by itself: advance() and runDue()
 * are the event loop. Jitter comes from a seeded generator, so a run replays exactly.
 */
export class ManualScheduler implements Scheduler {
  private time: number;
  private seq = 0;
  /** Sorted by (at, seq). */
  private queue: ManualTimer[] = [];
  private seed: number;
  /** The wall clock at time 0. */
  private readonly wallStart: number;

  constructor(start = 0, seed = 1, wallStart = Date.UTC(2026, 0, 1)) {
    this.time = start;
    this.seed = seed >>> 0;
    this.wallStart = wallStart;
  }

  now(): number {
    return this.time;
  }

  /** Whole milliseconds, as Date.now() gives them. */
  wallNow(): number {
    return Math.floor(this.wallStart + this.time);
  }

  schedule(delayMs: number, callback: () => void): Timer {
    const timer = new ManualTimer(this.time + Math.max(0, delayMs), this.seq++, callback);
    const queue = this.queue;
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((queue[mid] as ManualTimer).at <= timer.at) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, timer);
    return timer;
  }

  cancel(timer: Timer): void {
    if (timer instanceof ManualTimer) timer.cancelled = true;
  }

  soon(callback: () => void): void {
    this.schedule(0, callback);
  }

  /** Mulberry32: small, fast, and the same sequence for the same seed everywhere. */
  random(): number {
    this.seed = (this.seed + 0x6d2b79f5) >>> 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Callbacks not yet run nor cancelled. */
  get pending(): number {
    let n = 0;
    for (const t of this.queue) if (!t.cancelled) n++;
    return n;
  }

  /** When the next callback is due, or Infinity. */
  get nextAt(): number {
    for (const t of this.queue) if (!t.cancelled) return t.at;
    return Infinity;
  }

  /**
   * Moves the clock `ms` forward, running every callback due on the way at its own time
   * (including those the callbacks schedule within the window).
   */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.at > end) break;
      this.queue.shift();
      if (next.cancelled) continue;
      this.time = Math.max(this.time, next.at);
      next.callback();
    }
    this.time = end;
  }

  /** Runs the next callback, moving the clock to its time; false when none is left. */
  step(): boolean {
    for (;;) {
      const next = this.queue.shift();
      if (next === undefined) return false;
      if (next.cancelled) continue;
      this.time = Math.max(this.time, next.at);
      next.callback();
      return true;
    }
  }

  /** Runs what is due now, and what that schedules for now. */
  runDue(): void {
    this.advance(0);
  }

  /** Runs callbacks in order, moving the clock, until none is left or `limit` ran. */
  runAll(limit = 1_000_000): void {
    for (let ran = 0; ran < limit; ran++) {
      const next = this.queue.shift();
      if (next === undefined) return;
      if (next.cancelled) continue;
      this.time = Math.max(this.time, next.at);
      next.callback();
    }
    throw new Error(`runAll: still busy after ${limit} callbacks`);
  }
}

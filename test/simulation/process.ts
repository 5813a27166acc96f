// One simulated process's view of the simulation's clock: its timers, and its deliveries, run on
// the shared ManualScheduler unless the process is paused (SIGSTOP: they wait, in order, until it
// resumes) or dead (kill -9: they never run). Its wall clock may be skewed from the others'.
import type { ManualScheduler, Scheduler, Timer } from "../../src/master/transport/scheduler.js";

class ProcessTimer {
  readonly callback: () => void;
  cancelled = false;
  inner: Timer | null = null;
  constructor(callback: () => void) {
    this.callback = callback;
  }
}

export class ProcessScheduler implements Scheduler {
  readonly base: ManualScheduler;
  /** Added to the shared wall clock (ms). */
  readonly skewMs: number;
  paused = false;
  dead = false;
  private held: ProcessTimer[] = [];

  constructor(base: ManualScheduler, skewMs = 0) {
    this.base = base;
    this.skewMs = skewMs;
  }

  now(): number {
    return this.base.now();
  }

  wallNow(): number {
    return this.base.wallNow() + Math.round(this.skewMs);
  }

  schedule(delayMs: number, callback: () => void): Timer {
    const timer = new ProcessTimer(callback);
    timer.inner = this.base.schedule(delayMs, () => this.fire(timer));
    return timer;
  }

  cancel(timer: Timer): void {
    if (!(timer instanceof ProcessTimer)) return;
    timer.cancelled = true;
    if (timer.inner !== null) this.base.cancel(timer.inner);
  }

  soon(callback: () => void): void {
    this.schedule(0, callback);
  }

  random(): number {
    return this.base.random();
  }

  pause(): void {
    this.paused = true;
  }

  /** Runs what came due while paused, in the order it came due. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    for (const timer of held) {
      if (this.dead || this.paused) {
        if (this.paused) this.held.push(timer);
        continue;
      }
      if (!timer.cancelled) timer.callback();
    }
  }

  kill(): void {
    this.dead = true;
    this.held = [];
  }

  private fire(timer: ProcessTimer): void {
    if (this.dead || timer.cancelled) return;
    if (this.paused) {
      this.held.push(timer);
      return;
    }
    timer.callback();
  }
}

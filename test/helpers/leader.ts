// Leader failover as the masters' logs tell it, for the tests that measure it (on loopback and
// across hosts): when a master logged that another took the lead, and the figures of a series.
import type { MasterHandle } from "./cluster.js";
import { waitFor } from "./wait.js";

/**
 * When master `m` logged that `to` leads (Unix ms, by its own clock: one machine's clock in the
 * tests), at or after `since`.
 */
export function ledAt(
  m: MasterHandle,
  to: string,
  since: number,
  timeoutMs = 20_000,
): Promise<number> {
  return waitFor(
    `${m.id} to log that ${to} leads`,
    () => {
      for (const e of m.process.logEvents("leader changed")) {
        const at = Date.parse(e.time);
        if (at >= since && e["to"] === to) return at;
      }
      return undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** "2,036 ms median, 2,426 ms worst (1,457 … 2,426)" of a series of durations. */
export function medianAndWorst(xs: readonly number[]): string {
  const ms = (n: number): string => `${Math.round(n).toLocaleString("en-US")} ms`;
  return `median ${ms(median(xs))}, worst ${ms(Math.max(...xs))} (${xs.map(ms).join(", ")})`;
}

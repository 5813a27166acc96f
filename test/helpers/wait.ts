// Polling helpers with deadlines: tests wait for conditions, never for fixed sleeps.
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, intervalMs = 25 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : "";
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

/**
 * An upper bound for a test to assert on a duration whose nominal length follows from the
 * configured intervals (health interval x failures, request timeout, push retries, ...): three
 * times the nominal length plus half a second, since a 2-core machine shared with other work
 * stretches every timer of every process involved. A bound that only a quiet machine meets
 * tests the machine, not the cluster.
 */
export function underLoad(nominalMs: number): number {
  return nominalMs * 3 + 500;
}

export async function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  await waitFor(`127.0.0.1:${port} to accept connections`, () => canConnect(port), { timeoutMs });
}

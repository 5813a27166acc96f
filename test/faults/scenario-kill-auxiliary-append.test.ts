// APPEND under kill -9 of one of three auxiliary nodes (R=2, two masters): clients on both
// masters append unique tokens to a few keys; after the kill and the rebalance, every
// acknowledged append is in the value, once, on every surviving copy, and no two acknowledged
// appends to a key answered the same length (none was computed on a value missing another).
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { connectRedis } from "../helpers/redis-client.js";
import { waitFor } from "../helpers/wait.js";
import { Scenario } from "./load.js";

const KEYS = Array.from({ length: 8 }, (_, i) => `append:${i}`);
const CLIENTS = 4;

interface Appended {
  readonly key: string;
  readonly token: string;
  /** The length APPEND answered; -1 when it failed (it may or may not have been applied). */
  readonly length: number;
  /** performance.now() when it was answered. */
  readonly at: number;
}

describe("APPEND through kill -9 of one auxiliary node", () => {
  let scenario: Scenario;
  let clients: Redis[] = [];

  before(async () => {
    scenario = await Scenario.start();
    clients = Array.from({ length: CLIENTS }, (_, i) =>
      connectRedis(scenario.cluster.master(i % 2).port, "127.0.0.1", { commandTimeout: 5000 }),
    );
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await scenario.stop();
  });

  it("keeps every acknowledged append, once, on every surviving copy", async () => {
    const { cluster } = scenario;
    const done: Appended[] = [];
    let running = true;
    const load = Promise.all(
      clients.map(async (c, id) => {
        for (let i = 0; running; i++) {
          const key = KEYS[(id + i) % KEYS.length] as string;
          const token = `<${id}.${i}>`;
          try {
            const length = await c.append(key, token);
            done.push({ key, token, length, at: performance.now() });
          } catch {
            done.push({ key, token, length: -1, at: performance.now() });
          }
        }
      }),
    );
    await waitFor("appends before the kill", () => done.length > 200);
    const moves = await scenario.moves();
    const killedAt = performance.now();
    await cluster.auxById("a2").kill9();
    await scenario.settled(2, moves + 1);
    const settledMs = performance.now() - killedAt;
    await waitFor(
      "appends after the rebalance",
      () => done.filter((d) => d.at > killedAt + settledMs).length > 200,
      { timeoutMs: 30_000 },
    );
    running = false;
    await load;

    const acked = done.filter((d) => d.length >= 0);
    const failed = done.length - acked.length;
    console.log(
      `APPEND through a kill: ${acked.length} acknowledged, ${failed} failed, ` +
        `settled ${settledMs.toFixed(0)} ms after the kill`,
    );
    const during = acked.filter((d) => d.at > killedAt && d.at < killedAt + settledMs).length;
    assert.ok(during > 0, "no append was acknowledged between the kill and the rebalance");

    // What every master reads, and what each surviving node holds.
    const reads = new Map<string, string[]>();
    for (const key of KEYS) {
      const seen: string[] = [];
      for (const m of cluster.masters) {
        const r = new Redis({ port: m.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
        try {
          seen.push((await r.get(key)) ?? "");
        } finally {
          r.disconnect();
        }
      }
      for (const a of cluster.auxiliaries.filter((x) => x.id !== "a2")) {
        const r = new Redis({ port: a.port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
        try {
          const held = await r.get(key);
          // Two nodes are left and R=2: both hold every key.
          assert.notEqual(held, null, `${a.id} holds no copy of ${key}`);
          seen.push(held ?? "");
        } finally {
          r.disconnect();
        }
      }
      reads.set(key, seen);
    }

    const attempted = new Set(done.map((d) => d.token));
    for (const key of KEYS) {
      const copies = reads.get(key) as string[];
      assert.ok(
        copies.every((c) => c === copies[0]),
        `the copies of ${key} differ: ${copies.map((c) => c.length).join(", ")} bytes`,
      );
      const value = copies[0] as string;
      const tokens = value.match(/<\d+\.\d+>/g) ?? [];
      assert.equal(tokens.join(""), value, `${key} holds something that is no token`);
      const counts = new Map<string, number>();
      for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const [t, n] of counts) {
        assert.ok(attempted.has(t), `${key} holds ${t}, never sent`);
        assert.equal(n, 1, `${key} holds ${t} ${n} times`);
      }
      const mine = acked.filter((d) => d.key === key);
      for (const d of mine) assert.ok(counts.has(d.token), `${key} lost ${d.token}`);
      const lengths = new Set(mine.map((d) => d.length));
      assert.equal(lengths.size, mine.length, `two appends to ${key} answered the same length`);
      assert.ok(Math.max(...lengths) <= value.length);
    }
  });
});

// SCAN of 20,000 keys through real processes (two masters, three auxiliary nodes, R = 2) while,
// in the middle of the walk, a fourth node joins, a node dies (kill -9) and the same node comes
// back, under writes, overwrites and deletes: every key present for the whole walk comes back
// exactly once, and no key twice (docs/design.md, "SCAN, KEYS and RANDOMKEY"). Calls alternate
// between the masters, as NGINX's round-robin would send them, so every cursor crosses over.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { RespReplyError } from "../../src/protocol/resp/index.js";
import { preload } from "../helpers/recovery.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { sleep } from "../helpers/wait.js";
import { Scenario } from "./load.js";

const PRELOADED = 20_000;
const COUNT = 100;

describe("SCAN while a node joins, one dies and returns, under writes", () => {
  let scenario: Scenario;

  before(async () => {
    scenario = await Scenario.start();
    await preload(scenario.cluster.master(0).port, PRELOADED);
  });
  after(async () => {
    await scenario.stop();
  });

  it("returns every key present throughout exactly once", async () => {
    const { cluster } = scenario;
    const scanners = await Promise.all(cluster.masters.map((m) => RespTestClient.connect(m.port)));
    const writer = new Redis({ port: cluster.master(1).port, maxRetriesPerRequest: 1 });
    /** Preloaded keys a delete was sent for: they may or may not come back. */
    const disturbed = new Set<string>();
    let writing = true;
    let writes = 0;
    const load = (async () => {
      for (let i = 0; writing; i++) {
        try {
          if (i % 3 === 0) await writer.set(`new:${i}`, "x");
          else if (i % 3 === 1) await writer.set(`pre:${(i * 7919) % PRELOADED}`, `again-${i}`);
          else {
            const key = `pre:${(i * 104729) % PRELOADED}`;
            disturbed.add(key);
            await writer.del(key);
          }
          writes++;
        } catch {
          // A failed write changes nothing the check relies on.
        }
        if (i % 20 === 0) await sleep(5);
      }
    })();

    // The events, each once the walk has gone past a share of the ring-hash order (a cursor's
    // low 16 bits are the bucket it goes on from); the walk slows down enough to span them.
    const events: [number, string, () => Promise<unknown>][] = [
      [0.15, "a4 joins", () => cluster.addAuxiliary("a4")],
      [0.4, "kill -9 a2", () => cluster.auxById("a2").kill9()],
      [0.6, "a2 returns", () => cluster.auxById("a2").restart()],
    ];
    const movesBefore = await scenario.moves();
    const happened: string[] = [];
    const seen = new Map<string, number>();
    let cursor = "0";
    let calls = 0;
    let retries = 0;
    const started = performance.now();
    do {
      const progress = (Number(cursor) % 65536) / 65536;
      const event = events.find(([at, name]) => progress >= at && !happened.includes(name));
      if (event !== undefined) {
        happened.push(event[1]);
        // Not awaited: the walk goes on while the node starts, dies or comes back.
        void event[2]().catch((err: unknown) =>
          happened.push(`${event[1]} failed: ${String(err)}`),
        );
      }
      const client = scanners[calls % scanners.length] as RespTestClient;
      const reply = await client.call("SCAN", cursor, "COUNT", COUNT);
      if (reply instanceof RespReplyError) {
        // Nothing could answer for some arc just now (an owner being taken out): the same
        // cursor again, through the other master.
        retries++;
        assert.ok(retries < 500, `SCAN keeps failing: ${reply.message}`);
        await sleep(50);
        calls++;
        continue;
      }
      const [next, keys] = reply as [Buffer, Buffer[]];
      for (const k of keys) seen.set(k.toString(), (seen.get(k.toString()) ?? 0) + 1);
      cursor = next.toString();
      calls++;
      await sleep(40);
    } while (cursor !== "0");
    const walkMs = performance.now() - started;
    // The leader's moves that ended while the walk went on (a move still running counts not).
    const moves = (await scenario.moves()) - movesBefore;
    writing = false;
    await load;
    writer.disconnect();
    for (const s of scanners) s.close();

    const twice = [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
    const missing: string[] = [];
    for (let i = 0; i < PRELOADED; i++) {
      const key = `pre:${i}`;
      if (!disturbed.has(key) && !seen.has(key)) missing.push(key);
    }
    console.log(
      `SCAN of ${PRELOADED} keys across a join, a kill -9 and a return: ${calls} calls ` +
        `(${retries} retried) in ${walkMs.toFixed(0)} ms, ${seen.size} keys returned, ` +
        `${writes} writes meanwhile, ${disturbed.size} keys deleted, ${moves} moves ended; ` +
        `events: ${happened.join(", ")}`,
    );
    assert.equal(happened.length, 3, `events: ${happened.join(", ")}`);
    assert.ok(moves >= 2, `${moves} moves ended during the walk`);
    assert.deepEqual(twice, []);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} keys present throughout missing`);
  });
});

// Snapshots of a real auxiliary node: restore across a restart (versions, TTLs, tombstones),
// kill -9 at random moments of a snapshot of a large store, and damaged files set aside.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  encodeDel,
  encodeGet,
  encodeMPut,
  readGetReply,
  readWriteOutcome,
  type PutEntry,
} from "../../src/protocol/internal/index.js";
import { RespWriter, type RespValue } from "../../src/protocol/resp/index.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { sleep, waitFor } from "../helpers/wait.js";

async function rc(client: RespTestClient, encode: (w: RespWriter) => void): Promise<RespValue> {
  const w = new RespWriter();
  encode(w);
  const [reply] = await client.send(w.take(), 1);
  return reply ?? null;
}

/** Loads `count` entries `key:<i>` -> 100-byte values, version 1000 + i, in MPUT batches. */
async function load(client: RespTestClient, count: number, expiresAt = 0): Promise<void> {
  const batch = 500;
  for (let start = 0; start < count; start += batch * 20) {
    const w = new RespWriter();
    let commands = 0;
    for (let b = start; b < Math.min(count, start + batch * 20); b += batch) {
      const entries: PutEntry[] = [];
      for (let i = b; i < Math.min(count, b + batch); i++) {
        entries.push({
          key: Buffer.from(`key:${i}`),
          value: valueOf(i),
          version: 1000 + i,
          expiresAt,
        });
      }
      encodeMPut(w, entries);
      commands++;
    }
    const replies = await client.send(w.take(), commands);
    for (const r of replies) assert.ok(Array.isArray(r), `MPUT failed: ${String(r)}`);
  }
}

function valueOf(i: number): Buffer {
  const v = Buffer.alloc(100, 0x61 + (i % 26));
  v.write(String(i));
  return v;
}

function files(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const complete = (dir: string): string[] => files(dir).filter((f) => /^snapshot-\d+\.rcs$/.test(f));

async function dbsize(client: RespTestClient): Promise<number> {
  return (await client.call("DBSIZE")) as number;
}

describe("auxiliary node: snapshot and restore", () => {
  it("restores values, versions, remaining TTLs and tombstones across a restart", async () => {
    const node = await startAuxiliary({ args: ["--snapshot-interval", "10s"] });
    let client = await RespTestClient.connect(node.port);
    try {
      const longTtl = Date.now() + 120_000;
      // Long enough to outlive the stop and its snapshot on a loaded machine.
      const shortTtl = Date.now() + 2000;
      await load(client, 1000, 0);
      const w = new RespWriter();
      encodeMPut(w, [
        {
          key: Buffer.from("ttl:long"),
          value: Buffer.from("L"),
          version: 5000,
          expiresAt: longTtl,
        },
        {
          key: Buffer.from("ttl:short"),
          value: Buffer.from("S"),
          version: 5001,
          expiresAt: shortTtl,
        },
      ]);
      encodeDel(w, Buffer.from("key:7"), 9000);
      await client.send(w.take(), 2);
      assert.equal(await client.call("SET", "plain", "p", "EX", "100"), "OK");

      // SIGTERM with a client still connected (as masters stay): the final snapshot is taken,
      // the connection is closed, and the process exits 0 at once.
      const closed = new Promise<void>((resolve) => client.socket.once("close", () => resolve()));
      const started = Date.now();
      const exit = await node.stop();
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(Date.now() - started < 5000, `stop took ${Date.now() - started} ms`);
      await closed;
      assert.equal(complete(node.dataDir).length, 1);
      await sleep(Math.max(0, shortTtl - Date.now() + 50)); // ttl:short expires while the node is down

      await node.restart();
      client = await RespTestClient.connect(node.port);
      assert.equal(await dbsize(client), 1000 - 1 + 2);
      const v = readGetReply(await rc(client, (x) => encodeGet(x, Buffer.from("key:500"))));
      assert.deepEqual(v?.value, valueOf(500));
      assert.equal(v?.version, 1500);
      const long = readGetReply(await rc(client, (x) => encodeGet(x, Buffer.from("ttl:long"))));
      assert.ok(long !== undefined && long.pttl > 0 && long.pttl <= longTtl - Date.now() + 50);
      assert.equal(
        readGetReply(await rc(client, (x) => encodeGet(x, Buffer.from("ttl:short")))),
        undefined,
      );
      const ttl = (await client.call("TTL", "plain")) as number;
      assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
      // The tombstone came back too: an older put is still refused.
      const tomb = readGetReply(await rc(client, (x) => encodeGet(x, Buffer.from("key:7"))));
      assert.deepEqual(tomb, { value: null, version: 9000, pttl: -2 });
      const w2 = new RespWriter();
      encodeMPut(w2, [
        { key: Buffer.from("key:7"), value: Buffer.from("old"), version: 8000, expiresAt: 0 },
      ]);
      const [outcome] = (await client.send(w2.take(), 1)) as [RespValue[]];
      assert.equal(readWriteOutcome(outcome[0] ?? null).heldVersion, 9000);
      // A plain write after the restart is newer than everything restored.
      assert.equal(await client.call("SET", "key:7", "new"), "OK");
      assert.deepEqual(await client.call("GET", "key:7"), Buffer.from("new"));
      // In the file: 999 live keys, 1 tombstone, ttl:long, ttl:short and plain; ttl:short had
      // expired by the restart and was dropped.
      // Log lines are written asynchronously: they may reach the file after /readyz answers.
      const restored = await waitFor("the restore log line", () =>
        node.logEntries().find((e) => e["msg"] === "snapshot restored"),
      );
      assert.equal(restored?.["entries"], 1003);
      assert.equal(restored?.["applied"], 1002);
      assert.equal(restored?.["expired"], 1);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("keeps every write acknowledged before a SIGTERM, with writes still streaming in", async () => {
    const node = await startAuxiliary({ args: ["--snapshot-interval", "1h"] });
    const client = await RespTestClient.connect(node.port);
    const acked: number[] = [];
    let sent = 0;
    let stopped = false;
    const writer = (async () => {
      while (!stopped) {
        const w = new RespWriter();
        const first = sent;
        for (let i = 0; i < 200; i++) w.command(["SET", `w:${sent++}`, "v"]);
        try {
          const replies = await client.send(w.take(), 200);
          replies.forEach((r, i) => r === "OK" && acked.push(first + i));
        } catch {
          return; // the node closed the connection
        }
      }
    })();
    try {
      await waitFor("writes flowing", () => acked.length > 2000);
      const exit = await node.stop();
      stopped = true;
      await writer;
      assert.deepEqual(exit, { code: 0, signal: null });
      await node.restart();
      const check = await RespTestClient.connect(node.port);
      try {
        const replies = await check.pipeline(acked.map((i) => ["EXISTS", `w:${i}`]));
        const missing = acked.filter((_, n) => replies[n] !== 1);
        assert.deepEqual(missing, [], "acknowledged writes missing after a graceful stop");
        assert.ok(sent > acked.length || acked.length > 0);
      } finally {
        check.close();
      }
    } finally {
      stopped = true;
      client.close();
      await node.destroy();
    }
  });

  it("takes a snapshot periodically only when something changed, keeping the newest two", async () => {
    const node = await startAuxiliary({ args: ["--snapshot-interval", "100ms"] });
    const client = await RespTestClient.connect(node.port);
    try {
      await sleep(300);
      assert.equal(complete(node.dataDir).length, 0, "nothing changed: no snapshot");
      for (let i = 0; i < 4; i++) {
        const before = complete(node.dataDir).join();
        assert.equal(await client.call("SET", `k${i}`, "v"), "OK");
        await waitFor("a new snapshot", () => complete(node.dataDir).join() !== before);
      }
      await sleep(250);
      assert.equal(complete(node.dataDir).length, 2);
      const metrics = await (await fetch(node.url("/metrics"))).text();
      assert.match(metrics, /ringcache_snapshots_total\{[^}]*\} [4-9]/);
      assert.doesNotMatch(
        metrics,
        /ringcache_snapshot_last_success_timestamp_seconds\{[^}]*\} 0\n/,
      );
      // Everything written is saved; the last snapshot's size and the interval are shown.
      assert.match(metrics, /^ringcache_snapshot_unsaved_changes\{[^}]*\} 0$/m);
      assert.match(metrics, /^ringcache_snapshot_bytes\{[^}]*\} [1-9]\d*$/m);
      assert.match(metrics, /^ringcache_snapshot_interval_seconds\{[^}]*\} 0\.1$/m);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("counts the writes no snapshot has saved yet, down to 0 once one has", async () => {
    const node = await startAuxiliary({ args: ["--snapshot-interval", "1h"] });
    const client = await RespTestClient.connect(node.port);
    const unsaved = async (): Promise<number> => {
      const text = await (await fetch(node.url("/metrics"))).text();
      return Number(/^ringcache_snapshot_unsaved_changes\{[^}]*\} (\d+)$/m.exec(text)?.[1]);
    };
    try {
      assert.equal(await unsaved(), 0);
      for (let i = 0; i < 3; i++) assert.equal(await client.call("SET", `k${i}`, "v"), "OK");
      assert.equal(await unsaved(), 3);
      assert.equal(await client.call("BGSAVE"), "Background saving started");
      await waitFor("the snapshot", async () => (await client.call("LASTSAVE")) !== 0);
      assert.equal(await unsaved(), 0);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("always restarts from a complete snapshot when killed -9 during snapshots", async (t) => {
    const entries = 150_000;
    const node = await startAuxiliary({
      args: ["--snapshot-interval", "100ms", "--max-memory", "256mb"],
    });
    let client = await RespTestClient.connect(node.port);
    try {
      await load(client, entries);
      // Snapshots taken while loading hold part of the data; wait for one that holds it all.
      const full = () =>
        node
          .logEntries()
          .find((e) => e["msg"] === "snapshot written" && Number(e["entries"]) >= entries);
      const first = await waitFor("a snapshot of the whole store", full, { timeoutMs: 20_000 });
      // How long the last snapshot took: the next one (same data) takes about as long.
      let durationMs = Number(first["durationMs"]);
      const restoredLines = () => node.logEntries().filter((e) => e["msg"] === "snapshot restored");
      let midSnapshot = 0;
      for (let round = 1; round <= 20; round++) {
        assert.equal(await client.call("SET", "round", String(round)), "OK");
        client.close();
        // Wait until the snapshot this change triggers is being written, then kill at a
        // random moment within its expected duration.
        const deadline = Date.now() + 5000;
        while (!files(node.dataDir).some((f) => f.endsWith(".tmp")) && Date.now() < deadline) {
          await sleep(1);
        }
        await sleep(Math.random() * durationMs * 0.8);
        if (files(node.dataDir).some((f) => f.endsWith(".tmp"))) midSnapshot++;
        await node.kill9();
        const restoresBefore = restoredLines().length;

        await node.restart(20_000);
        client = await RespTestClient.connect(node.port);
        const left = files(node.dataDir);
        assert.ok(!left.some((f) => f.endsWith(".tmp")), `torn file left: ${left.join()}`);
        assert.ok(!left.some((f) => f.endsWith(".corrupt")), `corrupt: ${left.join()}`);
        const size = await dbsize(client);
        assert.ok(size === entries || size === entries + 1, `round ${round}: dbsize ${size}`);
        const restoredRound = (await client.call("GET", "round")) as Buffer | null;
        assert.ok(restoredRound === null || Number(restoredRound.toString()) <= round);
        const sample = Math.floor(Math.random() * entries);
        assert.deepEqual(await client.call("GET", `key:${sample}`), valueOf(sample));
        // The log is written asynchronously: the restore's line may land after readiness.
        const restored = await waitFor("the restore's log line", () =>
          restoredLines().at(restoresBefore),
        );
        assert.equal(restored["entries"], size, "restored exactly one whole snapshot");
        const last = node
          .logEntries()
          .filter((e) => e["msg"] === "snapshot written")
          .at(-1);
        durationMs = Number(last?.["durationMs"] ?? durationMs);
      }
      t.diagnostic(`${midSnapshot} of 20 kills hit a snapshot in progress`);
      assert.ok(midSnapshot >= 10, `only ${midSnapshot} of 20 kills hit a snapshot in progress`);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("sets bit-flipped and truncated snapshots aside and restores an older one, or starts empty", async () => {
    const node = await startAuxiliary({ args: ["--snapshot-interval", "10s"] });
    let client = await RespTestClient.connect(node.port);
    const corruptLogs = (h: AuxiliaryHandle) =>
      h.logEntries().filter((e) => String(e["msg"]).startsWith("CORRUPT SNAPSHOT")).length;
    try {
      await load(client, 200);
      client.close();
      await node.stop(); // snapshot A: 200 entries
      await node.restart();
      client = await RespTestClient.connect(node.port);
      await load(client, 300);
      client.close();
      await node.stop(); // snapshot B: 300 entries
      const [older, newer] = complete(node.dataDir) as [string, string];
      assert.ok(older < newer);

      // One flipped bit in the middle of B.
      const pathB = join(node.dataDir, newer);
      const bytes = readFileSync(pathB);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0x10;
      writeFileSync(pathB, bytes);
      await node.restart();
      client = await RespTestClient.connect(node.port);
      assert.equal(await dbsize(client), 200, "restored from the older snapshot");
      assert.ok(files(node.dataDir).includes(`${newer}.corrupt`));
      assert.equal(corruptLogs(node), 1);
      client.close();
      await node.stop(); // nothing changed since the restore: no new snapshot

      // A cut at a random length of A: nothing valid is left, so the node starts empty.
      const pathA = join(node.dataDir, older);
      truncateSync(pathA, Math.floor(readFileSync(pathA).length * Math.random()));
      await node.restart();
      client = await RespTestClient.connect(node.port);
      assert.equal(await dbsize(client), 0);
      assert.ok(files(node.dataDir).includes(`${older}.corrupt`));
      assert.equal(corruptLogs(node), 2);
      assert.equal(await client.call("SET", "still", "serving"), "OK");
    } finally {
      client.close();
      await node.destroy();
    }
  });
});

// Scenario 4: snapshots under faults, on one auxiliary node.
//   - kill -9 while a snapshot is being written, 50 times (200 with RINGCACHE_SOAK=1): the node
//     always restarts from one complete snapshot, and no torn file is left;
//   - bit-flipped and truncated snapshot files at random places: detected, set aside with a
//     loud log, the older complete snapshot restored, the node serving;
//   - a full disk (a 4 MB tmpfs as the data directory): the snapshot fails and is reported,
//     the previous snapshot stays whole, the node keeps serving and restarts from it.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { RespWriter } from "../../src/protocol/resp/index.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { tempDir } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { sleep, waitFor } from "../helpers/wait.js";

const SOAK = process.env["RINGCACHE_SOAK"] === "1";

function files(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const complete = (dir: string): string[] => files(dir).filter((f) => /^snapshot-\d+\.rcs$/.test(f));

/** SETs `key:<from>` .. `key:<to - 1>` to 100-byte values, pipelined. */
async function load(client: RespTestClient, from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 5000) {
    const w = new RespWriter();
    const end = Math.min(to, start + 5000);
    for (let i = start; i < end; i++) w.command(["SET", `key:${i}`, valueOf(i)]);
    const replies = await new Promise<unknown[]>((resolve, reject) => {
      client.send(w.take(), end - start).then(resolve, reject);
    });
    assert.ok(replies.every((r) => r === "OK"));
  }
}

function valueOf(i: number): Buffer {
  const v = Buffer.alloc(100, 0x61 + (i % 26));
  v.write(String(i));
  return v;
}

async function dbsize(client: RespTestClient): Promise<number> {
  return (await client.call("DBSIZE")) as number;
}

const restores = (node: AuxiliaryHandle) =>
  node.logEntries().filter((e) => e["msg"] === "snapshot restored");

/**
 * Entries of the restore logged after `before` earlier ones. The log reaches its file
 * asynchronously, possibly after the node answers /readyz: wait for the line.
 */
async function restoredEntries(node: AuxiliaryHandle, before: number): Promise<number> {
  const entry = await waitFor("the restore to be logged", () => restores(node).at(before), {
    timeoutMs: 5000,
  });
  return Number(entry["entries"]);
}

describe("scenario 4: snapshots under faults", () => {
  it(`always restarts from a complete snapshot when killed -9 while writing one (${SOAK ? 200 : 50} times)`, async (t) => {
    const rounds = SOAK ? 200 : 50;
    const entries = 30_000;
    const node = await startAuxiliary({ args: ["--snapshot-interval", "100ms"] });
    let client = await RespTestClient.connect(node.port);
    try {
      await load(client, 0, entries);
      const whole = () =>
        node
          .logEntries()
          .find((e) => e["msg"] === "snapshot written" && Number(e["entries"]) >= entries);
      const first = await waitFor("a snapshot of the whole store", whole, { timeoutMs: 20_000 });
      let durationMs = Number(first["durationMs"]);
      let midSnapshot = 0;
      for (let round = 1; round <= rounds; round++) {
        assert.equal(await client.call("SET", "round", String(round)), "OK");
        client.close();
        const deadline = Date.now() + 3000;
        while (!files(node.dataDir).some((f) => f.endsWith(".tmp")) && Date.now() < deadline) {
          await sleep(1);
        }
        await sleep(Math.random() * Math.max(1, durationMs) * 0.8);
        if (files(node.dataDir).some((f) => f.endsWith(".tmp"))) midSnapshot++;
        const restoresBefore = restores(node).length;
        await node.kill9();
        await node.restart(20_000);
        client = await RespTestClient.connect(node.port);
        const left = files(node.dataDir);
        assert.ok(!left.some((f) => f.endsWith(".tmp")), `round ${round}: torn file left`);
        assert.ok(!left.some((f) => f.endsWith(".corrupt")), `round ${round}: ${left.join()}`);
        const size = await dbsize(client);
        assert.ok(size === entries || size === entries + 1, `round ${round}: dbsize ${size}`);
        assert.equal(
          await restoredEntries(node, restoresBefore),
          size,
          `round ${round}: one whole snapshot restored`,
        );
        const sample = Math.floor(Math.random() * entries);
        assert.deepEqual(await client.call("GET", `key:${sample}`), valueOf(sample));
        const last = node
          .logEntries()
          .filter((e) => e["msg"] === "snapshot written")
          .at(-1);
        durationMs = Number(last?.["durationMs"] ?? durationMs);
      }
      const text = `[scenario 4] ${midSnapshot} of ${rounds} kills -9 landed while a snapshot of ${entries} entries was being written (last took ${durationMs} ms); every restart restored one complete snapshot`;
      console.log(text);
      t.diagnostic(text);
      assert.ok(midSnapshot >= rounds / 2, text);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("detects bit flips and truncations at random places, restores the older snapshot, keeps serving", async () => {
    const rounds = SOAK ? 40 : 10;
    const node = await startAuxiliary({ args: ["--snapshot-interval", "1h"] });
    let client = await RespTestClient.connect(node.port);
    // Every round's damaged snapshot is set aside, so the fallback is always this one.
    const count = 500;
    const corruptLogs = () =>
      node.logEntries().filter((e) => String(e["msg"]).startsWith("CORRUPT SNAPSHOT")).length;
    try {
      // An older complete snapshot to fall back to.
      await load(client, 0, count);
      client.close();
      await node.stop();
      for (let round = 1; round <= rounds; round++) {
        await node.restart();
        client = await RespTestClient.connect(node.port);
        assert.equal(await dbsize(client), count, `round ${round}: restored`);
        await load(client, count, count + 100);
        client.close();
        await node.stop(); // the newest snapshot holds count + 100 entries
        const newest = complete(node.dataDir).at(-1) as string;
        const path = join(node.dataDir, newest);
        const bytes = readFileSync(path);
        let damage: string;
        if (round % 2 === 1) {
          const at = Math.floor(Math.random() * bytes.length);
          const bit = 1 << Math.floor(Math.random() * 8);
          bytes[at] = (bytes[at] as number) ^ bit;
          writeFileSync(path, bytes);
          damage = `bit ${bit} flipped at byte ${at} of ${bytes.length}`;
        } else {
          const length = Math.floor(Math.random() * bytes.length);
          truncateSync(path, length);
          damage = `truncated to ${length} of ${bytes.length} bytes`;
        }
        await node.restart();
        client = await RespTestClient.connect(node.port);
        assert.equal(await dbsize(client), count, `round ${round} (${damage}): older snapshot`);
        assert.ok(files(node.dataDir).includes(`${newest}.corrupt`), damage);
        await waitFor(
          `the corrupt snapshot to be logged (${damage})`,
          () => corruptLogs() === round,
          {
            timeoutMs: 5000,
          },
        );
        assert.equal(await client.call("SET", "still", "serving"), "OK");
        assert.equal(await client.call("DEL", "still"), 1);
        client.close();
        await node.stop();
      }
      console.log(`[scenario 4] ${rounds} damaged snapshots detected and set aside`);
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("reports a snapshot that fails on a full disk (4 MB tmpfs), keeps the previous one and serves on", async (t) => {
    const mountPoint = join(tempDir("ringcache-full-disk-"), "data");
    mkdirSync(mountPoint);
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint], {
        stdio: "pipe",
      });
    } catch (err) {
      rmSync(join(mountPoint, ".."), { recursive: true, force: true });
      t.skip(`cannot mount a tmpfs here (${(err as Error).message.split("\n")[0]})`);
      return;
    }
    try {
      const node = await startAuxiliary({
        dataDir: mountPoint,
        logDir: join(mountPoint, ".."),
        args: ["--snapshot-interval", "200ms"],
      });
      let client = await RespTestClient.connect(node.port);
      try {
        await load(client, 0, 12_000);
        client.close();
        await node.stop(); // snapshot A: 12,000 entries, about 1.6 MB
        assert.ok(complete(node.dataDir).length >= 1);
        await node.restart();
        client = await RespTestClient.connect(node.port);
        // 12,000 more: the next snapshot (3.2 MB) does not fit beside A on the 4 MB disk.
        await load(client, 12_000, 24_000);
        await waitFor(
          "a failed snapshot to be logged",
          () => node.logEntries().some((e) => String(e["msg"]).startsWith("snapshot failed")),
          { timeoutMs: 10_000 },
        );
        const metrics = await (await fetch(node.url("/metrics"))).text();
        assert.match(metrics, /^ringcache_snapshot_failures_total(\{[^}]*\})? [1-9]/m);
        assert.equal(await client.call("SET", "during", "full disk"), "OK");
        assert.deepEqual(await client.call("GET", "key:23999"), valueOf(23_999));
        // The complete snapshots on disk when the disk filled up stay as they are.
        const kept = complete(node.dataDir);
        const newest = kept.at(-1) as string;
        const newestBytes = readFileSync(join(node.dataDir, newest));
        const written = node
          .logEntries()
          .find((e) => e["msg"] === "snapshot written" && String(e["file"]).endsWith(newest));
        const expected = Number(written?.["entries"]);
        assert.ok(expected >= 12_000, `newest complete snapshot holds ${expected} entries`);
        await sleep(500); // more failed attempts
        assert.deepEqual(complete(node.dataDir), kept);
        client.close();
        await node.kill9();
        await node.restart();
        client = await RespTestClient.connect(node.port);
        assert.ok(readFileSync(join(node.dataDir, newest)).equals(newestBytes));
        assert.equal(await dbsize(client), expected, "restarted from the newest complete snapshot");
        assert.ok(!files(node.dataDir).some((f) => f.endsWith(".corrupt")));
        const failures = node
          .logEntries()
          .filter((e) => String(e["msg"]).startsWith("snapshot failed")).length;
        console.log(
          `[scenario 4] full disk (tmpfs 4 MB): ${failures} snapshot failures reported, node served on, restarted from the newest complete snapshot (${expected} entries)`,
        );
      } finally {
        client.close();
        await node.process.terminate();
      }
    } finally {
      execFileSync("umount", [mountPoint]);
      rmSync(join(mountPoint, ".."), { recursive: true, force: true });
    }
  });
});

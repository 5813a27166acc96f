// The snapshotter against a real store and a real directory: write and restore, rotation,
// writes during a snapshot, leftovers of crashes and damaged files.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  Snapshotter,
  type RestoreTarget,
  type SnapshotSource,
} from "../../src/auxiliary/snapshotter.js";
import { createLogger } from "../../src/log.js";
import { Store } from "../../src/store/index.js";
import { tempDir } from "../helpers/process.js";

const logger = createLogger({ node: "t", role: "auxiliary", level: "silent" });

function sourceOf(store: Store, flushFloor = 0): SnapshotSource {
  return {
    scanSlice: (cursor, count, sink) =>
      store.scan(cursor, count, (k, v, version, expiresAt, tomb) =>
        sink.entry(k, v, version, expiresAt, tomb),
      ),
    flushFloor,
  };
}

function targetOf(store: Store, floors: number[] = []): RestoreTarget {
  return {
    setFlushFloor: (v) => floors.push(v),
    entry(key, value, version, expiresAt, tombstone) {
      if (tombstone) store.delete(key, version);
      else store.putIfNewer(key, value, version, expiresAt);
    },
  };
}

function contents(store: Store): Map<string, string> {
  const out = new Map<string, string>();
  let cursor = 0;
  do {
    cursor = store.scan(cursor, 1000, (k, v, version, expiresAt, tomb) => {
      // A restored tombstone lives a full tombstone TTL again: its death time is not compared.
      out.set(
        Buffer.from(k).toString("hex"),
        `${Buffer.from(v).toString("hex")}/${version}/${tomb ? "-" : expiresAt}/${tomb}`,
      );
    });
  } while (cursor !== 0);
  return out;
}

describe("snapshotter", () => {
  it("writes a snapshot and restores it into an empty store, expired entries dropped", async () => {
    const dir = tempDir();
    const now = Date.now();
    const store = new Store({ maxBytes: 64 * 1024 * 1024 });
    for (let i = 0; i < 5000; i++) {
      store.set(
        Buffer.from(`k${i}`),
        Buffer.alloc(i % 300, i),
        100 + i,
        i % 10 === 0 ? now + 60_000 : 0,
      );
    }
    store.delete(Buffer.from("k1"), 1_000_000);
    store.set(Buffer.from("soon"), Buffer.from("x"), 7, now + 50);
    const snap = new Snapshotter({ dir, nodeId: "a1", logger, sliceSlots: 300 });
    const result = await snap.write(sourceOf(store, 42));
    assert.equal(result.entries, 5001);
    assert.equal(snap.completed, 1);
    assert.ok(snap.lastSuccessAt > 0);
    await new Promise((r) => setTimeout(r, 60));

    const restored = new Store({ maxBytes: 64 * 1024 * 1024 });
    const floors: number[] = [];
    const r = await new Snapshotter({ dir, nodeId: "a1", logger }).restore(
      targetOf(restored, floors),
    );
    assert.equal(r.file, result.file);
    assert.equal(r.entries, 5001);
    assert.equal(r.expired, 1);
    assert.equal(r.applied, 5000);
    assert.deepEqual(floors, [42]);
    const expected = contents(store);
    expected.delete(Buffer.from("soon").toString("hex"));
    assert.deepEqual(contents(restored), expected);
  });

  it("keeps serving writes during a snapshot; entries present throughout are all in it", async () => {
    const dir = tempDir();
    const store = new Store({ maxBytes: 64 * 1024 * 1024 });
    for (let i = 0; i < 20_000; i++)
      store.set(Buffer.from(`s${i}`), Buffer.from(`v${i}`), i + 1, 0);
    const snap = new Snapshotter({ dir, nodeId: "a1", logger, sliceSlots: 256 });
    let done = false;
    const writing = snap.write(sourceOf(store)).finally(() => (done = true));
    let interleaved = 0;
    const writer = (async () => {
      for (let i = 0; i < 10_000 && !done; i++) {
        store.set(Buffer.from(`new${i}`), Buffer.from("n"), 100_000 + i, 0);
        store.delete(Buffer.from(`gone${i}`), 200_000 + i);
        interleaved++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    await Promise.all([writing, writer]);
    assert.ok(interleaved > 5, `only ${interleaved} writes ran during the snapshot`);
    const restored = new Store({ maxBytes: 64 * 1024 * 1024 });
    await new Snapshotter({ dir, nodeId: "a1", logger }).restore(targetOf(restored));
    for (let i = 0; i < 20_000; i++) {
      assert.equal(Buffer.from(restored.peek(Buffer.from(`s${i}`)) ?? []).toString(), `v${i}`);
    }
  });

  it("keeps the newest two, removes torn temporaries, sets damaged files aside", async () => {
    const dir = tempDir();
    const store = new Store();
    let t = 1_000;
    const snap = new Snapshotter({ dir, nodeId: "a1", logger, now: () => t });
    for (let i = 1; i <= 4; i++) {
      store.set(Buffer.from(`k${i}`), Buffer.from("v"), i, 0);
      t += 1000;
      await snap.write(sourceOf(store));
    }
    assert.deepEqual(readdirSync(dir).sort(), ["snapshot-4000.rcs", "snapshot-5000.rcs"]);
    writeFileSync(join(dir, "snapshot-6000.rcs.tmp"), "torn");
    const newest = join(dir, "snapshot-5000.rcs");
    const bytes = readFileSync(newest);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    writeFileSync(newest, bytes);

    const restored = new Store();
    const r = await new Snapshotter({ dir, nodeId: "a1", logger }).restore(targetOf(restored));
    assert.equal(r.file, join(dir, "snapshot-4000.rcs"));
    assert.equal(r.entries, 3);
    assert.deepEqual(r.corrupt, [`${newest}.corrupt`]);
    assert.deepEqual(readdirSync(dir).sort(), ["snapshot-4000.rcs", "snapshot-5000.rcs.corrupt"]);
    // A clock that went back still names the next snapshot after the newest one.
    t = 10;
    const next = await snap.write(sourceOf(store));
    assert.equal(next.file, join(dir, "snapshot-4001.rcs"));
  });

  it("rejects the newest file whatever the damage: flipped bits, cuts, extra bytes", async () => {
    const dir = tempDir();
    const store = new Store();
    for (let i = 0; i < 300; i++)
      store.set(Buffer.from(`k${i}`), Buffer.alloc(i % 40, i), i + 1, 0);
    let t = 1000;
    const snap = new Snapshotter({ dir, nodeId: "a1", logger, now: () => t });
    await snap.write(sourceOf(store));
    t = 2000;
    store.set(Buffer.from("newer"), Buffer.from("n"), 10_000, 0);
    await snap.write(sourceOf(store));
    const newest = join(dir, "snapshot-2000.rcs");
    const good = readFileSync(newest);
    const damages: ((b: Buffer) => Buffer)[] = [];
    for (let i = 0; i < 30; i++) {
      const at = Math.floor(Math.random() * good.length);
      damages.push((b) => {
        const c = Buffer.from(b);
        c[at] = (c[at] as number) ^ (1 << (i % 8));
        return c;
      });
      damages.push((b) => b.subarray(0, at));
    }
    damages.push((b) => Buffer.concat([b, Buffer.from([0])]));
    for (const damage of damages) {
      writeFileSync(newest, damage(good));
      const restored = new Store();
      const r = await new Snapshotter({ dir, nodeId: "a1", logger }).restore(targetOf(restored));
      assert.equal(r.file, join(dir, "snapshot-1000.rcs"));
      assert.equal(restored.has(Buffer.from("newer")), false);
      assert.equal(restored.stats.entries, 300);
      assert.deepEqual(readdirSync(dir).sort(), ["snapshot-1000.rcs", "snapshot-2000.rcs.corrupt"]);
      unlinkSync(`${newest}.corrupt`);
    }
  });

  it("starts empty from a missing or unreadable directory without throwing", async () => {
    const r = await new Snapshotter({
      dir: join(tempDir(), "new", "dir"),
      nodeId: "a1",
      logger,
    }).restore(targetOf(new Store()));
    assert.equal(r.file, undefined);
    const file = join(tempDir(), "not-a-dir");
    writeFileSync(file, "x");
    const r2 = await new Snapshotter({ dir: file, nodeId: "a1", logger }).restore(
      targetOf(new Store()),
    );
    assert.equal(r2.file, undefined);
  });
});

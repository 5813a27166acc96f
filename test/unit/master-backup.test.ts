// A master's backup past its bound: the appended file is sealed and compacted in a worker
// thread while appends go on, every record stays readable throughout, and a compaction left
// unfinished (a crash) is picked up at the next start.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createLogger } from "../../src/log.js";
import { Backup, type BackupRecord } from "../../src/master/backup.js";
import { compactFiles, encodeRecords } from "../../src/master/backup-file.js";
import { decodeRecords } from "../helpers/backup-format.js";
import { PageWriter } from "../../src/protocol/page.js";

const logger = createLogger({ level: "silent", node: "m1", role: "master" });
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ringcache-backup-"));
  dirs.push(dir);
  return dir;
}

function backupIn(dir: string, maxBytes: number, floor = 0): Backup {
  const b = new Backup({ dir, id: "m1", maxBytes, minVersion: () => floor, logger });
  b.open();
  return b;
}

/** The newest record per key over every backup file of the directory, as a replay sees them. */
function readBack(dir: string): Map<string, BackupRecord> {
  const out = new Map<string, BackupRecord>();
  for (const name of readdirSync(dir).filter((n) => n.endsWith(".rcbackup"))) {
    for (const r of decodeRecords(readFileSync(join(dir, name))).records) {
      const held = out.get(r.key.toString());
      if (held === undefined || r.version > held.version) out.set(r.key.toString(), r);
    }
  }
  return out;
}

describe("master backup", () => {
  it("compacts in the background past its bound, and loses nothing meanwhile", async () => {
    const dir = freshDir();
    const backup = backupIn(dir, 64 * 1024);
    const newest = new Map<string, { version: number; tombstone: boolean; value: string }>();
    const page = new PageWriter();
    let version = 0;
    let sawCompacting = false;
    // 200 keys written over and over (about 30 KB of distinct entries: within half the bound),
    // as pages and as single records, some as tombstones.
    for (let round = 0; round < 60; round++) {
      page.reset();
      for (let i = 0; i < 20; i++) {
        const key = `k${(round * 20 + i) % 200}`;
        const tombstone = (round + i) % 7 === 0;
        const value = tombstone ? "" : `value ${round} ${i} `.repeat(5);
        page.add(Buffer.from(key), Buffer.from(value), ++version, 0, tombstone);
        newest.set(key, { version, tombstone, value });
      }
      const bytes = Buffer.from(page.view());
      backup.appendPage(bytes, [0, bytes.length], 20);
      const key = `k${round % 200}`;
      backup.append([
        {
          key: Buffer.from(key),
          value: Buffer.from("single"),
          version: ++version,
          expiresAt: 0,
          tombstone: false,
        },
      ]);
      newest.set(key, { version, tombstone: false, value: "single" });
      if (backup.isCompacting) {
        sawCompacting = true;
        // While the worker runs, every record is in some file.
        const seen = readBack(dir);
        for (const [k, want] of newest) assert.equal(seen.get(k)?.version, want.version, k);
      }
    }
    assert.ok(sawCompacting, "the bound was passed and a compaction ran in the background");
    await backup.settled();
    assert.ok(backup.compactions >= 1);
    const seen = readBack(dir);
    assert.equal(seen.size, newest.size);
    for (const [k, want] of newest) {
      const got = seen.get(k);
      assert.equal(got?.version, want.version, k);
      assert.equal(got?.tombstone, want.tombstone, k);
      assert.equal(got?.value.toString(), want.value, k);
    }
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ["m1.base.rcbackup", "m1.rcbackup"]);
    assert.ok(backup.bytes <= 64 * 1024, `${backup.bytes} bytes`);
    backup.close();
  });

  it("drops records older than the floor, and the oldest when the rest is over half the bound", async () => {
    const dir = freshDir();
    const backup = backupIn(dir, 8 * 1024, 1000);
    const records: BackupRecord[] = [];
    for (let i = 0; i < 200; i++) {
      records.push({
        key: Buffer.from(`key ${i}`),
        value: Buffer.alloc(40, 97),
        version: 900 + i, // the first hundred are below the floor
        expiresAt: 0,
        tombstone: false,
      });
    }
    backup.append(records);
    await backup.settled();
    const seen = readBack(dir);
    assert.ok(seen.size > 0 && seen.size < 100, `${seen.size} kept`);
    const versions = [...seen.values()].map((r) => r.version).sort((a, b) => a - b);
    // Kept: the newest ones, none below the floor, within half the bound.
    assert.equal(versions[versions.length - 1], 1099);
    assert.ok((versions[0] as number) >= 1000);
    assert.deepEqual(
      versions,
      Array.from({ length: versions.length }, (_, i) => 1100 - versions.length + i),
    );
    assert.ok(backup.bytes <= 4 * 1024, `${backup.bytes} bytes`);
    backup.close();
  });

  it("compacts files larger than its read chunk, records across chunks, and a torn tail", () => {
    const dir = freshDir();
    const records: BackupRecord[] = [];
    // About 10 MB: records of 3,001 bytes cross the 4 MB chunks at every offset; one value of
    // 5 MB is larger than a chunk; a page record holds a few more.
    for (let i = 0; i < 3000; i++) {
      records.push({
        key: Buffer.from(`chunked ${i}`),
        value: Buffer.alloc(3001, i % 251),
        version: 1 + i,
        expiresAt: i % 3 === 0 ? 0 : 2_000_000_000_000 + i,
        tombstone: false,
      });
    }
    records.splice(1500, 0, {
      key: Buffer.from("huge"),
      value: Buffer.alloc(5 * 1024 * 1024, 7),
      version: 99_999,
      expiresAt: 0,
      tombstone: false,
    });
    const page = new PageWriter();
    page.add(Buffer.from("paged"), Buffer.from("in a page"), 100_000, 0, false);
    page.add(Buffer.from("chunked 7"), Buffer.alloc(0), 100_001, 0, true); // newer: a delete
    const pageBackup = new Backup({
      dir,
      id: "scratch",
      maxBytes: 1 << 30,
      minVersion: () => 0,
      logger,
    });
    pageBackup.open();
    const bytes = Buffer.from(page.view());
    pageBackup.appendPage(bytes, [0, bytes.length], 2);
    pageBackup.close();
    const pageRecord = readFileSync(join(dir, "scratch.rcbackup"));
    rmSync(join(dir, "scratch.rcbackup"));
    const whole = Buffer.concat([encodeRecords(records), pageRecord]);
    const torn = encodeRecords([records[0] as BackupRecord]).subarray(0, 20);
    const sealed = join(dir, "m1.sealed-1-0.rcbackup");
    writeFileSync(sealed, Buffer.concat([whole, torn]));
    const result = compactFiles({
      inputs: [join(dir, "m1.base.rcbackup"), sealed],
      output: join(dir, "m1.base.rcbackup"),
      floor: 0,
      maxBytes: 1 << 30,
    });
    assert.equal(result.corrupt, true);
    assert.deepEqual(readdirSync(dir), ["m1.base.rcbackup"]);
    const { records: got, corrupt } = decodeRecords(readFileSync(join(dir, "m1.base.rcbackup")));
    assert.equal(corrupt, false);
    assert.equal(result.bytes, statSync(join(dir, "m1.base.rcbackup")).size);
    const byKey = new Map(got.map((r) => [r.key.toString(), r]));
    assert.equal(byKey.size, records.length + 1);
    for (const r of records) {
      const k = r.key.toString();
      const g = byKey.get(k);
      if (k === "chunked 7") {
        assert.deepEqual([g?.tombstone, g?.version, g?.value.length], [true, 100_001, 0]);
        continue;
      }
      assert.equal(g?.version, r.version, k);
      assert.equal(g?.expiresAt, r.expiresAt, k);
      assert.ok(g?.value.equals(r.value), k);
    }
    assert.equal(byKey.get("paged")?.value.toString(), "in a page");
  });

  it("replays every master's files in batches, the newest per key at or above the floor", async () => {
    const dir = freshDir();
    const expected = new Map<string, BackupRecord>();
    const note = (r: BackupRecord): void => {
      const held = expected.get(r.key.toString());
      if (r.version >= 50 && (held === undefined || r.version > held.version)) {
        expected.set(r.key.toString(), r);
      }
    };
    for (const id of ["m1", "m2", "m3"]) {
      const b = new Backup({ dir, id, maxBytes: 1 << 30, minVersion: () => 0, logger });
      b.open();
      for (let round = 0; round < 20; round++) {
        const page = new PageWriter();
        for (let i = 0; i < 30; i++) {
          const version = 1 + round * 100 + i + id.charCodeAt(1);
          const tombstone = i % 9 === 0;
          const r: BackupRecord = {
            key: Buffer.from(`r${(round * 13 + i) % 250}`),
            value: tombstone ? Buffer.alloc(0) : Buffer.from(`${id} ${round} ${i}`),
            version,
            expiresAt: i % 4 === 0 ? 0 : 1_900_000_000_000,
            tombstone,
          };
          page.add(r.key, r.value, r.version, r.expiresAt, r.tombstone);
          note(r);
        }
        const bytes = Buffer.from(page.view());
        b.appendPage(bytes, [0, bytes.length], 30);
      }
      b.close();
    }
    // A sealed file too, as a compaction in progress leaves it.
    const sealed: BackupRecord = {
      key: Buffer.from("sealed only"),
      value: Buffer.from("kept"),
      version: 10_000,
      expiresAt: 0,
      tombstone: false,
    };
    writeFileSync(join(dir, "m1.sealed-1-0.rcbackup"), encodeRecords([sealed]));
    note(sealed);
    const batches: BackupRecord[][] = [];
    const n = await Backup.replay(
      dir,
      50,
      async (records) => {
        batches.push(records);
        await new Promise((r) => setImmediate(r));
      },
      64,
    );
    const got = batches.flat();
    assert.equal(n, got.length);
    assert.ok(batches.length > 1 && batches.every((b) => b.length <= 64));
    const byKey = new Map(got.map((r) => [r.key.toString(), r]));
    assert.equal(byKey.size, got.length, "each key once");
    assert.deepEqual(
      [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
      [...expected.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
    );
    // The replay leaves the masters' files as they were, and no temp file behind.
    assert.deepEqual(readdirSync(dir).sort(), [
      "m1.rcbackup",
      "m1.sealed-1-0.rcbackup",
      "m2.rcbackup",
      "m3.rcbackup",
    ]);
    assert.equal(await Backup.replay(freshDir(), 0, () => Promise.resolve()), 0);
  });

  it("cuts a torn tail of the appended file at start, keeping the records before it", () => {
    const dir = freshDir();
    const records = Array.from({ length: 50 }, (_, i) => ({
      key: Buffer.from(`torn ${i}`),
      value: Buffer.from(`value ${i}`),
      version: 10 + i,
      expiresAt: 0,
      tombstone: false,
    }));
    const whole = encodeRecords(records);
    // A crash in the middle of the next append.
    writeFileSync(join(dir, "m1.rcbackup"), Buffer.concat([whole, whole.subarray(0, 30)]));
    const backup = backupIn(dir, 1024 * 1024);
    assert.equal(backup.compactions, 1);
    const seen = readBack(dir);
    assert.deepEqual(
      [...seen.values()].map((r) => r.version).sort((a, b) => a - b),
      records.map((r) => r.version),
    );
    for (const name of readdirSync(dir)) {
      assert.equal(decodeRecords(readFileSync(join(dir, name))).corrupt, false, name);
    }
    // Appends go on after the cut.
    backup.append([{ ...(records[0] as BackupRecord), version: 1000 }]);
    assert.equal(readBack(dir).get("torn 0")?.version, 1000);
    backup.close();
  });

  it("finishes at start a compaction that a crash left undone", async () => {
    const dir = freshDir();
    const record = (key: string, version: number): BackupRecord => ({
      key: Buffer.from(key),
      value: Buffer.from(`v${version}`),
      version,
      expiresAt: 0,
      tombstone: false,
    });
    // The base, a sealed file and the appended file, as a crash mid-compaction leaves them.
    writeFileSync(join(dir, "m1.base.rcbackup"), encodeRecords([record("a", 1), record("b", 2)]));
    writeFileSync(
      join(dir, "m1.sealed-1-0.rcbackup"),
      encodeRecords([record("b", 3), record("c", 4)]),
    );
    writeFileSync(join(dir, "m1.rcbackup"), encodeRecords([record("c", 5)]));
    // Another master's file in the shared directory is not touched.
    writeFileSync(join(dir, "m2.rcbackup"), encodeRecords([record("d", 6)]));
    const backup = backupIn(dir, 1024 * 1024);
    await backup.settled();
    assert.equal(backup.compactions, 1);
    assert.deepEqual(readdirSync(dir).sort(), ["m1.base.rcbackup", "m1.rcbackup", "m2.rcbackup"]);
    const seen = readBack(dir);
    assert.deepEqual([...seen.entries()].map(([k, r]) => [k, r.version]).sort(), [
      ["a", 1],
      ["b", 3],
      ["c", 5],
      ["d", 6],
    ]);
    backup.close();
  });

  it("counts appends that fail and dates those that reach the file", () => {
    const dir = freshDir();
    // A file where the backup's directory should be: opening it fails, as a full or read-only
    // disk would make an append fail.
    const blocked = join(dir, "blocked");
    writeFileSync(blocked, "");
    const record: BackupRecord = {
      key: Buffer.from("k"),
      value: Buffer.from("v"),
      version: 1,
      expiresAt: 0,
      tombstone: false,
    };
    const failing = new Backup({
      dir: blocked,
      id: "m1",
      maxBytes: 1 << 20,
      minVersion: () => 0,
      logger,
    });
    assert.throws(() => failing.append([record]));
    const page = new PageWriter();
    page.add(Buffer.from("p"), Buffer.from("v"), 2, 0, false);
    const bytes = Buffer.from(page.view());
    assert.throws(() => failing.appendPage(bytes, [0, bytes.length], 1));
    assert.equal(failing.writeFailures, 2);
    assert.equal(failing.lastWriteAt, 0);
    const working = backupIn(join(dir, "ok"), 1 << 20);
    const before = Date.now();
    working.append([record]);
    assert.equal(working.writeFailures, 0);
    assert.ok(working.lastWriteAt >= before, `${working.lastWriteAt} < ${before}`);
    working.close();
  });
});

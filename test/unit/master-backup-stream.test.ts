// A master's backup read back for a peer: the files present when a read starts, whatever a
// compaction does meanwhile; streamed over HTTP with backpressure and a record count; and
// read back by the leader in bounded batches, stopping at a malformed record without harm.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { crc32 } from "node:zlib";
import { createLogger } from "../../src/log.js";
import { Backup, type BackupRecord } from "../../src/master/backup.js";
import { BackupReader, encodeRecords, openFiles } from "../../src/master/backup-file.js";
import {
  BACKUP_PATH,
  RECORDS_TRAILER,
  RecordParser,
  fetchBackup,
  parseMinVersion,
  sendBackup,
  type FetchBackupOptions,
} from "../../src/master/backup-stream.js";
import { PageWriter } from "../../src/protocol/page.js";
import { decodeRecords } from "../helpers/backup-format.js";

const logger = createLogger({ level: "silent", node: "m1", role: "master" });
const dirs: string[] = [];
const servers: Server[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of servers) s.close();
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "ringcache-backup-stream-"));
  dirs.push(dir);
  return dir;
}

function record(
  key: string,
  version: number,
  value = `value of ${key} at ${version}`,
): BackupRecord {
  return {
    key: Buffer.from(key),
    value: Buffer.from(value),
    version,
    expiresAt: 0,
    tombstone: false,
  };
}

/** Appends `pages` pages of `perPage` entries over `keys` keys; returns the newest per key. */
function fill(
  backup: Backup,
  pages: number,
  perPage: number,
  keys: number,
  firstVersion: number,
  newest = new Map<string, BackupRecord>(),
): Map<string, BackupRecord> {
  const page = new PageWriter();
  let version = firstVersion;
  for (let p = 0; p < pages; p++) {
    page.reset();
    for (let i = 0; i < perPage; i++) {
      const r = record(
        `k${(p * perPage + i) % keys}`,
        version++,
        `page ${p} entry ${i} `.repeat(3),
      );
      page.add(r.key, r.value, r.version, r.expiresAt, r.tombstone);
      newest.set(r.key.toString(), r);
    }
    const bytes = Buffer.from(page.view());
    backup.appendPage(bytes, [0, bytes.length], perPage);
  }
  return newest;
}

function newestOf(records: readonly BackupRecord[]): Map<string, BackupRecord> {
  const out = new Map<string, BackupRecord>();
  for (const r of records) {
    const held = out.get(r.key.toString());
    if (held === undefined || r.version > held.version) out.set(r.key.toString(), r);
  }
  return out;
}

function sameRecords(got: Map<string, BackupRecord>, expected: Map<string, BackupRecord>): void {
  assert.equal(got.size, expected.size);
  for (const [key, r] of expected) {
    const g = got.get(key);
    assert.ok(g !== undefined, key);
    assert.equal(g.version, r.version, key);
    assert.deepEqual(g.value, r.value, key);
    assert.equal(g.tombstone, r.tombstone, key);
  }
}

/** Every chunk of a reader, each checked to hold whole records. */
function readAll(reader: BackupReader): { chunks: Buffer[]; records: BackupRecord[] } {
  const chunks: Buffer[] = [];
  const records: BackupRecord[] = [];
  try {
    for (let c = reader.next(); c !== null; c = reader.next()) {
      const decoded = decodeRecords(c);
      assert.equal(decoded.corrupt, false, "a chunk ends on a record boundary");
      chunks.push(c);
      records.push(...decoded.records);
    }
  } finally {
    reader.close();
  }
  assert.equal(reader.records, records.length);
  return { chunks, records };
}

async function listen(handler: (res: ServerResponse) => void): Promise<number> {
  const server = createServer((req, res) => {
    req.resume();
    handler(res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const OPTIONS: FetchBackupOptions = {
  minVersion: 0,
  timeoutMs: 5000,
  batch: 100,
  batchBytes: 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
};

/** Fetches from a local port; returns how it ended and every batch handed over. */
async function fetchFrom(
  port: number,
  options: Partial<FetchBackupOptions> = {},
): Promise<{ result: { records: number; bad: string | null }; batches: BackupRecord[][] }> {
  const batches: BackupRecord[][] = [];
  const result = await fetchBackup(
    { id: "m2", host: "127.0.0.1", port },
    { ...OPTIONS, ...options },
    async (records) => {
      batches.push(records);
      await new Promise((r) => setImmediate(r));
    },
  );
  return { result, batches };
}

/** A record framed as the files frame it, with any payload. */
function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(payload.length, 0);
  head.writeUInt32LE(crc32(payload), 4);
  return Buffer.concat([head, payload]);
}

describe("reading a master's backup for a peer", () => {
  it("reads the files present when it started, whatever a compaction does meanwhile", async () => {
    const dir = freshDir();
    const backup = new Backup({ dir, id: "m1", maxBytes: 64 * 1024, minVersion: () => 0, logger });
    backup.open();
    // Another master's file in the same directory is not this master's backup.
    writeFileSync(join(dir, "m2.rcbackup"), encodeRecords([record("other", 1)]));
    let expected = new Map<string, BackupRecord>();
    let version = 1;
    // Past the bound: the appended file is sealed and compacted in a worker thread.
    while (!backup.isCompacting) {
      expected = fill(backup, 1, 50, 400, version, expected);
      version += 50;
    }
    const reader = backup.reader(0);
    // The compaction replaces the base and removes the sealed file; appends go on.
    await backup.settled();
    fill(backup, 5, 50, 400, 1_000_000);
    assert.ok(!readdirSync(dir).some((n) => n.includes(".sealed-")));
    const { records } = readAll(reader);
    assert.ok(records.every((r) => r.key.toString() !== "other"));
    assert.ok(
      records.every((r) => r.version < 1_000_000),
      "appends after the start are not read",
    );
    sameRecords(newestOf(records), expected);
    backup.close();
  });

  it("hands out whole records in chunks, at or above the version asked for", () => {
    const dir = freshDir();
    const backup = new Backup({ dir, id: "m1", maxBytes: 1 << 30, minVersion: () => 0, logger });
    backup.open();
    const all = fill(backup, 40, 100, 4000, 1);
    backup.close();
    const files = openFiles([join(dir, "m1.rcbackup")]);
    const { chunks, records } = readAll(new BackupReader(files, 2001, 16 * 1024));
    assert.ok(chunks.length > 10, `${chunks.length} chunks`);
    assert.ok(chunks.every((c) => c.length <= 16 * 1024));
    assert.equal(records.length, 2000);
    sameRecords(newestOf(records), new Map([...all].filter(([, r]) => r.version >= 2001)));
  });

  it("replays only its own files when several masters' share a directory", async () => {
    const dir = freshDir();
    writeFileSync(join(dir, "m1.rcbackup"), encodeRecords([record("a", 1), record("a", 5)]));
    writeFileSync(join(dir, "m1.base.rcbackup"), encodeRecords([record("b", 2)]));
    writeFileSync(join(dir, "m10.rcbackup"), encodeRecords([record("c", 3)]));
    const backup = new Backup({ dir, id: "m1", maxBytes: 1 << 30, minVersion: () => 0, logger });
    const got: BackupRecord[] = [];
    const n = await backup.replayOwn(0, (records) => {
      got.push(...records);
      return Promise.resolve();
    });
    assert.equal(n, 2);
    assert.deepEqual(got.map((r) => [r.key.toString(), r.version]).sort(), [
      ["a", 5],
      ["b", 2],
    ]);
    assert.deepEqual(readdirSync(dir).sort(), ["m1.base.rcbackup", "m1.rcbackup", "m10.rcbackup"]);
  });
});

describe("a backup over HTTP", () => {
  it("streams a backup of many batches and chunks, each batch applied before more is read", async () => {
    const dir = freshDir();
    const backup = new Backup({ dir, id: "m2", maxBytes: 1 << 30, minVersion: () => 0, logger });
    backup.open();
    const expected = fill(backup, 100, 200, 20_000, 1);
    let sent = -1;
    const port = await listen((res) => {
      void sendBackup(res, backup.reader(0)).then((n) => (sent = n));
    });
    let applying = 0;
    let overlapped = false;
    const batches: BackupRecord[][] = [];
    const result = await fetchBackup(
      { id: "m2", host: "127.0.0.1", port },
      { ...OPTIONS, batch: 1000 },
      async (records) => {
        if (applying++ > 0) overlapped = true;
        batches.push(records);
        await new Promise((r) => setTimeout(r, 2));
        applying--;
      },
    );
    assert.deepEqual(result, { records: 20_000, bad: null });
    assert.equal(sent, 20_000);
    assert.equal(overlapped, false);
    // A batch is handed over once full, with the rest of the network chunk that filled it.
    assert.ok(batches.length >= 10 && batches.every((b) => b.length < 2000));
    sameRecords(newestOf(batches.flat()), expected);
    backup.close();
  });

  it("reads a stream split at every byte as it reads it whole", () => {
    const records = [record("a", 1), record("bb", 2, ""), { ...record("c", 3), tombstone: true }];
    const page = new PageWriter();
    page.add(Buffer.from("p"), Buffer.from("paged"), 4, 1_900_000_000_000, false);
    const bytes = Buffer.concat([
      encodeRecords(records),
      frame(Buffer.concat([Buffer.from([0x80]), Buffer.from(page.view())])),
    ]);
    const whole: BackupRecord[] = [];
    new RecordParser(1024).push(bytes, whole);
    assert.equal(whole.length, 4);
    const split: BackupRecord[] = [];
    const parser = new RecordParser(1024);
    for (let i = 0; i < bytes.length; i++) parser.push(bytes.subarray(i, i + 1), split);
    assert.equal(parser.partial, false);
    assert.deepEqual(split, whole);
    assert.deepEqual(
      whole.map((r) => [r.key.toString(), r.version, r.tombstone, r.expiresAt]),
      [
        ["a", 1, false, 0],
        ["bb", 2, false, 0],
        ["c", 3, true, 0],
        ["p", 4, false, 1_900_000_000_000],
      ],
    );
  });

  it("stops at a malformed record with the records before it applied", async () => {
    const good = encodeRecords(Array.from({ length: 250 }, (_, i) => record(`g${i}`, i + 1)));
    const badCrc = Buffer.from(encodeRecords([record("x", 999)]));
    badCrc.writeUInt8((badCrc.at(-1) as number) ^ 0xff, badCrc.length - 1);
    const badVersion = Buffer.alloc(21 + 1);
    badVersion.writeDoubleLE(Number.NaN, 1);
    badVersion.writeUInt32LE(1, 17);
    const negativeExpiry = Buffer.alloc(21 + 1);
    negativeExpiry.writeDoubleLE(7, 1);
    negativeExpiry.writeDoubleLE(-5, 9);
    negativeExpiry.writeUInt32LE(1, 17);
    const huge = Buffer.alloc(8);
    huge.writeUInt32LE(0xffff_fff0, 0);
    const cases: [string, Buffer, RegExp][] = [
      ["a bad checksum", badCrc, /checksum/],
      ["a NaN version", frame(badVersion), /version NaN/],
      ["a negative expiry", frame(negativeExpiry), /expiry -5/],
      ["a length past the limit", huge, /4294967280 bytes/],
      ["unknown flags", frame(Buffer.alloc(30, 7)), /flags 7/],
      [
        "a key past the record's end",
        frame(Buffer.from([0, ...Buffer.alloc(16), 99, 0, 0, 0])),
        /key/,
      ],
      // Last in the body: what follows a truncated record would be read as its rest.
      ["a truncated record", encodeRecords([record("t", 5)]).subarray(0, 20), /inside a record/],
    ];
    for (const [name, tail, reason] of cases) {
      const last = name === "a truncated record";
      const port = await listen((res) => {
        res.writeHead(200, { trailer: RECORDS_TRAILER });
        res.write(good);
        res.write(tail);
        if (!last) res.write(encodeRecords([record("after", 1000)]));
        res.addTrailers({ [RECORDS_TRAILER]: "252" });
        res.end();
      });
      const { result, batches } = await fetchFrom(port);
      assert.equal(result.records, 250, name);
      assert.match(result.bad ?? "", reason, name);
      assert.equal(batches.flat().length, 250, name);
      assert.ok(!batches.flat().some((r) => r.key.toString() === "after"), name);
    }
  });

  it("fails, for another try, when the stream breaks off, is refused or is not counted", async () => {
    const good = encodeRecords(Array.from({ length: 300 }, (_, i) => record(`g${i}`, i + 1)));
    const cut = await listen((res) => {
      res.writeHead(200, { trailer: RECORDS_TRAILER });
      res.write(good.subarray(0, good.length - 10), () => res.destroy());
    });
    await assert.rejects(fetchFrom(cut));
    const uncounted = await listen((res) => {
      res.writeHead(200);
      res.end(good);
    });
    await assert.rejects(fetchFrom(uncounted), /no record count/);
    const miscounted = await listen((res) => {
      res.writeHead(200, { trailer: RECORDS_TRAILER });
      res.write(good);
      res.addTrailers({ [RECORDS_TRAILER]: "301" });
      res.end();
    });
    await assert.rejects(fetchFrom(miscounted), /300 records of 301/);
    const refused = await listen((res) => {
      res.writeHead(401);
      res.end("{}");
    });
    await assert.rejects(fetchFrom(refused), new RegExp(`${BACKUP_PATH} answered 401`));
    const silent = await listen(() => {
      // Never answers.
    });
    await assert.rejects(fetchFrom(silent, { timeoutMs: 200 }), /no answer in time/);
    const port = await listen((res) => {
      res.writeHead(200, { trailer: RECORDS_TRAILER });
      res.write(good);
      res.addTrailers({ [RECORDS_TRAILER]: "300" });
      res.end();
    });
    await assert.rejects(
      fetchBackup({ id: "m2", host: "127.0.0.1", port }, OPTIONS, () =>
        Promise.reject(new Error("owner unreachable")),
      ),
      /owner unreachable/,
    );
  });

  it("reads the version floor from the query", () => {
    assert.equal(parseMinVersion(""), 0);
    assert.equal(parseMinVersion("min-version=123"), 123);
    assert.equal(
      parseMinVersion(`min-version=${Number.MAX_SAFE_INTEGER}`),
      Number.MAX_SAFE_INTEGER,
    );
    for (const bad of [
      "min-version=-1",
      "min-version=1.5",
      "min-version=abc",
      "min-version=9007199254740993",
    ]) {
      assert.throws(() => parseMinVersion(bad), /min-version must be/, bad);
    }
  });

  it("leaves a backup file readable by the file reader, byte for byte", () => {
    const dir = freshDir();
    const records = Array.from({ length: 10 }, (_, i) => record(`f${i}`, i + 1));
    writeFileSync(join(dir, "m1.rcbackup"), encodeRecords(records));
    const { chunks } = readAll(new BackupReader(openFiles([join(dir, "m1.rcbackup")]), 0));
    assert.deepEqual(Buffer.concat(chunks), readFileSync(join(dir, "m1.rcbackup")));
  });
});

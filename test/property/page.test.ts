// Entry pages (protocol/page.ts), the unit a move ships: what a PageWriter writes a PageReader
// reads back; checkPage accepts exactly the well-formed pages; the writer's bulk forms that
// send a page's slices; RC.SCAN's range parser when the ranges arrive as views of one chunk;
// and pages appended to a master's backup read back with the single records around them.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RingcacheError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { Backup, type BackupRecord } from "../../src/master/backup.js";
import { encodeScan, inRanges, ScanParser } from "../../src/protocol/internal/index.js";
import { checkPage, ENTRY_HEADER, PageReader, PageWriter } from "../../src/protocol/page.js";
import { CommandDecoder, RespWriter } from "../../src/protocol/resp/index.js";
import { decodeRecords } from "../helpers/backup-format.js";

interface Entry {
  key: Buffer;
  value: Buffer;
  version: number;
  expiresAt: number;
  tombstone: boolean;
}

const entry: fc.Arbitrary<Entry> = fc
  .record({
    key: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    value: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    tombstone: fc.boolean(),
  })
  .map((e) => ({
    key: e.key,
    value: e.tombstone ? Buffer.alloc(0) : e.value,
    version: e.version,
    expiresAt: e.expiresAt,
    tombstone: e.tombstone,
  }));

function pageOf(entries: readonly Entry[]): Buffer {
  const w = new PageWriter(16);
  for (const e of entries) w.add(e.key, e.value, e.version, e.expiresAt, e.tombstone);
  assert.equal(w.count, entries.length);
  return Buffer.from(w.view());
}

function read(page: Buffer): Entry[] {
  const out: Entry[] = [];
  const r = new PageReader().reset(page);
  while (r.next()) {
    out.push({
      key: Buffer.from(r.key()),
      value: Buffer.from(r.value()),
      version: r.version,
      expiresAt: r.expiresAt,
      tombstone: r.tombstone,
    });
  }
  return out;
}

describe("entry pages", () => {
  it("read back as written, whole or without values, and pass checkPage", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
        const page = pageOf(entries);
        assert.equal(checkPage(page), entries.length);
        assert.deepEqual(read(page), entries);
        // Copied entry by entry, without values: the keys and versions a holder drops.
        const keys = new PageWriter(16);
        const r = new PageReader().reset(page);
        while (r.next()) keys.addFrom(r, false);
        const keyPage = Buffer.from(keys.view());
        assert.equal(checkPage(keyPage), entries.length);
        assert.deepEqual(
          read(keyPage),
          entries.map((e) => ({ ...e, value: Buffer.alloc(0) })),
        );
        const copy = new PageWriter(16);
        r.reset(page);
        while (r.next()) copy.addFrom(r, true);
        assert.deepEqual(Buffer.from(copy.view()), page);
      }),
      { numRuns: 300 },
    );
  });

  it("checkPage refuses a page cut inside an entry, and any bytes with a RingcacheError only", () => {
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 8 }), fc.nat(), (entries, at) => {
        const page = pageOf(entries);
        const bounds = new Set<number>([0]);
        let end = 0;
        for (const e of entries) {
          end += ENTRY_HEADER + e.key.length + e.value.length;
          bounds.add(end);
        }
        const cut = at % page.length;
        if (bounds.has(cut)) {
          assert.equal(
            checkPage(page.subarray(0, cut)),
            [...bounds].filter((b) => b > 0 && b <= cut).length,
          );
        } else {
          assert.throws(
            () => checkPage(page.subarray(0, cut)),
            /invalid page: entry \d+ is cut short/,
          );
        }
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          const n = checkPage(bytes);
          // Accepted: a reader walks exactly that many entries to the very end.
          const r = new PageReader().reset(Buffer.from(bytes));
          let seen = 0;
          while (r.next()) seen++;
          assert.equal(seen, n);
          assert.equal(n === 0 ? 0 : r.end, bytes.length);
        } catch (err) {
          assert.ok(err instanceof RingcacheError, String(err));
          assert.equal(err.code, "BAD_REQUEST");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("checkPage refuses bad flags, versions and expiries, and a tombstone with a value", () => {
    const good = pageOf([
      {
        key: Buffer.from("k"),
        value: Buffer.from("v"),
        version: 5,
        expiresAt: 0,
        tombstone: false,
      },
    ]);
    const cases: [string, (p: Buffer) => void][] = [
      ["has unknown flags", (p) => (p[0] = 2)],
      ["has an invalid version", (p) => p.writeDoubleLE(0, 1)],
      ["has an invalid version", (p) => p.writeDoubleLE(1.5, 1)],
      ["has an invalid version", (p) => p.writeDoubleLE(NaN, 1)],
      ["has an invalid version", (p) => p.writeDoubleLE(2 ** 53, 1)],
      ["has an invalid expiry", (p) => p.writeDoubleLE(-1, 9)],
      ["has an invalid expiry", (p) => p.writeDoubleLE(Infinity, 9)],
      ["is a tombstone with a value", (p) => (p[0] = 1)],
      ["is cut short", (p) => p.writeUInt32LE(2 ** 32 - 1, 17)],
    ];
    assert.equal(checkPage(good), 1);
    for (const [what, spoil] of cases) {
      const page = Buffer.from(good);
      spoil(page);
      assert.throws(() => checkPage(page), new RegExp(`entry 0 ${what}`));
    }
  });

  it("a page's slices go out as one bulk after a bare header", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 6 }),
        (page, cuts) => {
          const spans: number[] = [];
          for (const [a, b] of cuts) {
            const s = page.length === 0 ? 0 : a % (page.length + 1);
            const e = page.length === 0 ? 0 : b % (page.length + 1);
            spans.push(Math.min(s, e), Math.max(s, e));
          }
          const parts = [];
          for (let i = 0; i < spans.length; i += 2)
            parts.push(page.subarray(spans[i], spans[i + 1]));
          const whole = Buffer.concat(parts);
          const expected = new RespWriter().bulk(whole).take();
          const head = new RespWriter().bulkHeader(whole.length).take();
          assert.deepEqual(Buffer.concat([head, whole, Buffer.from("\r\n")]), expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a ScanParser reads ranges that arrive as views of one chunk, or split, as a fresh parse", () => {
    const range = fc
      .tuple(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: 2 ** 32 }))
      .map(([start, end]) => ({ start, end }));
    const rangeLists = fc.array(fc.array(range, { minLength: 1, maxLength: 6 }), {
      minLength: 1,
      maxLength: 3,
    });
    fc.assert(
      fc.property(
        rangeLists,
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 14 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 16 }),
        (lists, calls, hashes) => {
          const parser = new ScanParser();
          for (const [pick, split] of calls) {
            const ranges = lists[pick % lists.length] as (typeof lists)[0];
            const w = new RespWriter();
            encodeScan(w, 2, 10, ranges);
            const bytes = w.take();
            let checked = 0;
            const decoder = new CommandDecoder({
              onCommand: (args) => {
                // The arguments are views of the chunk (or of the decoder's own copy when the
                // command came in two chunks), valid only here.
                const got = parser.parse(args);
                for (const h of hashes) assert.equal(got.ranges?.has(h), inRanges(h, ranges));
                checked++;
              },
              onProtocolError: (err) => assert.fail(err.message),
            });
            // Every other call arrives in two chunks, cut anywhere.
            const at = pick % 2 === 0 ? bytes.length : split % bytes.length;
            decoder.feed(bytes.subarray(0, at));
            if (at < bytes.length) decoder.feed(bytes.subarray(at));
            assert.equal(checked, 1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("pages appended to a backup read back with the single records around them", () => {
    const dir = mkdtempSync(join(tmpdir(), "ringcache-page-"));
    const logger = createLogger({ level: "silent", node: "m1", role: "master" });
    try {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.boolean(), fc.array(entry, { minLength: 1, maxLength: 5 })), {
            maxLength: 6,
          }),
          fc.nat(),
          (groups, spoilAt) => {
            rmSync(join(dir, "m1.rcbackup"), { force: true });
            const backup = new Backup({
              dir,
              id: "m1",
              maxBytes: 64 * 1024 * 1024,
              minVersion: () => 0,
              logger,
            });
            backup.open();
            const expected: BackupRecord[] = [];
            for (const [asPage, entries] of groups) {
              const records = entries.map((e) => ({ ...e }));
              expected.push(...records);
              if (!asPage) {
                backup.append(records);
                continue;
              }
              // A page with an entry before and after the slice that is backed up.
              const edge = records[0] as Entry;
              const page = pageOf([edge, ...records, edge]);
              const edgeBytes = ENTRY_HEADER + edge.key.length + edge.value.length;
              backup.appendPage(page, [edgeBytes, page.length - edgeBytes], records.length);
            }
            backup.close();
            const file = readFileSync(backup.path);
            const { records, corrupt } = decodeRecords(file);
            assert.equal(corrupt, false);
            assert.deepEqual(records, expected);
            assert.equal(backup.appended, expected.length);
            if (file.length === 0) return;
            // A changed byte anywhere: the records before it still read, nothing after it.
            const spoiled = Buffer.from(file);
            const at = spoilAt % file.length;
            spoiled[at] = (spoiled[at] as number) ^ 0xff;
            writeFileSync(backup.path, spoiled);
            const after = decodeRecords(readFileSync(backup.path));
            assert.equal(after.corrupt, true);
            assert.deepEqual(after.records, expected.slice(0, after.records.length));
          },
        ),
        { numRuns: 150 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The snapshot format on its own: round trips, and every kind of damage detected.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  SnapshotFormatError,
  TRAILER_BYTES,
  decodeSnapshot,
  encodeSnapshot,
  readEntries,
  type ReadPosition,
  type SnapshotEntry,
} from "../../src/store/snapshot-format.js";

const header = { nodeId: "a1", createdAt: 1_795_000_000_000, flushFloor: 12345 };

function sample(n: number): SnapshotEntry[] {
  const out: SnapshotEntry[] = [];
  for (let i = 0; i < n; i++) {
    const tombstone = i % 7 === 3;
    out.push({
      key: Buffer.from([i & 0xff, 0, 0xff, 13, 10, i >> 8]),
      value: tombstone ? Buffer.alloc(0) : Buffer.alloc(i % 50, i),
      version: 2 ** 40 + i,
      expiresAt: i % 3 === 0 ? 1_800_000_000_000 + i : 0,
      tombstone,
    });
  }
  return out;
}

describe("snapshot format", () => {
  it("round-trips header and entries (binary keys, empty values, tombstones)", () => {
    const entries = sample(100);
    const decoded = decodeSnapshot(encodeSnapshot(header, entries));
    assert.deepEqual(decoded.header, header);
    assert.deepEqual(decoded.entries, entries);
    assert.deepEqual(decodeSnapshot(encodeSnapshot(header, [])).entries, []);
  });

  it("decodes entries split across any window boundary", () => {
    const file = encodeSnapshot(header, sample(20));
    const seen: string[] = [];
    const sink = { entry: (k: Buffer) => seen.push(k.toString("hex")) };
    const pos: ReadPosition = { offset: 0, entries: 0, atTrailer: false };
    const start = 30; // the header: 28 fixed bytes and the node id "a1"
    // Feed growing windows: an entry is only decoded once it is whole.
    let offset = start;
    for (let end = start; end <= file.length; end++) {
      readEntries(file, offset, end, sink, pos);
      offset = pos.offset;
      if (pos.atTrailer) break;
    }
    assert.equal(seen.length, 20);
    assert.equal(file.length - offset, TRAILER_BYTES);
  });

  it("detects every single-bit flip", () => {
    const file = encodeSnapshot(header, sample(12));
    for (let byte = 0; byte < file.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(file);
        damaged[byte] = (damaged[byte] as number) ^ (1 << bit);
        assert.throws(
          () => decodeSnapshot(damaged),
          SnapshotFormatError,
          `byte ${byte} bit ${bit}`,
        );
      }
    }
  });

  it("detects truncation at every length and trailing garbage", () => {
    const file = encodeSnapshot(header, sample(12));
    for (let len = 0; len < file.length; len++) {
      assert.throws(
        () => decodeSnapshot(file.subarray(0, len)),
        SnapshotFormatError,
        `length ${len}`,
      );
    }
    assert.throws(
      () => decodeSnapshot(Buffer.concat([file, Buffer.from([0])])),
      SnapshotFormatError,
    );
  });

  it("refuses other files and unknown format versions", () => {
    assert.throws(() => decodeSnapshot(Buffer.from("REDIS0011 not ours at all")), /bad magic/);
    const file = encodeSnapshot(header, []);
    file.writeUInt16LE(2, 8);
    assert.throws(() => decodeSnapshot(file), /format version 2 is not supported/);
    assert.throws(() => encodeSnapshot({ ...header, nodeId: "x".repeat(256) }, []), RangeError);
  });
});

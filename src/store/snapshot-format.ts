// The snapshot file format of an auxiliary node's store. Pure: encoders write into Buffers the
// caller owns, decoders read from Buffers; no files, no clocks. The snapshotter
// (auxiliary/snapshotter.ts) does the I/O around it.
//
// Layout (all integers little-endian):
//
//   header   "RINGSNAP"                 8 bytes magic
//            formatVersion   u16        SNAPSHOT_FORMAT_VERSION
//            nodeIdLength    u16        bytes of the node id (UTF-8, at most 255)
//            createdAt       f64        Unix ms when the snapshot began
//            flushFloor      f64        store's flush floor: versions <= it are gone for good
//            nodeId          bytes
//   entries  flags           u8         bit 0: tombstone (0x00 live entry, 0x01 tombstone)
//            keyLength       u32
//            valueLength     u32        0 for a tombstone
//            version         f64        hybrid-logical-clock version (< 2^53)
//            expiresAt       f64        absolute Unix ms, 0 = none (tombstones: when it dies)
//            key, value      bytes
//   trailer  0xFF            u8         TRAILER_MARKER: no entry has these flags
//            count           f64        number of entries above
//            crc32           u32        zlib CRC-32 of every byte before this field
//
// What must stay true: a file is complete only when its trailer is present, its count matches
// the entries read and its CRC matches; anything else (a torn write, a flipped bit, a file cut
// short) is rejected as a whole, never half-applied. A newer reader may add flags bits or a
// new format version; an older reader refuses versions it does not know.
// See docs/design.md, "Persistence".
import { crc32 } from "node:zlib";

export const SNAPSHOT_MAGIC: Readonly<Buffer> = Buffer.from("RINGSNAP", "latin1");
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Bytes of the header before the node id. */
export const HEADER_FIXED_BYTES = 28;
/** Bytes of an entry before its key and value. */
export const ENTRY_HEADER_BYTES = 25;
export const TRAILER_BYTES = 13;
export const TRAILER_MARKER = 0xff;
export const FLAG_TOMBSTONE = 0x01;
const MAX_NODE_ID_BYTES = 255;
/** Longest key or value the reader accepts: a corrupt length must not look like a real one. */
export const MAX_ITEM_BYTES = 512 * 1024 * 1024;

/** A snapshot that cannot be read: wrong magic, unknown version, torn or corrupt content. */
export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotFormatError";
  }
}

export interface SnapshotHeader {
  readonly nodeId: string;
  /** Unix ms at which the snapshot began. */
  readonly createdAt: number;
  /** The store's flush floor when the snapshot began: versions <= it are gone. */
  readonly flushFloor: number;
}

/** The header's bytes; the caller feeds them to the running CRC like every other byte. */
export function encodeHeader(header: SnapshotHeader): Buffer {
  const id = Buffer.from(header.nodeId, "utf8");
  if (id.length > MAX_NODE_ID_BYTES) {
    throw new RangeError(`node id is ${id.length} bytes; a snapshot holds at most 255`);
  }
  const buf = Buffer.allocUnsafe(HEADER_FIXED_BYTES + id.length);
  SNAPSHOT_MAGIC.copy(buf, 0);
  buf.writeUInt16LE(SNAPSHOT_FORMAT_VERSION, 8);
  buf.writeUInt16LE(id.length, 10);
  buf.writeDoubleLE(header.createdAt, 12);
  buf.writeDoubleLE(header.flushFloor, 20);
  id.copy(buf, HEADER_FIXED_BYTES);
  return buf;
}

/**
 * Reads the header at the start of `buf`. Returns undefined when `buf` is too short to hold it
 * (read more); throws SnapshotFormatError when it is not a snapshot this reader understands.
 */
export function decodeHeader(buf: Buffer): { header: SnapshotHeader; length: number } | undefined {
  if (buf.length < 10) return undefined;
  if (buf.compare(SNAPSHOT_MAGIC, 0, 8, 0, 8) !== 0) {
    throw new SnapshotFormatError("not a ringcache snapshot (bad magic)");
  }
  const version = buf.readUInt16LE(8);
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new SnapshotFormatError(
      `snapshot format version ${version} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`,
    );
  }
  if (buf.length < HEADER_FIXED_BYTES) return undefined;
  const idLength = buf.readUInt16LE(10);
  if (idLength > MAX_NODE_ID_BYTES) throw new SnapshotFormatError("corrupt header (node id)");
  const length = HEADER_FIXED_BYTES + idLength;
  if (buf.length < length) return undefined;
  const createdAt = buf.readDoubleLE(12);
  const flushFloor = buf.readDoubleLE(20);
  if (!validNumber(createdAt) || !validNumber(flushFloor)) {
    throw new SnapshotFormatError("corrupt header (time or flush floor)");
  }
  const nodeId = buf.toString("utf8", HEADER_FIXED_BYTES, length);
  return { header: { nodeId, createdAt, flushFloor }, length };
}

function validNumber(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** Bytes one entry takes in the file. */
export function entryBytes(keyLength: number, valueLength: number): number {
  return ENTRY_HEADER_BYTES + keyLength + valueLength;
}

/**
 * Writes one entry at `offset` of `buf` (which must have entryBytes(...) bytes of room) and
 * returns the offset after it. The key and value are copied; they may be views of a store
 * slab valid only until the store's next mutation.
 */
export function writeEntry(
  buf: Buffer,
  offset: number,
  key: Uint8Array,
  value: Uint8Array,
  version: number,
  expiresAt: number,
  tombstone: boolean,
): number {
  const valueLength = tombstone ? 0 : value.length;
  buf[offset] = tombstone ? FLAG_TOMBSTONE : 0;
  buf.writeUInt32LE(key.length, offset + 1);
  buf.writeUInt32LE(valueLength, offset + 5);
  buf.writeDoubleLE(version, offset + 9);
  buf.writeDoubleLE(expiresAt, offset + 17);
  let at = offset + ENTRY_HEADER_BYTES;
  buf.set(key, at);
  at += key.length;
  if (valueLength > 0) {
    buf.set(value, at);
    at += valueLength;
  }
  return at;
}

/** The trailer for `count` entries, given the CRC of every byte written before it. */
export function encodeTrailer(count: number, crcBefore: number): Buffer {
  const buf = Buffer.allocUnsafe(TRAILER_BYTES);
  buf[0] = TRAILER_MARKER;
  buf.writeDoubleLE(count, 1);
  buf.writeUInt32LE(crc32(buf.subarray(0, 9), crcBefore), 9);
  return buf;
}

/** Receives decoded entries. Key and value are views of the decoder's buffer: copy to keep. */
export interface SnapshotEntrySink {
  entry(
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void;
}

/** Where readEntries stopped. Reused by the caller; no allocation per call. */
export interface ReadPosition {
  /** Offset after the last whole entry read (or of the trailer marker when `atTrailer`). */
  offset: number;
  /** Entries read by this call. */
  entries: number;
  /** The trailer marker is at `offset`. */
  atTrailer: boolean;
}

/**
 * Decodes the whole entries in buf[offset, end) into `sink`, stopping at the trailer marker or
 * at an entry that is not complete in the window (the caller reads more and calls again from
 * `pos.offset`). Throws SnapshotFormatError on an entry that cannot be valid.
 */
export function readEntries(
  buf: Buffer,
  offset: number,
  end: number,
  sink: SnapshotEntrySink | null,
  pos: ReadPosition,
): ReadPosition {
  let at = offset;
  let count = 0;
  pos.atTrailer = false;
  while (at < end) {
    const flags = buf[at] as number;
    if (flags === TRAILER_MARKER) {
      pos.atTrailer = true;
      break;
    }
    if (end - at < ENTRY_HEADER_BYTES) break;
    if ((flags & ~FLAG_TOMBSTONE) !== 0) {
      throw new SnapshotFormatError(`corrupt entry flags 0x${flags.toString(16)}`);
    }
    const keyLength = buf.readUInt32LE(at + 1);
    const valueLength = buf.readUInt32LE(at + 5);
    if (keyLength > MAX_ITEM_BYTES || valueLength > MAX_ITEM_BYTES) {
      throw new SnapshotFormatError("corrupt entry length");
    }
    const size = ENTRY_HEADER_BYTES + keyLength + valueLength;
    if (end - at < size) break;
    const version = buf.readDoubleLE(at + 9);
    const expiresAt = buf.readDoubleLE(at + 17);
    if (!validNumber(version) || !validNumber(expiresAt)) {
      throw new SnapshotFormatError("corrupt entry version or expiry");
    }
    if (sink !== null) {
      const keyAt = at + ENTRY_HEADER_BYTES;
      const valueAt = keyAt + keyLength;
      sink.entry(
        buf.subarray(keyAt, valueAt),
        buf.subarray(valueAt, valueAt + valueLength),
        version,
        expiresAt,
        (flags & FLAG_TOMBSTONE) !== 0,
      );
    }
    at += size;
    count++;
  }
  pos.offset = at;
  pos.entries = count;
  return pos;
}

/**
 * Checks the trailer at `offset` (TRAILER_BYTES must be available) against the number of
 * entries read and the CRC of every byte before the CRC field; throws SnapshotFormatError when
 * they disagree.
 */
export function checkTrailer(
  buf: Buffer,
  offset: number,
  entriesRead: number,
  crcBefore: number,
): void {
  if (buf[offset] !== TRAILER_MARKER) throw new SnapshotFormatError("missing trailer");
  const count = buf.readDoubleLE(offset + 1);
  const expected = buf.readUInt32LE(offset + 9);
  const actual = crc32(buf.subarray(offset, offset + 9), crcBefore);
  if (actual !== expected) {
    throw new SnapshotFormatError(
      `checksum mismatch (file says ${expected.toString(16)}, content gives ${actual.toString(16)})`,
    );
  }
  if (count !== entriesRead) {
    throw new SnapshotFormatError(`trailer counts ${count} entries but ${entriesRead} were read`);
  }
}

/** A decoded entry, owning copies of its bytes (decodeSnapshot's result). */
export interface SnapshotEntry {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly expiresAt: number;
  readonly tombstone: boolean;
}

/**
 * Decodes and verifies a whole snapshot held in one Buffer (tests and small files; the
 * snapshotter streams large ones with the functions above). Throws SnapshotFormatError.
 */
export function decodeSnapshot(buf: Buffer): { header: SnapshotHeader; entries: SnapshotEntry[] } {
  const head = decodeHeader(buf);
  if (head === undefined) throw new SnapshotFormatError("truncated header");
  const entries: SnapshotEntry[] = [];
  const sink: SnapshotEntrySink = {
    entry(key, value, version, expiresAt, tombstone) {
      entries.push({
        key: Buffer.from(key),
        value: Buffer.from(value),
        version,
        expiresAt,
        tombstone,
      });
    },
  };
  const pos: ReadPosition = { offset: 0, entries: 0, atTrailer: false };
  readEntries(buf, head.length, buf.length, sink, pos);
  if (!pos.atTrailer || buf.length - pos.offset < TRAILER_BYTES) {
    throw new SnapshotFormatError("truncated: no complete trailer");
  }
  if (buf.length - pos.offset > TRAILER_BYTES) {
    throw new SnapshotFormatError("unexpected bytes after the trailer");
  }
  checkTrailer(buf, pos.offset, pos.entries, crc32(buf.subarray(0, pos.offset)));
  return { header: head.header, entries };
}

/** Encodes a whole snapshot into one Buffer (tests and tools). */
export function encodeSnapshot(header: SnapshotHeader, entries: readonly SnapshotEntry[]): Buffer {
  const head = encodeHeader(header);
  let size = head.length;
  for (const e of entries) size += entryBytes(e.key.length, e.tombstone ? 0 : e.value.length);
  const body = Buffer.allocUnsafe(size);
  head.copy(body, 0);
  let at = head.length;
  for (const e of entries) {
    at = writeEntry(body, at, e.key, e.value, e.version, e.expiresAt, e.tombstone);
  }
  return Buffer.concat([body, encodeTrailer(entries.length, crc32(body))]);
}

// Snapshots of an auxiliary node's store on its data directory, and the restore at start.
// The byte format is store/snapshot-format.ts; this file is the I/O around it.
//
//   write:   snapshot-<ms>.rcs.tmp ◄─ header, slices of entries (the event loop runs between
//            slices), trailer ─► fsync ─► rename to snapshot-<ms>.rcs ─► fsync the directory
//            ─► delete all but the newest `keep` complete snapshots
//   restore: delete *.tmp (torn by a crash) ─► newest snapshot-<ms>.rcs first: verify it whole
//            (structure, count, CRC) ─► apply it; a file that fails is renamed *.corrupt with
//            an error log, and the next older one is tried; none left: start empty
//
// What must stay true: a snapshot-<ms>.rcs file is only ever a complete, fsynced snapshot (a
// crash at any moment leaves at worst a .tmp that the next start deletes), and the previous
// snapshot stays until the new one is complete. Restore never applies a file it has not first
// verified as a whole. Nothing here throws out of restore(): the node always starts.
// See docs/design.md, "Persistence".
import { mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { crc32 } from "node:zlib";
import type { Logger } from "../log.js";
import {
  ENTRY_HEADER_BYTES,
  SnapshotFormatError,
  TRAILER_BYTES,
  TRAILER_MARKER,
  checkTrailer,
  decodeHeader,
  encodeHeader,
  encodeTrailer,
  entryBytes,
  readEntries,
  writeEntry,
  type ReadPosition,
  type SnapshotEntrySink,
  type SnapshotHeader,
} from "../store/snapshot-format.js";

const SNAPSHOT_FILE = /^snapshot-(\d+)\.rcs$/;
const TEMP_SUFFIX = ".tmp";
const CORRUPT_SUFFIX = ".corrupt";
/** Buffered bytes that trigger a write to the file. */
const WRITE_CHUNK_BYTES = 1024 * 1024;
/** Read size while verifying and restoring. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** What a snapshot reads from: the store, seen through the node's adapter. */
export interface SnapshotSource {
  /**
   * Visits the live entries and tombstones of up to `count` store slots starting at `cursor`,
   * synchronously, and returns the next cursor (0: finished). Views passed to the sink are
   * valid only during the call.
   */
  scanSlice(cursor: number, count: number, sink: SnapshotEntrySink): number;
  /** Versions <= this are gone for good (RC.FLUSH); recorded in the header. */
  readonly flushFloor: number;
}

/** What a restore writes into. Entries arrive as views valid only during the call. */
export interface RestoreTarget extends SnapshotEntrySink {
  setFlushFloor(version: number): void;
}

export interface SnapshotterOptions {
  readonly dir: string;
  readonly nodeId: string;
  readonly logger: Logger;
  /** Complete snapshots kept (the newest ones). Default 2. */
  readonly keep?: number;
  /** Store slots visited per slice, between which the event loop runs. Default 2048. */
  readonly sliceSlots?: number;
  readonly now?: () => number;
}

export interface SnapshotResult {
  readonly file: string;
  readonly entries: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface RestoreResult {
  /** The file restored from, or undefined when the node starts empty. */
  readonly file: string | undefined;
  /** When the restored snapshot was begun (0: none). */
  readonly createdAt: number;
  /** Entries in the file, and how many of them were applied (expired ones are dropped). */
  readonly entries: number;
  readonly applied: number;
  readonly expired: number;
  /** Files renamed *.corrupt during this restore. */
  readonly corrupt: readonly string[];
  readonly durationMs: number;
}

/** Accumulates encoded entries for the file; the sink of a snapshot's scan. */
class EntryBuffer implements SnapshotEntrySink {
  buf: Buffer = Buffer.allocUnsafe(WRITE_CHUNK_BYTES + 64 * 1024);
  length = 0;
  count = 0;

  entry(
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void {
    const size = entryBytes(key.length, tombstone ? 0 : value.length);
    if (this.length + size > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + size));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    this.length = writeEntry(this.buf, this.length, key, value, version, expiresAt, tombstone);
    this.count++;
  }
}

/** Applies verified entries to a restore target, dropping the expired ones. */
class ApplySink implements SnapshotEntrySink {
  applied = 0;
  expired = 0;
  private readonly target: RestoreTarget;
  private readonly now: number;
  private readonly floor: number;

  constructor(target: RestoreTarget, now: number, floor: number) {
    this.target = target;
    this.now = now;
    this.floor = floor;
  }

  entry(
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void {
    if ((expiresAt !== 0 && expiresAt <= this.now) || version <= this.floor) {
      this.expired++;
      return;
    }
    this.target.entry(key, value, version, expiresAt, tombstone);
    this.applied++;
  }
}

export class Snapshotter {
  readonly dir: string;
  /** A snapshot is being written. */
  running = false;
  /** Unix ms of the last successful snapshot (0: none yet in this process). */
  lastSuccessAt = 0;
  lastDurationMs = 0;
  lastEntries = 0;
  lastBytes = 0;
  /** Snapshots written / failed since start. */
  completed = 0;
  failures = 0;
  private readonly nodeId: string;
  private readonly logger: Logger;
  private readonly keep: number;
  private readonly sliceSlots: number;
  private readonly now: () => number;
  private current: Promise<SnapshotResult> | undefined;

  constructor(options: SnapshotterOptions) {
    this.dir = options.dir;
    this.nodeId = options.nodeId;
    this.logger = options.logger;
    this.keep = options.keep ?? 2;
    this.sliceSlots = options.sliceSlots ?? 2048;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.keep) || this.keep < 1) {
      throw new RangeError(`snapshots kept must be an integer >= 1, got ${this.keep}`);
    }
  }

  /** Resolves when no snapshot is being written. */
  async idle(): Promise<void> {
    if (this.current !== undefined) await this.current.catch(() => undefined);
  }

  /**
   * Writes one snapshot of `source`. One at a time: a call while one is running waits for it
   * and then writes a new one (so a final snapshot at shutdown includes the latest writes).
   * Rejects on I/O failure (counted in `failures`, logged); the previous snapshot stays.
   */
  async write(source: SnapshotSource): Promise<SnapshotResult> {
    await this.idle();
    this.running = true;
    const run = this.writeOnce(source);
    this.current = run;
    try {
      return await run;
    } finally {
      this.running = false;
      this.current = undefined;
    }
  }

  private async writeOnce(source: SnapshotSource): Promise<SnapshotResult> {
    const started = performance.now();
    await mkdir(this.dir, { recursive: true });
    let createdAt = this.now();
    const existing = await this.listSnapshots();
    // Names must increase: a clock step back (or two snapshots in one ms) must not reuse one.
    const newest = existing[0]?.ms ?? 0;
    if (createdAt <= newest) createdAt = newest + 1;
    const file = join(this.dir, `snapshot-${createdAt}.rcs`);
    const temp = file + TEMP_SUFFIX;
    let handle: FileHandle | undefined;
    try {
      handle = await open(temp, "wx");
      const header: SnapshotHeader = {
        nodeId: this.nodeId,
        createdAt,
        flushFloor: source.flushFloor,
      };
      const head = encodeHeader(header);
      await writeAll(handle, head, head.length);
      let crc = crc32(head);
      let bytes = head.length;
      let entries = 0;
      const pending = new EntryBuffer();
      let cursor = 0;
      do {
        cursor = source.scanSlice(cursor, this.sliceSlots, pending);
        if (pending.length >= WRITE_CHUNK_BYTES || cursor === 0) {
          const chunk = pending.buf.subarray(0, pending.length);
          crc = crc32(chunk, crc);
          await writeAll(handle, pending.buf, pending.length);
          bytes += pending.length;
          entries += pending.count;
          pending.length = 0;
          pending.count = 0;
        } else {
          // Let the node serve between slices; the write above yields on its own.
          await yieldToLoop();
        }
      } while (cursor !== 0);
      const trailer = encodeTrailer(entries, crc);
      await writeAll(handle, trailer, trailer.length);
      bytes += trailer.length;
      await handle.sync();
      await handle.close();
      handle = undefined;
      await rename(temp, file);
      await this.syncDir();
      await this.rotate();
      const durationMs = performance.now() - started;
      this.lastSuccessAt = this.now();
      this.lastDurationMs = durationMs;
      this.lastEntries = entries;
      this.lastBytes = bytes;
      this.completed++;
      this.logger.info(
        { file, entries, bytes, durationMs: Math.round(durationMs) },
        "snapshot written",
      );
      return { file, entries, bytes, durationMs };
    } catch (err) {
      this.failures++;
      this.logger.error({ err, file }, "snapshot failed; the previous snapshot stays");
      if (handle !== undefined) await handle.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Restores the newest valid snapshot into `target`. Never throws: unreadable files are set
   * aside as *.corrupt with an error log, and the node starts from an older one or empty.
   */
  async restore(target: RestoreTarget): Promise<RestoreResult> {
    const started = performance.now();
    const corrupt: string[] = [];
    try {
      await mkdir(this.dir, { recursive: true });
      await this.removeTemporaries();
      for (const { name } of await this.listSnapshots()) {
        const path = join(this.dir, name);
        let header: SnapshotHeader;
        try {
          header = await this.verify(path);
        } catch (err) {
          await this.setAside(path, err);
          corrupt.push(path + CORRUPT_SUFFIX);
          continue;
        }
        const sink = new ApplySink(target, this.now(), header.flushFloor);
        target.setFlushFloor(header.flushFloor);
        let entries: number;
        try {
          entries = await this.read(path, sink);
        } catch (err) {
          // Its CRC matched a moment ago: only a disk failure, or a file the writer got wrong,
          // gets here. What was applied is CRC-checked and versioned, so it is kept.
          this.logger.error({ err, file: path }, "snapshot became unreadable during restore");
          entries = sink.applied + sink.expired;
        }
        const result: RestoreResult = {
          file: path,
          createdAt: header.createdAt,
          entries,
          applied: sink.applied,
          expired: sink.expired,
          corrupt,
          durationMs: performance.now() - started,
        };
        this.logger.info(
          {
            file: path,
            entries,
            applied: sink.applied,
            expired: sink.expired,
            durationMs: Math.round(result.durationMs),
          },
          "snapshot restored",
        );
        return result;
      }
    } catch (err) {
      this.logger.error({ err, dir: this.dir }, "cannot read the data directory; starting empty");
    }
    return {
      file: undefined,
      createdAt: 0,
      entries: 0,
      applied: 0,
      expired: 0,
      corrupt,
      durationMs: performance.now() - started,
    };
  }

  /** Checks a whole file: header, every entry's structure, count and CRC. */
  /**
   * Checks a whole file before anything of it is applied: its header, and the CRC of every
   * byte against the trailer. The CRC runs at memory speed, so this costs a fraction of the
   * apply pass, which then checks each entry's structure and the trailer's count again.
   */
  private async verify(path: string): Promise<SnapshotHeader> {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK_BYTES, Math.max(size, 1)));
      const first = await handle.read(buf, 0, buf.length, 0);
      const head = decodeHeader(buf.subarray(0, first.bytesRead));
      if (head === undefined) throw new SnapshotFormatError("truncated header");
      if (size < head.length + TRAILER_BYTES) {
        throw new SnapshotFormatError("truncated: no complete trailer");
      }
      // CRC of [0, size - 4): everything before the trailer's CRC field.
      const crcEnd = size - 4;
      let crc = 0;
      for (let at = 0; at < crcEnd;) {
        const n = Math.min(buf.length, crcEnd - at);
        const { bytesRead } = await handle.read(buf, 0, n, at);
        if (bytesRead === 0) throw new SnapshotFormatError("file shrank while being read");
        crc = crc32(buf.subarray(0, bytesRead), crc);
        at += bytesRead;
      }
      const { bytesRead } = await handle.read(buf, 0, TRAILER_BYTES, size - TRAILER_BYTES);
      if (bytesRead !== TRAILER_BYTES || buf[0] !== TRAILER_MARKER) {
        throw new SnapshotFormatError("truncated: no complete trailer");
      }
      const expected = buf.readUInt32LE(9);
      if (expected !== crc) {
        throw new SnapshotFormatError(
          `checksum mismatch (file says ${expected.toString(16)}, content gives ${crc.toString(16)})`,
        );
      }
      return head.header;
    } finally {
      await handle.close();
    }
  }

  /** Reads a (verified) file into a sink; returns the number of entries. */
  private async read(path: string, sink: SnapshotEntrySink): Promise<number> {
    return this.scanFile(path, sink, () => undefined);
  }

  /**
   * Streams a snapshot file through the format's decoder in READ_CHUNK_BYTES windows,
   * checking the trailer (count and CRC) at the end. Yields to the event loop between windows.
   */
  private async scanFile(
    path: string,
    sink: SnapshotEntrySink | null,
    onHeader: (header: SnapshotHeader) => void,
  ): Promise<number> {
    const handle = await open(path, "r");
    try {
      let buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
      let start = 0; // first unconsumed byte in buf
      let end = 0; // end of valid bytes in buf
      let eof = false;
      let crc = 0;
      let entries = 0;
      let headerDone = false;
      const pos: ReadPosition = { offset: 0, entries: 0, atTrailer: false };
      for (;;) {
        // Refill: keep the unconsumed tail, grow when one entry is bigger than the window.
        if (!eof) {
          if (start > 0) {
            buf.copy(buf, 0, start, end);
            end -= start;
            start = 0;
          }
          if (end === buf.length) {
            const grown = Buffer.allocUnsafe(buf.length * 2);
            buf.copy(grown, 0, 0, end);
            buf = grown;
          }
          const { bytesRead } = await handle.read(buf, end, buf.length - end, null);
          if (bytesRead === 0) eof = true;
          end += bytesRead;
        }
        if (!headerDone) {
          const head = decodeHeader(buf.subarray(start, end));
          if (head === undefined) {
            if (eof) throw new SnapshotFormatError("truncated header");
            continue;
          }
          onHeader(head.header);
          crc = crc32(buf.subarray(start, start + head.length), crc);
          start += head.length;
          headerDone = true;
        }
        readEntries(buf, start, end, sink, pos);
        crc = crc32(buf.subarray(start, pos.offset), crc);
        entries += pos.entries;
        start = pos.offset;
        if (pos.atTrailer && end - start >= TRAILER_BYTES) {
          checkTrailer(buf, start, entries, crc);
          if (end - start > TRAILER_BYTES || !eof) {
            const { bytesRead } = await handle.read(buf, 0, 1, null);
            if (end - start > TRAILER_BYTES || bytesRead > 0) {
              throw new SnapshotFormatError("unexpected bytes after the trailer");
            }
          }
          return entries;
        }
        if (eof) {
          throw new SnapshotFormatError(
            pos.atTrailer ? "truncated trailer" : "truncated: ends inside the entries",
          );
        }
        // A window that holds no whole entry needs at least an entry header more: the refill
        // above grows the buffer when it is full.
        if (end - start < ENTRY_HEADER_BYTES) continue;
        await yieldToLoop();
      }
    } finally {
      await handle.close();
    }
  }

  private async setAside(path: string, err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    this.logger.error(
      { file: path, reason, movedTo: path + CORRUPT_SUFFIX },
      "CORRUPT SNAPSHOT set aside; restoring from an older snapshot if there is one",
    );
    try {
      await rename(path, path + CORRUPT_SUFFIX);
    } catch (renameErr) {
      this.logger.error({ err: renameErr, file: path }, "cannot rename the corrupt snapshot");
    }
  }

  /** Complete snapshot files, newest first. */
  async listSnapshots(): Promise<{ name: string; ms: number }[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: { name: string; ms: number }[] = [];
    for (const name of names) {
      const m = SNAPSHOT_FILE.exec(name);
      if (m !== null) out.push({ name, ms: Number(m[1]) });
    }
    return out.sort((a, b) => b.ms - a.ms);
  }

  private async removeTemporaries(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (name.startsWith("snapshot-") && name.endsWith(TEMP_SUFFIX)) {
        this.logger.warn({ file: name }, "removing an incomplete snapshot left by a crash");
        await unlink(join(this.dir, name)).catch(() => undefined);
      }
    }
  }

  private async rotate(): Promise<void> {
    const all = await this.listSnapshots();
    for (const old of all.slice(this.keep)) {
      await unlink(join(this.dir, old.name)).catch((err: unknown) => {
        this.logger.warn({ err, file: old.name }, "cannot delete an old snapshot");
      });
    }
  }

  /** Makes the rename durable: fsync the directory entry. */
  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

async function writeAll(handle: FileHandle, buf: Buffer, length: number): Promise<void> {
  let at = 0;
  while (at < length) {
    const { bytesWritten } = await handle.write(buf, at, length - at, null);
    at += bytesWritten;
  }
}

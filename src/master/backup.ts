// The masters' backup: what a master redistributes (entries and tombstones, with versions),
// appended to its own file in the masters' shared directory, replayed by the leader after a
// whole-system restart.
//
//   file <dir>/<master id>.rcbackup = record*
//   record = u32 payload length | u32 crc32(payload) | payload
//   payload = u8 flags (1: tombstone) | f64 version | f64 expiresAt | u32 key length | key | value
//           | u8 0x80 | entry page (protocol/page.ts): the entries of a move's page, as shipped
//
// What must stay true:
// - A torn or corrupt tail (a crash mid-append) costs only the records from it on: reading
//   stops at the first record whose length or checksum is wrong.
// - The file stays bounded: past `maxBytes` it is compacted to the newest version per key,
//   without records older than the tombstone lifetime; if that is still more than half the
//   bound, the oldest versions go. A compacted file replaces the old one atomically (temp file,
//   fsync, rename).
// - Replaying is safe at any time: every record is applied with a versioned put or delete, so
//   it never overrides a newer value; records older than the tombstone lifetime are skipped,
//   so a replay never brings back a key whose delete's tombstone has expired.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "../log.js";
import { checkPage, PageReader } from "../protocol/page.js";

export interface BackupRecord {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly expiresAt: number;
  readonly tombstone: boolean;
}

export interface BackupOptions {
  readonly dir: string;
  /** The master's id: its file is `<id>.rcbackup`. */
  readonly id: string;
  readonly maxBytes: number;
  /** Versions below this are older than the tombstone lifetime (checked at compaction). */
  readonly minVersion: () => number;
  readonly logger: Logger;
}

export const BACKUP_SUFFIX = ".rcbackup";
const HEADER = 8;
const FIXED = 1 + 8 + 8 + 4;
/** The flags of a record that holds a page of entries. */
const F_PAGE = 0x80;
const PAGE_FLAG = Buffer.from([F_PAGE]);

/** Encodes records as one buffer of framed, checksummed records. */
export function encodeRecords(records: readonly BackupRecord[]): Buffer {
  let size = 0;
  for (const r of records) size += HEADER + FIXED + r.key.length + r.value.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of records) {
    const len = FIXED + r.key.length + r.value.length;
    const p = at + HEADER;
    buf.writeUInt8(r.tombstone ? 1 : 0, p);
    buf.writeDoubleLE(r.version, p + 1);
    buf.writeDoubleLE(r.expiresAt, p + 9);
    buf.writeUInt32LE(r.key.length, p + 17);
    r.key.copy(buf, p + FIXED);
    r.value.copy(buf, p + FIXED + r.key.length);
    buf.writeUInt32LE(len, at);
    buf.writeUInt32LE(crc32(buf.subarray(p, p + len)), at + 4);
    at = p + len;
  }
  return buf;
}

/** Decodes the valid prefix of a backup file; `corrupt` tells whether anything was cut. */
export function decodeRecords(buf: Buffer): { records: BackupRecord[]; corrupt: boolean } {
  const records: BackupRecord[] = [];
  let at = 0;
  while (at + HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    const sum = buf.readUInt32LE(at + 4);
    const p = at + HEADER;
    if (len < 1 || p + len > buf.length) return { records, corrupt: true };
    const payload = buf.subarray(p, p + len);
    if (crc32(payload) !== sum) return { records, corrupt: true };
    if (payload[0] === F_PAGE) {
      if (!readPage(payload.subarray(1), records)) return { records, corrupt: true };
      at = p + len;
      continue;
    }
    if (len < FIXED) return { records, corrupt: true };
    const keyLen = payload.readUInt32LE(17);
    if (FIXED + keyLen > len) return { records, corrupt: true };
    records.push({
      tombstone: payload.readUInt8(0) === 1,
      version: payload.readDoubleLE(1),
      expiresAt: payload.readDoubleLE(9),
      key: Buffer.from(payload.subarray(FIXED, FIXED + keyLen)),
      value: Buffer.from(payload.subarray(FIXED + keyLen)),
    });
    at = p + len;
  }
  return { records, corrupt: at !== buf.length };
}

/** Appends a page's entries to `records`; false (nothing appended) when the page is invalid. */
function readPage(page: Buffer, records: BackupRecord[]): boolean {
  try {
    checkPage(page);
  } catch {
    return false;
  }
  const e = new PageReader().reset(page);
  while (e.next()) {
    records.push({
      tombstone: e.tombstone,
      version: e.version,
      expiresAt: e.expiresAt,
      key: Buffer.from(e.key()),
      value: Buffer.from(e.value()),
    });
  }
  return true;
}

/** The newest record of each key, from any number of record lists. */
export function newestPerKey(lists: readonly (readonly BackupRecord[])[]): BackupRecord[] {
  const newest = new Map<string, BackupRecord>();
  for (const list of lists) {
    for (const r of list) {
      const k = r.key.toString("latin1");
      const held = newest.get(k);
      if (held === undefined || r.version > held.version) newest.set(k, r);
    }
  }
  return [...newest.values()];
}

export class Backup {
  readonly options: BackupOptions;
  readonly path: string;
  /** Bytes in the file. */
  bytes = 0;
  /** Records appended since start. */
  appended = 0;
  compactions = 0;
  private fd: number | null = null;

  constructor(options: BackupOptions) {
    this.options = options;
    this.path = join(options.dir, `${options.id}${BACKUP_SUFFIX}`);
  }

  /** Opens (creating) the file; a corrupt tail is cut by compacting at once. */
  open(): void {
    mkdirSync(this.options.dir, { recursive: true });
    let corrupt = false;
    try {
      corrupt = decodeRecords(readFileSync(this.path)).corrupt;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (corrupt) {
      this.options.logger.error({ path: this.path }, "backup file has a corrupt tail; cutting it");
      this.compact();
    }
    this.fd = openSync(this.path, "a");
    this.bytes = statSync(this.path).size;
  }

  /** Appends records (one write); compacts when the file grows past the bound. */
  append(records: readonly BackupRecord[]): void {
    if (records.length === 0) return;
    if (this.fd === null) this.open();
    const buf = encodeRecords(records);
    writeSync(this.fd as number, buf);
    this.bytes += buf.length;
    this.appended += records.length;
    if (this.bytes > this.options.maxBytes) this.compact();
  }

  /**
   * Appends the slices `page[spans[2i], spans[2i + 1])` of an entry page (`entries` whole
   * entries) as one record: one write, one checksum. Compacts when the file grows past the bound.
   */
  appendPage(page: Buffer, spans: readonly number[], entries: number): void {
    if (spans.length === 0) return;
    if (this.fd === null) this.open();
    const parts: Buffer[] = [Buffer.allocUnsafe(HEADER), PAGE_FLAG];
    for (let i = 0; i < spans.length; i += 2) parts.push(page.subarray(spans[i], spans[i + 1]));
    const record = Buffer.concat(parts);
    const payload = record.subarray(HEADER);
    record.writeUInt32LE(payload.length, 0);
    record.writeUInt32LE(crc32(payload), 4);
    writeSync(this.fd as number, record);
    this.bytes += record.length;
    this.appended += entries;
    if (this.bytes > this.options.maxBytes) this.compact();
  }

  /** Rewrites the file with the newest version per key, within half the bound. */
  compact(): void {
    let records: BackupRecord[] = [];
    try {
      records = decodeRecords(readFileSync(this.path)).records;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const floor = this.options.minVersion();
    let kept = newestPerKey([records]).filter((r) => r.version >= floor);
    let size = 0;
    for (const r of kept) size += HEADER + FIXED + r.key.length + r.value.length;
    if (size > this.options.maxBytes / 2) {
      kept.sort((a, b) => b.version - a.version);
      const out: BackupRecord[] = [];
      size = 0;
      for (const r of kept) {
        const s = HEADER + FIXED + r.key.length + r.value.length;
        if (size + s > this.options.maxBytes / 2) break;
        out.push(r);
        size += s;
      }
      kept = out;
    }
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, "w");
    try {
      writeSync(fd, encodeRecords(kept));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== null) closeSync(this.fd);
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, "a");
    this.bytes = size;
    this.compactions++;
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** Every master's records in `dir`, the newest per key, at or above `minVersion`. */
  static readAll(dir: string, minVersion: number, logger: Logger): BackupRecord[] {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith(BACKUP_SUFFIX));
    } catch {
      return [];
    }
    const lists: BackupRecord[][] = [];
    for (const name of names) {
      try {
        const { records, corrupt } = decodeRecords(readFileSync(join(dir, name)));
        if (corrupt) logger.warn({ file: name }, "backup file has a corrupt tail; using the rest");
        lists.push(records);
      } catch (err) {
        logger.warn({ file: name, err: (err as Error).message }, "cannot read a backup file");
      }
    }
    return newestPerKey(lists).filter((r) => r.version >= minVersion);
  }
}

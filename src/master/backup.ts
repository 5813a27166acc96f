// The masters' backup: what a master redistributes (entries and tombstones, with versions),
// appended to its own files in the masters' shared directory, replayed by the leader after a
// whole-system restart.
//
//   <dir>/<id>.rcbackup                 appended to
//   <dir>/<id>.sealed-<n>.rcbackup      appended to before, waiting for (or in) a compaction
//   <dir>/<id>.base.rcbackup            what the last compaction kept
//
//   file = record*
//   record = u32 payload length | u32 crc32(payload) | payload
//   payload = u8 flags (1: tombstone) | f64 version | f64 expiresAt | u32 key length | key | value
//           | u8 0x80 | entry page (protocol/page.ts): the entries of a move's page, as shipped
//
// What must stay true:
// - A torn or corrupt tail (a crash mid-append) costs only the records from it on: reading
//   stops at the first record whose length or checksum is wrong.
// - The files stay bounded: past `maxBytes` in all, the appended file is sealed and a new one
//   started, and a worker thread compacts the base and the sealed files into a new base: the
//   newest version per key, without records older than the tombstone lifetime, and if that is
//   still more than half the bound, without the oldest versions. The master's event loop never
//   waits for it (decoding a bound's worth of records takes seconds). The new base replaces the
//   old one atomically (temp file, fsync, rename) before the sealed files go, so a crash at any
//   point leaves every record in some file: readers take the newest version per key anyway.
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
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
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

/**
 * Decodes the valid prefix of a backup file; `corrupt` tells whether anything was cut. With
 * `copy` false the records' keys and values are views of `buf` (a compaction that keeps `buf`).
 */
export function decodeRecords(
  buf: Buffer,
  copy = true,
): { records: BackupRecord[]; corrupt: boolean } {
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
      if (!readPage(payload.subarray(1), records, copy)) return { records, corrupt: true };
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
      key: own(payload.subarray(FIXED, FIXED + keyLen), copy),
      value: own(payload.subarray(FIXED + keyLen), copy),
    });
    at = p + len;
  }
  return { records, corrupt: at !== buf.length };
}

/** Appends a page's entries to `records`; false (nothing appended) when the page is invalid. */
function own(bytes: Buffer, copy: boolean): Buffer {
  return copy ? Buffer.from(bytes) : bytes;
}

function readPage(page: Buffer, records: BackupRecord[], copy: boolean): boolean {
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
      key: own(e.key(), copy),
      value: own(e.value(), copy),
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

export interface CompactionJob {
  /** Files to merge (a missing one counts as empty); all but `output` are removed after. */
  readonly inputs: readonly string[];
  readonly output: string;
  /** Records older than this version are dropped. */
  readonly floor: number;
  /** The output's bound: past it, the oldest versions go. */
  readonly maxBytes: number;
}

/**
 * Merges backup files into one: the newest record per key at or above the floor, within
 * `maxBytes` (the newest versions kept). Writes a temp file, fsyncs and renames it over
 * `output`, then removes the other inputs. Synchronous: the master runs it in a worker thread
 * (backup-compactor.ts), or at start. Returns the output's size and whether an input had a
 * corrupt tail (cut).
 */
export function compactFiles(job: CompactionJob): { bytes: number; corrupt: boolean } {
  const table = new NewestTable();
  let corrupt = false;
  for (const input of job.inputs) {
    let buf: Buffer;
    try {
      buf = readFileSync(input);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    corrupt = table.scan(buf, job.floor) || corrupt;
  }
  const out = table.encode(job.maxBytes);
  const tmp = `${job.output}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, out);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, job.output);
  for (const input of job.inputs) {
    if (input !== job.output) rmSync(input, { force: true });
  }
  return { bytes: out.length, corrupt };
}

/**
 * The newest entry per key over whole backup files, kept as offsets into the files' buffers
 * (typed arrays and one map from key to slot): a compaction of a bound's worth of records
 * makes no object per record.
 */
class NewestTable {
  private readonly bufs: Buffer[] = [];
  private readonly slots = new Map<string, number>();
  private n = 0;
  private version = new Float64Array(1024);
  private expiresAt = new Float64Array(1024);
  private buf = new Uint16Array(1024);
  private flags = new Uint8Array(1024);
  /** Where the key starts; the value follows it. */
  private keyAt = new Uint32Array(1024);
  private keyLength = new Uint32Array(1024);
  private valueLength = new Uint32Array(1024);

  /** Adds a file's valid records; true when its tail was corrupt (cut). */
  scan(file: Buffer, floor: number): boolean {
    const b = this.bufs.length;
    this.bufs.push(file);
    const e = new PageReader();
    let at = 0;
    while (at + HEADER <= file.length) {
      const len = file.readUInt32LE(at);
      const p = at + HEADER;
      if (len < 1 || p + len > file.length) return true;
      const payload = file.subarray(p, p + len);
      if (crc32(payload) !== file.readUInt32LE(at + 4)) return true;
      if (payload[0] === F_PAGE) {
        const page = payload.subarray(1);
        try {
          checkPage(page);
        } catch {
          return true;
        }
        e.reset(page);
        while (e.next()) {
          const flags = e.tombstone ? 1 : 0;
          const base = p + 1;
          this.offer(
            b,
            e.version,
            e.expiresAt,
            flags,
            base + e.keyStart,
            e.keyLength,
            e.valueLength,
            floor,
          );
        }
      } else {
        if (len < FIXED) return true;
        const keyLength = payload.readUInt32LE(17);
        if (FIXED + keyLength > len) return true;
        this.offer(
          b,
          payload.readDoubleLE(1),
          payload.readDoubleLE(9),
          payload[0] === 1 ? 1 : 0,
          p + FIXED,
          keyLength,
          len - FIXED - keyLength,
          floor,
        );
      }
      at = p + len;
    }
    return at !== file.length;
  }

  private offer(
    b: number,
    version: number,
    expiresAt: number,
    flags: number,
    keyAt: number,
    keyLength: number,
    valueLength: number,
    floor: number,
  ): void {
    if (version < floor) return;
    const key = (this.bufs[b] as Buffer).toString("latin1", keyAt, keyAt + keyLength);
    let s = this.slots.get(key);
    if (s === undefined) {
      s = this.n++;
      if (s === this.version.length) this.grow();
      this.slots.set(key, s);
    } else if (version <= (this.version[s] as number)) {
      return;
    }
    this.version[s] = version;
    this.expiresAt[s] = expiresAt;
    this.buf[s] = b;
    this.flags[s] = flags;
    this.keyAt[s] = keyAt;
    this.keyLength[s] = keyLength;
    this.valueLength[s] = valueLength;
  }

  private grow(): void {
    const n = this.version.length * 2;
    const grown = <T extends Float64Array | Uint32Array | Uint16Array | Uint8Array>(a: T): T => {
      const next = new (a.constructor as new (n: number) => T)(n);
      next.set(a);
      return next;
    };
    this.version = grown(this.version);
    this.expiresAt = grown(this.expiresAt);
    this.buf = grown(this.buf);
    this.flags = grown(this.flags);
    this.keyAt = grown(this.keyAt);
    this.keyLength = grown(this.keyLength);
    this.valueLength = grown(this.valueLength);
  }

  /** The kept entries as single records, within `maxBytes` (past it the oldest go). */
  encode(maxBytes: number): Buffer {
    const size = (s: number): number =>
      HEADER + FIXED + (this.keyLength[s] as number) + (this.valueLength[s] as number);
    let order: Uint32Array | undefined;
    let total = 0;
    for (let s = 0; s < this.n; s++) total += size(s);
    let count = this.n;
    if (total > maxBytes) {
      order = new Uint32Array(this.n);
      for (let s = 0; s < this.n; s++) order[s] = s;
      order.sort((a, c) => (this.version[c] as number) - (this.version[a] as number));
      total = 0;
      count = 0;
      while (count < order.length && total + size(order[count] as number) <= maxBytes) {
        total += size(order[count] as number);
        count++;
      }
    }
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const s = order === undefined ? i : (order[i] as number);
      const file = this.bufs[this.buf[s] as number] as Buffer;
      const keyAt = this.keyAt[s] as number;
      const keyLength = this.keyLength[s] as number;
      const valueLength = this.valueLength[s] as number;
      const len = FIXED + keyLength + valueLength;
      const p = at + HEADER;
      out[p] = this.flags[s] as number;
      out.writeDoubleLE(this.version[s] as number, p + 1);
      out.writeDoubleLE(this.expiresAt[s] as number, p + 9);
      out.writeUInt32LE(keyLength, p + 17);
      file.copy(out, p + FIXED, keyAt, keyAt + keyLength + valueLength);
      out.writeUInt32LE(len, at);
      out.writeUInt32LE(crc32(out.subarray(p, p + len)), at + 4);
      at = p + len;
    }
    return out;
  }
}

export class Backup {
  readonly options: BackupOptions;
  /** The file appended to. */
  readonly path: string;
  /** What the last compaction kept. */
  readonly basePath: string;
  /** Bytes in this master's files (appended, sealed and base). */
  bytes = 0;
  /** Records appended since start. */
  appended = 0;
  compactions = 0;
  private fd: number | null = null;
  private sealed = 0;
  /** The compaction in progress, if any. */
  private compacting: Promise<void> | null = null;
  private worker: Worker | null = null;
  /** After a failed compaction, the size at which to try again (not at every append). */
  private retryAt = 0;

  constructor(options: BackupOptions) {
    this.options = options;
    this.path = join(options.dir, `${options.id}${BACKUP_SUFFIX}`);
    this.basePath = join(options.dir, `${options.id}.base${BACKUP_SUFFIX}`);
  }

  /** Whether a compaction is running in the background. */
  get isCompacting(): boolean {
    return this.compacting !== null;
  }

  /**
   * Opens (creating) the file to append to. A corrupt tail (a crash mid-append) is cut by
   * compacting everything at once; sealed files left by a compaction that did not finish are
   * compacted in the background.
   */
  open(): void {
    mkdirSync(this.options.dir, { recursive: true });
    let corrupt = false;
    try {
      corrupt = decodeRecords(readFileSync(this.path), false).corrupt;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    if (corrupt) {
      this.options.logger.error({ path: this.path }, "backup file has a corrupt tail; cutting it");
      compactFiles(this.job([this.basePath, ...this.sealedFiles(), this.path]));
      this.compactions++;
    }
    this.fd = openSync(this.path, "a");
    this.bytes = this.ownBytes();
    if (this.sealedFiles().length > 0) this.startCompaction(false);
  }

  /** Appends records (one write); compacts in the background past the bound. */
  append(records: readonly BackupRecord[]): void {
    if (records.length === 0) return;
    if (this.fd === null) this.open();
    const buf = encodeRecords(records);
    writeSync(this.fd as number, buf);
    this.bytes += buf.length;
    this.appended += records.length;
    this.maybeCompact();
  }

  /**
   * Appends the slices `page[spans[2i], spans[2i + 1])` of an entry page (`entries` whole
   * entries) as one record: one write, one checksum. Compacts in the background past the bound.
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
    this.maybeCompact();
  }

  /** Resolves when no compaction is running (the one in progress, if any, has ended). */
  async settled(): Promise<void> {
    while (this.compacting !== null) await this.compacting;
  }

  close(): void {
    if (this.worker !== null) void this.worker.terminate();
    this.worker = null;
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private maybeCompact(): void {
    if (this.bytes > Math.max(this.options.maxBytes, this.retryAt)) this.startCompaction(true);
  }

  /**
   * Seals the appended file (when `seal`) and compacts the base and every sealed file into a
   * new base in a worker thread. Appends go on meanwhile, to a fresh file.
   */
  private startCompaction(seal: boolean): void {
    if (this.compacting !== null) return;
    if (seal && this.fd !== null) {
      // No fsync here: it would wait for the whole file to reach the disk, on the event loop.
      // The compacted base is fsynced before the sealed file goes.
      closeSync(this.fd);
      renameSync(this.path, this.sealedPath());
      this.fd = openSync(this.path, "a");
    }
    const job = this.job([this.basePath, ...this.sealedFiles()]);
    const worker = new Worker(new URL("./backup-compactor.js", import.meta.url), {
      workerData: job,
    });
    worker.unref();
    this.worker = worker;
    const log = this.options.logger;
    const startedAt = Date.now();
    this.compacting = new Promise<{ bytes: number; corrupt: boolean }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`compaction worker exited with ${code}`)));
    })
      .then(
        (result) => {
          this.compactions++;
          this.retryAt = 0;
          this.bytes = this.ownBytes();
          if (result.corrupt)
            log.warn("a sealed backup file had a corrupt tail; its rest was kept");
          log.info(
            { bytes: result.bytes, ms: Date.now() - startedAt },
            "backup compacted in the background",
          );
        },
        (err: unknown) => {
          // The files are all still there: nothing is lost, and replays read them all.
          this.retryAt = this.bytes + this.options.maxBytes / 4;
          log.error({ err: (err as Error).message }, "backup compaction failed; will retry");
        },
      )
      .finally(() => {
        if (this.worker === worker) this.worker = null;
        void worker.terminate();
        this.compacting = null;
        if (this.fd !== null) this.maybeCompact();
      });
  }

  private job(inputs: string[]): CompactionJob {
    return {
      inputs,
      output: this.basePath,
      floor: this.options.minVersion(),
      maxBytes: this.options.maxBytes / 2,
    };
  }

  private sealedPath(): string {
    const name = `${this.options.id}.sealed-${Date.now()}-${this.sealed++}${BACKUP_SUFFIX}`;
    return join(this.options.dir, name);
  }

  private sealedFiles(): string[] {
    const prefix = `${this.options.id}.sealed-`;
    return readdirSync(this.options.dir)
      .filter((n) => n.startsWith(prefix) && n.endsWith(BACKUP_SUFFIX))
      .sort()
      .map((n) => join(this.options.dir, n));
  }

  /** Bytes in this master's files. */
  private ownBytes(): number {
    let total = 0;
    for (const file of [this.path, this.basePath, ...this.sealedFiles()]) {
      try {
        total += statSync(file).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    return total;
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

// The backup's files: the record format, reading records back (a torn tail ends a file), and
// compaction (in a worker thread, see backup-compactor.ts). backup.ts appends and replays.
// The format and what must stay true are described at the top of backup.ts.
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { Worker } from "node:worker_threads";
import { crc32 } from "node:zlib";
import { checkPage, PageReader } from "../protocol/page.js";

export interface BackupRecord {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly expiresAt: number;
  readonly tombstone: boolean;
}

export const BACKUP_SUFFIX = ".rcbackup";
export const HEADER = 8;
/** A single-entry record's payload before its key: flags, version, expiry, key length. */
export const FIXED = 1 + 8 + 8 + 4;
/** The flags of a record that holds a page of entries. */
const F_PAGE = 0x80;
export const PAGE_FLAG = Buffer.from([F_PAGE]);

/** Encodes records as one buffer of framed, checksummed records. */
export function encodeRecords(records: readonly BackupRecord[]): Buffer {
  let size = 0;
  for (const r of records) size += HEADER + FIXED + r.key.length + r.value.length;
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of records) {
    at = putRecord(
      buf,
      at,
      r.tombstone ? 1 : 0,
      r.version,
      r.expiresAt,
      r.key,
      0,
      r.key.length,
      r.value,
      0,
      r.value.length,
    );
  }
  return buf;
}

/**
 * Writes one single-entry record at `buf[at]` (key and value copied from where they lie) and
 * returns the offset after it.
 */
function putRecord(
  buf: Buffer,
  at: number,
  flags: number,
  version: number,
  expiresAt: number,
  keySource: Buffer,
  keyAt: number,
  keyLength: number,
  valueSource: Buffer,
  valueAt: number,
  valueLength: number,
): number {
  const len = FIXED + keyLength + valueLength;
  const p = at + HEADER;
  buf[p] = flags;
  buf.writeDoubleLE(version, p + 1);
  buf.writeDoubleLE(expiresAt, p + 9);
  buf.writeUInt32LE(keyLength, p + 17);
  keySource.copy(buf, p + FIXED, keyAt, keyAt + keyLength);
  valueSource.copy(buf, p + FIXED + keyLength, valueAt, valueAt + valueLength);
  buf.writeUInt32LE(len, at);
  buf.writeUInt32LE(crc32(buf.subarray(p, p + len)), at + 4);
  return p + len;
}

/**
 * A backup file opened for reading: what it held when it was opened (its first `size` bytes),
 * whatever later happens to its name. A compaction that renames a new base over the old one or
 * removes a sealed file does not change what an open file reads.
 */
export interface OpenedFile {
  readonly path: string;
  readonly fd: number;
  readonly size: number;
}

/**
 * Opens backup files in the order given, skipping those that no longer exist. Open them
 * sealed files first and the base last (see Backup.openFiles): a compaction writes the new
 * base before it removes the sealed files it merged, so a sealed file gone by the time it is
 * opened is in the base opened after it.
 */
export function openFiles(paths: readonly string[]): OpenedFile[] {
  const files: OpenedFile[] = [];
  try {
    for (const path of paths) {
      let fd: number;
      try {
        fd = openSync(path, "r");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw err;
      }
      files.push({ path, fd, size: fstatSync(fd).size });
    }
  } catch (err) {
    closeFiles(files);
    throw err;
  }
  return files;
}

export function closeFiles(files: readonly OpenedFile[]): void {
  for (const f of files) closeSync(f.fd);
}

export interface CompactionJob {
  /**
   * Files to merge, by name (a missing one counts as empty) or opened; all named ones but
   * `output` are removed after.
   */
  readonly inputs: readonly (string | OpenedFile)[];
  readonly output: string;
  /** Records older than this version are dropped. */
  readonly floor: number;
  /** The output's bound: past it, the oldest versions go. */
  readonly maxBytes: number;
  /** Leave the inputs in place (a replay only reads them). */
  readonly keepInputs?: boolean;
}

/**
 * Runs compactFiles in a worker thread (backup-compactor.ts). `done` settles when the worker
 * has answered or failed; the worker is gone by then.
 */
export function compactInWorker(job: CompactionJob): {
  worker: Worker;
  done: Promise<{ bytes: number; corrupt: boolean }>;
} {
  const worker = new Worker(new URL("./backup-compactor.js", import.meta.url), {
    workerData: job,
  });
  worker.unref();
  const done = new Promise<{ bytes: number; corrupt: boolean }>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`compaction worker exited with ${code}`)));
  }).finally(() => void worker.terminate());
  return { worker, done };
}

/**
 * Reads a backup file in chunks (entries()) and hands its records to `apply` in batches,
 * awaiting each. Resolves with the number of records.
 */
export async function readBatches(
  path: string,
  batch: number,
  apply: (records: BackupRecord[]) => Promise<void>,
): Promise<number> {
  let total = 0;
  let records: BackupRecord[] = [];
  for (const e of entries(path, { missing: false, corrupt: false })) {
    const valueAt = e.keyAt + e.keyLength;
    records.push({
      tombstone: e.flags === 1,
      version: e.version,
      expiresAt: e.expiresAt,
      key: Buffer.from(e.chunk.subarray(e.keyAt, valueAt)),
      value: Buffer.from(e.chunk.subarray(valueAt, valueAt + e.valueLength)),
    });
    if (records.length >= batch) {
      total += records.length;
      await apply(records);
      records = [];
    }
  }
  if (records.length > 0) {
    total += records.length;
    await apply(records);
  }
  return total;
}

/**
 * Merges backup files into one: the newest record per key at or above the floor, within
 * `maxBytes` (the newest versions kept). Writes a temp file, fsyncs and renames it over
 * `output`, then removes the other inputs. Synchronous: the master runs it in a worker thread
 * (backup-compactor.ts), or at start. The inputs are read twice in chunks (once to find each
 * key's newest entry, once to copy those), so memory holds one slot per key, not the files.
 * Returns the output's size and whether an input had a corrupt tail (cut).
 */
export function compactFiles(job: CompactionJob): { bytes: number; corrupt: boolean } {
  const table = new NewestTable();
  const inputs: (string | OpenedFile)[] = [];
  let corrupt = false;
  for (const input of job.inputs) {
    const fi = inputs.length;
    const walk = { missing: false, corrupt: false };
    for (const e of entries(input, walk)) table.offer(fi, e, job.floor);
    if (walk.missing) continue;
    inputs.push(input);
    corrupt ||= walk.corrupt;
  }
  const kept = table.select(job.maxBytes);
  const tmp = `${job.output}.tmp`;
  const fd = openSync(tmp, "w");
  const out = new RecordWriter(fd);
  try {
    for (let fi = 0; fi < inputs.length; fi++) {
      for (const e of entries(inputs[fi] as string | OpenedFile, {
        missing: false,
        corrupt: false,
      })) {
        if (table.isKept(fi, e, kept)) out.add(e);
      }
    }
    out.end();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const bytes = out.written;
  renameSync(tmp, job.output);
  for (const input of job.inputs) {
    if (typeof input !== "string" || input === job.output || job.keepInputs === true) continue;
    rmSync(input, { force: true });
  }
  return { bytes, corrupt };
}

/**
 * One entry of a backup file as entries() finds it: its bytes lie in `chunk` (valid until the
 * next entry), the key at `keyAt` and the value right after it; `fileAt` is the key's offset in
 * the file, a stable identity of the entry.
 */
interface EntryRef {
  flags: number;
  version: number;
  expiresAt: number;
  chunk: Buffer;
  keyAt: number;
  keyLength: number;
  valueLength: number;
  fileAt: number;
}

/** Writes a record of an entry found by a walk (its key and value lie in its chunk). */
function putEntry(buf: Buffer, at: number, e: EntryRef): number {
  const valueAt = e.keyAt + e.keyLength;
  return putRecord(
    buf,
    at,
    e.flags,
    e.version,
    e.expiresAt,
    e.chunk,
    e.keyAt,
    e.keyLength,
    e.chunk,
    valueAt,
    e.valueLength,
  );
}

/** What a walk over a file found besides its entries. */
interface Walk {
  /** The file does not exist. */
  missing: boolean;
  /** Its tail was corrupt (cut): the entries before it were given. */
  corrupt: boolean;
}

const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Reads a backup file (by name, or opened) in chunks and yields every entry of its valid
 * records (single ones and pages), as one EntryRef updated in place. Records up to READ_CHUNK
 * share a buffer; a larger one gets a buffer of its own size.
 */
export function* entries(
  input: string | OpenedFile,
  walk: Walk,
): Generator<EntryRef, void, undefined> {
  if (typeof input !== "string") {
    yield* entriesOf(input.fd, input.size, walk);
    return;
  }
  let fd: number;
  try {
    fd = openSync(input, "r");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    walk.missing = true;
    return;
  }
  try {
    yield* entriesOf(fd, fstatSync(fd).size, walk);
  } finally {
    closeSync(fd);
  }
}

/** The entries of the first `size` bytes of an open file (positional reads: fd shared safely). */
function* entriesOf(fd: number, size: number, walk: Walk): Generator<EntryRef, void, undefined> {
  let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(size, HEADER)));
  let filled = 0; // bytes of buf holding file data from `base`
  let base = 0; // file offset of buf[0]
  let at = 0; // file offset of the next record
  const e: EntryRef = {
    flags: 0,
    version: 0,
    expiresAt: 0,
    chunk: buf,
    keyAt: 0,
    keyLength: 0,
    valueLength: 0,
    fileAt: 0,
  };
  const page = new PageReader();
  /** Makes file bytes [at, at + n) available in buf; false at the end of the file. */
  const need = (n: number): boolean => {
    if (at + n > size) return false;
    if (at + n <= base + filled) return true;
    const keep = base + filled - at;
    if (n > buf.length) {
      const grown = Buffer.allocUnsafe(n);
      buf.copy(grown, 0, at - base, at - base + keep);
      buf = grown;
    } else {
      buf.copy(buf, 0, at - base, at - base + keep);
    }
    base = at;
    filled = keep;
    while (filled < buf.length && base + filled < size) {
      const got = readSync(fd, buf, filled, buf.length - filled, base + filled);
      if (got === 0) break;
      filled += got;
    }
    return at + n <= base + filled;
  };
  while (need(HEADER)) {
    const len = buf.readUInt32LE(at - base);
    const sum = buf.readUInt32LE(at - base + 4);
    if (len < 1 || !need(HEADER + len)) {
      walk.corrupt = true;
      return;
    }
    const q = at - base + HEADER;
    const payload = buf.subarray(q, q + len);
    if (crc32(payload) !== sum) {
      walk.corrupt = true;
      return;
    }
    e.chunk = buf;
    if (payload[0] === F_PAGE) {
      const body = payload.subarray(1);
      try {
        checkPage(body);
      } catch {
        walk.corrupt = true;
        return;
      }
      page.reset(body);
      while (page.next()) {
        e.flags = page.tombstone ? 1 : 0;
        e.version = page.version;
        e.expiresAt = page.expiresAt;
        e.keyAt = q + 1 + page.keyStart;
        e.keyLength = page.keyLength;
        e.valueLength = page.valueLength;
        e.fileAt = base + e.keyAt;
        yield e;
      }
    } else {
      const keyLength = len < FIXED ? 0 : payload.readUInt32LE(17);
      if (len < FIXED || FIXED + keyLength > len) {
        walk.corrupt = true;
        return;
      }
      e.flags = payload[0] === 1 ? 1 : 0;
      e.version = payload.readDoubleLE(1);
      e.expiresAt = payload.readDoubleLE(9);
      e.keyAt = q + FIXED;
      e.keyLength = keyLength;
      e.valueLength = len - FIXED - keyLength;
      e.fileAt = base + e.keyAt;
      yield e;
    }
    at += HEADER + len;
  }
  walk.corrupt = at !== size;
}

/**
 * The newest entry per key over the inputs: one map from key to slot, and per slot the version,
 * the entry's size and where it is (input and offset), in typed arrays.
 */
class NewestTable {
  private readonly slots = new Map<string, number>();
  private n = 0;
  private version = new Float64Array(1024);
  private input = new Uint16Array(1024);
  private fileAt = new Float64Array(1024);
  private size = new Float64Array(1024);

  offer(fi: number, e: EntryRef, floor: number): void {
    if (e.version < floor) return;
    const key = e.chunk.toString("latin1", e.keyAt, e.keyAt + e.keyLength);
    let s = this.slots.get(key);
    if (s === undefined) {
      s = this.n++;
      if (s === this.version.length) this.grow();
      this.slots.set(key, s);
    } else if (e.version <= (this.version[s] as number)) {
      return;
    }
    this.version[s] = e.version;
    this.input[s] = fi;
    this.fileAt[s] = e.fileAt;
    this.size[s] = HEADER + FIXED + e.keyLength + e.valueLength;
  }

  /** Which slots the output keeps: all, or the newest within `maxBytes`. */
  select(maxBytes: number): Uint8Array {
    const keep = new Uint8Array(this.n);
    let total = 0;
    for (let s = 0; s < this.n; s++) total += this.size[s] as number;
    if (total <= maxBytes) return keep.fill(1);
    const order = new Uint32Array(this.n);
    for (let s = 0; s < this.n; s++) order[s] = s;
    order.sort((a, b) => (this.version[b] as number) - (this.version[a] as number));
    total = 0;
    for (const s of order) {
      if (total + (this.size[s] as number) > maxBytes) break;
      total += this.size[s] as number;
      keep[s] = 1;
    }
    return keep;
  }

  /** Whether entry `e` of input `fi` is the one the output keeps for its key. */
  isKept(fi: number, e: EntryRef, keep: Uint8Array): boolean {
    const s = this.slots.get(e.chunk.toString("latin1", e.keyAt, e.keyAt + e.keyLength));
    return s !== undefined && keep[s] === 1 && this.input[s] === fi && this.fileAt[s] === e.fileAt;
  }

  private grow(): void {
    const n = this.version.length * 2;
    const grown = <T extends Float64Array | Uint16Array>(a: T): T => {
      const next = new (a.constructor as new (n: number) => T)(n);
      next.set(a);
      return next;
    };
    this.version = grown(this.version);
    this.input = grown(this.input);
    this.fileAt = grown(this.fileAt);
    this.size = grown(this.size);
  }
}

/** Writes entries as single records to a file, through one buffer. */
class RecordWriter {
  private readonly fd: number;
  private buf = Buffer.allocUnsafe(1024 * 1024);
  private len = 0;
  /** Bytes written to the file so far. */
  written = 0;

  constructor(fd: number) {
    this.fd = fd;
  }

  add(e: EntryRef): void {
    const size = HEADER + FIXED + e.keyLength + e.valueLength;
    if (this.len + size > this.buf.length) {
      this.flush();
      if (size > this.buf.length) this.buf = Buffer.allocUnsafe(size);
    }
    this.len = putEntry(this.buf, this.len, e);
  }

  /** Writes what is left. */
  end(): void {
    this.flush();
  }

  private flush(): void {
    let at = 0;
    while (at < this.len) at += writeSync(this.fd, this.buf, at, this.len - at);
    this.written += this.len;
    this.len = 0;
  }
}

/**
 * Reads opened backup files back as chunks of single-entry records in the file format, the
 * entries at or above `minVersion` only, in file order (a key may come more than once: a reader
 * keeps the newest version). What GET /v1/internal/backup streams. One file's read buffer and
 * one chunk are held at a time, whatever the size of the files.
 */
export class BackupReader {
  /** Records handed out so far. */
  records = 0;
  /** Files whose tail was corrupt: their entries before it were read. */
  readonly corrupt: string[] = [];
  private readonly files: readonly OpenedFile[];
  private readonly minVersion: number;
  private readonly chunkBytes: number;
  private fileIndex = 0;
  private walk: Walk = { missing: false, corrupt: false };
  private walking: Generator<EntryRef, void, undefined> | null = null;
  private buf: Buffer;
  private len = 0;
  private closed = false;

  /**
   * `chunkBytes`: 64 KB, about 0.3 ms of reading and encoding, so a stream holds the event
   * loop for little at a time (256 KB took 1.4-1.8 ms a chunk, for no more throughput).
   */
  constructor(files: readonly OpenedFile[], minVersion: number, chunkBytes = 64 * 1024) {
    this.files = files;
    this.minVersion = minVersion;
    this.chunkBytes = chunkBytes;
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  /**
   * The next chunk of about `chunkBytes` (larger only for a record larger than that), or null
   * at the end. A chunk is never written to again: it may be handed to a socket as it is.
   */
  next(): Buffer | null {
    while (!this.closed) {
      if (this.walking === null) {
        const file = this.files[this.fileIndex];
        if (file === undefined) break;
        this.walk = { missing: false, corrupt: false };
        this.walking = entries(file, this.walk);
      }
      const step = this.walking.next();
      if (step.done === true) {
        if (this.walk.corrupt) this.corrupt.push((this.files[this.fileIndex] as OpenedFile).path);
        this.walking = null;
        this.fileIndex++;
        continue;
      }
      const e = step.value;
      if (e.version < this.minVersion) continue;
      const size = HEADER + FIXED + e.keyLength + e.valueLength;
      let full: Buffer | null = null;
      if (this.len + size > this.buf.length) {
        if (this.len > 0) full = this.buf.subarray(0, this.len);
        this.buf = Buffer.allocUnsafe(Math.max(this.chunkBytes, size));
        this.len = 0;
      }
      this.len = putEntry(this.buf, this.len, e);
      this.records++;
      if (full !== null) return full;
    }
    if (this.len === 0) return null;
    const last = this.buf.subarray(0, this.len);
    this.buf = Buffer.alloc(0);
    this.len = 0;
    return last;
  }

  /** Releases the files (also when the reader was not read to the end). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.walking?.return();
    this.walking = null;
    closeFiles(this.files);
  }
}

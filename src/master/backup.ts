// A master's backup: what it redistributes (entries and tombstones, with versions), appended to
// its own files in its own directory (by default inside its data directory), replayed after a
// whole-system restart: by the leader, which reads its peers' backups over HTTP
// (GET /v1/internal/backup, see backup-stream.ts), and by a master that returns later.
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
// See docs/design.md, "Backup and recovery".
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
  writevSync,
} from "node:fs";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { crc32 } from "node:zlib";
import type { Logger } from "../log.js";
import {
  BACKUP_SUFFIX,
  BackupReader,
  HEADER,
  PAGE_FLAG,
  closeFiles,
  compactFiles,
  compactInWorker,
  encodeRecords,
  entries,
  openFiles,
  readBatches,
  type BackupRecord,
  type CompactionJob,
  type OpenedFile,
} from "./backup-file.js";

export type { BackupRecord } from "./backup-file.js";

export interface BackupOptions {
  readonly dir: string;
  /** The master's id: its file is `<id>.rcbackup`. */
  readonly id: string;
  readonly maxBytes: number;
  /** Versions below this are older than the tombstone lifetime (checked at compaction). */
  readonly minVersion: () => number;
  readonly logger: Logger;
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
  /** Appends that failed (the move that made them fails and retries), compactions that failed. */
  writeFailures = 0;
  compactionFailures = 0;
  /** Unix ms of the last append that reached the file (0: none since start). */
  lastWriteAt = 0;
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
    // Checked in chunks, as a compaction reads: the file may be as large as the bound.
    const walk = { missing: false, corrupt: false };
    for (const _ of entries(this.path, walk)) {
      // Only whether the walk reaches the end matters here.
    }
    const corrupt = walk.corrupt;
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
    this.counted(() => {
      if (this.fd === null) this.open();
      const buf = encodeRecords(records);
      writeSync(this.fd as number, buf);
      this.bytes += buf.length;
      this.appended += records.length;
    });
    this.maybeCompact();
  }

  /**
   * Appends the slices `page[spans[2i], spans[2i + 1])` of an entry page (`entries` whole
   * entries) as one record: one write, one checksum. Compacts in the background past the bound.
   */
  appendPage(page: Buffer, spans: readonly number[], entries: number): void {
    if (spans.length === 0) return;
    this.counted(() => this.writePage(page, spans, entries));
    this.maybeCompact();
  }

  /** Runs one append: a failure is counted (and rethrown), a success dated. */
  private counted(write: () => void): void {
    try {
      write();
    } catch (err) {
      this.writeFailures++;
      throw err;
    }
    this.lastWriteAt = Date.now();
  }

  private writePage(page: Buffer, spans: readonly number[], entries: number): void {
    if (this.fd === null) this.open();
    // The slices go to the file as they are, not copied into one record first: the copy was a
    // third of what a master allocated in large buffers during a move.
    const header = Buffer.allocUnsafe(HEADER);
    const parts: Buffer[] = [header, PAGE_FLAG];
    let length = PAGE_FLAG.length;
    let sum = crc32(PAGE_FLAG);
    for (let i = 0; i < spans.length; i += 2) {
      const part = page.subarray(spans[i], spans[i + 1]);
      parts.push(part);
      length += part.length;
      sum = crc32(part, sum);
    }
    header.writeUInt32LE(length, 0);
    header.writeUInt32LE(sum, 4);
    const written = writevSync(this.fd as number, parts);
    if (written < HEADER + length) {
      // A short write (rare on a file): the rest goes after it, so the record stays whole.
      const rest = Buffer.concat(parts).subarray(written);
      for (let at = 0; at < rest.length;) at += writeSync(this.fd as number, rest, at);
    }
    this.bytes += HEADER + length;
    this.appended += entries;
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
    const { worker, done } = compactInWorker(job);
    this.worker = worker;
    const log = this.options.logger;
    const startedAt = Date.now();
    this.compacting = done
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
          this.compactionFailures++;
          this.retryAt = this.bytes + this.options.maxBytes / 4;
          log.error({ err: (err as Error).message }, "backup compaction failed; will retry");
        },
      )
      .finally(() => {
        if (this.worker === worker) this.worker = null;
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

  /**
   * This master's files as they are now, opened so that a compaction running meanwhile cannot
   * hide a record from the reader: see openBackupFiles.
   */
  openFiles(): OpenedFile[] {
    return openBackupFiles(this.options.dir, `${this.options.id}.`);
  }

  /**
   * Reads this master's records at or above `minVersion` back as chunks of encoded records,
   * from the files present now (appends made later are not included). Close it when done.
   */
  reader(minVersion: number): BackupReader {
    return new BackupReader(this.openFiles(), minVersion);
  }

  /**
   * Replays this master's own backup: the newest record per key at or above `minVersion`,
   * handed to `apply` in batches of at most `batch` (see Backup.replay).
   */
  replayOwn(
    minVersion: number,
    apply: (records: BackupRecord[]) => Promise<void>,
    batch = 1024,
  ): Promise<number> {
    return replayFiles(this.options.dir, this.openFiles(), minVersion, apply, batch);
  }

  /**
   * Replays the backup files in `dir` (every master's there, when several share it): the
   * newest record per key at or above `minVersion`, handed to `apply` in batches of at most
   * `batch`, each awaited before the next is read. The merge runs in a worker thread, into a
   * temp file read back in chunks, so neither the event loop nor memory holds the backups
   * whole. Resolves with the records handed over.
   */
  static replay(
    dir: string,
    minVersion: number,
    apply: (records: BackupRecord[]) => Promise<void>,
    batch = 1024,
  ): Promise<number> {
    let files: OpenedFile[];
    try {
      files = openBackupFiles(dir, "");
    } catch {
      return Promise.resolve(0);
    }
    return replayFiles(dir, files, minVersion, apply, batch);
  }
}

/**
 * Opens the backup files in `dir` whose names start with `prefix`, in an order that a
 * compaction running meanwhile (in a worker thread) cannot fool: sealed files first, then the
 * appended file, the base last. A compaction writes the new base before it removes the sealed
 * files it merged, so a sealed file gone by the time it is opened is in the base opened after
 * it; sealing itself happens on the event loop, never between these opens. Missing directory:
 * no files.
 */
function openBackupFiles(dir: string, prefix: string): OpenedFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const rank = (n: string): number => (n.includes(".sealed-") ? 0 : n.includes(".base.") ? 2 : 1);
  const chosen = names
    .filter((n) => n.startsWith(prefix) && n.endsWith(BACKUP_SUFFIX))
    .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return openFiles(chosen.map((n) => join(dir, n)));
}

/** Merges opened files in a worker (newest per key) and hands the result over in batches. */
async function replayFiles(
  dir: string,
  files: OpenedFile[],
  minVersion: number,
  apply: (records: BackupRecord[]) => Promise<void>,
  batch: number,
): Promise<number> {
  if (files.length === 0) return 0;
  const merged = join(dir, `.replay-${process.pid}-${Date.now()}-${replays++}.tmp`);
  let worker: Worker | null = null;
  try {
    const job = compactInWorker({
      inputs: files,
      output: merged,
      floor: minVersion,
      maxBytes: Number.MAX_SAFE_INTEGER,
      keepInputs: true,
    });
    worker = job.worker;
    await job.done;
    return await readBatches(merged, batch, apply);
  } finally {
    // The worker reads the files by descriptor: it must be gone before they are closed.
    if (worker !== null) await worker.terminate();
    closeFiles(files);
    rmSync(merged, { force: true });
    rmSync(`${merged}.tmp`, { force: true });
  }
}

/** Tells apart the temp files of replays started in the same millisecond. */
let replays = 0;

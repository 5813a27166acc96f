// A master's backup over HTTP: what GET /v1/internal/backup sends, and how the leader reads a
// peer's backup back, record by record, to replay it.
//
//   GET /v1/internal/backup?min-version=V          authorization: Bearer <secret>
//   200  content-type: application/vnd.ringcache.backup, chunked, trailer: x-ringcache-records
//        body    = record*: the backup file format (backup.ts), single-entry records only: every
//                  entry of the serving master's files at or above version V, in file order (a
//                  key may come more than once; the newest version wins on replay)
//        trailer = x-ringcache-records: the number of records in the body
//
//   serving master: the files present when the request arrived ─► BackupReader, one chunk at a
//                   time ─► res.write; a full socket buffer waits for "drain" (a reader that
//                   stops reading for STALL_MS is cut off)
//   leader:         response chunks ─► RecordParser ─► batches (count and bytes bounded)
//                   ─► apply(batch), awaited before the next chunk is read (TCP holds the rest)
//
// What must stay true:
// - Neither side holds the backup whole: the sender one file buffer and one chunk, the reader
//   one batch and the record being received.
// - A stream whose body ends without the trailer, or with another count, is incomplete (the
//   sender died or cut it): an error, and the leader fetches it again. A malformed record (a bad
//   length, checksum, flags, version or expiry) ends the replay of that stream with a warning,
//   the records before it applied, as a torn tail ends a file; it never stops the master.
// See docs/design.md, "Backup and recovery".
import { request, type IncomingMessage, type ServerResponse } from "node:http";
import { crc32 } from "node:zlib";
import type { MemberAddress } from "../config/fields.js";
import { RingcacheError } from "../errors.js";
import { checkPage, PageReader } from "../protocol/page.js";
import { FIXED, HEADER, type BackupReader, type BackupRecord } from "./backup-file.js";

export const BACKUP_PATH = "/v1/internal/backup";
export const BACKUP_CONTENT_TYPE = "application/vnd.ringcache.backup";
export const RECORDS_TRAILER = "x-ringcache-records";
/** A reader that takes no data for this long is cut off (it may pause to apply a batch). */
const STALL_MS = 60_000;
const F_TOMBSTONE = 1;
const F_PAGE = 0x80;

/** The `min-version` query parameter: 0 when absent; a RingcacheError when malformed. */
export function parseMinVersion(query: string): number {
  const raw = new URLSearchParams(query).get("min-version");
  if (raw === null || raw === "") return 0;
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new RingcacheError("BAD_REQUEST", "min-version must be a whole number below 2^53");
  }
  return Number(raw);
}

/**
 * Sends a backup as the body of `res`, chunk by chunk, waiting for the socket to drain whenever
 * its buffer is full, then the trailer. Resolves with the records sent once the body is
 * complete; rejects (and closes the connection) when the reader went away or stalled.
 * Closes `reader` in every case.
 */
export async function sendBackup(res: ServerResponse, reader: BackupReader): Promise<number> {
  try {
    res.writeHead(200, { "content-type": BACKUP_CONTENT_TYPE, trailer: RECORDS_TRAILER });
    for (let chunk = reader.next(); chunk !== null; chunk = reader.next()) {
      if (res.destroyed) throw new Error("the reader went away");
      if (!res.write(chunk)) await drained(res);
      // Between chunks the event loop serves clients: reading and encoding a chunk is the
      // only synchronous work here.
      else await new Promise((resolve) => setImmediate(resolve));
    }
    res.addTrailers({ [RECORDS_TRAILER]: String(reader.records) });
    await new Promise<void>((resolve, reject) => {
      res.end(() => resolve());
      res.once("close", () => (res.writableFinished ? resolve() : reject(new Error("closed"))));
    });
    return reader.records;
  } catch (err) {
    res.destroy();
    throw err;
  } finally {
    reader.close();
  }
}

/** Resolves on "drain"; rejects when the connection closes or nothing drains for STALL_MS. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null): void => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      if (err === null) resolve();
      else reject(err);
    };
    const onDrain = (): void => done(null);
    const onClose = (): void => done(new Error("the reader went away"));
    const timer = setTimeout(() => done(new Error("the reader stalled")), STALL_MS);
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a peer's backup

/** A record the stream could not hold: the replay of that stream stops there. */
export class BadRecordError extends Error {}

/**
 * Turns the bytes of a backup stream, in chunks of any size, into records (keys and values
 * copied out). A record split across chunks is gathered in a buffer of its own size, allocated
 * once its length is known and checked against `maxRecordBytes`.
 */
export class RecordParser {
  private readonly maxRecordBytes: number;
  /** The header of a record split across chunks, as far as received. */
  private readonly header = Buffer.alloc(HEADER);
  private headerFill = 0;
  /** A record (header and payload) split across chunks, and its bytes received. */
  private record: Buffer | null = null;
  private recordFill = 0;
  private readonly page = new PageReader();

  constructor(maxRecordBytes: number) {
    this.maxRecordBytes = maxRecordBytes;
  }

  /** Whether part of a record has been received and not the rest. */
  get partial(): boolean {
    return this.headerFill > 0 || this.record !== null;
  }

  /** Appends the records completed by `chunk` to `out`; throws BadRecordError at a bad one. */
  push(chunk: Buffer, out: BackupRecord[]): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.record !== null) {
        const n = Math.min(chunk.length - at, this.record.length - this.recordFill);
        chunk.copy(this.record, this.recordFill, at, at + n);
        this.recordFill += n;
        at += n;
        if (this.recordFill < this.record.length) return;
        const whole = this.record;
        this.record = null;
        this.decode(whole, 0, whole.length, out);
        continue;
      }
      if (this.headerFill > 0 || chunk.length - at < HEADER) {
        const n = Math.min(chunk.length - at, HEADER - this.headerFill);
        chunk.copy(this.header, this.headerFill, at, at + n);
        this.headerFill += n;
        at += n;
        if (this.headerFill < HEADER) return;
        this.headerFill = 0;
        const len = this.checkLength(this.header.readUInt32LE(0));
        this.record = Buffer.allocUnsafe(HEADER + len);
        this.header.copy(this.record, 0);
        this.recordFill = HEADER;
        continue;
      }
      const len = this.checkLength(chunk.readUInt32LE(at));
      if (chunk.length - at < HEADER + len) {
        this.record = Buffer.allocUnsafe(HEADER + len);
        this.recordFill = chunk.copy(this.record, 0, at);
        return;
      }
      this.decode(chunk, at, at + HEADER + len, out);
      at += HEADER + len;
    }
  }

  private checkLength(len: number): number {
    if (len < 1 || len > this.maxRecordBytes) {
      throw new BadRecordError(`a record of ${len} bytes (at most ${this.maxRecordBytes})`);
    }
    return len;
  }

  /** Decodes the record at buf[start, end): its entry, or each entry of its page. */
  private decode(buf: Buffer, start: number, end: number, out: BackupRecord[]): void {
    const payload = buf.subarray(start + HEADER, end);
    if (crc32(payload) !== buf.readUInt32LE(start + 4)) {
      throw new BadRecordError("a record's checksum does not match");
    }
    const flags = payload[0] as number;
    if (flags === F_PAGE) {
      const body = payload.subarray(1);
      try {
        checkPage(body);
      } catch (err) {
        throw new BadRecordError(`a malformed page: ${(err as Error).message}`);
      }
      const p = this.page.reset(body);
      while (p.next()) {
        out.push(checked(p.key(), p.value(), p.version, p.expiresAt, p.tombstone));
      }
      return;
    }
    if (payload.length < FIXED || (flags !== 0 && flags !== F_TOMBSTONE)) {
      throw new BadRecordError(`a record with flags ${flags} and ${payload.length} bytes`);
    }
    const keyLength = payload.readUInt32LE(17);
    if (FIXED + keyLength > payload.length) {
      throw new BadRecordError("a record's key runs past its end");
    }
    out.push(
      checked(
        payload.subarray(FIXED, FIXED + keyLength),
        payload.subarray(FIXED + keyLength),
        payload.readDoubleLE(1),
        payload.readDoubleLE(9),
        flags === F_TOMBSTONE,
      ),
    );
  }
}

/** A record with its bytes copied, once its version and expiry are ones a node accepts. */
function checked(
  key: Buffer,
  value: Buffer,
  version: number,
  expiresAt: number,
  tombstone: boolean,
): BackupRecord {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new BadRecordError(`a record with version ${version}`);
  }
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) {
    throw new BadRecordError(`a record with expiry ${expiresAt}`);
  }
  return { key: Buffer.from(key), value: Buffer.from(value), version, expiresAt, tombstone };
}

export interface FetchBackupOptions {
  readonly minVersion: number;
  readonly secret?: string | undefined;
  /** Until the response's headers arrive, and the longest wait for the next bytes after. */
  readonly timeoutMs: number;
  /** Records per batch handed to apply. */
  readonly batch: number;
  /** A batch is handed over once it holds this many bytes of keys and values. */
  readonly batchBytes: number;
  readonly maxRecordBytes: number;
}

/** How a peer's stream ended. */
export interface FetchedBackup {
  /** Records handed to apply. */
  readonly records: number;
  /** Why the stream was cut short at a malformed record (the records before it were applied). */
  readonly bad: string | null;
}

/**
 * Streams the backup of the master at `to` and hands its records to `apply` in batches, each
 * awaited before more is read. Resolves when the stream ended, complete or at a malformed
 * record; rejects when the peer cannot be reached, refuses, or the stream breaks off (worth
 * another try), or when `apply` fails.
 */
export function fetchBackup(
  to: MemberAddress,
  options: FetchBackupOptions,
  apply: (records: BackupRecord[]) => Promise<void>,
): Promise<FetchedBackup> {
  return new Promise<FetchedBackup>((resolve, reject) => {
    const headers: Record<string, string> = { accept: BACKUP_CONTENT_TYPE };
    if (options.secret !== undefined) headers["authorization"] = `Bearer ${options.secret}`;
    const req = request({
      host: to.host,
      port: to.port,
      path: `${BACKUP_PATH}?min-version=${options.minVersion}`,
      headers,
      agent: false,
      // Until connected, and then the longest time the socket may stay idle.
      timeout: options.timeoutMs,
    });
    req.once("timeout", () => req.destroy(new Error("no answer in time")));
    // Every error settles the promise once; later ones (the socket destroyed after) are moot.
    req.on("error", reject);
    // While a batch is applied the stream is not read: that idle time does not count.
    const applyUntimed = async (records: BackupRecord[]): Promise<void> => {
      req.setTimeout(0);
      await apply(records);
      req.setTimeout(options.timeoutMs);
    };
    req.once("response", (res) => {
      readBackup(res, options, applyUntimed)
        .then(resolve, reject)
        .finally(() => req.destroy());
    });
    req.end();
  });
}

async function readBackup(
  res: IncomingMessage,
  options: FetchBackupOptions,
  apply: (records: BackupRecord[]) => Promise<void>,
): Promise<FetchedBackup> {
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`${BACKUP_PATH} answered ${res.statusCode ?? "?"}`);
  }
  // The iteration below sees the response's errors; this keeps a late one from going unheard.
  res.on("error", () => {});
  const parser = new RecordParser(options.maxRecordBytes);
  let batch: BackupRecord[] = [];
  let bytes = 0;
  let records = 0;
  const flush = async (): Promise<void> => {
    const full = batch;
    batch = [];
    bytes = 0;
    records += full.length;
    await apply(full);
  };
  let bad: string | null = null;
  try {
    // Iterating pauses the response while a batch is applied: the peer waits on TCP.
    for await (const chunk of res as AsyncIterable<Buffer>) {
      const before = batch.length;
      try {
        parser.push(chunk, batch);
      } catch (err) {
        if (!(err instanceof BadRecordError)) throw err;
        bad = err.message;
      }
      for (let i = before; i < batch.length; i++) {
        const r = batch[i] as BackupRecord;
        bytes += r.key.length + r.value.length;
      }
      if (bad !== null) break;
      if (batch.length >= options.batch || bytes >= options.batchBytes) await flush();
    }
  } finally {
    // Records parsed before a break-off or a bad record are applied all the same.
    if (batch.length > 0) await flush();
  }
  if (bad !== null) return { records, bad };
  if (parser.partial) return { records, bad: "the stream ends inside a record" };
  const trailer = res.trailers[RECORDS_TRAILER];
  if (trailer === undefined) throw new Error("the stream broke off (no record count)");
  if (Number(trailer) !== records) {
    throw new Error(`the stream broke off: ${records} records of ${trailer}`);
  }
  return { records, bad: null };
}

// Entry pages: entries packed back to back in one buffer. A move ships its data as pages, from
// a holder (RC.SCANPAGE) through the master to the new owners (RC.PUTPAGE) and back to the
// holders that no longer own them (RC.CDELPAGE), and the master appends them to its backup.
// The master only walks a page to route its entries (key bytes and lengths); it never decodes
// an entry into objects nor encodes it again, so a page costs it about a copy.
//
//   page  = entry*
//   entry = u8 flags (1: tombstone) | f64 version | f64 expiresAt | u32 key length |
//           u32 value length | key | value                              (little-endian)
//
// What must stay true:
// - A page from the network is checked whole (checkPage) before anything of it is applied: a
//   bad page changes nothing and is refused with a clear error.
// - A tombstone carries no value (value length 0).
// See docs/design.md, "Master ↔ auxiliary protocol" and "Moves and drained writes".
import { RingcacheError } from "../errors.js";

/** Bytes before an entry's key. */
export const ENTRY_HEADER = 25;
const F_TOMBSTONE = 1;
const MAX_NUMBER = Number.MAX_SAFE_INTEGER;

/** Builds a page in a growable buffer. `view()` is valid until the next add or reset. */
export class PageWriter {
  private buf: Buffer;
  private len = 0;
  private n = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(ENTRY_HEADER, initialCapacity));
  }

  /** Bytes written. */
  get length(): number {
    return this.len;
  }

  /** Entries written. */
  get count(): number {
    return this.n;
  }

  add(
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void {
    const valueLength = tombstone ? 0 : value.length;
    const size = ENTRY_HEADER + key.length + valueLength;
    this.reserve(size);
    const buf = this.buf;
    const at = this.len;
    buf[at] = tombstone ? F_TOMBSTONE : 0;
    buf.writeDoubleLE(version, at + 1);
    buf.writeDoubleLE(expiresAt, at + 9);
    buf.writeUInt32LE(key.length, at + 17);
    buf.writeUInt32LE(valueLength, at + 21);
    buf.set(key, at + ENTRY_HEADER);
    if (valueLength > 0) buf.set(value, at + ENTRY_HEADER + key.length);
    this.len = at + size;
    this.n++;
  }

  /**
   * Copies the reader's current entry from its page; without its value when `withValue` is
   * false (a conditional delete needs only the key and the version).
   */
  addFrom(r: PageReader, withValue: boolean): void {
    const valueLength = withValue ? r.valueLength : 0;
    const size = ENTRY_HEADER + r.keyLength + valueLength;
    this.reserve(size);
    const at = this.len;
    r.page.copy(this.buf, at, r.start, r.keyStart + r.keyLength + valueLength);
    if (!withValue) this.buf.writeUInt32LE(0, at + 21);
    this.len = at + size;
    this.n++;
  }

  /** The page so far: a view into the writer's buffer. */
  view(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  reset(): void {
    this.len = 0;
    this.n = 0;
    if (this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.allocUnsafe(64 * 1024);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

/**
 * Walks a page entry by entry without allocating: after `next()` returns true, the fields
 * describe the current entry. Use it on pages that passed checkPage (or that this process
 * built); on others it stops at the first entry that does not fit.
 */
export class PageReader {
  page: Buffer = EMPTY;
  /** Offset of the current entry, and of the one after it. */
  start = 0;
  end = 0;
  tombstone = false;
  version = 0;
  expiresAt = 0;
  keyStart = 0;
  keyLength = 0;
  valueStart = 0;
  valueLength = 0;

  /** Starts over on `page`. */
  reset(page: Buffer): this {
    this.page = page;
    this.start = 0;
    this.end = 0;
    return this;
  }

  next(): boolean {
    const page = this.page;
    const at = this.end;
    if (at + ENTRY_HEADER > page.length) return false;
    const keyLength = page.readUInt32LE(at + 17);
    const valueLength = page.readUInt32LE(at + 21);
    const end = at + ENTRY_HEADER + keyLength + valueLength;
    if (end > page.length) return false;
    this.start = at;
    this.end = end;
    this.tombstone = (page[at] as number) === F_TOMBSTONE;
    this.version = page.readDoubleLE(at + 1);
    this.expiresAt = page.readDoubleLE(at + 9);
    this.keyStart = at + ENTRY_HEADER;
    this.keyLength = keyLength;
    this.valueStart = this.keyStart + keyLength;
    this.valueLength = valueLength;
    return true;
  }

  key(): Buffer {
    return this.page.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  value(): Buffer {
    return this.page.subarray(this.valueStart, this.valueStart + this.valueLength);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Checks a whole page from the network and returns its number of entries; throws a
 * RingcacheError (BAD_REQUEST) naming the first fault. Versions must be positive integers and
 * expiries non-negative integers, both at most 2^53 - 1; a tombstone must have no value; the
 * last entry must end exactly at the page's end.
 */
export function checkPage(page: Uint8Array): number {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  let at = 0;
  let n = 0;
  while (at < page.length) {
    if (at + ENTRY_HEADER > page.length) throw bad(n, "is cut short");
    const flags = page[at] as number;
    if (flags !== 0 && flags !== F_TOMBSTONE) throw bad(n, "has unknown flags");
    const version = view.getFloat64(at + 1, true);
    if (!(version >= 1 && version <= MAX_NUMBER) || Math.floor(version) !== version) {
      throw bad(n, "has an invalid version");
    }
    const expiresAt = view.getFloat64(at + 9, true);
    if (!(expiresAt >= 0 && expiresAt <= MAX_NUMBER) || Math.floor(expiresAt) !== expiresAt) {
      throw bad(n, "has an invalid expiry");
    }
    const keyLength = view.getUint32(at + 17, true);
    const valueLength = view.getUint32(at + 21, true);
    if (flags === F_TOMBSTONE && valueLength !== 0) throw bad(n, "is a tombstone with a value");
    const end = at + ENTRY_HEADER + keyLength + valueLength;
    if (end > page.length) throw bad(n, "is cut short");
    at = end;
    n++;
  }
  return n;
}

function bad(i: number, what: string): RingcacheError {
  return new RingcacheError("BAD_REQUEST", `invalid page: entry ${i} ${what}`);
}

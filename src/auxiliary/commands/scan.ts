// RC.SCAN and RC.SCANPAGE's walk over the store (docs/design.md, "Moves and drained writes"):
// the entries of some ring-hash ranges, from a cursor, a bounded number of slots (and, for a
// page, bytes) at a time. The scratch writers are kept, so a scan allocates only its reply.
import { RingcacheError } from "../../errors.js";
import { SCAN_PAGE_BYTES, ScanParser, type RangeSet } from "../../protocol/internal/index.js";
import { PageWriter } from "../../protocol/page.js";
import { RespWriter } from "../../protocol/resp/index.js";
import { hashKeyAt } from "../../ring/hash.js";
import type { ScanVisitor, Store } from "../../store/index.js";

/** Store slots RC.SCAN and RC.SCANPAGE visit between two checks (of a page's size). */
const SCAN_STEP = 64;

export class StoreScan {
  private readonly store: Store;
  /** Encodes RC.SCAN's entries before their count is known. */
  private readonly scanOut = new RespWriter();
  private scanRanges: RangeSet | undefined = undefined;
  private readonly scanParser = new ScanParser();
  /** Keeps the keys of the scan's ranges; hashes them where they lie, with no view made. */
  private readonly scanFilter = (bytes: Uint8Array, offset: number, length: number): boolean =>
    (this.scanRanges as RangeSet).has(hashKeyAt(bytes, offset, length));
  private scanCount = 0;
  /** The page RC.SCANPAGE builds. */
  private readonly pageOut = new PageWriter();

  constructor(store: Store) {
    this.store = store;
  }

  /** Writes one scanned entry (the store has already applied the ranges) into scanOut. */
  private readonly scanVisitor = (
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void => {
    const w = this.scanOut;
    w.bulk(key);
    w.bulk(value);
    w.integer(version);
    w.integer(expiresAt);
    w.integer(tombstone ? 1 : 0);
    this.scanCount++;
  };

  scan(out: RespWriter, args: Buffer[]): void {
    this.scanOut.take(); // what a failed scan left
    this.scanCount = 0;
    const next = this.scanSlots(args, this.scanVisitor, () => false);
    out.arrayHeader(2);
    out.integer(next);
    out.arrayHeader(this.scanCount * 5);
    out.raw(this.scanOut.take());
  }

  /**
   * RC.SCAN's and RC.SCANPAGE's walk: parses the arguments, then visits the store's slots from
   * the cursor, SCAN_STEP at a time, until `count` were visited, the store ends, or `full()`.
   * Returns the cursor to go on from (0 at the end).
   */
  private scanSlots(args: Buffer[], visitor: ScanVisitor, full: () => boolean): number {
    const { cursor, count, ranges } = this.scanParser.parse(args);
    if (cursor === 1) throw new RingcacheError("BAD_REQUEST", "invalid cursor");
    this.scanRanges = ranges;
    const filter = ranges === undefined ? undefined : this.scanFilter;
    let next = cursor;
    try {
      let left = count;
      do {
        const step = Math.min(left, SCAN_STEP);
        next = this.store.scan(next, step, visitor, filter);
        left -= step;
      } while (next !== 0 && left > 0 && !full());
    } catch (err) {
      if (err instanceof RangeError) throw new RingcacheError("BAD_REQUEST", "invalid cursor");
      throw err;
    } finally {
      this.scanRanges = undefined;
    }
    return next;
  }

  /** Writes one scanned entry into the page RC.SCANPAGE is building. */
  private readonly pageVisitor = (
    key: Uint8Array,
    value: Uint8Array,
    version: number,
    expiresAt: number,
    tombstone: boolean,
  ): void => {
    this.pageOut.add(key, value, version, expiresAt, tombstone);
  };

  /**
   * RC.SCANPAGE: RC.SCAN's entries as one page, which also ends early once it holds about
   * SCAN_PAGE_BYTES (the slots are visited in steps, so a page of large values stays bounded).
   */
  scanPage(out: RespWriter, args: Buffer[]): void {
    const page = this.pageOut;
    page.reset();
    const next = this.scanSlots(args, this.pageVisitor, this.pageFull);
    out.arrayHeader(2);
    out.integer(next);
    out.bulk(page.view());
    page.reset();
  }

  private readonly pageFull = (): boolean => this.pageOut.length >= SCAN_PAGE_BYTES;
}

// Slab memory: the store's key and value bytes live in pages this module owns, never in one
// Buffer per entry (a Buffer object alone costs ~100 bytes, as much as a small value).
//
//   page (pageSize bytes, one size class)          chunk
//   +--------+--------+--------+-----+------+       +------+-----+-------+---------+
//   | chunk  | chunk  | chunk  | ... | tail |       | slot | key | value | (spare) |
//   +--------+--------+--------+-----+------+       +------+-----+-------+---------+
//                                                     i32 LE
//
// Chunk sizes grow by ~1.25 from 32 bytes up to `maxChunk` (pageSize / 8), like memcached's
// slab classes; a class gets whole pages and keeps a free list of its chunks (linked through the
// freed chunks themselves, so free memory costs nothing to track). An item larger than
// `maxChunk` gets a Buffer of its own, registered as a one-item page.
//
// Every chunk starts with the index of the store slot that owns it (FREE_MARK when free), so a
// whole page can be emptied: the page with the fewest used chunks of a class holding at least a
// page's worth of free chunks is evacuated — its chunks are copied into free chunks of the same
// class and the owner is told the new address (`ChunkMover`). Slots never move; only bytes do.
// A page is evacuated when a class needs a page and the slab is at its limit (the page changes
// class), and when a large item pushes the slab over its limit (the page is released).
//
// The limit is on real bytes: slab pages plus large items' Buffers stay within `limitBytes`,
// the budget plus (2 * classes + 1) pages. Why it always holds: every chunk is charged
// ceil(pageSize / chunksPerPage) bytes, so the charges of a page's chunks cover the page, and a
// large item is charged at least its Buffer. If no class could give up a page, each class has
// fewer than a page's worth of free chunks, so
//     pages * pageSize + large bytes <= charged bytes in use + classes * (pageSize + chunksPerPage)
//                                    <= budget + 2 * classes * pageSize  <  limitBytes,
// as long as the owner keeps its charged bytes within the budget given here.
//
// An address is a u32: page index << 15 | byte offset >>> 3 (chunks are 8-byte aligned and pages
// are at most 256 KiB, so the offset fits in 15 bits and up to 2^17 pages can be addressed).

/** Bytes at the start of every chunk: the owning slot's index. */
export const CHUNK_HEADER = 4;

/** Bytes charged on top of its length for an item that gets a Buffer of its own. */
export const LARGE_ITEM_OVERHEAD = 128;

/** Largest page; chunk offsets >>> 3 must fit in OFFSET_BITS. */
export const MAX_PAGE_SIZE = 256 * 1024;
const MIN_PAGE_SIZE = 4096;
const MIN_CHUNK = 32;
const GROWTH = 1.25;

export const OFFSET_BITS = 15;
export const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
const MAX_PAGES = 1 << (32 - OFFSET_BITS);

/** Header of a free chunk (slot indices are never negative). */
const FREE_MARK = -1;
/** No address; a free-list link reads back as this after `>>> 0`. */
const NONE = 0xffffffff;
const LARGE = 255;
const EMPTY_PAGE = Buffer.alloc(0);
const EMPTY_WORDS = new Int32Array(0);

/** Told when a used chunk is copied to a new address while its page is evacuated. */
export type ChunkMover = (slot: number, addr: number) => void;

/** Page size for a budget: ~1/1024 of it, between 4 KiB and 256 KiB, a power of two. */
export function pageSizeFor(budgetBytes: number): number {
  let size = MIN_PAGE_SIZE;
  while (size < MAX_PAGE_SIZE && size * 2 * 1024 <= budgetBytes) size *= 2;
  return size;
}

export class Slab {
  readonly pageSize: number;
  /** Largest item (header + key + value) stored in a chunk; larger items get their own Buffer. */
  readonly maxChunk: number;
  /** Most bytes of pages and large items held at once (see the header comment). */
  readonly limitBytes: number;
  /** Page buffers by page index. Read-only for the owner; an address names a page and offset. */
  readonly pages: Buffer[] = [];
  /** Int32 views of the pages (same index): chunks are 4-byte aligned, so keys compare by word. */
  readonly words: Int32Array[] = [];
  /** Pages allocated beyond limitBytes; stays 0 unless the owner broke its budget (a bug). */
  overflowPages = 0;
  /** Pages emptied (and handed to another class or released) since creation. */
  evacuatedPages = 0;

  private readonly mover: ChunkMover;
  // Per class.
  private readonly sizes: number[] = [];
  private readonly perPage: number[] = [];
  private readonly charges: number[] = [];
  private readonly freeHead: number[] = [];
  /** Free chunks of the class, counting the not yet carved tail of its carving page. */
  private readonly freeCount: number[] = [];
  /** The page the class carves new chunks from, or -1. */
  private readonly carvePage: number[] = [];
  /** (size + 7) >>> 3 -> class index, for sizes up to maxChunk. */
  private readonly classBySize: Uint8Array;
  // Per page.
  private readonly pageClass: number[] = [];
  private readonly pageUsed: number[] = [];
  /** Chunks handed out from the page at least once (the rest of it was never written). */
  private readonly pageCarved: number[] = [];
  private readonly freePageIds: number[] = [];
  /** ArrayBuffers of the pages, to tell the store's own memory from a caller's. */
  private readonly owned = new Set<ArrayBufferLike>();
  private slabPages = 0;
  private largeBytes = 0;

  constructor(budgetBytes: number, mover: ChunkMover) {
    this.pageSize = pageSizeFor(budgetBytes);
    this.maxChunk = this.pageSize / 8;
    this.mover = mover;
    let size = MIN_CHUNK;
    for (;;) {
      this.addClass(size);
      if (size >= this.maxChunk) break;
      size = Math.min(this.maxChunk, Math.ceil(Math.max(size + 8, size * GROWTH) / 8) * 8);
    }
    this.classBySize = new Uint8Array(this.maxChunk / 8 + 1);
    let c = 0;
    for (let units = 0; units < this.classBySize.length; units++) {
      while (this.sizes[c]! < units * 8) c++;
      this.classBySize[units] = c;
    }
    const classes = this.sizes.length;
    this.limitBytes = budgetBytes + (2 * classes + 1) * this.pageSize;
  }

  private addClass(size: number): void {
    const perPage = Math.floor(this.pageSize / size);
    this.sizes.push(size);
    this.perPage.push(perPage);
    this.charges.push(Math.ceil(this.pageSize / perPage));
    this.freeHead.push(NONE);
    this.freeCount.push(0);
    this.carvePage.push(-1);
  }

  /** Number of size classes. */
  get classCount(): number {
    return this.sizes.length;
  }

  /** Bytes charged for an item of `size` bytes (header included): its share of a page. */
  charge(size: number): number {
    if (size > this.maxChunk) return ((size + 7) & ~7) + LARGE_ITEM_OVERHEAD;
    return this.charges[this.classBySize[(size + 7) >>> 3]!]!;
  }

  /** True when items of these two sizes live in chunks of the same class (no move needed). */
  sameChunk(a: number, b: number): boolean {
    if (a > this.maxChunk || b > this.maxChunk) return false;
    return this.classBySize[(a + 7) >>> 3] === this.classBySize[(b + 7) >>> 3];
  }

  /** True when `buffer` is the memory of one of this slab's pages or large items. */
  owns(buffer: ArrayBufferLike): boolean {
    const n = buffer.byteLength;
    return (n === this.pageSize || n > this.maxChunk) && this.owned.has(buffer);
  }

  /** The slot written in a chunk's header, or -1 for a large item (which has none). */
  ownerOf(addr: number): number {
    const page = addr >>> OFFSET_BITS;
    if (this.pageClass[page] === LARGE) return -1;
    return this.words[page]![(addr & OFFSET_MASK) << 1]!;
  }

  /** Bytes really held: slab pages plus large items' Buffers. */
  get allocatedBytes(): number {
    return this.slabPages * this.pageSize + this.largeBytes;
  }

  /** Slab pages allocated (large items not counted). */
  get pageCount(): number {
    return this.slabPages;
  }

  /**
   * Allocates a chunk for an item of `size` bytes owned by `slot` and returns its address; the
   * chunk header is written. May evacuate a page, moving other slots' chunks (see ChunkMover),
   * so addresses read before this call must be read again.
   */
  alloc(size: number, slot: number): number {
    if (size > this.maxChunk) return this.allocLarge(size);
    const c = this.classBySize[(size + 7) >>> 3]!;
    let addr = this.take(c);
    if (addr === NONE) {
      this.assignPage(c);
      addr = this.take(c);
    }
    const page = addr >>> OFFSET_BITS;
    this.words[page]![(addr & OFFSET_MASK) << 1] = slot;
    this.pageUsed[page]!++;
    return addr;
  }

  /** Returns a chunk to its class (or drops a large item's Buffer). Its bytes stay readable
   * until the chunk is allocated again, except the first 8 which link the free list. */
  free(addr: number): void {
    const page = addr >>> OFFSET_BITS;
    const c = this.pageClass[page]!;
    if (c === LARGE) {
      this.largeBytes -= this.pages[page]!.length;
      this.owned.delete(this.pages[page]!.buffer);
      this.pages[page] = EMPTY_PAGE;
      this.words[page] = EMPTY_WORDS;
      this.freePageIds.push(page);
      return;
    }
    const words = this.words[page]!;
    const at = (addr & OFFSET_MASK) << 1;
    words[at] = FREE_MARK;
    words[at + 1] = this.freeHead[c]!;
    this.freeHead[c] = addr;
    this.freeCount[c]!++;
    this.pageUsed[page]!--;
  }

  /** Drops every page. */
  reset(): void {
    this.pages.length = 0;
    this.words.length = 0;
    this.pageClass.length = 0;
    this.pageUsed.length = 0;
    this.pageCarved.length = 0;
    this.freePageIds.length = 0;
    this.owned.clear();
    this.slabPages = 0;
    this.largeBytes = 0;
    this.freeHead.fill(NONE);
    this.freeCount.fill(0);
    this.carvePage.fill(-1);
  }

  private take(c: number): number {
    const head = this.freeHead[c]!;
    if (head !== NONE) {
      this.freeHead[c] = this.words[head >>> OFFSET_BITS]![((head & OFFSET_MASK) << 1) + 1]! >>> 0;
      this.freeCount[c]!--;
      return head;
    }
    const page = this.carvePage[c]!;
    if (page < 0) return NONE;
    const carved = this.pageCarved[page]!;
    if (carved + 1 >= this.perPage[c]!) this.carvePage[c] = -1;
    this.pageCarved[page] = carved + 1;
    this.freeCount[c]!--;
    return (page << OFFSET_BITS) | ((carved * this.sizes[c]!) >>> 3);
  }

  private newPageId(): number {
    const id = this.freePageIds.pop();
    if (id !== undefined) return id;
    if (this.pages.length >= MAX_PAGES) {
      throw new RangeError(`slab: more than ${MAX_PAGES} pages and large items`);
    }
    this.pages.push(EMPTY_PAGE);
    this.words.push(EMPTY_WORDS);
    this.pageClass.push(LARGE);
    this.pageUsed.push(0);
    this.pageCarved.push(0);
    return this.pages.length - 1;
  }

  private allocLarge(size: number): number {
    const page = this.newPageId();
    // Rounded up to whole words so a key's last word can always be read.
    const buf = Buffer.allocUnsafeSlow((size + 7) & ~7);
    this.pages[page] = buf;
    this.words[page] = new Int32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    this.owned.add(buf.buffer);
    this.pageClass[page] = LARGE;
    this.largeBytes += buf.length;
    // Make room among the slab pages: release emptied pages until back within the limit.
    while (this.slabPages * this.pageSize + this.largeBytes > this.limitBytes) {
      const empty = this.evacuateOne();
      if (empty < 0) {
        this.overflowPages++;
        break;
      }
      this.releasePage(empty);
    }
    return page << OFFSET_BITS;
  }

  private releasePage(page: number): void {
    this.owned.delete(this.pages[page]!.buffer);
    this.pages[page] = EMPTY_PAGE;
    this.words[page] = EMPTY_WORDS;
    this.pageClass[page] = LARGE;
    this.freePageIds.push(page);
    this.slabPages--;
  }

  /** Gives class `c` (which has no free chunk) a page to carve: a new one, or an evacuated one. */
  private assignPage(c: number): void {
    let page = -1;
    const full = (this.slabPages + 1) * this.pageSize + this.largeBytes > this.limitBytes;
    if (full) page = this.evacuateOne();
    if (page < 0) {
      if (full) this.overflowPages++;
      page = this.newPageId();
      const buf = Buffer.allocUnsafeSlow(this.pageSize);
      this.pages[page] = buf;
      this.owned.add(buf.buffer);
      this.words[page] = new Int32Array(buf.buffer, buf.byteOffset, this.pageSize >>> 2);
      this.slabPages++;
    }
    this.pageClass[page] = c;
    this.pageUsed[page] = 0;
    this.pageCarved[page] = 0;
    this.carvePage[c] = page;
    this.freeCount[c]! += this.perPage[c]!;
  }

  /** Empties the cheapest page of a class that can absorb its chunks; returns it, or -1. */
  private evacuateOne(): number {
    let best = -1;
    let bestUsed = Infinity;
    for (let p = 0; p < this.pages.length; p++) {
      const c = this.pageClass[p]!;
      if (c === LARGE || this.freeCount[c]! < this.perPage[c]!) continue;
      const used = this.pageUsed[p]!;
      if (used < bestUsed) {
        best = p;
        bestUsed = used;
        if (used === 0) break;
      }
    }
    if (best >= 0) {
      this.evacuate(best);
      this.evacuatedPages++;
    }
    return best;
  }

  private evacuate(page: number): void {
    const c = this.pageClass[page]!;
    const size = this.sizes[c]!;
    const carved = this.pageCarved[page]!;
    if (this.carvePage[c] === page) {
      this.freeCount[c]! -= this.perPage[c]! - carved;
      this.carvePage[c] = -1;
    }
    // Unlink this page's free chunks so nothing is moved into the page being emptied.
    let prev = NONE;
    let addr = this.freeHead[c]!;
    while (addr !== NONE) {
      const words = this.words[addr >>> OFFSET_BITS]!;
      const linkAt = ((addr & OFFSET_MASK) << 1) + 1;
      const next = words[linkAt]! >>> 0;
      if (addr >>> OFFSET_BITS === page) {
        if (prev === NONE) this.freeHead[c] = next;
        else this.words[prev >>> OFFSET_BITS]![((prev & OFFSET_MASK) << 1) + 1] = next;
        this.freeCount[c]!--;
      } else {
        prev = addr;
      }
      addr = next;
    }
    const src = this.pages[page]!;
    const srcWords = this.words[page]!;
    for (let i = 0, off = 0; i < carved; i++, off += size) {
      const slot = srcWords[off >>> 2]!;
      if (slot === FREE_MARK) continue;
      const dst = this.take(c);
      const dstPage = dst >>> OFFSET_BITS;
      src.copy(this.pages[dstPage]!, (dst & OFFSET_MASK) << 3, off, off + size);
      this.pageUsed[dstPage]!++;
      this.mover(slot, dst);
    }
  }
}

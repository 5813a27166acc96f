// What a move sends of one scanned page to each node: the slices of it a new owner is to put
// (RC.PUTPAGE), and the keys and versions a former owner is to drop (RC.CDELPAGE), each cut to
// what the node accepts in one bulk (see rebalancer.ts).
import { PageWriter, type PageReader } from "../protocol/page.js";

/**
 * The slices of one page bound for one node: chunks of [start, end) pairs (adjacent entries
 * merged), each chunk at most `limit` bytes; entries larger than the limit are kept apart
 * (`single`, their offsets) to go as single commands.
 */
export class Slices {
  readonly chunks: number[][] = [];
  readonly single: number[] = [];
  entries = 0;
  private bytes = 0;
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  add(e: PageReader): void {
    const size = e.end - e.start;
    this.entries++;
    if (size > this.limit) {
      this.single.push(e.start);
      return;
    }
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || this.bytes + size > this.limit) {
      this.chunks.push((chunk = []));
      this.bytes = 0;
    }
    this.bytes += size;
    if (chunk.length > 0 && chunk[chunk.length - 1] === e.start) chunk[chunk.length - 1] = e.end;
    else chunk.push(e.start, e.end);
  }
}

/**
 * The entries of one page a holder is to drop, without their values (a conditional delete
 * needs the key and the version): pages of at most `limit` bytes, and apart (`single`, their
 * offsets in the page) the rare entry whose key alone is over the limit.
 */
export class KeyPages {
  readonly chunks: PageWriter[] = [];
  readonly single: number[] = [];
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = limit;
  }

  add(e: PageReader): void {
    const size = e.keyStart + e.keyLength - e.start;
    if (size > this.limit) {
      this.single.push(e.start);
      return;
    }
    let chunk = this.chunks[this.chunks.length - 1];
    if (chunk === undefined || chunk.length + size > this.limit) {
      this.chunks.push((chunk = new PageWriter(Math.min(this.limit, 16 * 1024))));
    }
    chunk.addFrom(e, false);
  }
}

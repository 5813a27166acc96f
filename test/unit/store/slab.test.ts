import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  CHUNK_HEADER,
  OFFSET_BITS,
  OFFSET_MASK,
  Slab,
  pageSizeFor,
} from "../../../src/store/slab.js";

/** A slab and the owner table its mover keeps up to date, as the store does. */
function makeSlab(budget: number): { slab: Slab; addrs: Map<number, number>; moves: number[] } {
  const addrs = new Map<number, number>();
  const moves: number[] = [];
  const slab = new Slab(budget, (slot, addr) => {
    assert.ok(addrs.has(slot), `moved chunk of unknown slot ${slot}`);
    addrs.set(slot, addr);
    moves.push(slot);
  });
  return { slab, addrs, moves };
}

function bytesAt(slab: Slab, addr: number, length: number): Buffer {
  const off = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
  return slab.pages[addr >>> OFFSET_BITS]!.subarray(off, off + length);
}

function fill(slab: Slab, addr: number, slot: number, length: number): void {
  bytesAt(slab, addr, length).fill(slot & 0xff);
}

describe("slab", () => {
  it("sizes pages from the budget, between 4 KiB and 256 KiB", () => {
    assert.equal(pageSizeFor(1024), 4096);
    assert.equal(pageSizeFor(64 * 1024 * 1024), 64 * 1024);
    assert.equal(pageSizeFor(16 * 1024 ** 3), 256 * 1024);
  });

  it("charges at least the item and at most a class step more", () => {
    const { slab } = makeSlab(64 * 1024 * 1024);
    for (let size = CHUNK_HEADER; size <= slab.maxChunk; size += 7) {
      const charge = slab.charge(size);
      assert.ok(charge >= size, `size ${size} charged ${charge}`);
      // One class step (1.25x) plus the page tail that the largest classes leave unused.
      assert.ok(charge <= Math.max(32, size * 1.4 + 16), `size ${size} charged ${charge}`);
    }
    const large = slab.maxChunk + 1;
    assert.ok(slab.charge(large) >= large + 100);
  });

  it("reuses freed chunks instead of growing", () => {
    const { slab, addrs } = makeSlab(1024 * 1024);
    for (let slot = 2; slot < 500; slot++) addrs.set(slot, slab.alloc(100, slot));
    const pages = slab.pageCount;
    for (let round = 0; round < 20; round++) {
      for (let slot = 2; slot < 500; slot++) {
        slab.free(addrs.get(slot)!);
        addrs.set(slot, slab.alloc(100, slot));
      }
    }
    assert.equal(slab.pageCount, pages);
  });

  it("evacuates a page to serve another class, moving bytes and telling the owner", () => {
    const budget = 256 * 1024;
    const { slab, addrs, moves } = makeSlab(budget);
    const sizes = new Map<number, number>();
    let slot = 2;
    // Fill the page limit with small items, then free most of them (scattered).
    while ((slab.pageCount + 1) * slab.pageSize <= slab.limitBytes) {
      const addr = slab.alloc(40, slot);
      addrs.set(slot, addr);
      sizes.set(slot, 40);
      fill(slab, addr, slot, 36);
      slot++;
    }
    for (const s of [...addrs.keys()]) {
      if (s % 4 !== 0) {
        slab.free(addrs.get(s)!);
        addrs.delete(s);
        sizes.delete(s);
      }
    }
    // Now ask for another class until pages must change hands.
    for (let i = 0; i < 200; i++, slot++) {
      const addr = slab.alloc(400, slot);
      addrs.set(slot, addr);
      sizes.set(slot, 400);
      fill(slab, addr, slot, 396);
    }
    assert.ok(moves.length > 0, "some chunks moved");
    assert.equal(slab.overflowPages, 0);
    assert.ok(slab.allocatedBytes <= slab.limitBytes);
    for (const [s, addr] of addrs) {
      assert.equal(slab.ownerOf(addr), s);
      const length = sizes.get(s)! - CHUNK_HEADER;
      assert.ok(
        bytesAt(slab, addr, length).every((b) => b === (s & 0xff)),
        `bytes of ${s}`,
      );
    }
  });

  it("releases slab pages when large items would take it over its limit", () => {
    const budget = 256 * 1024;
    const { slab, addrs } = makeSlab(budget);
    let slot = 2;
    while ((slab.pageCount + 1) * slab.pageSize <= slab.limitBytes) {
      addrs.set(slot, slab.alloc(100, slot));
      slot++;
    }
    // The owner evicts most small items to make room for large ones, as the store does.
    for (const s of [...addrs.keys()]) {
      if (s % 8 !== 0) {
        slab.free(addrs.get(s)!);
        addrs.delete(s);
      }
    }
    const pagesBefore = slab.pageCount;
    for (let i = 0; i < 20; i++, slot++) addrs.set(slot, slab.alloc(slab.maxChunk * 4, slot));
    assert.ok(slab.pageCount < pagesBefore, "pages were released");
    assert.ok(slab.allocatedBytes <= slab.limitBytes);
    assert.equal(slab.overflowPages, 0);
    for (const [s, addr] of addrs)
      if (slab.ownerOf(addr) !== -1) assert.equal(slab.ownerOf(addr), s);
  });

  it("gives large items their own buffer and forgets it when freed", () => {
    const { slab } = makeSlab(1024 * 1024);
    const before = slab.allocatedBytes;
    const addr = slab.alloc(slab.maxChunk + 1000, 7);
    assert.equal(slab.ownerOf(addr), -1);
    const page = slab.pages[addr >>> OFFSET_BITS]!;
    assert.ok(slab.owns(page.buffer));
    assert.ok(!slab.owns(Buffer.alloc(slab.maxChunk + 1000).buffer));
    slab.free(addr);
    assert.equal(slab.allocatedBytes, before);
    assert.ok(!slab.owns(page.buffer));
  });
});

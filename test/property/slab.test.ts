import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CHUNK_HEADER, OFFSET_BITS, OFFSET_MASK, Slab } from "../../src/store/slab.js";

describe("slab under random allocations", () => {
  it("keeps every item's bytes, its owner and the memory limit, whatever the sizes", () => {
    const budget = 256 * 1024;
    // Phases of typical sizes (so pages must change class), with jitter, and items larger than
    // a chunk now and then.
    const size = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 200, max: 500 }) },
      { weight: 2, arbitrary: fc.integer({ min: CHUNK_HEADER, max: 200 }) },
      { weight: 1, arbitrary: fc.integer({ min: 513, max: 6000 }) },
    );
    const step = fc.record({
      jitter: fc.integer({ min: 0, max: 12 }),
      free: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 3 })),
      pick: fc.nat(),
    });
    let evacuated = 0;
    fc.assert(
      fc.property(
        fc.array(size, { minLength: 2, maxLength: 5, size: "max" }),
        fc.array(step, { minLength: 1500, maxLength: 2500, size: "max" }),
        (phases, steps) => {
          const items = new Map<number, { addr: number; size: number }>();
          const slab = new Slab(budget, (slot, addr) => {
            const item = items.get(slot);
            assert.ok(item !== undefined, `moved chunk of unknown slot ${slot}`);
            item.addr = addr;
          });
          const body = (addr: number, size: number): Buffer => {
            const off = ((addr & OFFSET_MASK) << 3) + CHUNK_HEADER;
            return slab.pages[addr >>> OFFSET_BITS]!.subarray(off, off + size - CHUNK_HEADER);
          };
          let charged = 0;
          let slot = 2;
          for (const [i, { jitter, free, pick }] of steps.entries()) {
            const size = phases[Math.floor((i * phases.length) / steps.length)]! + jitter;
            // The owner frees some items, then enough more to keep its charges within budget.
            const release = (s: number): void => {
              const item = items.get(s)!;
              slab.free(item.addr);
              charged -= slab.charge(item.size);
              items.delete(s);
            };
            const live = [...items.keys()];
            for (let i = 0; i < free && live.length > 0; i++) {
              const s = live.splice((pick + i) % live.length, 1)[0]!;
              release(s);
            }
            while (charged + slab.charge(size) > budget && items.size > 0) {
              release(items.keys().next().value!);
            }
            if (slab.charge(size) > budget) continue;
            const addr = slab.alloc(size, slot);
            items.set(slot, { addr, size });
            body(addr, size).fill(slot & 0xff);
            charged += slab.charge(size);
            slot++;
            assert.ok(slab.allocatedBytes <= slab.limitBytes, "within the limit");
          }
          assert.equal(slab.overflowPages, 0);
          if (slab.evacuatedPages > 0) evacuated++;
          for (const [s, { addr, size }] of items) {
            const owner = slab.ownerOf(addr);
            if (owner !== -1) assert.equal(owner, s);
            assert.ok(
              body(addr, size).every((x) => x === (s & 0xff)),
              `bytes of slot ${s}`,
            );
          }
        },
      ),
      { numRuns: 100 },
    );
    // Most runs shift through enough size classes to outgrow the slack: pages must move.
    assert.ok(evacuated > 20, `${evacuated} of 100 runs moved pages between classes`);
  });
});

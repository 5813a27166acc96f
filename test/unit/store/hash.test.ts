import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { packWords, xxhash32, xxhash32Words } from "../../../src/store/hash.js";

const text = (s: string): Buffer => Buffer.from(s, "latin1");

describe("store hash (xxHash32)", () => {
  it("matches the reference test vectors", () => {
    // Values from the xxHash reference implementation, seed 0.
    assert.equal(xxhash32(text("")) >>> 0, 0x02cc5d05);
    assert.equal(xxhash32(text("a")) >>> 0, 0x550d7456);
    assert.equal(xxhash32(text("abc")) >>> 0, 0x32d153ff);
    assert.equal(xxhash32(text("Nobody inspects the spammish repetition")) >>> 0, 0xe2293b2f);
  });

  it("hashes a view at any offset like a copy of its bytes", () => {
    const backing = Buffer.from("..0123456789abcdefghij..", "latin1");
    for (let start = 0; start < 6; start++) {
      for (let end = start; end < backing.length; end += 3) {
        const view = backing.subarray(start, end);
        assert.equal(xxhash32(view), xxhash32(Buffer.from(view)), `[${start}, ${end})`);
      }
    }
  });

  it("packs keys into little-endian words, the last zero-padded", () => {
    const words = new Int32Array(2).fill(-1);
    packWords(Uint8Array.of(1, 2, 3, 4, 0xff, 6), words);
    assert.equal(words[0], 0x04030201);
    assert.equal(words[1], 0x06ff);
    assert.equal(xxhash32Words(words, 6), xxhash32(Uint8Array.of(1, 2, 3, 4, 0xff, 6)));
  });

  it("treats keys as bytes: NUL and 0xFF matter, and so does length", () => {
    const seen = new Set<number>();
    for (const key of [[], [0], [0, 0], [0xff], [0xff, 0], [0, 0xff], [0, 0, 0, 0]]) {
      seen.add(xxhash32(Uint8Array.from(key)));
    }
    assert.equal(seen.size, 7);
  });
});

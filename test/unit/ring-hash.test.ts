import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  fnv1a32,
  hashKey,
  hashKeyAt,
  murmur3_32,
  placedPart,
  xxhash32,
} from "../../src/ring/hash.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte);

/** 1000 bytes (i * 31 + 7) & 0xff: every block path and tail length of all three hashes. */
const LONG = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31 + 7) & 0xff);
/** 35 bytes 0x80.. : every byte has its top bit set, which catches sign-extension slips. */
const HIGH = Uint8Array.from({ length: 35 }, (_, i) => 0x80 + i);
const FORTY = text("0123456789abcdef0123456789abcdef01234567");

// Values marked "published" are the algorithms' own test vectors (SMHasher / Wikipedia for
// MurmurHash3, the FNV authors' test suite, the xxHash sanity checks). All the others were
// computed with the reference implementations (Appleby's MurmurHash3.c, FNV-1a in C, and the
// python-xxhash binding of libxxhash) and agree with this code.

describe("hashKey (the routing contract)", () => {
  // hashKey is MurmurHash3_x86_32 with seed 0 (of the key's hash tag, when it has one). If one
  // of these changes, every key in every deployed cluster moves: that is a migration, not a
  // refactor. None of these keys has a tag.
  const vectors: readonly (readonly [string, Uint8Array, number])[] = [
    ["empty (published)", new Uint8Array(0), 0x00000000],
    ['"a"', text("a"), 0x3c2569b2],
    ['"abc"', text("abc"), 0xb3dd93fa],
    ['"message digest"', text("message digest"), 0x638f4169],
    [
      "the quick brown fox (published)",
      text("The quick brown fox jumps over the lazy dog"),
      0x2e4ff723,
    ],
    ["0x00", bytes(0x00), 0x514e28b7],
    ["0xff", bytes(0xff), 0xfd6cf10d],
    ["00 00 00 00 (published)", fill(4, 0x00), 0x2362f9de],
    ["ff ff ff ff (published)", fill(4, 0xff), 0x76293b50],
    ["ff x 7", fill(7, 0xff), 0x011d1da7],
    ["16 bytes", text("0123456789abcdef"), 0x36c7e0df],
    ["17 bytes", text("0123456789abcdefg"), 0xe2ad6669],
    ["40 bytes", FORTY, 0x4d77b063],
    ["35 high bytes", HIGH, 0xef2c4c31],
    ['vnode "a1#0"', text("a1#0"), 0xfa222bbb],
  ];
  for (const [name, input, expected] of vectors) {
    it(`hashes ${name}`, () => {
      assert.equal(hashKey(input), expected);
    });
  }

  it("hashes 1000 bytes with murmur3_32 (the key itself holds a tag: bytes 13 to 202)", () => {
    assert.equal(murmur3_32(LONG), 0x1785b9d8);
    assert.equal(hashKey(LONG), 0xce541338);
    assert.equal(hashKey(LONG), murmur3_32(LONG.subarray(13, 202)));
  });

  it("is murmur3_32 with seed 0", () => {
    for (const [, input] of vectors) assert.equal(hashKey(input), murmur3_32(input, 0));
  });

  it("honours the seed (published vectors)", () => {
    assert.equal(murmur3_32(new Uint8Array(0), 1), 0x514e28b7);
    assert.equal(murmur3_32(text("Hello, world!"), 0x9747b28c), 0x24884cba);
  });

  it("reads a view at any offset of a larger buffer (a slice of a socket chunk)", () => {
    const chunk = new Uint8Array(1100);
    chunk.set(LONG, 3);
    assert.equal(hashKey(chunk.subarray(3, 1003)), 0xce541338);
    const buf = Buffer.from("xxabcxx");
    assert.equal(hashKey(buf.subarray(2, 5)), 0xb3dd93fa);
  });

  it("hashes a key where it lies as it hashes a view of it (hashKeyAt)", () => {
    for (let offset = 0; offset < 8; offset++) {
      for (let n = 0; n <= 64; n++) {
        const view = LONG.subarray(offset, offset + n);
        assert.equal(hashKeyAt(LONG, offset, n), hashKey(view), `offset ${offset}, ${n} bytes`);
      }
    }
    assert.equal(hashKeyAt(LONG, 0, LONG.length), 0xce541338);
    const tagged = text("..{user1000}.following..");
    assert.equal(hashKeyAt(tagged, 2, tagged.length - 4), 0x899d6f93);
    // The tag is looked for within the key only, never in the bytes around it.
    const around = text("{a}xyz{b}");
    assert.equal(hashKeyAt(around, 3, 3), murmur3_32(text("xyz")));
    assert.equal(hashKeyAt(text("x{ab}"), 0, 4), murmur3_32(text("x{ab")));
  });

  it("returns a uint32", () => {
    for (let n = 0; n < 64; n++) {
      const h = hashKey(fill(n, 0xff));
      assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `length ${n}: ${h}`);
    }
  });
});

describe("hash tags (Redis Cluster's rule)", () => {
  // [key, the bytes that place it, hashKey]: the first `{`, the first `}` after it, and at
  // least one byte between; otherwise the whole key.
  const vectors: readonly (readonly [string, string, number])[] = [
    ["{user1000}.following", "user1000", 0x899d6f93],
    ["{user1000}.followers", "user1000", 0x899d6f93],
    ["user1000", "user1000", 0x899d6f93],
    ["foo{}{bar}", "foo{}{bar}", 0x35364c97],
    ["foo{{bar}}zap", "{bar", 0x7186ca27],
    ["foo{bar}{zap}", "bar", 0x450e998d],
    ["{}", "{}", 0x8a082ec8],
    ["{", "{", 0xcdfb52b1],
    ["}{a}", "a", 0x3c2569b2],
    ["{a}b}", "a", 0x3c2569b2],
    ["a{b", "a{b", 0x71eeec71],
    ["a{b}c", "b", 0x95de7e03],
    ["x{\u00e9}y", "\u00e9", 0x10110787],
  ];
  for (const [key, part, expected] of vectors) {
    it(`places ${JSON.stringify(key)} by ${JSON.stringify(part)}`, () => {
      const bytes = text(key);
      assert.equal(hashKey(bytes), expected);
      assert.equal(hashKey(bytes), murmur3_32(text(part)));
      const { start, end } = placedPart(bytes);
      assert.deepEqual(Buffer.from(bytes.subarray(start, end)), Buffer.from(text(part)));
    });
  }

  it("places keys that share a tag together, whatever surrounds it", () => {
    const h = hashKey(text("{tag}"));
    for (const key of ["{tag}", "a{tag}", "{tag}b", "x{tag}}", "{tag}{other}", "}{tag}"]) {
      assert.equal(hashKey(text(key)), h, key);
    }
  });
});

describe("fnv1a32", () => {
  const vectors: readonly (readonly [string, Uint8Array, number])[] = [
    ["empty (published)", new Uint8Array(0), 0x811c9dc5],
    ['"a" (published)', text("a"), 0xe40c292c],
    ['"foobar" (published)', text("foobar"), 0xbf9cf968],
    ['"abc"', text("abc"), 0x1a47e90b],
    ["0x00", bytes(0x00), 0x050c5d1f],
    ["0xff", bytes(0xff), 0x7a0b824e],
    ["40 bytes", FORTY, 0xc660d80d],
    ["35 high bytes", HIGH, 0x46cdb3a8],
    ["1000 bytes", LONG, 0xa33b1355],
  ];
  for (const [name, input, expected] of vectors) {
    it(`hashes ${name}`, () => assert.equal(fnv1a32(input), expected));
  }
});

describe("xxhash32", () => {
  const vectors: readonly (readonly [string, Uint8Array, number])[] = [
    ["empty (published)", new Uint8Array(0), 0x02cc5d05],
    ['"a" (published)', text("a"), 0x550d7456],
    ['"abc" (published)', text("abc"), 0x32d153ff],
    ['"message digest"', text("message digest"), 0x7c948494],
    ["0x00", bytes(0x00), 0xcf65b03e],
    ["0xff", bytes(0xff), 0x96bcd8cc],
    ["ff x 4", fill(4, 0xff), 0x04079e5f],
    ["ff x 7", fill(7, 0xff), 0xc5d95137],
    ["16 bytes (one stripe)", text("0123456789abcdef"), 0xc2c45b69],
    ["17 bytes", text("0123456789abcdefg"), 0xcc79b217],
    ["40 bytes", FORTY, 0x77168127],
    ["35 high bytes", HIGH, 0x7406bc09],
    ["1000 bytes", LONG, 0xa793e7c7],
  ];
  for (const [name, input, expected] of vectors) {
    it(`hashes ${name}`, () => assert.equal(xxhash32(input), expected));
  }

  it("honours the seed", () => {
    assert.equal(xxhash32(new Uint8Array(0), 1), 0x0b2cb792);
  });
});

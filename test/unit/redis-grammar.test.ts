// The rest of src/redis/: INFO's sections and format, FLUSHALL's argument, the size limits,
// copies of argument bytes, the string edits and GETEX's options.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copy } from "../../src/redis/bytes.js";
import { checkFlushAllArgs } from "../../src/redis/flushall.js";
import { formatInfo, humanBytes, infoSections } from "../../src/redis/info.js";
import { checkKeySize, checkValueSize } from "../../src/redis/limits.js";
import {
  UNIT_EX,
  UNIT_EXAT,
  UNIT_PX,
  UNIT_PXAT,
  parseExpiry,
  parseGetExOptions,
} from "../../src/redis/set-options.js";
import {
  PROTO_MAX_BULK_LEN,
  appended,
  checkStringLength,
  parseIndex,
  parseOffset,
  rangeOf,
  setRange,
} from "../../src/redis/strings.js";

const args = (...xs: string[]): Buffer[] => xs.map((x) => Buffer.from(x, "latin1"));
const KNOWN = ["server", "clients", "keyspace"] as const;

describe("INFO", () => {
  it("picks sections as Redis does, in the node's order", () => {
    assert.deepEqual(infoSections(args("info"), KNOWN), KNOWN);
    assert.deepEqual(infoSections(args("info", "EVERYTHING"), KNOWN), KNOWN);
    assert.deepEqual(infoSections(args("info", "keyspace", "Server", "nope"), KNOWN), [
      "server",
      "keyspace",
    ]);
    assert.deepEqual(infoSections(args("info", "nope"), KNOWN), []);
  });

  it("formats sections with CRLF lines and a blank line between them", () => {
    assert.equal(formatInfo([["# A", "a:1"], ["# B"]]), "# A\r\na:1\r\n\r\n# B\r\n");
    assert.equal(formatInfo([]), "");
    assert.deepEqual([0, 1023, 1024, 1536, 3 * 1024 ** 2, 5 * 1024 ** 3].map(humanBytes), [
      "0B",
      "1023B",
      "1.00K",
      "1.50K",
      "3.00M",
      "5.00G",
    ]);
  });
});

describe("FLUSHALL's argument", () => {
  it("takes ASYNC or SYNC in any case, else a syntax error", () => {
    for (const ok of [[], ["async"], ["SYNC"]]) checkFlushAllArgs(args("flushall", ...ok));
    for (const bad of [["now"], ["sync", "sync"]]) {
      assert.throws(
        () => checkFlushAllArgs(args("flushall", ...bad)),
        (err: Error) => err.message === "syntax error",
      );
    }
  });
});

describe("size limits", () => {
  it("refuses keys and values over their limits with one text each", () => {
    checkKeySize(Buffer.alloc(4), 4);
    checkValueSize(Buffer.alloc(8), 8);
    assert.throws(
      () => checkKeySize(Buffer.alloc(5), 4),
      (err: Error & { code?: string }) =>
        err.code === "KEY_TOO_LARGE" && err.message === "key is longer than max-key-size (4 bytes)",
    );
    assert.throws(
      () => checkValueSize(Buffer.alloc(9), 8),
      (err: Error & { code?: string }) =>
        err.code === "VALUE_TOO_LARGE" &&
        err.message === "value is larger than max-value-size (8 bytes)",
    );
  });
});

describe("copy", () => {
  it("copies a view into a buffer of its own", () => {
    const chunk = Buffer.from("xxhelloxx");
    const view = chunk.subarray(2, 7);
    const out = copy(view);
    chunk.fill(0);
    assert.equal(out.toString(), "hello");
  });
});

describe("string edits", () => {
  it("takes GETRANGE's indexes as Redis does: from the end when negative, clamped", () => {
    const cases: [number, bigint, bigint, [number, number]][] = [
      [5, 0n, -1n, [0, 5]],
      [5, 1n, 2n, [1, 3]],
      [5, -3n, -1n, [2, 5]],
      [5, -1n, -3n, [0, 0]],
      [5, -100n, 100n, [0, 5]],
      [5, 3n, 1n, [0, 0]],
      [5, 9n, 12n, [0, 0]],
      [0, 0n, -1n, [0, 0]],
      [5, -9223372036854775808n, 9223372036854775807n, [0, 5]],
    ];
    for (const [length, start, end, want] of cases) {
      assert.deepEqual(rangeOf(length, start, end), want, `${length} ${start} ${end}`);
    }
  });

  it("writes ranges over zero-filled gaps and appends", () => {
    assert.deepEqual(setRange(null, 2, Buffer.from("ab")), Buffer.from("\0\0ab", "latin1"));
    assert.deepEqual(setRange(Buffer.from("hello"), 1, Buffer.from("EL")), Buffer.from("hELlo"));
    assert.deepEqual(appended(Buffer.from("a"), Buffer.from("b")), Buffer.from("ab"));
    assert.deepEqual(appended(null, Buffer.from("b")), Buffer.from("b"));
  });

  it("refuses strings past Redis's 512 MB with its text, and past the limit naming it", () => {
    checkStringLength(10, 10);
    assert.throws(() => checkStringLength(11, 10), {
      message: "string exceeds maximum allowed size (max-value-size, 10 bytes)",
    });
    assert.throws(() => checkStringLength(PROTO_MAX_BULK_LEN + 1, Infinity), {
      message: "string exceeds maximum allowed size (proto-max-bulk-len)",
    });
    assert.throws(() => parseOffset(Buffer.from("-1")), { message: "offset is out of range" });
    assert.throws(() => parseOffset(Buffer.from("1.0")), {
      message: "value is not an integer or out of range",
    });
    assert.equal(parseIndex(Buffer.from("-9223372036854775808")), -9223372036854775808n);
  });

  it("reads GETEX's options as Redis does: one unit (repeatable) or PERSIST", () => {
    const opts = (...xs: string[]) => parseGetExOptions(args("getex", "k", ...xs));
    assert.deepEqual(opts(), { persist: false, unit: 0, expire: null });
    assert.deepEqual(opts("PERSIST", "persist"), { persist: true, unit: 0, expire: null });
    assert.equal(opts("ex", "1", "EX", "2").expire?.toString(), "2");
    assert.equal(opts("pxat", "5").unit, UNIT_PXAT);
    for (const bad of [
      ["ex"],
      ["ex", "1", "px", "2"],
      ["persist", "ex", "1"],
      ["ex", "1", "persist"],
      ["nx"],
      ["keepttl"],
      ["get"],
      ["foo"],
    ]) {
      assert.throws(() => opts(...bad), { message: "syntax error" }, bad.join(" "));
    }
    assert.equal(parseExpiry(Buffer.from("10"), UNIT_EX, 1000, "getex"), 11_000);
    assert.throws(() => parseExpiry(Buffer.from("0"), UNIT_PX, 1000, "psetex"), {
      message: "invalid expire time in 'psetex' command",
    });
    assert.throws(() => parseExpiry(Buffer.from("9223372036854775"), UNIT_EX, 1000, "setex"), {
      message: "invalid expire time in 'setex' command",
    });
    assert.equal(
      parseExpiry(Buffer.from("9223372036854775"), UNIT_EXAT, 1000, "getex"),
      Number.MAX_SAFE_INTEGER,
    );
  });
});

// The rest of src/redis/: INFO's sections and format, FLUSHALL's argument, the size limits
// and copies of argument bytes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { copy } from "../../src/redis/bytes.js";
import { checkFlushAllArgs } from "../../src/redis/flushall.js";
import { formatInfo, humanBytes, infoSections } from "../../src/redis/info.js";
import { checkKeySize, checkValueSize } from "../../src/redis/limits.js";

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

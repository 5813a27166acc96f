import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ERRORS,
  httpErrorReply,
  RingcacheError,
  respErrorReply,
  toRingcacheError,
} from "../../src/errors.js";

describe("error catalogue", () => {
  it("maps a code to its RESP prefix and HTTP status", () => {
    const err = new RingcacheError(
      "OUT_OF_MEMORY",
      "command not allowed when used memory > 'maxmemory'.",
    );
    assert.equal(err.respLine, "OOM command not allowed when used memory > 'maxmemory'.");
    assert.equal(err.httpStatus, 507);
  });

  it("renders an error as a whole RESP reply, one line whatever the message holds", () => {
    const full = new RingcacheError("MAX_CLIENTS", "max number of clients reached");
    assert.deepEqual(respErrorReply(full), Buffer.from("-ERR max number of clients reached\r\n"));
    const split = new RingcacheError("WRONG_TYPE", "two\r\nlines");
    assert.deepEqual(respErrorReply(split), Buffer.from("-WRONGTYPE two  lines\r\n"));
  });

  it("renders an error as the HTTP status and JSON body every node answers", () => {
    assert.deepEqual(httpErrorReply(new RingcacheError("NOT_FOUND", "no such key")), {
      status: 404,
      body: '{"error":{"code":"NOT_FOUND","message":"no such key"}}',
    });
    assert.deepEqual(httpErrorReply(new RingcacheError("METHOD_NOT_ALLOWED", 'use "GET"')), {
      status: 405,
      body: '{"error":{"code":"METHOD_NOT_ALLOWED","message":"use \\"GET\\""}}',
    });
  });

  it("wraps foreign errors as INTERNAL, keeping the cause", () => {
    const cause = new TypeError("boom");
    const err = toRingcacheError(cause);
    assert.equal(err.code, "INTERNAL");
    assert.equal(err.cause, cause);
    assert.equal(toRingcacheError(err), err);
  });

  it("uses RESP prefixes that are single words", () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.match(spec.resp, /^[A-Z]+$/, code);
      assert.ok(spec.http >= 400 && spec.http < 600, code);
    }
  });
});

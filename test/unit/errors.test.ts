import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  ERRORS,
  httpErrorReply,
  RingcacheError,
  respErrorReply,
  toRingcacheError,
} from "../../src/errors.js";
import { REPO_ROOT } from "../helpers/process.js";

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

/** The rows of the errors table in docs/http-api.md, as "code": "status prefix". */
function documentedErrors(): Map<string, string> {
  const text = readFileSync(join(REPO_ROOT, "docs", "http-api.md"), "utf8");
  const lines = text.split("\n");
  const header = lines.findIndex((line) =>
    /^\|\s*code\s*\|\s*HTTP status\s*\|\s*RESP prefix\s*\|\s*when\s*\|$/.test(line),
  );
  assert.ok(
    header >= 0,
    "docs/http-api.md has no | code | HTTP status | RESP prefix | when | table",
  );
  const rows = new Map<string, string>();
  // The header, the |---| line under it, then rows until the first line that is not one.
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const cells = line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim().replace(/^`(.*)`$/, "$1"));
    assert.equal(cells.length, 4, line);
    const [code, status, prefix] = cells as [string, string, string];
    assert.ok(!rows.has(code), `${code} is documented twice`);
    rows.set(code, `${status} ${prefix}`);
  }
  return rows;
}

describe("docs/http-api.md", () => {
  it("documents every code of the catalogue, and only those, with its status and prefix", () => {
    const documented = documentedErrors();
    const catalogue = new Map(
      Object.entries(ERRORS).map(([code, spec]) => [code, `${spec.http} ${spec.resp}`]),
    );
    for (const [code, mapping] of catalogue) {
      assert.equal(documented.get(code), mapping, `${code} in the docs' errors table`);
    }
    for (const [code, mapping] of documented) {
      assert.equal(catalogue.get(code), mapping, `${code} in src/errors.ts`);
    }
  });
});

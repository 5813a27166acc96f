import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { HttpWire } from "../../src/loadgen/http.js";
import { Random } from "../../src/loadgen/random.js";
import { RespWire } from "../../src/loadgen/resp.js";
import {
  REPLY_MISS,
  REPLY_OK,
  WireError,
  type ReplySink,
  type Wire,
} from "../../src/loadgen/wire.js";
import { OP_GET, OP_SET, Workload } from "../../src/loadgen/workload.js";

const workload = new Workload(
  {
    keyspace: 1000,
    keyPrefix: "key:",
    distribution: "uniform",
    zipfSkew: 0.99,
    readRatio: 0.9,
    valueSizeMin: 0,
    valueSizeMax: 16,
  },
  new Random(1),
);

function frame(wire: Wire, op: typeof OP_GET | typeof OP_SET, key: number, size: number): string {
  const buf = Buffer.alloc(wire.requestSize(op, size) + 4, "#");
  const end = wire.encode(buf, 2, op, key, size);
  assert.equal(end - 2, wire.requestSize(op, size), "requestSize matches encode");
  assert.equal(buf.toString("latin1", 0, 2), "##");
  assert.equal(buf.toString("latin1", end), "##");
  return buf.toString("latin1", 2, end);
}

/** Feeds chunks to a fresh parser and lists what it reported. */
function parse(wire: Wire, chunks: readonly Buffer[]): string[] {
  const seen: string[] = [];
  const sink: ReplySink = {
    reply: (outcome) =>
      seen.push(outcome === REPLY_OK ? "ok" : outcome === REPLY_MISS ? "miss" : "?"),
    errorReply: (kind, message) => seen.push(`error ${kind}: ${message}`),
    serverClosing: () => seen.push("closing"),
  };
  const parser = wire.createParser(sink);
  for (const chunk of chunks) parser.feed(chunk);
  return seen;
}

/** The same bytes whole, byte by byte, split at every point, and split at random points. */
function checkEverySplit(wire: Wire, bytes: Buffer, expected: readonly string[]): void {
  assert.deepEqual(parse(wire, [bytes]), expected, "in one chunk");
  assert.deepEqual(
    parse(
      wire,
      [...bytes].map((b) => Buffer.from([b])),
    ),
    expected,
    "byte by byte",
  );
  for (let at = 1; at < bytes.length; at++) {
    assert.deepEqual(
      parse(wire, [bytes.subarray(0, at), bytes.subarray(at)]),
      expected,
      `split at ${at}`,
    );
  }
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }),
      (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
        const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
        assert.deepEqual(parse(wire, chunks), expected);
      },
    ),
    { numRuns: 200 },
  );
}

describe("RESP wire", () => {
  it("encodes GET and SET, with and without a TTL", () => {
    const plain = new RespWire(workload, 0);
    assert.equal(frame(plain, OP_GET, 42, 0), "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000042\r\n");
    assert.equal(
      frame(plain, OP_SET, 7, 5),
      "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$5\r\nxxxxx\r\n",
    );
    const ttl = new RespWire(workload, 300);
    assert.equal(
      frame(ttl, OP_SET, 7, 12),
      "*5\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$12\r\nxxxxxxxxxxxx\r\n$2\r\nEX\r\n$3\r\n300\r\n",
    );
    assert.equal(
      frame(ttl, OP_SET, 0, 0),
      "*5\r\n$3\r\nSET\r\n$16\r\nkey:000000000000\r\n$0\r\n\r\n$2\r\nEX\r\n$3\r\n300\r\n",
    );
  });

  it("classifies every reply, however the bytes are split", () => {
    const wire = new RespWire(workload, 0);
    const bytes = Buffer.from(
      [
        "+OK\r\n",
        "$5\r\nhello\r\n",
        "$-1\r\n",
        ":42\r\n",
        "-ERR unknown command 'FOO'\r\n",
        "$0\r\n\r\n",
        "*2\r\n$1\r\na\r\n-ERR inside an array\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*2\r\n*1\r\n:1\r\n$-1\r\n",
        "_\r\n",
        "-CLUSTERDOWN no owner is up\r\n",
        "$12\r\nline\r\nbreaks\r\n",
      ].join(""),
      "latin1",
    );
    checkEverySplit(wire, bytes, [
      "ok",
      "ok",
      "miss",
      "ok",
      "error ERR: ERR unknown command 'FOO'",
      "ok",
      "ok",
      "miss",
      "ok",
      "ok",
      "miss",
      "error CLUSTERDOWN: CLUSTERDOWN no owner is up",
      "ok",
    ]);
  });

  it("refuses bytes that are not RESP", () => {
    const wire = new RespWire(workload, 0);
    for (const bad of ["HTTP/1.1 200 OK\r\n", "$x\r\n", "$-5\r\n", "*1\r\n?\r\n"]) {
      assert.throws(() => parse(wire, [Buffer.from(bad)]), WireError, bad);
    }
  });
});

describe("HTTP wire", () => {
  it("encodes GET and PUT on /v1/keys/{key}", () => {
    const wire = new HttpWire(workload, 0, "127.0.0.1", 8088);
    assert.equal(
      frame(wire, OP_GET, 42, 0),
      "GET /v1/keys/key:000000000042 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\n\r\n",
    );
    assert.equal(
      frame(wire, OP_SET, 3, 5),
      "PUT /v1/keys/key:000000000003 HTTP/1.1\r\nHost: 127.0.0.1:8088\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nxxxxx",
    );
    const ttl = new HttpWire(workload, 60, "::1", 80);
    assert.equal(
      frame(ttl, OP_SET, 3, 5),
      "PUT /v1/keys/key:000000000003?ttl=60 HTTP/1.1\r\nHost: [::1]:80\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nxxxxx",
    );
  });

  it("classifies pipelined responses, however the bytes are split", () => {
    const wire = new HttpWire(workload, 0, "127.0.0.1", 8088);
    const bytes = Buffer.from(
      [
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\nunavailable",
        "HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\n\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      ].join(""),
      "latin1",
    );
    checkEverySplit(wire, bytes, [
      "ok",
      "miss",
      "ok",
      "ok",
      "ok",
      "error HTTP 503: HTTP/1.1 503 Service Unavailable",
      "ok",
      "closing",
      "miss",
    ]);
  });

  it("refuses what cannot be pipelined or is not HTTP", () => {
    const wire = new HttpWire(workload, 0, "127.0.0.1", 8088);
    for (const bad of [
      "+OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", // length unknown until close
      "HTTP/1.1 abc\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]) {
      assert.throws(() => parse(wire, [Buffer.from(bad)]), WireError, bad);
    }
  });
});

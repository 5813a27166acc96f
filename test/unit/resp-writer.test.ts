import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RespReplyError, RespWriter, encodeCommand } from "../../src/protocol/resp/index.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

function written(write: (w: RespWriter) => unknown): string {
  const w = new RespWriter();
  write(w);
  return w.take().toString("latin1");
}

describe("RespWriter: byte-exact RESP2", () => {
  it("writes simple strings, errors and integers", () => {
    assert.equal(
      written((w) => w.simple("OK")),
      "+OK\r\n",
    );
    assert.equal(
      written((w) => w.simple("PONG")),
      "+PONG\r\n",
    );
    assert.equal(
      written((w) => w.simple("QUEUED")),
      "+QUEUED\r\n",
    );
    assert.equal(
      written((w) => w.error("ERR unknown command")),
      "-ERR unknown command\r\n",
    );
    assert.equal(
      written((w) => w.integer(0)),
      ":0\r\n",
    );
    assert.equal(
      written((w) => w.integer(-5)),
      ":-5\r\n",
    );
    assert.equal(
      written((w) => w.integer(-0)),
      ":0\r\n",
    );
    assert.equal(
      written((w) => w.integer(1234567890123)),
      ":1234567890123\r\n",
    );
    assert.equal(
      written((w) => w.integer(2 ** 53 - 1)),
      ":9007199254740991\r\n",
    );
    assert.equal(
      written((w) => w.integer(-(2 ** 53 - 1))),
      ":-9007199254740991\r\n",
    );
    assert.equal(
      written((w) => w.integer(2n ** 63n - 1n)),
      ":9223372036854775807\r\n",
    );
    assert.equal(
      written((w) => w.integer(-(2n ** 63n))),
      ":-9223372036854775808\r\n",
    );
  });

  it("refuses integers RESP2 cannot carry exactly", () => {
    const w = new RespWriter();
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 53]) {
      assert.throws(() => w.integer(bad), RangeError);
    }
    assert.throws(() => w.integer(2n ** 63n), RangeError);
    assert.throws(() => w.integer(-(2n ** 63n) - 1n), RangeError);
    assert.equal(w.length, 0, "nothing half-written");
  });

  it("turns CR and LF in error and status lines into spaces (no reply injection)", () => {
    assert.equal(
      written((w) => w.error("ERR bad\r\n+OK")),
      "-ERR bad  +OK\r\n",
    );
    assert.equal(
      written((w) => w.error("ERR a\nb\rc")),
      "-ERR a b c\r\n",
    );
    assert.equal(
      written((w) => w.simple("x\r\n:1")),
      "+x  :1\r\n",
    );
  });

  it("writes bulks, null bulk and null array", () => {
    assert.equal(
      written((w) => w.bulk(b("foo"))),
      "$3\r\nfoo\r\n",
    );
    assert.equal(
      written((w) => w.bulk(b(""))),
      "$0\r\n\r\n",
    );
    assert.equal(
      written((w) => w.bulk(null)),
      "$-1\r\n",
    );
    assert.equal(
      written((w) => w.nullBulk()),
      "$-1\r\n",
    );
    assert.equal(
      written((w) => w.nullArray()),
      "*-1\r\n",
    );
    assert.equal(
      written((w) => w.bulkString("h\u00e9")),
      "$3\r\nh\xc3\xa9\r\n",
    );
    assert.equal(
      written((w) => w.bulk(new Uint8Array([0, 13, 10, 255]))),
      "$4\r\n\0\r\n\xff\r\n",
    );
    const big = Buffer.alloc(1000, 0x7a);
    assert.equal(
      written((w) => w.bulk(big)),
      `$1000\r\n${"z".repeat(1000)}\r\n`,
    );
  });

  it("writes array headers, raw bytes, commands and relayed values", () => {
    assert.equal(
      written((w) => w.arrayHeader(0)),
      "*0\r\n",
    );
    assert.equal(
      written((w) => w.arrayHeader(2).bulk(b("a")).integer(1)),
      "*2\r\n$1\r\na\r\n:1\r\n",
    );
    assert.equal(
      written((w) => w.raw(b("+OK\r\n"))),
      "+OK\r\n",
    );
    const set = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n\xc3\xa9\r\n";
    assert.equal(
      written((w) => w.command(["SET", b("k"), "\u00e9"])),
      set,
    );
    assert.equal(encodeCommand(["SET", b("k"), "\u00e9"]).toString("latin1"), set);
    assert.equal(RespWriter.encodeCommand(["SET", "k", b("\xc3\xa9")]).toString("latin1"), set);
    assert.equal(encodeCommand([]).toString("latin1"), "*0\r\n");
    assert.equal(
      written((w) =>
        w.value([b("v"), null, "OK", 3, 2n ** 60n, new RespReplyError("ERR x"), [], [b("")]]),
      ),
      "*8\r\n$1\r\nv\r\n$-1\r\n+OK\r\n:3\r\n:1152921504606846976\r\n-ERR x\r\n*0\r\n*1\r\n$0\r\n\r\n",
    );
    assert.throws(() => new RespWriter().arrayHeader(-1), RangeError);
  });

  it("copies a bulk in at once: later changes to the source do not leak", () => {
    const w = new RespWriter();
    const slab = Buffer.from("value-1 and value-2");
    w.bulk(slab.subarray(0, 7));
    slab.write("XXXXXXX", 0);
    const big = Buffer.alloc(100, 0x61);
    w.bulk(big);
    big.fill(0x62);
    assert.equal(w.take().toString(), `$7\r\nvalue-1\r\n$100\r\n${"a".repeat(100)}\r\n`);
  });
});

describe("RespWriter: take()", () => {
  it("returns everything written once and resets", () => {
    const w = new RespWriter();
    assert.equal(w.length, 0);
    assert.equal(w.take().length, 0);
    w.simple("OK").integer(1);
    assert.equal(w.length, 9);
    assert.equal(w.take().toString(), "+OK\r\n:1\r\n");
    assert.equal(w.length, 0);
    assert.equal(w.take().length, 0);
  });

  it("never overwrites a buffer it handed out, small or large", () => {
    const w = new RespWriter(64);
    const small = w.simple("OK").take(); // copied out
    const large = w.bulk(Buffer.alloc(50, 0x61)).take(); // fills the buffer: handed out as is
    w.bulk(Buffer.alloc(50, 0x62)).bulk(Buffer.alloc(50, 0x63));
    const next = w.take();
    assert.equal(small.toString(), "+OK\r\n");
    assert.equal(large.toString(), `$50\r\n${"a".repeat(50)}\r\n`);
    assert.equal(next.toString(), `$50\r\n${"b".repeat(50)}\r\n$50\r\n${"c".repeat(50)}\r\n`);
  });

  it("grows past its initial capacity in one batch", () => {
    const w = new RespWriter(64);
    const expected: string[] = [];
    for (let i = 0; i < 1000; i++) {
      w.bulkString(`value-${i}`);
      expected.push(`$${String(`value-${i}`.length)}\r\nvalue-${i}\r\n`);
    }
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x78);
    w.bulk(huge);
    expected.push(`$${huge.length}\r\n${"x".repeat(huge.length)}\r\n`);
    assert.equal(w.take().toString(), expected.join(""));
    w.simple("OK");
    assert.equal(w.take().toString(), "+OK\r\n");
  });
});

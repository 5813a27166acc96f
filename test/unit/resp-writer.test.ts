import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  RespDouble,
  RespMap,
  RespReplyError,
  RespSet,
  RespVerbatim,
  RespWriter,
  encodeCommand,
  formatDouble,
  replyIn,
} from "../../src/protocol/resp/index.js";

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

describe("RespWriter: RESP3 forms and their RESP2 fallbacks (as redis-server 7.0 writes them)", () => {
  function both(write: (w: RespWriter) => unknown): [string, string] {
    const two = new RespWriter(64, 2);
    const three = new RespWriter(64, 3);
    write(two);
    write(three);
    return [two.take().toString("latin1"), three.take().toString("latin1")];
  }

  it("writes nulls as `$-1` / `*-1` in RESP2 and `_` in RESP3", () => {
    assert.deepEqual(
      both((w) => w.nullBulk()),
      ["$-1\r\n", "_\r\n"],
    );
    assert.deepEqual(
      both((w) => w.nullArray()),
      ["*-1\r\n", "_\r\n"],
    );
    assert.deepEqual(
      both((w) => w.bulk(null)),
      ["$-1\r\n", "_\r\n"],
    );
    assert.deepEqual(
      both((w) => w.arrayHeader(3).bulk(b("v")).bulk(null).nullBulk()),
      ["*3\r\n$1\r\nv\r\n$-1\r\n$-1\r\n", "*3\r\n$1\r\nv\r\n_\r\n_\r\n"],
    );
  });

  it("writes maps as `%n` in RESP3 and flat arrays of 2n in RESP2", () => {
    assert.deepEqual(
      both((w) => w.mapHeader(1).bulkString("save").bulkString("")),
      ["*2\r\n$4\r\nsave\r\n$0\r\n\r\n", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n"],
    );
    assert.deepEqual(
      both((w) => w.mapHeader(0)),
      ["*0\r\n", "%0\r\n"],
    );
  });

  it("writes sets as `~n` in RESP3 and arrays in RESP2", () => {
    assert.deepEqual(
      both((w) => w.setHeader(1).bulk(b("a"))),
      ["*1\r\n$1\r\na\r\n", "~1\r\n$1\r\na\r\n"],
    );
  });

  it("writes booleans as `#t` / `#f` in RESP3 and 1 / 0 in RESP2", () => {
    assert.deepEqual(
      both((w) => w.boolean(true).boolean(false)),
      [":1\r\n:0\r\n", "#t\r\n#f\r\n"],
    );
  });

  it("writes doubles as `,x` in RESP3 and a bulk in RESP2, with %.17g's digits", () => {
    // ZSCORE's replies from redis-server 7.0.15 for these scores.
    const cases: [number, string][] = [
      [0.1, "0.10000000000000001"],
      [1.5, "1.5"],
      [1125899906842624.25, "1125899906842624.2"], // an exact tie: half to even
      [1125899906842624.75, "1125899906842624.8"],
      [1e300, "1.0000000000000001e+300"],
      [1e-5, "1.0000000000000001e-05"],
      [Number("123456789012345678"), "1.2345678901234568e+17"],
      [0.0001, "0.0001"],
      [1e17, "1e+17"],
      [1e16, "10000000000000000"],
      [2.5e-7, "2.4999999999999999e-07"],
      [0, "0"],
      [Infinity, "inf"],
      [-Infinity, "-inf"],
    ];
    for (const [x, text] of cases) {
      assert.equal(formatDouble(x), text, `formatDouble(${x})`);
      assert.deepEqual(
        both((w) => w.double(x)),
        [`$${text.length}\r\n${text}\r\n`, `,${text}\r\n`],
      );
    }
    assert.equal(formatDouble(-2.5), "-2.5");
    assert.equal(formatDouble(NaN), "nan");
    assert.equal(formatDouble(5e-324), "4.9406564584124654e-324");
    assert.equal(formatDouble(Number.MAX_VALUE), "1.7976931348623157e+308");
    assert.equal(formatDouble(1e23), "9.9999999999999992e+22");
  });

  it("writes verbatim strings as `=len txt:` in RESP3 and bulks in RESP2 (INFO)", () => {
    assert.deepEqual(
      both((w) => w.verbatim("# Keyspace\r\n")),
      ["$12\r\n# Keyspace\r\n\r\n", "=16\r\ntxt:# Keyspace\r\n\r\n"],
    );
    assert.deepEqual(
      both((w) => w.verbatim("")),
      ["$0\r\n\r\n", "=4\r\ntxt:\r\n"],
    );
    assert.deepEqual(
      both((w) => w.verbatim(b("**x**"), "mkd")),
      ["$5\r\n**x**\r\n", "=9\r\nmkd:**x**\r\n"],
    );
    assert.throws(() => new RespWriter().verbatim("x", "text"), RangeError);
    assert.throws(() => new RespWriter().verbatim("x", "a:b"), RangeError);
  });

  it("leaves every other reply as it is in RESP2", () => {
    const [two, three] = both((w) =>
      w
        .simple("OK")
        .error("ERR x")
        .integer(-3)
        .bulk(b("v"))
        .arrayHeader(1)
        .bulkDecimal(7)
        .bulkString("s"),
    );
    assert.equal(three, two);
  });

  it("relays decoded RESP3 values in the writer's protocol", () => {
    const value = [
      new RespMap([b("k"), new RespSet([true, new RespDouble(0.5)])]),
      new RespVerbatim("txt", b("hi")),
      null,
    ];
    assert.deepEqual(
      both((w) => w.value(value)),
      [
        "*3\r\n*2\r\n$1\r\nk\r\n*2\r\n:1\r\n$3\r\n0.5\r\n$2\r\nhi\r\n$-1\r\n",
        "*3\r\n%1\r\n$1\r\nk\r\n~2\r\n#t\r\n,0.5\r\n=6\r\ntxt:hi\r\n_\r\n",
      ],
    );
  });
});

describe("replyIn: a whole reply built before its connection's protocol was known", () => {
  it("turns a RESP2 null into RESP3's for a RESP3 connection, and nothing else", () => {
    assert.equal(replyIn(b("$-1\r\n"), 3).toString(), "_\r\n");
    assert.equal(replyIn(b("*-1\r\n"), 3).toString(), "_\r\n");
    assert.equal(replyIn(b("$-1\r\n"), 2).toString(), "$-1\r\n");
    for (const reply of ["+OK\r\n", ":-1\r\n", "$1\r\n-\r\n", "*1\r\n$-1\r\n", "$-10\r\n"]) {
      assert.equal(replyIn(b(reply), 3).toString(), reply);
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  EXPECTED_CRLF_AFTER_BULK,
  EXPECTED_CRLF_AFTER_LINE,
  INVALID_BULK_LENGTH,
  INVALID_INTEGER,
  INVALID_MULTIBULK_LENGTH,
  QUERY_BUFFER_LIMIT,
  ReplyDecoder,
  type Resp3Value,
  RespDouble,
  RespMap,
  RespReplyError,
  RespSet,
  type RespValue,
  RespVerbatim,
  TOO_BIG_REPLY_LINE,
  TOO_DEEP_REPLY,
  invalidReply,
  unknownReplyType,
} from "../../src/protocol/resp/index.js";
import { ReplyLog, byteByByte, decodeReplies, decodeResp3Replies } from "./resp-support.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

/** Decodes in one chunk and byte by byte; both must agree. Returns the one-chunk log. */
function decodeBothWays(stream: string, limits?: Parameters<typeof decodeReplies>[1]): ReplyLog {
  const whole = decodeReplies([b(stream)], limits);
  const bytes = decodeReplies(byteByByte(b(stream)), limits);
  assert.deepEqual(bytes.replies, whole.replies, "byte by byte gives the same replies");
  assert.deepEqual(bytes.errors, whole.errors, "byte by byte gives the same errors");
  return whole;
}

function assertReplies(stream: string, expected: RespValue[]): void {
  const log = decodeBothWays(stream);
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.replies, expected);
}

function assertError(
  stream: string,
  message: string,
  before: RespValue[] = [],
  limits?: Parameters<typeof decodeReplies>[1],
): void {
  const log = decodeBothWays(stream, limits);
  assert.deepEqual(log.replies, before);
  assert.deepEqual(log.errors, [message]);
}

describe("ReplyDecoder: values", () => {
  it("decodes simple strings, interning OK and PONG", () => {
    assertReplies("+OK\r\n+PONG\r\n+hello world\r\n+\r\n+h\xc3\xa9\r\n", [
      "OK",
      "PONG",
      "hello world",
      "",
      "hé",
    ]);
  });

  it("decodes errors as values, not exceptions", () => {
    const log = decodeBothWays("-ERR unknown command 'FOO'\r\n-WRONGTYPE Operation\r\n-X\r\n");
    assert.deepEqual(log.errors, []);
    const [first, second, third] = log.replies;
    assert.ok(first instanceof RespReplyError);
    assert.equal(first.message, "ERR unknown command 'FOO'");
    assert.equal(first.prefix, "ERR");
    assert.ok(second instanceof RespReplyError);
    assert.equal(second.prefix, "WRONGTYPE");
    assert.ok(third instanceof RespReplyError);
    assert.equal(third.prefix, "X");
    assert.ok(!(first instanceof Error));
  });

  it("decodes integers as numbers, and as bigints beyond the safe range", () => {
    assertReplies(
      ":0\r\n:-5\r\n:42\r\n:9007199254740991\r\n:-9007199254740991\r\n" +
        ":9007199254740992\r\n:9223372036854775807\r\n:-9223372036854775808\r\n",
      [
        0,
        -5,
        42,
        Number.MAX_SAFE_INTEGER,
        -Number.MAX_SAFE_INTEGER,
        9007199254740992n,
        9223372036854775807n,
        -9223372036854775808n,
      ],
    );
  });

  it("decodes bulks: plain, empty, binary, and the null bulk", () => {
    assertReplies("$3\r\nfoo\r\n$0\r\n\r\n$4\r\n\r\n\0\xff\r\n$-1\r\n", [
      b("foo"),
      b(""),
      Buffer.from([13, 10, 0, 0xff]),
      null,
    ]);
  });

  it("decodes arrays: empty, null, nested, with nulls and errors inside", () => {
    const log = decodeBothWays(
      "*0\r\n*-1\r\n*2\r\n*1\r\n:1\r\n*-1\r\n" +
        "*5\r\n$1\r\na\r\n$-1\r\n+OK\r\n*2\r\n*0\r\n$0\r\n\r\n-ERR inner\r\n",
    );
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.replies.slice(0, 3), [[], null, [[1], null]]);
    assert.deepEqual(log.replies[3], [
      b("a"),
      null,
      "OK",
      [[], b("")],
      new RespReplyError("ERR inner"),
    ]);
  });

  it("delivers replies first in first out across chunks", () => {
    const seen: RespValue[] = [];
    const decoder = new ReplyDecoder({
      onReply: (v) => {
        seen.push(Buffer.isBuffer(v) ? v.toString() : v);
      },
      onProtocolError: (err) => assert.fail(err),
    });
    decoder.feed(b("+OK\r\n$5\r\nhel"));
    assert.deepEqual(seen, ["OK"]);
    assert.ok(decoder.bufferedBytes === 3);
    decoder.feed(b("lo\r\n:7\r"));
    assert.deepEqual(seen, ["OK", "hello"]);
    decoder.feed(b("\n"));
    assert.deepEqual(seen, ["OK", "hello", 7]);
    assert.equal(decoder.bufferedBytes, 0);
  });
});

describe("ReplyDecoder: protocol errors", () => {
  it("refuses unknown type bytes", () => {
    assertError("+OK\r\n!3\r\n", unknownReplyType(33), ["OK"]);
    assertError("%1\r\n", unknownReplyType(37)); // RESP3 is not spoken here
  });

  it("refuses malformed integers", () => {
    for (const n of ["", "abc", "01", "-0", "+1", "1 ", "12345678901234567890"]) {
      assertError(`:${n}\r\n`, INVALID_INTEGER);
    }
  });

  it("refuses malformed lengths; -1 is the only negative", () => {
    assertError("$-2\r\n", INVALID_BULK_LENGTH);
    assertError("$x\r\n", INVALID_BULK_LENGTH);
    assertError("*-2\r\n", INVALID_MULTIBULK_LENGTH);
    assertError("*01\r\n", INVALID_MULTIBULK_LENGTH);
  });

  it("checks CRLF after bulks and lines", () => {
    assertError("$3\r\nfooX\r\n", EXPECTED_CRLF_AFTER_BULK);
    assertError("+OK\rX", EXPECTED_CRLF_AFTER_LINE);
  });

  it("reports once and stays dead until reset()", () => {
    const log = new ReplyLog();
    const decoder = new ReplyDecoder(log);
    decoder.feed(b(":1\r\n?\r\n:2\r\n"));
    decoder.feed(b(":3\r\n"));
    assert.deepEqual(log.replies, [1]);
    assert.deepEqual(log.errors, [unknownReplyType(63)]);
    decoder.reset();
    decoder.feed(b(":4\r\n"));
    assert.deepEqual(log.replies, [1, 4]);
  });
});

describe("ReplyDecoder: limits", () => {
  it("maxBulkLength: at the limit and one past it", () => {
    const limits = { maxBulkLength: 5 };
    const ok = decodeBothWays("$5\r\nhello\r\n", limits);
    assert.deepEqual(ok.replies, [b("hello")]);
    assertError("$6\r\n", INVALID_BULK_LENGTH, [], limits);
  });

  it("maxArrayLength counts every element of a reply, nested ones too", () => {
    const limits = { maxArrayLength: 3 };
    const ok = decodeBothWays("*2\r\n:1\r\n*1\r\n:2\r\n*3\r\n:1\r\n:2\r\n:3\r\n", limits);
    assert.deepEqual(ok.replies, [
      [1, [2]],
      [1, 2, 3],
    ]);
    assertError("*4\r\n", INVALID_MULTIBULK_LENGTH, [], limits);
    assertError("*2\r\n:1\r\n*2\r\n", INVALID_MULTIBULK_LENGTH, [], limits);
  });

  it("maxNestingDepth: at the limit and one past it", () => {
    const limits = { maxNestingDepth: 3 };
    const ok = decodeBothWays("*1\r\n*1\r\n*1\r\n:1\r\n", limits);
    assert.deepEqual(ok.replies, [[[[1]]]]);
    assertError("*1\r\n*1\r\n*1\r\n*1\r\n", TOO_DEEP_REPLY, [], limits);
  });

  it("maxInlineLength bounds simple-string and error lines", () => {
    const limits = { maxInlineLength: 8 };
    const ok = decodeBothWays("+12345678\r\n-ERR 5678\r\n", limits);
    assert.equal(ok.replies[0], "12345678");
    assertError("+123456789\r\n", TOO_BIG_REPLY_LINE, [], limits);
    assertError("-123456789", TOO_BIG_REPLY_LINE, [], limits);
  });

  it("maxBufferedBytes bounds the bulk bytes of one reply", () => {
    const limits = { maxBulkLength: 10, maxBufferedBytes: 10 + 4096 };
    const bulks = (n: number): string => "$10\r\n0123456789\r\n".repeat(n);
    const ok = decodeReplies([b(`*411\r\n${bulks(410)}$6\r\n012345\r\n`)], limits);
    assert.deepEqual(ok.errors, [], "410 * 10 + 6 = 4106: at the limit");
    assert.equal(ok.replies.length, 1);
    const over = decodeReplies([b(`*411\r\n${bulks(410)}$7\r\n`)], limits);
    assert.deepEqual(over.errors, [QUERY_BUFFER_LIMIT]);
  });

  it("never allocates from a claimed length before the bytes arrive", () => {
    const decoder = new ReplyDecoder(new ReplyLog(), { maxBulkLength: 512 * 1024 * 1024 });
    const before = process.memoryUsage().arrayBuffers;
    decoder.feed(b("$500000000\r\nabc"));
    assert.equal(decoder.bufferedBytes, 3);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 4 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`);
  });
});

describe("ReplyDecoder with { resp3: true }", () => {
  function decode3(stream: string): ReplyLog<Resp3Value> {
    const whole = decodeResp3Replies([b(stream)]);
    const bytes = decodeResp3Replies(byteByByte(b(stream)));
    assert.deepEqual(bytes.replies, whole.replies, "byte by byte gives the same replies");
    assert.deepEqual(bytes.errors, whole.errors, "byte by byte gives the same errors");
    return whole;
  }

  function assertReplies3(stream: string, expected: Resp3Value[]): void {
    const log = decode3(stream);
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.replies, expected);
  }

  it("decodes RESP3's scalars: null, booleans, doubles, big numbers", () => {
    assertReplies3(
      "_\r\n#t\r\n#f\r\n,1.5\r\n,-0.25e3\r\n,10\r\n,inf\r\n,-inf\r\n(12345678901234567890\r\n",
      [
        null,
        true,
        false,
        new RespDouble(1.5),
        new RespDouble(-250),
        new RespDouble(10),
        new RespDouble(Infinity),
        new RespDouble(-Infinity),
        12345678901234567890n,
      ],
    );
    const nan = decode3(",nan\r\n").replies[0] as RespDouble;
    assert.ok(Number.isNaN(nan.value));
  });

  it("decodes maps, sets, verbatim strings and blob errors, nested", () => {
    assertReplies3(
      "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nmodules\r\n*0\r\n~2\r\n:1\r\n_\r\n=8\r\ntxt:a\r\nb\r\n!5\r\nERR x\r\n%0\r\n~0\r\n",
      [
        new RespMap([b("server"), b("redis"), b("modules"), []]),
        new RespSet([1, null]),
        new RespVerbatim("txt", b("a\r\nb")),
        new RespReplyError("ERR x"),
        new RespMap([]),
        new RespSet([]),
      ],
    );
    assertReplies3("*2\r\n%1\r\n+k\r\n~1\r\n#t\r\n$-1\r\n", [
      [new RespMap(["k", new RespSet([true])]), null],
    ]);
  });

  it("still decodes RESP2 the same", () => {
    assertReplies3("+OK\r\n-ERR x\r\n:5\r\n$1\r\nv\r\n$-1\r\n*-1\r\n*1\r\n$0\r\n\r\n", [
      "OK",
      new RespReplyError("ERR x"),
      5,
      b("v"),
      null,
      null,
      [b("")],
    ]);
  });

  it("refuses RESP3 replies that break their type's grammar", () => {
    for (const [stream, type] of [
      ["_x\r\n", "_"],
      ["#x\r\n", "#"],
      ["#\r\n", "#"],
      [",\r\n", ","],
      [",1.2.3\r\n", ","],
      [", 1\r\n", ","],
      ["(12a\r\n", "("],
      ["=3\r\ntxt\r\n", "="],
      ["=5\r\ntxt-x\r\n", "="],
    ] as const) {
      const log = decode3(stream);
      assert.deepEqual(log.errors, [invalidReply(type.charCodeAt(0))], stream);
    }
    assert.deepEqual(decode3("%-1\r\n").errors, [INVALID_MULTIBULK_LENGTH]);
    assert.deepEqual(decode3("~-1\r\n").errors, [INVALID_MULTIBULK_LENGTH]);
    assert.deepEqual(decode3("=-1\r\n").errors, [INVALID_BULK_LENGTH]);
    // Push and attribute frames: no ringcache node sends them.
    assert.deepEqual(decode3(">1\r\n+x\r\n").errors, [unknownReplyType(62)]);
    assert.deepEqual(decode3("|1\r\n+a\r\n+b\r\n").errors, [unknownReplyType(124)]);
  });

  it("counts a map of n pairs as 2n elements against maxArrayLength", () => {
    const ok = decodeResp3Replies([b("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n")], { maxArrayLength: 4 });
    assert.deepEqual(ok.errors, []);
    const over = decodeResp3Replies([b("%3\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n")], {
      maxArrayLength: 4,
    });
    assert.deepEqual(over.errors, [INVALID_MULTIBULK_LENGTH]);
  });
});

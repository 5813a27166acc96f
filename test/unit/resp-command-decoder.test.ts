import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RingcacheError } from "../../src/errors.js";
import {
  BUFFER_HEADROOM,
  CommandDecoder,
  DEFAULT_LIMITS,
  EXPECTED_CRLF_AFTER_BULK,
  INVALID_BULK_LENGTH,
  INVALID_MULTIBULK_LENGTH,
  NUL_IN_INLINE_REQUEST,
  QUERY_BUFFER_LIMIT,
  RespProtocolError,
  TOO_BIG_INLINE_REQUEST,
  UNBALANCED_QUOTES,
  encodeCommand,
  resolveLimits,
} from "../../src/protocol/resp/index.js";
import { CommandLog, byteByByte, decodeCommands } from "./resp-support.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

/** Whether `part` lies inside the memory of `whole` (small Buffers may share one pool). */
function isViewOf(part: Buffer, whole: Buffer): boolean {
  return (
    part.buffer === whole.buffer &&
    part.byteOffset >= whole.byteOffset &&
    part.byteOffset + part.length <= whole.byteOffset + whole.length
  );
}

/** Decodes in one chunk and byte by byte; both must agree. Returns the one-chunk log. */
function decodeBothWays(stream: Buffer, limits?: Parameters<typeof decodeCommands>[1]): CommandLog {
  const whole = decodeCommands([stream], limits);
  const bytes = decodeCommands(byteByByte(stream), limits);
  assert.deepEqual(bytes.commands, whole.commands, "byte by byte gives the same commands");
  assert.deepEqual(bytes.errors, whole.errors, "byte by byte gives the same errors");
  return whole;
}

/** Asserts that the stream yields `before` commands, then exactly this one protocol error. */
function assertError(
  stream: string | Buffer,
  message: string,
  before: string[][] = [],
  limits?: Parameters<typeof decodeCommands>[1],
): void {
  const log = decodeBothWays(typeof stream === "string" ? b(stream) : stream, limits);
  assert.deepEqual(log.text, before);
  assert.deepEqual(log.errors, [message]);
}

describe("CommandDecoder: frames", () => {
  it("decodes a multibulk command in one chunk and byte by byte", () => {
    const log = decodeBothWays(b("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"));
    assert.deepEqual(log.text, [["SET", "key", "value"]]);
    assert.deepEqual(log.errors, []);
  });

  it("decodes an empty bulk ($0)", () => {
    const log = decodeBothWays(b("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"));
    assert.deepEqual(log.text, [["ECHO", ""]]);
  });

  it("keeps binary bulks intact: CR, LF, NUL, 0xFF and a fake frame inside", () => {
    const value = Buffer.from([13, 10, 0, 0xff, 0x2a, 0x31, 13, 10, 0x24, 13, 10, 13]);
    const log = decodeBothWays(encodeCommand(["SET", "k", value]));
    assert.equal(log.commands.length, 1);
    assert.deepEqual(log.commands[0]![2], value);
  });

  it("decodes a pipeline of mixed commands in order", () => {
    const stream = Buffer.concat([
      encodeCommand(["SET", "a", "1"]),
      b("PING\r\n"),
      encodeCommand(["GET", "a"]),
      b("*0\r\n"), // empty: skipped
      b("*-1\r\n"), // null: skipped
      b("*-42\r\n"), // any negative count: skipped, as Redis does
      b("\r\n"), // blank inline line: skipped
      b("echo hello\n"), // a bare LF ends an inline line too
      encodeCommand(["DEL", "a", "b", "c"]),
    ]);
    const log = decodeBothWays(stream);
    assert.deepEqual(log.text, [
      ["SET", "a", "1"],
      ["PING"],
      ["GET", "a"],
      ["echo", "hello"],
      ["DEL", "a", "b", "c"],
    ]);
    assert.deepEqual(log.errors, []);
  });

  it("splits inline commands as Redis does", () => {
    const log = decodeBothWays(
      b(
        [
          "  SET \t key   value  ",
          `SET k "a b\\x41\\n\\t\\"q\\""`,
          "SET k 'it\\'s' x",
          `ECHO "" x`, // empty arguments are dropped
          `ECHO a"b c"`, // a quoted part may follow a plain prefix
          "PING\x0b", // \v belongs to a plain token
        ].join("\r\n") + "\r\n",
      ),
    );
    assert.deepEqual(log.text, [
      ["SET", "key", "value"],
      ["SET", "k", 'a bA\n\t"q"'],
      ["SET", "k", "it's", "x"],
      ["ECHO", "x"],
      ["ECHO", "ab c"],
      ["PING\x0b"],
    ]);
  });

  it("hands out views of the chunk on the one-chunk path, fresh buffers across chunks", () => {
    const chunk = encodeCommand(["SET", "key", "value"]);
    let seen: Buffer[] = [];
    const decoder = new CommandDecoder({
      onCommand: (args) => {
        seen = args;
      },
      onProtocolError: (err) => assert.fail(err),
    });
    decoder.feed(chunk);
    for (const arg of seen) assert.ok(isViewOf(arg, chunk), "a view, not a copy");

    // "value" split across two chunks is assembled into memory of its own.
    const cut = chunk.length - 4;
    const first = Buffer.from(chunk.subarray(0, cut));
    const second = Buffer.from(chunk.subarray(cut));
    decoder.feed(first);
    decoder.feed(second);
    assert.equal(seen[2]!.toString(), "value");
    assert.ok(!isViewOf(seen[2]!, first) && !isViewOf(seen[2]!, second));
    assert.ok(isViewOf(seen[0]!, first), "an argument within one chunk stays a view");
  });

  it("reports bufferedBytes for a partial command and drops it to 0 when complete", () => {
    const log = new CommandLog();
    const decoder = new CommandDecoder(log);
    decoder.feed(b("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123"));
    assert.equal(decoder.bufferedBytes, 3 + 1 + 4);
    decoder.feed(b("456789\r"));
    assert.equal(decoder.bufferedBytes, 3 + 1 + 10);
    decoder.feed(b("\n"));
    assert.equal(decoder.bufferedBytes, 0);
    assert.deepEqual(log.text, [["SET", "k", "0123456789"]]);
  });
});

describe("CommandDecoder: protocol errors, with Redis's messages", () => {
  it("refuses malformed multibulk counts", () => {
    for (const count of ["abc", "01", "1x", "+1", " 1", "-0", "", "99999999999999999999"]) {
      assertError(`*${count}\r\n`, INVALID_MULTIBULK_LENGTH);
    }
    assertError("*1\n$4\r\nPING\r\n", INVALID_MULTIBULK_LENGTH); // LF without CR
    assertError("*-99999999999999999999\r\n", INVALID_MULTIBULK_LENGTH); // past 2^53
  });

  it("refuses malformed bulk lengths, including negative ones", () => {
    for (const len of ["-1", "-0", "abc", "01", "", "1 ", "99999999999999999999"]) {
      assertError(`*1\r\n$${len}\r\n`, INVALID_BULK_LENGTH);
    }
  });

  it("expects '$' before each argument", () => {
    assertError("*1\r\n:1\r\n", "Protocol error: expected '$', got ':'");
    assertError("*2\r\n$4\r\nPING\r\nx", "Protocol error: expected '$', got 'x'");
  });

  it("checks the CRLF after a bulk (Redis skips it blindly; a desync is caught here)", () => {
    assertError("*1\r\n$4\r\nPINGxx\r\n", EXPECTED_CRLF_AFTER_BULK);
    assertError("*1\r\n$4\r\nPING\rx", EXPECTED_CRLF_AFTER_BULK);
    assertError("*1\r\n$4\r\nPING\n\r", EXPECTED_CRLF_AFTER_BULK);
  });

  it("refuses unbalanced quotes in inline commands", () => {
    assertError('PING\r\nSET a "b\r\n', UNBALANCED_QUOTES, [["PING"]]);
    assertError('SET a "b"c\r\n', UNBALANCED_QUOTES);
    assertError("SET a 'b'c\r\n", UNBALANCED_QUOTES);
    assertError('ECHO "\\"\r\n', UNBALANCED_QUOTES);
  });

  it("refuses an inline line with a NUL byte", () => {
    assertError("ECHO a\0b\r\n", NUL_IN_INLINE_REQUEST);
  });

  it("reports once, stays dead, and comes back after reset()", () => {
    const log = new CommandLog();
    const decoder = new CommandDecoder(log);
    decoder.feed(b("*1\r\n$4\r\nPING\r\n*x\r\n*1\r\n$4\r\nPING\r\n"));
    decoder.feed(encodeCommand(["PING"]));
    decoder.feed(b("*zzz"));
    assert.deepEqual(log.text, [["PING"]]);
    assert.deepEqual(log.errors, [INVALID_MULTIBULK_LENGTH]);
    decoder.reset();
    decoder.feed(encodeCommand(["PING"]));
    assert.deepEqual(log.text, [["PING"], ["PING"]]);
  });

  it("passes errors as RespProtocolError with code PROTOCOL and an ERR line", () => {
    let error: RespProtocolError | undefined;
    const decoder = new CommandDecoder({
      onCommand: () => assert.fail("no command expected"),
      onProtocolError: (err) => {
        error = err;
      },
    });
    decoder.feed(b("*1\r\n$-1\r\n"));
    assert.ok(error instanceof RespProtocolError);
    assert.ok(error instanceof RingcacheError);
    assert.equal(error.code, "PROTOCOL");
    assert.equal(error.respLine, "ERR Protocol error: invalid bulk length");
  });

  it("stops the current chunk when a handler resets the decoder", () => {
    const seen: string[] = [];
    const decoder: CommandDecoder = new CommandDecoder({
      onCommand: (args) => {
        seen.push(args[0]!.toString());
        if (args[0]!.toString() === "QUIT") decoder.reset();
      },
      onProtocolError: (err) => assert.fail(err),
    });
    decoder.feed(Buffer.concat([encodeCommand(["PING"]), b("QUIT\r\nPING\r\n")]));
    assert.deepEqual(seen, ["PING", "QUIT"]);
  });
});

describe("CommandDecoder: limits", () => {
  it("has safe defaults", () => {
    assert.deepEqual(
      { ...DEFAULT_LIMITS },
      {
        maxBulkLength: 16 * 1024 * 1024,
        maxArrayLength: 1024 * 1024,
        maxInlineLength: 64 * 1024,
        maxBufferedBytes: 64 * 1024 * 1024,
        maxNestingDepth: 64,
      },
    );
  });

  it("accepts the default array and bulk limits and refuses one more", () => {
    const atLimit = decodeCommands([b("*1048576\r\n$16777216\r\n")]);
    assert.deepEqual(atLimit.errors, []);
    assertError("*1048577\r\n", INVALID_MULTIBULK_LENGTH);
    assertError("*1\r\n$16777217\r\n", INVALID_BULK_LENGTH);
  });

  it("maxBulkLength: at the limit and one past it", () => {
    const limits = { maxBulkLength: 10 };
    const ok = decodeBothWays(encodeCommand(["SET", "k", "0123456789"]), limits);
    assert.deepEqual(ok.text, [["SET", "k", "0123456789"]]);
    assertError(encodeCommand(["SET", "k", "0123456789A"]), INVALID_BULK_LENGTH, [], limits);
  });

  it("maxArrayLength: at the limit and one past it", () => {
    const limits = { maxArrayLength: 4 };
    const ok = decodeBothWays(encodeCommand(["DEL", "a", "b", "c"]), limits);
    assert.deepEqual(ok.text, [["DEL", "a", "b", "c"]]);
    assertError(encodeCommand(["DEL", "a", "b", "c", "d"]), INVALID_MULTIBULK_LENGTH, [], limits);
  });

  it("maxInlineLength: a 64 KiB line passes, one byte more does not", () => {
    const max = DEFAULT_LIMITS.maxInlineLength;
    const line = "ECHO " + "x".repeat(max - 5);
    const ok = decodeBothWays(b(line + "\r\n"));
    assert.equal(ok.commands.length, 1);
    assert.equal(ok.commands[0]![1]!.length, max - 5);
    const okLF = decodeCommands([b(line + "\n")]);
    assert.equal(okLF.commands.length, 1);
    assertError(line + "x\r\n", TOO_BIG_INLINE_REQUEST);
    // Without any newline, the error comes as soon as the line cannot fit any more.
    const open = decodeCommands([b(line + "xx")]);
    assert.deepEqual(open.errors, [TOO_BIG_INLINE_REQUEST]);
    const openAtLimit = decodeCommands([b(line + "\r")]);
    assert.deepEqual(openAtLimit.errors, [], "a line of max bytes and its CR may still end");
  });

  it("maxBufferedBytes: the sum a command claims, at the limit and one past it", () => {
    const limits = { maxBulkLength: 1000, maxBufferedBytes: 1000 + BUFFER_HEADROOM };
    const total = limits.maxBufferedBytes;
    const args: string[] = [];
    for (let left = total; left > 0; left -= Math.min(left, 1000)) {
      args.push("v".repeat(Math.min(left, 1000)));
    }
    // Two such commands in one pipeline: the limit is per command, not per connection.
    const ok = decodeCommands([Buffer.concat([encodeCommand(args), encodeCommand(args)])], limits);
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.commands.length, 2);
    args.push("x");
    const over = decodeCommands([encodeCommand(args)], limits);
    assert.deepEqual(over.errors, [QUERY_BUFFER_LIMIT]);
    assert.equal(over.commands.length, 0);
  });

  it("validates limits once, naming the field", () => {
    assert.throws(
      () => new CommandDecoder(new CommandLog(), { maxBulkLength: 512 * 1024 * 1024 + 1 }),
      (err: unknown) =>
        err instanceof RingcacheError && err.code === "CONFIG" && /maxBulkLength/.test(err.message),
    );
    assert.throws(
      () => resolveLimits({ maxBulkLength: 1024, maxBufferedBytes: 1024 + BUFFER_HEADROOM - 1 }),
      /maxBufferedBytes/,
    );
    assert.throws(() => resolveLimits({ maxArrayLength: 0 }), /maxArrayLength/);
    // Raising the bulk limit alone raises the buffer limit with it.
    const raised = resolveLimits({ maxBulkLength: 512 * 1024 * 1024 });
    assert.equal(raised.maxBufferedBytes, 512 * 1024 * 1024 + BUFFER_HEADROOM);
  });

  it("never allocates from a claimed length before the bytes arrive", () => {
    const limits = { maxBulkLength: 512 * 1024 * 1024 };
    const log = new CommandLog();
    const decoder = new CommandDecoder(log, limits);
    const before = process.memoryUsage().arrayBuffers;
    decoder.feed(b("*1\r\n$400000000\r\n"));
    decoder.feed(b("0123456789"));
    assert.equal(decoder.bufferedBytes, 10);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 4 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`);
    // Memory follows the bytes that do arrive.
    decoder.feed(Buffer.alloc(1024 * 1024, 0x61));
    assert.equal(decoder.bufferedBytes, 10 + 1024 * 1024);
    const grownMore = process.memoryUsage().arrayBuffers - before;
    assert.ok(grownMore < 16 * 1024 * 1024, `arrayBuffers grew by ${grownMore} bytes`);
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.commands, []);
    decoder.reset();
    assert.equal(decoder.bufferedBytes, 0);
  });
});

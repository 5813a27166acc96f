// Hostile keys and values through a master: binary keys, the key and value limits, EXPIRE with
// huge, negative and non-integer times, INCR on non-numbers and at the 64-bit edges, string
// edits (SETRANGE, GETRANGE, INCRBYFLOAT, GETEX …) at theirs. Where Redis
// defines the answer, the master's replies are compared byte for byte with a real redis-server
// given the same commands in the same order.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { RespWriter } from "../../src/protocol/resp/index.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless } from "../helpers/tools.js";
import { Guard } from "./guard.js";

type Arg = string | Buffer;

const FF = Buffer.from([0xff, 0xfe, 0x80, 0x00]);
const I64_MAX = "9223372036854775807";
const I64_MIN = "-9223372036854775808";

const COMMANDS: readonly Arg[][] = [
  // Keys are opaque bytes.
  ["SET", "", "empty key"],
  ["GET", ""],
  ["SET", "a\0b", "NUL in the key"],
  ["GET", "a\0b"],
  ["GET", "a"],
  ["SET", "a\r\nb", "CR/LF in the key"],
  ["GET", "a\r\nb"],
  ["SET", FF, FF],
  ["GET", FF],
  ["EXISTS", "", "a\0b", "a\r\nb", FF, "missing"],
  // EXPIRE: huge, overflowing, negative, non-integer.
  ["SET", "e", "v"],
  ["EXPIRE", "e", "99999999999999999999"],
  ["EXPIRE", "e", I64_MAX],
  ["EXPIRE", "e", "9223372036854775"],
  ["PEXPIRE", "e", I64_MAX],
  ["EXPIRE", "e", "1.5"],
  ["EXPIRE", "e", "abc"],
  ["EXPIRE", "e", ""],
  ["TTL", "e"],
  ["EXPIRE", "e", "-1"],
  ["GET", "e"],
  ["SET", "e", "v", "EX", "0"],
  ["SET", "e", "v", "EX", "-1"],
  ["SET", "e", "v", "EX", "99999999999999999999"],
  ["SET", "e", "v", "EX", I64_MAX],
  ["SET", "e", "v", "PX", "1.5"],
  ["EXISTS", "e"],
  // INCR: non-numbers, the 64-bit edges, no precision lost above 2^53.
  ["SET", "n", "abc"],
  ["INCR", "n"],
  ["SET", "n", I64_MAX],
  ["INCR", "n"],
  ["GET", "n"],
  ["SET", "n", I64_MIN],
  ["DECR", "n"],
  ["SET", "n", "9007199254740993"],
  ["INCR", "n"],
  ["GET", "n"],
  ["SET", "n", " 1"],
  ["INCR", "n"],
  ["SET", "n", "01"],
  ["INCR", "n"],
  ["SET", "n", "-0"],
  ["INCR", "n"],
  ["SET", "n", "1e3"],
  ["INCR", "n"],
  ["SET", "n", "1"],
  ["INCRBY", "n", I64_MAX],
  ["INCRBY", "n", "abc"],
  ["INCRBY", "n", "1.5"],
  ["DECRBY", "n", I64_MIN],
  ["INCRBY", "n", I64_MIN],
  ["GET", "n"],
  ["INCR", "fresh"],
  ["INCR", FF],
];

const LONG_NUMBER = `${"0".repeat(5118)}1`;
const BIN_KEY = Buffer.from([0xfe, 0x00, 0xff, 0x0d, 0x0a]);

/** String edits at their edges: offsets, indexes and numbers of every size. */
const STRING_EDITS: readonly Arg[][] = [
  ["DEL", "s", "f", BIN_KEY],
  ["SET", "s", "hello"],
  ["SETRANGE", "s", I64_MAX, "x"],
  ["SETRANGE", "s", "536870912", "x"],
  ["SETRANGE", "s", "99999999999999999999", "x"],
  ["SETRANGE", "s", "-1", "x"],
  ["SETRANGE", "s", I64_MAX, ""],
  ["SETRANGE", "s", "2", FF],
  ["GETRANGE", "s", I64_MIN, I64_MAX],
  ["GETRANGE", "s", I64_MAX, I64_MIN],
  ["GETRANGE", "s", "99999999999999999999", "1"],
  ["SUBSTR", "s", "-1", I64_MIN],
  ["STRLEN", "s"],
  ["APPEND", "s", FF],
  ["INCRBYFLOAT", "f", LONG_NUMBER],
  ["INCRBYFLOAT", "f", `0${LONG_NUMBER}`],
  ["INCRBYFLOAT", "f", "1e4932"],
  ["INCRBYFLOAT", "f", "-1e4932"],
  ["INCRBYFLOAT", "f", "1e-4951"],
  ["INCRBYFLOAT", "f", "1e9999999999999999999999"],
  ["INCRBYFLOAT", "f", "0x1p99999999999999"],
  ["INCRBYFLOAT", "f", "\0"],
  ["INCRBYFLOAT", "f", FF],
  ["SET", "f", LONG_NUMBER],
  ["INCRBYFLOAT", "f", "1"],
  ["GETEX", "s", "EXAT", I64_MAX],
  ["GETEX", "s", "PXAT", I64_MIN],
  ["GETEX", "s", "PX", "-9223372036854775809"],
  ["GETDEL", BIN_KEY],
  ["GETSET", BIN_KEY, FF],
  ["GETDEL", BIN_KEY],
  ["EXPIRETIME", BIN_KEY],
];

/** Sends every command in one write, then QUIT; returns the reply bytes before QUIT's +OK. */
async function replay(port: number, commands: readonly Arg[][]): Promise<Buffer> {
  const w = new RespWriter();
  for (const c of commands) w.command(c);
  w.command(["QUIT"]);
  const socket = connect({ port, host: "127.0.0.1" });
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    socket.once("close", () => resolve());
    socket.once("error", reject);
    socket.write(w.take());
  });
  const all = Buffer.concat(chunks);
  assert.ok(all.subarray(-5).equals(Buffer.from("+OK\r\n")));
  return all.subarray(0, -5);
}

/** Splits a reply stream into its top-level replies (no arrays among these commands). */
function splitReplies(bytes: Buffer): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const eol = bytes.indexOf("\r\n", pos);
    let end = eol + 2;
    if (bytes[pos] === 0x24 /* $ */) {
      const n = Number(bytes.subarray(pos + 1, eol).toString());
      if (n >= 0) end += n + 2;
    }
    out.push(bytes.subarray(pos, end).toString("latin1"));
    pos = end;
  }
  return out;
}

describe("hostile keys and values through a master", () => {
  let guard: Guard;

  before(async () => {
    guard = await Guard.start();
  });
  after(async () => {
    await guard.stop();
  });

  it(
    "answers binary keys, EXPIRE and INCR edge cases byte for byte as redis-server does",
    { skip: skipUnless("redis-server") },
    async () => {
      let redis: RedisServer | undefined;
      try {
        redis = await startRedisServer();
        const expected = splitReplies(await replay(redis.port, COMMANDS));
        const got = splitReplies(await replay(guard.master.port, COMMANDS));
        assert.equal(got.length, COMMANDS.length);
        COMMANDS.forEach((c, i) => {
          const shown = c.map((a) => JSON.stringify(a.toString("latin1"))).join(" ");
          assert.equal(got[i], expected[i], `reply to ${shown}`);
        });
      } finally {
        await redis?.stop();
      }
      await guard.check("keys and values compared with redis-server");
    },
  );

  it(
    "answers string edits at their edges byte for byte as redis-server does",
    { skip: skipUnless("redis-server") },
    async () => {
      let redis: RedisServer | undefined;
      try {
        redis = await startRedisServer();
        const expected = splitReplies(await replay(redis.port, STRING_EDITS));
        const got = splitReplies(await replay(guard.master.port, STRING_EDITS));
        assert.equal(got.length, STRING_EDITS.length);
        STRING_EDITS.forEach((c, i) => {
          const shown = c.map((a) => JSON.stringify(a.toString("latin1").slice(0, 40))).join(" ");
          assert.equal(got[i], expected[i], `reply to ${shown}`);
        });
      } finally {
        await redis?.stop();
      }
      await guard.check("string edits compared with redis-server");
    },
  );

  it("grows strings to max-value-size and no further, many clients at once", async () => {
    const max = 1024 * 1024;
    const replies = splitReplies(
      await replay(guard.master.port, [
        ["SETRANGE", "grown", String(max - 1), "x"],
        ["APPEND", "grown", "y"],
        ["SETRANGE", "grown", String(max), "y"],
        ["SETRANGE", "grown2", String(max), "y"],
        ["STRLEN", "grown"],
        ["EXISTS", "grown2"],
        ["DEL", "grown"],
      ]),
    );
    const tooLong = "-ERR string exceeds maximum allowed size (max-value-size, 1048576 bytes)\r\n";
    assert.deepEqual(replies, [
      `:${max}\r\n`,
      tooLong,
      tooLong,
      tooLong,
      `:${max}\r\n`,
      ":0\r\n",
      ":1\r\n",
    ]);
    // Many clients appending to one key up to the limit: every reply an answer, nothing more.
    const appends = Array.from({ length: 64 }, () => ["APPEND", "heap", "z".repeat(64 * 1024)]);
    const results = await Promise.all(
      Array.from({ length: 4 }, () => replay(guard.master.port, appends.slice(0, 16))),
    );
    const all = results.flatMap((r) => splitReplies(r));
    assert.equal(all.filter((r) => r.startsWith(":")).length, 16);
    assert.equal(all.filter((r) => r === tooLong).length, 48);
    await replay(guard.master.port, [["DEL", "heap"]]);
    await guard.check("strings grown to the value limit");
  });

  it("takes a key of max-key-size and refuses max+1 and over-limit values with clear errors", async () => {
    const max = 64 * 1024;
    const atMax = "k".repeat(max);
    const over = `${atMax}k`;
    const value = Buffer.alloc(1024 * 1024, 0x76);
    const replies = splitReplies(
      await replay(guard.master.port, [
        ["SET", atMax, "at the limit"],
        ["GET", atMax],
        ["SET", over, "v"],
        ["GET", over],
        ["SET", "v", value],
        ["SET", "v", Buffer.concat([value, Buffer.from("!")])],
        ["GET", "v"],
      ]),
    );
    // The refused value left the one before it in place.
    assert.equal(replies.pop(), `$${value.length}\r\n${value.toString("latin1")}\r\n`);
    assert.deepEqual(replies, [
      "+OK\r\n",
      "$12\r\nat the limit\r\n",
      "-ERR key is longer than max-key-size (65536 bytes)\r\n",
      "$-1\r\n",
      "+OK\r\n",
      "-ERR value is larger than max-value-size (1048576 bytes)\r\n",
    ]);
    await guard.check("key and value limits");
  });
});

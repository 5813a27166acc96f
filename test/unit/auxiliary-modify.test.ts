// An auxiliary node's read-modify-writes (RC.MODIFY, RC.INCRBY), RC.GET WITHEXPIRY, STRLEN and
// TOUCH, run in process through the node's own command path (a ClientConnection over its
// dispatcher and a real Store): results, versions, expiries, and bad input, which must get a
// clear error and change nothing.
import assert from "node:assert/strict";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  EFFECT_DEL,
  EFFECT_NONE,
  EFFECT_PUT,
  StaleVersionError,
  encodeModify,
  readGetReply,
  readModifyReply,
  type Modification,
} from "../../src/protocol/internal/index.js";
import {
  ReplyDecoder,
  RespReplyError,
  RespWriter,
  type RespValue,
} from "../../src/protocol/resp/index.js";
import { ClientConnection } from "../../src/server/resp-server.js";
import { LoopbackNode } from "../../src/simulation/loopback.js";

const NOW = 1_700_000_000_000;

/** A node on a fixed clock, and one client connection to it. */
function node(maxMemory = 64 * 1024 * 1024) {
  let now = NOW;
  const n = new LoopbackNode({ id: "a1", now: () => now, store: { maxBytes: maxMemory } });
  const conn = new ClientConnection(n.server, new Socket());
  let last: RespValue | undefined;
  const decoder = new ReplyDecoder({
    onReply: (v) => (last = v),
    onProtocolError: (err) => {
      throw err;
    },
  });
  const send = (bytes: Buffer): RespValue => {
    last = undefined;
    decoder.feed(bytes);
    if (last === undefined) throw new Error("no reply");
    return last;
  };
  /** Runs one command given as its arguments and returns the decoded reply. */
  const call = (...args: (string | Buffer)[]): RespValue => {
    conn.onCommand(args.map((a) => (typeof a === "string" ? Buffer.from(a, "latin1") : a)));
    return send(conn.out.take());
  };
  /** RC.MODIFY as a master encodes it. */
  const modify = (key: string, version: number, mod: Modification, limit = 1 << 20) => {
    const w = new RespWriter();
    encodeModify(w, Buffer.from(key), version, limit, mod);
    return call(...splitCommand(w.take()));
  };
  return {
    node: n,
    call,
    modify,
    advance: (ms: number) => (now += ms),
  };
}

/** The arguments of one encoded command (a RESP array of bulks). */
function splitCommand(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = bytes.indexOf("\r\n") + 2;
  while (pos < bytes.length) {
    const end = bytes.indexOf("\r\n", pos);
    const n = Number(bytes.subarray(pos + 1, end).toString());
    out.push(bytes.subarray(end + 2, end + 2 + n));
    pos = end + 2 + n + 2;
  }
  return out;
}

const text = (v: RespValue): string | null => (Buffer.isBuffer(v) ? v.toString("latin1") : null);
const errorOf = (v: RespValue): string => {
  assert.ok(v instanceof RespReplyError, `expected an error, got ${String(v)}`);
  return v.message;
};

describe("RC.MODIFY on an auxiliary node", () => {
  it("appends, keeps the expiry, and answers the new value for the other owners", () => {
    const t = node();
    const first = readModifyReply(t.modify("k", 10, { op: "APPEND", value: Buffer.from("ab") }));
    assert.equal(first.effect, EFFECT_PUT);
    assert.equal(text(first.value), "ab");
    assert.equal(first.answer, 2);
    assert.equal(first.expiresAt, 0);
    t.call("RC.EXPIRE", "k", String(NOW + 5000), "11");
    const second = readModifyReply(t.modify("k", 12, { op: "APPEND", value: Buffer.from("\0c") }));
    assert.equal(text(second.value), "ab\0c");
    assert.equal(second.expiresAt, NOW + 5000);
    assert.equal(second.answer, 4);
    const got = readGetReply(t.call("RC.GET", "k", "WITHEXPIRY"));
    assert.deepEqual(got && { ...got, value: text(got.value) }, {
      value: "ab\0c",
      version: 12,
      pttl: 5000,
      expiresAt: NOW + 5000,
    });
  });

  it("refuses a version at or below the one held, changing nothing", () => {
    const t = node();
    t.modify("k", 20, { op: "APPEND", value: Buffer.from("x") });
    for (const v of [20, 19]) {
      assert.throws(
        () => readModifyReply(t.modify("k", v, { op: "APPEND", value: Buffer.from("y") })),
        (err: unknown) => err instanceof StaleVersionError && err.heldVersion === 20,
      );
    }
    t.call("RC.DEL", "gone", "30");
    assert.throws(
      () => readModifyReply(t.modify("gone", 29, { op: "INCRBY", delta: 1n })),
      (err: unknown) => err instanceof StaleVersionError && err.heldVersion === 30,
    );
    assert.equal(text(t.call("GET", "k")), "x");
    t.call("RC.FLUSH", "40");
    assert.throws(
      () => readModifyReply(t.modify("new", 40, { op: "GETSET", value: Buffer.from("v") })),
      (err: unknown) => err instanceof StaleVersionError && err.heldVersion === 40,
    );
  });

  it("sets ranges as Redis does: zero-filled gaps, no change for an empty value", () => {
    const t = node();
    const empty = readModifyReply(
      t.modify("r", 5, { op: "SETRANGE", offset: 99n, value: Buffer.alloc(0) }),
    );
    assert.deepEqual([empty.effect, empty.answer], [EFFECT_NONE, 0]);
    assert.equal(t.call("EXISTS", "r"), 0);
    const made = readModifyReply(t.modify("r", 6, { op: "SETRANGE", offset: 3n, value: b("ab") }));
    assert.deepEqual([made.effect, text(made.value), made.answer], [EFFECT_PUT, "\0\0\0ab", 5]);
    const over = readModifyReply(t.modify("r", 7, { op: "SETRANGE", offset: 1n, value: b("XY") }));
    assert.equal(text(over.value), "\0XYab");
    const same = readModifyReply(t.modify("r", 8, { op: "SETRANGE", offset: 0n, value: b("") }));
    assert.deepEqual([same.effect, same.answer], [EFFECT_NONE, 5]);
  });

  it("refuses results past the limit with Redis's text past 512 MB, and names the limit below", () => {
    const t = node();
    t.modify("s", 1, { op: "APPEND", value: b("12345") });
    assert.equal(
      errorOf(t.modify("s", 2, { op: "APPEND", value: b("678") }, 7)),
      "ERR string exceeds maximum allowed size (max-value-size, 7 bytes)",
    );
    assert.equal(
      errorOf(t.modify("s", 3, { op: "SETRANGE", offset: 7n, value: b("x") }, 7)),
      "ERR string exceeds maximum allowed size (max-value-size, 7 bytes)",
    );
    for (const offset of [536870912n, 2n ** 53n, 9223372036854775807n]) {
      assert.equal(
        errorOf(t.modify("s", 4, { op: "SETRANGE", offset, value: b("x") })),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
      );
    }
    assert.equal(
      errorOf(t.modify("s", 5, { op: "GETSET", value: b("12345678") }, 7)),
      "ERR string exceeds maximum allowed size (max-value-size, 7 bytes)",
    );
    assert.equal(text(t.call("GET", "s")), "12345");
    // A store too small for the result refuses it as it refuses a put.
    const small = node(4096);
    small.modify("v", 1, { op: "APPEND", value: Buffer.alloc(1000) });
    assert.match(
      errorOf(small.modify("v", 2, { op: "APPEND", value: Buffer.alloc(4000) })),
      /larger than the store's maxBytes/,
    );
    assert.equal(small.call("STRLEN", "v"), 1000);
  });

  it("increments integers and floats, keeping the expiry", () => {
    const t = node();
    t.call("RC.PUT", "n", "41", "1", String(NOW + 1000));
    const inc = readModifyReply(t.modify("n", 2, { op: "INCRBY", delta: 1n }));
    assert.deepEqual([text(inc.value), inc.answer, inc.expiresAt], ["42", 42, NOW + 1000]);
    const f = readModifyReply(t.modify("n", 3, { op: "INCRBYFLOAT", incr: b("0.1") }));
    assert.deepEqual([text(f.value), text(f.answer as Buffer)], ["42.1", "42.1"]);
    assert.equal(
      errorOf(t.modify("n", 4, { op: "INCRBY", delta: 1n })),
      "ERR value is not an integer or out of range",
    );
    assert.equal(
      errorOf(t.modify("n", 5, { op: "INCRBYFLOAT", incr: b("x") })),
      "ERR value is not a valid float",
    );
    assert.equal(
      errorOf(t.modify("n", 6, { op: "INCRBYFLOAT", incr: b("inf") })),
      "ERR increment would produce NaN or Infinity",
    );
    t.call("RC.PUT", "max", "9223372036854775807", "7", "0");
    assert.equal(
      errorOf(t.modify("max", 8, { op: "INCRBY", delta: 1n })),
      "ERR increment or decrement would overflow",
    );
    const big = readModifyReply(t.modify("max", 9, { op: "INCRBY", delta: -1n }));
    assert.equal(big.answer, 9223372036854775806n);
    // RC.INCRBY, as earlier masters send it, takes the same path.
    assert.deepEqual(t.call("RC.INCRBY", "m", "5", "10"), [b("5"), 0]);
  });

  it("gets and sets, gets and deletes, gets and changes the expiry", () => {
    const t = node();
    t.call("RC.PUT", "g", "old", "1", String(NOW + 1000));
    const gs = readModifyReply(t.modify("g", 2, { op: "GETSET", value: b("new") }));
    assert.deepEqual(
      [gs.effect, text(gs.value), gs.expiresAt, text(gs.answer as Buffer)],
      [EFFECT_PUT, "new", 0, "old"],
    );
    const none = readModifyReply(t.modify("nope", 3, { op: "GETDEL" }));
    assert.deepEqual([none.effect, none.answer], [EFFECT_DEL, null]);
    // A tombstone all the same, as RC.DEL leaves: an older copy on its way is refused.
    assert.deepEqual(readGetReply(t.call("RC.GET", "nope")), { value: null, version: 3, pttl: -2 });
    assert.equal(t.call("RC.PUT", "nope", "late", "2", "0"), -3);
    const ex = readModifyReply(t.modify("g", 4, { op: "GETEX", expiresAt: NOW + 9000 }));
    assert.deepEqual(
      [ex.effect, text(ex.value), ex.expiresAt, text(ex.answer as Buffer)],
      [EFFECT_PUT, "new", NOW + 9000, "new"],
    );
    assert.equal(t.call("PTTL", "g"), 9000);
    const persist = readModifyReply(t.modify("g", 5, { op: "GETEX", expiresAt: 0 }));
    assert.deepEqual([persist.effect, persist.expiresAt], [EFFECT_PUT, 0]);
    const again = readModifyReply(t.modify("g", 6, { op: "GETEX", expiresAt: 0 }));
    assert.deepEqual([again.effect, text(again.answer as Buffer)], [EFFECT_NONE, "new"]);
    const del = readModifyReply(t.modify("g", 7, { op: "GETDEL" }));
    assert.deepEqual([del.effect, text(del.answer as Buffer)], [EFFECT_DEL, "new"]);
    assert.deepEqual(readGetReply(t.call("RC.GET", "g", "withexpiry")), {
      value: null,
      version: 7,
      pttl: -2,
      expiresAt: 0,
    });
  });

  it("answers STRLEN and TOUCH as Redis does", () => {
    const t = node();
    t.call("SET", "a", "hello");
    assert.equal(t.call("STRLEN", "a"), 5);
    assert.equal(t.call("STRLEN", "none"), 0);
    assert.equal(t.call("TOUCH", "a", "none", "a"), 2);
    assert.equal(errorOf(t.call("STRLEN")), "ERR wrong number of arguments for 'strlen' command");
    assert.equal(errorOf(t.call("TOUCH")), "ERR wrong number of arguments for 'touch' command");
  });

  it("refuses malformed commands with a clear error, changing nothing", () => {
    const t = node();
    t.call("SET", "k", "v");
    const cases: [string[], string][] = [
      [["RC.MODIFY"], "ERR wrong number of arguments for 'rc.modify' command"],
      [["RC.MODIFY", "k", "1", "10"], "ERR wrong number of arguments for 'rc.modify' command"],
      [["RC.MODIFY", "k", "0", "10", "GETDEL"], "ERR invalid version"],
      [["RC.MODIFY", "k", "x", "10", "GETDEL"], "ERR invalid version"],
      [["RC.MODIFY", "k", "-5", "10", "GETDEL"], "ERR invalid version"],
      [["RC.MODIFY", "k", "99999999999999999", "10", "GETDEL"], "ERR invalid version"],
      [["RC.MODIFY", "k", "1", "ten", "GETDEL"], "ERR invalid limit"],
      [["RC.MODIFY", "k", "1", "10", "FROB"], "ERR unknown RC.MODIFY operation 'FROB'"],
      [
        ["RC.MODIFY", "k", "1", "10", "GETDEL", "x"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "APPEND"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "SETRANGE", "1"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [["RC.MODIFY", "k", "1", "10", "SETRANGE", "-1", "x"], "ERR invalid offset"],
      [["RC.MODIFY", "k", "1", "10", "SETRANGE", "1e3", "x"], "ERR invalid offset"],
      [
        ["RC.MODIFY", "k", "1", "10", "SETRANGE", "99999999999999999999999", "x"],
        "ERR invalid offset",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "INCRBY", "1.5"],
        "ERR value is not an integer or out of range",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "INCRBY", "9223372036854775808"],
        "ERR value is not an integer or out of range",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "GETEX"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [
        ["RC.MODIFY", "k", "1", "10", "GETEX", "PXAT"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [["RC.MODIFY", "k", "1", "10", "GETEX", "PXAT", "0"], "ERR invalid expiry"],
      [["RC.MODIFY", "k", "1", "10", "GETEX", "PXAT", "soon"], "ERR invalid expiry"],
      [
        ["RC.MODIFY", "k", "1", "10", "GETEX", "EX", "10"],
        "ERR wrong number of arguments for 'rc.modify' command",
      ],
      [["RC.GET", "k", "WITHTTL"], "ERR wrong number of arguments for 'rc.get' command"],
      [["RC.GET", "k", "WITHEXPIRY", "x"], "ERR wrong number of arguments for 'rc.get' command"],
    ];
    for (const [args, message] of cases) {
      assert.equal(errorOf(t.call(...args)), message, args.join(" "));
    }
    assert.equal(text(t.call("GET", "k")), "v");
    // Operation names are read in any case.
    assert.deepEqual(t.call("RC.MODIFY", "k", "999999999999", "10", "getdel"), [
      EFFECT_DEL,
      null,
      0,
      b("v"),
    ]);
  });

  it("never fails unexpectedly, whatever the arguments", () => {
    const t = node();
    const arg = fc.oneof(
      fc.constantFrom(
        "INCRBY",
        "INCRBYFLOAT",
        "APPEND",
        "SETRANGE",
        "GETSET",
        "GETDEL",
        "GETEX",
        "PERSIST",
        "PXAT",
        "0",
        "1",
        "-1",
        "9223372036854775807",
        "18446744073709551616",
        "1e400",
        "nan",
        "",
      ),
      fc.string({ maxLength: 12 }),
      fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
    );
    let version = 1;
    fc.assert(
      fc.property(
        fc.constantFrom("k", "n", "s"),
        fc.array(arg, { minLength: 0, maxLength: 5 }),
        fc.constantFrom("0", "1", "16", "1048576"),
        (key, rest, limit) => {
          const reply = t.call("RC.MODIFY", key, String(++version), limit, ...rest);
          if (reply instanceof RespReplyError) {
            assert.doesNotMatch(reply.message, /internal error/, reply.message);
            assert.match(reply.prefix, /^(ERR|STALE)$/, reply.message);
          } else {
            readModifyReply(reply);
          }
        },
      ),
      { numRuns: 3000 },
    );
    t.node.store.checkIntegrity();
    assert.equal(t.call("PING"), "PONG");
  });
});

function b(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

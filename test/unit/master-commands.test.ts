// The Redis grammar the master parses with (src/redis/), held to Redis 7's rules, and the
// master's command registry. (The byte-for-byte comparison with a
// real redis-server is in test/integration/master-resp.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { masterRegistry } from "../../src/master/commands/registry.js";
import * as conditional from "../../src/master/ops/conditional.js";
import {
  EXPIRE_GT,
  EXPIRE_LT,
  EXPIRE_NX,
  EXPIRE_XX,
  parseExpireFlags,
  parseExpireTime,
} from "../../src/redis/expire.js";
import { globMatch } from "../../src/redis/glob.js";
import { parseInt64 } from "../../src/redis/integers.js";
import {
  SET_GET,
  SET_KEEPTTL,
  SET_NX,
  SET_XX,
  parseSetOptions,
} from "../../src/redis/set-options.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const args = (...xs: string[]): Buffer[] => xs.map(b);
const NOW = 1_700_000_000_000;

function throwsMessage(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: Error) => {
    assert.equal(err.message, message);
    return true;
  });
}

const registry = masterRegistry();
const COMMAND_NAMES = registry.names;
const commandId = (name: Buffer): number => registry.lookup(name);

describe("the master's registry", () => {
  it("finds commands case-insensitively and counts the rest as other", () => {
    assert.equal(COMMAND_NAMES[commandId(b("GET"))], "get");
    assert.equal(COMMAND_NAMES[commandId(b("sEt"))], "set");
    assert.equal(COMMAND_NAMES[commandId(b("MGet"))], "mget");
    assert.equal(COMMAND_NAMES[commandId(b("pexpireat"))], "pexpireat");
    assert.equal(COMMAND_NAMES[commandId(b("gex"))], "other");
    assert.equal(COMMAND_NAMES[commandId(b("G\x05T"))], "other");
    assert.equal(COMMAND_NAMES[commandId(b("other"))], "other");
    assert.equal(COMMAND_NAMES[commandId(b(""))], "other");
  });

  it("answers COMMAND COUNT: 51 commands", () => {
    assert.equal(registry.size, 51);
  });

  it("marks exactly the data commands as replying later", () => {
    const later = COMMAND_NAMES.filter((_, id) => (registry.flags(id) & 1) !== 0);
    assert.deepEqual(later.sort(), [
      "append",
      "dbsize",
      "decr",
      "decrby",
      "del",
      "exists",
      "expire",
      "expireat",
      "expiretime",
      "flushall",
      "flushdb",
      "get",
      "getdel",
      "getex",
      "getrange",
      "getset",
      "incr",
      "incrby",
      "incrbyfloat",
      "keys",
      "mget",
      "mset",
      "persist",
      "pexpire",
      "pexpireat",
      "pexpiretime",
      "psetex",
      "pttl",
      "randomkey",
      "scan",
      "set",
      "setex",
      "setnx",
      "setrange",
      "strlen",
      "substr",
      "touch",
      "ttl",
      "type",
      "unlink",
    ]);
  });
});

describe("SET and EXPIRE flags", () => {
  it("are distinct bits, PERSIST's apart from EXPIRE's conditions", () => {
    const distinct = (bits: number[]): void => {
      assert.equal(
        bits.reduce((a, b) => a | b, 0),
        bits.reduce((a, b) => a + b, 0),
      );
      for (const b of bits) assert.equal(b & (b - 1), 0, `${b} is one bit`);
    };
    distinct([SET_NX, SET_XX, SET_GET, SET_KEEPTTL]);
    distinct([EXPIRE_NX, EXPIRE_XX, EXPIRE_GT, EXPIRE_LT, conditional.EXPIRE_PERSIST]);
  });
});

describe("parseInt64 (Redis string2ll)", () => {
  it("accepts canonical decimal integers within 64 bits", () => {
    assert.equal(parseInt64(b("0")), 0n);
    assert.equal(parseInt64(b("-1")), -1n);
    assert.equal(parseInt64(b("9223372036854775807")), 2n ** 63n - 1n);
    assert.equal(parseInt64(b("-9223372036854775808")), -(2n ** 63n));
  });

  it("refuses what Redis refuses", () => {
    for (const s of [
      "",
      "-",
      "+1",
      " 1",
      "1 ",
      "01",
      "-0",
      "1.5",
      "1e3",
      "0x10",
      "9223372036854775808",
      "-9223372036854775809",
      "123456789012345678901",
    ]) {
      assert.equal(parseInt64(b(s)), null, JSON.stringify(s));
    }
  });
});

describe("SET options", () => {
  it("reads flags and expiries", () => {
    assert.deepEqual(parseSetOptions(args("set", "k", "v"), NOW), { flags: 0, expiresAt: 0 });
    assert.deepEqual(parseSetOptions(args("set", "k", "v", "NX", "get"), NOW), {
      flags: SET_NX | SET_GET,
      expiresAt: 0,
    });
    assert.equal(parseSetOptions(args("set", "k", "v", "ex", "10"), NOW).expiresAt, NOW + 10_000);
    assert.equal(parseSetOptions(args("set", "k", "v", "PX", "250"), NOW).expiresAt, NOW + 250);
    assert.equal(parseSetOptions(args("set", "k", "v", "exat", "2000000000"), NOW).expiresAt, 2e12);
    assert.equal(
      parseSetOptions(args("set", "k", "v", "pxat", "2000000000123"), NOW).expiresAt,
      2000000000123,
    );
    assert.equal(
      parseSetOptions(args("set", "k", "v", "keepttl", "xx"), NOW).flags,
      SET_KEEPTTL | SET_XX,
    );
  });

  it("lets a later EX override an earlier one and repeats of NX, like Redis", () => {
    assert.equal(
      parseSetOptions(args("set", "k", "v", "ex", "1", "ex", "2"), NOW).expiresAt,
      NOW + 2000,
    );
    assert.equal(parseSetOptions(args("set", "k", "v", "nx", "nx"), NOW).flags, SET_NX);
  });

  it("answers syntax errors for conflicting or unknown options", () => {
    for (const bad of [
      ["nx", "xx"],
      ["xx", "nx"],
      ["ex"],
      ["ex", "1", "px", "2"],
      ["keepttl", "ex", "1"],
      ["ex", "1", "keepttl"],
      ["pxat", "1", "exat", "1"],
      ["foo"],
    ]) {
      throwsMessage(() => parseSetOptions(args("set", "k", "v", ...bad), NOW), "syntax error");
    }
  });

  it("checks the expiry after the syntax, with Redis's texts", () => {
    throwsMessage(
      () => parseSetOptions(args("set", "k", "v", "ex", "x"), NOW),
      "value is not an integer or out of range",
    );
    for (const bad of [
      ["ex", "0"],
      ["px", "-1"],
      ["exat", "0"],
      ["ex", "9999999999999999"],
      ["px", "9223372036854775807"],
    ]) {
      throwsMessage(
        () => parseSetOptions(args("set", "k", "v", ...bad), NOW),
        "invalid expire time in 'set' command",
      );
    }
  });
});

describe("EXPIRE options and times", () => {
  it("reads NX/XX/GT/LT and refuses incompatible ones", () => {
    assert.equal(parseExpireFlags(args("expire", "k", "1")), 0);
    assert.equal(parseExpireFlags(args("expire", "k", "1", "nx", "NX")), EXPIRE_NX);
    assert.equal(parseExpireFlags(args("expire", "k", "1", "xx", "gt")), EXPIRE_XX | EXPIRE_GT);
    assert.equal(parseExpireFlags(args("expire", "k", "1", "LT")), EXPIRE_LT);
    throwsMessage(
      () => parseExpireFlags(args("expire", "k", "1", "nx", "lt")),
      "NX and XX, GT or LT options at the same time are not compatible",
    );
    throwsMessage(
      () => parseExpireFlags(args("expire", "k", "1", "gt", "lt")),
      "GT and LT options at the same time are not compatible",
    );
    throwsMessage(
      () => parseExpireFlags(args("expire", "k", "1", "Foo")),
      "Unsupported option Foo",
    );
  });

  it("computes absolute times with Redis's overflow checks", () => {
    assert.equal(parseExpireTime(b("10"), true, NOW, "expire"), NOW + 10_000);
    assert.equal(parseExpireTime(b("10"), false, NOW, "pexpire"), NOW + 10);
    assert.equal(parseExpireTime(b("-5"), true, NOW, "expire"), NOW - 5000);
    assert.equal(parseExpireTime(b("1700000000"), true, 0, "expireat"), 1_700_000_000_000);
    assert.equal(parseExpireTime(b("-99999999999999"), true, 0, "expireat"), 0);
    throwsMessage(
      () => parseExpireTime(b("1x"), true, NOW, "expire"),
      "value is not an integer or out of range",
    );
    throwsMessage(
      () => parseExpireTime(b("9223372036854775807"), true, NOW, "expire"),
      "invalid expire time in 'expire' command",
    );
    throwsMessage(
      () => parseExpireTime(b("9223372036854775807"), false, NOW, "pexpire"),
      "invalid expire time in 'pexpire' command",
    );
    // Far futures are kept, capped where a JS number stays exact.
    assert.equal(
      parseExpireTime(b("9223372036854775"), true, 0, "expireat"),
      Number.MAX_SAFE_INTEGER,
    );
  });
});

describe("globMatch (CONFIG GET patterns)", () => {
  it("matches like Redis's stringmatch, case-insensitively", () => {
    assert.ok(globMatch("save", "save"));
    assert.ok(globMatch("SAVE", "save"));
    assert.ok(globMatch("sav*", "save"));
    assert.ok(globMatch("*", "appendonly"));
    assert.ok(globMatch("s?ve", "save"));
    assert.ok(globMatch("[sx]ave", "save"));
    assert.ok(!globMatch("[^s]ave", "save"));
    assert.ok(!globMatch("save?", "save"));
    assert.ok(!globMatch("append", "appendonly"));
    assert.ok(globMatch("a\\*", "a*"));
    assert.ok(!globMatch("a\\*", "ab"));
  });
});

// Pieces of the auxiliary dispatcher that are pure: command lookup and Redis's integer rules.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COMMAND_NAMES, commandId, parseRedisInteger } from "../../src/auxiliary/commands.js";

describe("auxiliary commands", () => {
  it("finds every command by name, in any case, and nothing else", () => {
    for (let id = 1; id < COMMAND_NAMES.length; id++) {
      const name = COMMAND_NAMES[id] as string;
      assert.equal(commandId(Buffer.from(name)), id, name);
      assert.equal(commandId(Buffer.from(name.toUpperCase())), id, name.toUpperCase());
    }
    const others = [
      "",
      "ge",
      "gett",
      "get\0",
      "GEt ",
      "rc.pu",
      "rc_put",
      "rc\x0eput",
      "x".repeat(40),
    ];
    for (const other of others) {
      assert.equal(commandId(Buffer.from(other, "latin1")), 0, JSON.stringify(other));
    }
  });

  it("reads integers as Redis's string2ll does", () => {
    const ok: [string, bigint][] = [
      ["0", 0n],
      ["-1", -1n],
      ["42", 42n],
      ["9223372036854775807", 9223372036854775807n],
      ["-9223372036854775808", -9223372036854775808n],
    ];
    for (const [text, value] of ok) assert.equal(parseRedisInteger(Buffer.from(text)), value, text);
    const bad = ["", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "9223372036854775808", "abc", "1e3"];
    for (const text of bad) {
      assert.equal(parseRedisInteger(Buffer.from(text)), undefined, JSON.stringify(text));
    }
  });
});

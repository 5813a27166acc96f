// Pieces of the auxiliary dispatcher that are pure: its registry's lookup, and Redis's integer
// rules (src/redis/integers.ts) it reads INCRBY's values with.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auxiliaryRegistry } from "../../src/auxiliary/commands/registry.js";
import { parseInt64 } from "../../src/redis/integers.js";

const registry = auxiliaryRegistry();
const COMMAND_NAMES = registry.names;
const commandId = (name: Buffer): number => registry.lookup(name);

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

  it("answers COMMAND COUNT: 38 commands, unknown ones counted as unknown", () => {
    assert.equal(registry.size, 38);
    assert.equal(COMMAND_NAMES[0], "unknown");
  });

  it("reads integers as Redis's string2ll does", () => {
    const ok: [string, bigint][] = [
      ["0", 0n],
      ["-1", -1n],
      ["42", 42n],
      ["9223372036854775807", 9223372036854775807n],
      ["-9223372036854775808", -9223372036854775808n],
    ];
    for (const [text, value] of ok) assert.equal(parseInt64(Buffer.from(text)), value, text);
    const bad = ["", "-", "01", "-0", "+1", " 1", "1 ", "1.0", "9223372036854775808", "abc", "1e3"];
    for (const text of bad) {
      assert.equal(parseInt64(Buffer.from(text)), null, JSON.stringify(text));
    }
  });
});

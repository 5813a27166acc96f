// docs/commands.md against the master's command registry: every command the master registers
// is in the "Supported" table, every row there is registered, and every command the "Refused"
// table names is unknown to the registry (so it answers -ERR unknown command).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { masterRegistry } from "../../src/master/commands/registry.js";
import { REPO_ROOT } from "../helpers/process.js";

/** The first cells of the rows of the table under `## heading` (the header row left out). */
function firstCells(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`## ${heading}\n`);
  assert.notEqual(start, -1, `docs/commands.md has no "## ${heading}"`);
  const next = markdown.indexOf("\n## ", start + 1);
  const section = markdown.slice(start, next === -1 ? undefined : next);
  const rows = section.split("\n").filter((l) => l.startsWith("|"));
  return rows.slice(2).map((row) => (row.split("|")[1] as string).trim());
}

describe("docs/commands.md", () => {
  const doc = readFileSync(join(REPO_ROOT, "docs", "commands.md"), "utf8");
  const registry = masterRegistry();
  const registered = new Set(registry.names.slice(1).map((n) => n.toUpperCase()));

  it("lists exactly the commands the master registers", () => {
    const documented = firstCells(doc, "Supported");
    assert.deepEqual(
      documented.filter((c) => !registered.has(c)),
      [],
      "documented but not registered",
    );
    assert.deepEqual(
      [...registered].filter((c) => !documented.includes(c)),
      [],
      "registered but not documented",
    );
    assert.equal(new Set(documented).size, documented.length, "a command listed twice");
  });

  it("names as refused only commands the master does not know", () => {
    const refused = firstCells(doc, "Refused")
      .flatMap((cell) => cell.replace(/and their families/, "").split(","))
      .map((c) => c.trim())
      .filter((c) => c !== "");
    assert.ok(refused.length > 20);
    for (const name of refused) {
      assert.equal(registry.lookup(Buffer.from(name)), 0, `${name} is refused but registered`);
    }
  });
});

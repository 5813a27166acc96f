// Source comments cite the design by section (`docs/design.md, "Versions"`): every cited section
// must be a heading of docs/design.md, so a renamed section cannot leave comments pointing nowhere.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const REPO_ROOT = join(import.meta.dirname, "..", "..", "..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

describe("docs/design.md citations", () => {
  it("name sections that exist", () => {
    const design = readFileSync(join(REPO_ROOT, "docs", "design.md"), "utf8");
    const headings = new Set(
      design
        .split("\n")
        .filter((line) => line.startsWith("#"))
        .map((line) => line.replace(/^#+\s*/, "").trim()),
    );
    const cited = /docs\/design\.md, "([^"]+)"/g;
    const missing: string[] = [];
    let citations = 0;
    for (const dir of ["src", "test", "bench"]) {
      for (const file of sources(join(REPO_ROOT, dir))) {
        for (const m of readFileSync(file, "utf8").matchAll(cited)) {
          citations++;
          const section = m[1] as string;
          if (!headings.has(section))
            missing.push(`${file.slice(REPO_ROOT.length + 1)}: "${section}"`);
        }
      }
    }
    assert.ok(citations > 0, "no citation of docs/design.md found");
    assert.deepEqual(
      missing,
      [],
      `cited sections missing from docs/design.md:\n${missing.join("\n")}`,
    );
  });
});

#!/usr/bin/env node
// The `ringcache` command: a thin launcher for the compiled CLI.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error("ringcache is not built yet: run `npm run build` (or `npm ci && npm run build`).");
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));

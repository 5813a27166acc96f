#!/usr/bin/env node
// Rewrites docs/configuration.md from the configuration schema (run after `npm run build`).
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const { renderConfigReference } = await import(join(root, "dist/src/config/reference.js"));
writeFileSync(join(root, "docs/configuration.md"), renderConfigReference());
console.log("wrote docs/configuration.md");

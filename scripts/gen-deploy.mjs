#!/usr/bin/env node
// Rewrites the generated files under deploy/ from src/local/deploy.ts (run after `npm run build`).
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dirname, "..");
const { generatedDeployFiles } = await import(join(root, "dist/src/local/deploy.js"));
for (const [path, content] of Object.entries(generatedDeployFiles())) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
  console.log(`wrote ${path}`);
}

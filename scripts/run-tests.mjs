#!/usr/bin/env node
// Runs the compiled test files (dist/test/<tier>/**/*.test.js) with Node's built-in runner.
// Helpers live beside the tests but are not named *.test.js, so they are never run as tests.
// Usage: node scripts/run-tests.mjs [tier ...]   (default: every tier, fastest first)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const ALL_TIERS = ["unit", "property", "simulation", "integration", "faults", "bad-input", "hosts"];
const root = join(import.meta.dirname, "..", "dist", "test");
const tiers = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL_TIERS;

for (const tier of tiers) {
  if (!ALL_TIERS.includes(tier)) {
    console.error(`unknown test tier "${tier}"; expected one of: ${ALL_TIERS.join(", ")}`);
    process.exit(2);
  }
}

function collect(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const files = tiers.flatMap((tier) => collect(join(root, tier)));
if (files.length === 0) {
  console.error(`no test files under ${root} for tiers: ${tiers.join(", ")} (did the build run?)`);
  process.exit(1);
}

// Test files that start clusters of processes share two cores: run two files at a time.
const result = spawnSync(
  process.execPath,
  ["--test", "--test-reporter=spec", "--test-concurrency=2", "--test-timeout=300000", ...files],
  {
    stdio: "inherit",
    env: { ...process.env, RINGCACHE_LOG_LEVEL: process.env.RINGCACHE_LOG_LEVEL ?? "warn" },
  },
);
process.exit(result.status ?? 1);

// The versions every node reports, in one place (docs/design.md, "Client interfaces").
import { readFileSync } from "node:fs";

/** What HELLO and INFO report as redis_version: clients pick features by it. */
export const REDIS_VERSION = "7.0.0";

/**
 * ringcache's own version (INFO's ringcache_version, the CLI's --version, /v1/cluster), read
 * once from package.json, the one place it is written.
 */
export const RINGCACHE_VERSION: string = packageVersion();

function packageVersion(): string {
  // This file runs as dist/src/redis/version.js, in the repository and once installed.
  const url = new URL("../../../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
  if (typeof pkg.version !== "string") throw new Error(`no version in ${url.pathname}`);
  return pkg.version;
}

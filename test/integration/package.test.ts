// The package as a user installs it: `npm pack` (which builds first) gives a tarball that
// installs into an empty prefix with its production dependencies only; the installed
// `ringcache` reports package.json's version, prints `up --help`, and runs a one-node cluster
// that serves a SET and a GET and stops cleanly.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { freeOffset, offsetPorts } from "../helpers/local.js";
import { REPO_ROOT, tempDir } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { Up } from "../helpers/up.js";

const run = promisify(execFile);
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

describe("the npm package", () => {
  const dir = tempDir("ringcache-package-");
  let running: Up | undefined;
  after(async () => {
    if (running !== undefined && running.child.exitCode === null) await running.interrupt();
    rmSync(dir, { recursive: true, force: true });
  });

  it("packs, installs into an empty prefix and runs a one-node cluster", async () => {
    const version = (
      JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }
    ).version;
    await run(NPM, ["pack", "--pack-destination", dir], { cwd: REPO_ROOT, timeout: 300_000 });
    const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.equal(tarball, `ringcache-${version}.tgz`);
    const { stdout: listing } = await run("tar", ["-tzf", join(dir, tarball)]);
    for (const file of [
      "package/LICENSE",
      "package/bin/ringcache.js",
      "package/dist/src/cli/main.js",
      // Loaded by `ringcache up --monitoring` (src/local/cluster.ts, ALERT_RULES).
      "package/deploy/prometheus/alerts.yml",
    ]) {
      assert.ok(listing.split("\n").includes(file), `${file} is not in the tarball`);
    }
    assert.ok(!listing.includes("package/dist/test/"), "the tests were packed");

    const prefix = join(dir, "prefix");
    await run(
      NPM,
      [
        "install",
        "--prefix",
        prefix,
        "--omit=dev",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        join(dir, tarball),
      ],
      { timeout: 300_000 },
    );
    const bin = join(prefix, "node_modules", "ringcache", "bin", "ringcache.js");
    const { stdout: printed } = await run(process.execPath, [bin, "--version"], { cwd: prefix });
    assert.equal(printed.trim(), version);
    const { stdout: help } = await run(process.execPath, [bin, "up", "--help"], { cwd: prefix });
    assert.match(help, /Usage: ringcache up/);

    const offset = await freeOffset(1, 1);
    const ports = offsetPorts(offset);
    const data = join(dir, "data");
    running = new Up(
      [
        "--masters",
        "1",
        "--auxiliary",
        "1",
        "--replicas",
        "1",
        "--no-nginx",
        "--port-offset",
        String(offset),
        "--data-dir",
        data,
      ],
      bin,
      prefix,
    );
    await running.ready();
    const client = await RespTestClient.connect(ports.masterResp);
    try {
      const replies = await client.pipeline([
        ["SET", "packaged", "yes"],
        ["GET", "packaged"],
      ]);
      assert.deepEqual(replies, ["OK", Buffer.from("yes")]);
    } finally {
      client.close();
    }
    const cluster = (await (
      await fetch(`http://127.0.0.1:${ports.masterHttp}/v1/cluster`)
    ).json()) as {
      master: { version: string };
    };
    assert.equal(cluster.master.version, version);
    const stopped = await running.interrupt();
    assert.deepEqual(stopped, { code: 0, signal: null }, running.output);
  });
});

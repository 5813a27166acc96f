// `ringcache up` as a user runs it: a real process starting the whole local cluster on offset
// ports with a temporary data directory. Writes go through NGINX (RESP and HTTP); SIGINT stops
// everything cleanly (exit 0, auxiliary nodes write final snapshots); started again, the
// cluster restores the data. Without nginx the same runs against a master directly.
import assert from "node:assert/strict";
import { readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { offsetPorts, freeOffset } from "../helpers/local.js";
import { runCli, tempDir } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { which } from "../helpers/tools.js";
import { Up } from "../helpers/up.js";
import { canConnect } from "../helpers/wait.js";

const KEYS = 200;

/** Time of the last log line of node `id` with this message (pino JSON lines). */
function logTime(dir: string, id: string, msg: string): number {
  const lines = readFileSync(join(dir, "logs", `${id}.log`), "utf8").split("\n");
  let at = -1;
  for (const line of lines) {
    if (!line.startsWith("{")) continue;
    const entry = JSON.parse(line) as { msg?: string; time?: string | number };
    if (entry.msg === msg && entry.time !== undefined) at = new Date(entry.time).getTime();
  }
  assert.ok(at >= 0, `${id} never logged "${msg}"`);
  return at;
}

describe("ringcache up", () => {
  const dir = tempDir("ringcache-up-");
  let running: Up | undefined;
  after(async () => {
    if (running !== undefined && running.child.exitCode === null) await running.interrupt();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves through NGINX, stops cleanly on SIGINT and restores its data when started again", async (t) => {
    const nginx = which("nginx") !== undefined;
    if (!nginx) t.diagnostic("nginx is not installed: clients use master m1 directly");
    const offset = await freeOffset();
    const ports = offsetPorts(offset);
    const respPort = nginx ? ports.balancerResp : ports.masterResp;
    const httpPort = nginx ? ports.balancerHttp : ports.masterHttp;
    const args = ["--data-dir", dir, "--port-offset", String(offset), "--log-level", "info"];
    if (!nginx) args.push("--no-nginx");

    // First run: write through the balancer over both protocols.
    running = new Up(args);
    await running.ready();
    if (nginx)
      assert.match(running.output, new RegExp(`NGINX \\(RESP\\)\\s+127\\.0\\.0\\.1:${respPort}`));
    const resp = await RespTestClient.connect(respPort);
    const sets = Array.from({ length: KEYS }, (_, i) => ["SET", `up:${i}`, `value-${i}`]);
    const replies = await resp.pipeline(sets);
    assert.ok(
      replies.every((r) => r === "OK"),
      JSON.stringify(replies.slice(0, 3)),
    );
    resp.close();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/keys/http%3A${i}`, {
        method: "PUT",
        body: `body-${i}`,
      });
      assert.equal(res.status, 204);
    }

    const first = await running.interrupt();
    assert.deepEqual(first, { code: 0, signal: null }, running.output);
    assert.match(running.output, /SIGINT: stopping the cluster/);
    assert.match(running.output, /Stopped\./);
    // No node died before the supervisor stopped it in order (the Ctrl-C went to the whole
    // process group; the nodes run in groups of their own).
    assert.doesNotMatch(running.output, /exited \(/);
    // Masters stop before any auxiliary node begins its shutdown, so no client command is cut
    // off by a node going away; every auxiliary node writes a final snapshot.
    const mastersStopped = Math.max(
      ...["m1", "m2"].map((id) => logTime(dir, id, "master stopped")),
    );
    for (const id of ["a1", "a2", "a3"]) {
      const shutdown = logTime(dir, id, "shutting down");
      assert.ok(shutdown >= mastersStopped, `${id} began its shutdown before the masters stopped`);
      assert.ok(logTime(dir, id, "snapshot written") >= shutdown, `${id} took no final snapshot`);
    }
    // Each master keeps its backup in its own data directory: no directory is shared.
    for (const id of ["m1", "m2"]) {
      assert.ok(statSync(join(dir, id, "backup")).isDirectory(), `${id} has no backup directory`);
    }
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.endsWith(".rcbackup")),
      [],
    );
    for (const port of [respPort, httpPort, ports.masterResp + 1, ports.auxiliaryResp]) {
      assert.equal(await canConnect(port), false, `port ${port} still served after the stop`);
    }

    // Second run on the same data directory: everything reads back.
    running = new Up(args);
    await running.ready();
    const again = await RespTestClient.connect(respPort);
    const gets = await again.pipeline(sets.map(([, key]) => ["GET", key as string]));
    again.close();
    const values = gets.map((v) => (Buffer.isBuffer(v) ? v.toString() : v));
    assert.deepEqual(
      values,
      sets.map(([, , value]) => value),
    );
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/keys/http%3A${i}`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `body-${i}`);
    }
    const second = await running.interrupt();
    assert.deepEqual(second, { code: 0, signal: null }, running.output);
  });

  it("refuses a log level the nodes would not take, before starting anything", async () => {
    const { code, stderr } = await runCli(["up", "--log-level", "verbose", "--data-dir", dir]);
    assert.equal(code, 2);
    assert.match(stderr, /'verbose' is invalid\. Allowed choices are fatal, error, warn, info/);
    assert.doesNotMatch(stderr, /Starting/);
  });
});

// A real NGINX, configured by the same generator as `ringcache up` and Docker Compose, in front
// of a real cluster with two masters: round-robin spreads requests over both (each master's
// own counters in /metrics show it), and when one master is killed with -9 under load, clients
// see fewer than 1% errors, and none once fail_timeout has passed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { renderNginxConfig } from "../../src/local/nginx.js";
import { TestCluster, type MasterHandle } from "../helpers/cluster.js";
import { freePorts } from "../helpers/ports.js";
import { tempDir } from "../helpers/process.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { skipUnless, which } from "../helpers/tools.js";
import { sleep, waitFor, waitForPort } from "../helpers/wait.js";

const FAIL_TIMEOUT_S = 2;
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

/** Sum of a metric's samples in a master's /metrics text (optionally filtered by a label). */
async function metricSum(m: MasterHandle, name: string, filter = ""): Promise<number> {
  const res = await fetch(m.url("/metrics"));
  const text = await res.text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) && line.includes(filter)) sum += Number(line.split(" ").pop());
  }
  return sum;
}

interface Outcome {
  readonly at: number;
  readonly ok: boolean;
}

/** Clients that keep sending until stopped and record every request's outcome and time. */
class Clients {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];

  constructor(respPort: number, httpPort: number, resp: number, http: number) {
    for (let i = 0; i < resp; i++) this.loops.push(this.respLoop(respPort, i));
    for (let i = 0; i < http; i++) this.loops.push(this.httpLoop(httpPort, i));
  }

  private record(ok: boolean): void {
    this.outcomes.push({ at: Date.now(), ok });
  }

  /** One RESP connection; a command that fails counts as an error, then it reconnects. */
  private async respLoop(port: number, worker: number): Promise<void> {
    let client: RespTestClient | undefined;
    for (let n = 0; this.running; n++) {
      try {
        client ??= await RespTestClient.connect(port);
        const key = `nginx:resp:${worker}:${n % 50}`;
        const [set, get] = await client.pipeline([
          ["SET", key, `v${n}`],
          ["GET", key],
        ]);
        const ok = set === "OK" && Buffer.isBuffer(get) && get.toString() === `v${n}`;
        this.record(ok);
      } catch {
        this.record(false);
        client?.close();
        client = undefined;
      }
      await sleep(2);
    }
    client?.close();
  }

  private async httpLoop(port: number, worker: number): Promise<void> {
    for (let n = 0; this.running; n++) {
      const url = `http://127.0.0.1:${port}/v1/keys/nginx%3Ahttp%3A${worker}%3A${n % 50}`;
      try {
        const put = await fetch(url, { method: "PUT", body: `v${n}` });
        await put.arrayBuffer();
        const get = await fetch(url);
        const body = await get.text();
        this.record(put.status === 204 && get.status === 200 && body === `v${n}`);
      } catch {
        this.record(false);
      }
      await sleep(2);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describe("NGINX in front of two masters", { skip: skipUnless("nginx") }, () => {
  let cluster: TestCluster;
  let nginx: ReturnType<typeof spawn> | undefined;
  let respPort = 0;
  let httpPort = 0;
  const prefix = tempDir("ringcache-nginx-");

  before(async () => {
    cluster = await TestCluster.start({ masters: 2, auxiliary: 3, replicas: 2 });
    [respPort, httpPort] = (await freePorts(2)) as [number, number];
    const conf = join(prefix, "nginx.conf");
    mkdirSync(join(prefix, "logs"), { recursive: true });
    writeFileSync(
      conf,
      renderNginxConfig({
        resp: cluster.masters.map((m) => ({ host: "127.0.0.1", port: m.port })),
        http: cluster.masters.map((m) => ({ host: "127.0.0.1", port: m.httpPort })),
        listenHost: "127.0.0.1",
        respPort,
        httpPort,
        maxBodyBytes: 8 << 20,
        prefix,
        streamModule: STREAM_MODULE,
        foreground: true,
        failTimeoutSeconds: FAIL_TIMEOUT_S,
        ...(process.getuid?.() === 0 ? { user: "root" } : {}),
      }),
    );
    nginx = spawn(
      which("nginx") as string,
      ["-p", prefix, "-c", conf, "-e", join(prefix, "error.log")],
      { stdio: "ignore" },
    );
    await waitForPort(respPort);
    await waitForPort(httpPort);
  });

  after(async () => {
    if (nginx !== undefined && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx?.once("exit", resolve));
      nginx.kill("SIGTERM");
      await exited;
    }
    await cluster.stop();
  });

  it("spreads RESP and HTTP requests across both masters", async (t) => {
    const [m1, m2] = cluster.masters as [MasterHandle, MasterHandle];
    const initial = await Promise.all(
      [m1, m2].map(async (m) => ({
        resp: await metricSum(m, "ringcache_master_commands_total"),
        http: await metricSum(m, "ringcache_master_http_requests_total", 'route="keys"'),
      })),
    );
    // RESP: the stream balancer assigns connections, so open several.
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => RespTestClient.connect(respPort)),
    );
    for (const [i, c] of clients.entries()) {
      await c.pipeline(Array.from({ length: 50 }, (_, k) => ["SET", `spread:${i}:${k}`, "x"]));
      c.close();
    }
    for (let i = 0; i < 100; i++) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/keys/spread%3A${i}`, {
        method: "PUT",
        body: "x",
      });
      assert.equal(res.status, 204);
    }
    const afterCounts = await Promise.all(
      [m1, m2].map(async (m) => ({
        resp: await metricSum(m, "ringcache_master_commands_total"),
        http: await metricSum(m, "ringcache_master_http_requests_total", 'route="keys"'),
      })),
    );
    const resp = afterCounts.map((a, i) => a.resp - (initial[i]?.resp ?? 0));
    const http = afterCounts.map((a, i) => a.http - (initial[i]?.http ?? 0));
    t.diagnostic(
      `RESP commands per master: ${resp.join(" / ")}; HTTP requests: ${http.join(" / ")}`,
    );
    assert.equal(
      resp.reduce((a, b) => a + b),
      400,
    );
    assert.equal(
      http.reduce((a, b) => a + b),
      100,
    );
    // Round-robin: each master gets a fair part (8 connections of 50 commands; 100 requests).
    for (const n of resp) assert.ok(n >= 100, `RESP split ${resp.join("/")}`);
    for (const n of http) assert.ok(n >= 30, `HTTP split ${http.join("/")}`);
  });

  it("kill -9 of a master under load: < 1% errors, none after fail_timeout", async (t) => {
    const clients = new Clients(respPort, httpPort, 4, 4);
    await sleep(1500);
    const killedAt = Date.now();
    await cluster.master(1).kill9();
    const settled = killedAt + FAIL_TIMEOUT_S * 1000;
    // Run until fail_timeout has passed twice over, so the dead master is retried and skipped
    // again at least once while clients keep going, and until enough requests ran after it to
    // count (a loaded machine runs fewer per second: wait for them, not for a fixed time).
    await sleep(FAIL_TIMEOUT_S * 1000 * 2 + 1500);
    await waitFor(
      "200 requests after fail_timeout",
      () => clients.outcomes.filter((o) => o.at > settled).length >= 200,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    await clients.stop();
    const all = clients.outcomes;
    const errors = all.filter((o) => !o.ok);
    const late = errors.filter((o) => o.at > settled);
    const settledRequests = all.filter((o) => o.at > settled);
    const rate = errors.length / all.length;
    t.diagnostic(
      `${all.length} requests, ${errors.length} errors (${(rate * 100).toFixed(3)}%); ` +
        `${settledRequests.length} requests after fail_timeout (${FAIL_TIMEOUT_S} s), ${late.length} errors`,
    );
    assert.ok(all.length > 500, `only ${all.length} requests`);
    assert.ok(
      settledRequests.length >= 200,
      `only ${settledRequests.length} requests after fail_timeout`,
    );
    assert.ok(rate < 0.01, `error rate ${(rate * 100).toFixed(2)}%`);
    assert.equal(late.length, 0, "errors after fail_timeout");
    const log = readFileSync(join(prefix, "error.log"), "utf8");
    assert.match(log, /connect\(\) failed|upstream/, "NGINX saw the dead master");
  });
});

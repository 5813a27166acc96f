// `ringcache bench` as users run it: the real CLI in its own process, against a real
// redis-server, an HTTP server speaking the masters' key API, a server that never answers, and
// interrupted by a signal. Each run is short (about 2 s) so the whole file stays well under 30 s.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { BenchReport } from "../../src/loadgen/report.js";
import { freePort } from "../helpers/ports.js";
import { BIN, REPO_ROOT, runCli, tempDir } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";
import { waitFor, waitForPort } from "../helpers/wait.js";

const LOAD_TEST = join(REPO_ROOT, "load_test", "loadTest.sh");

/** Runs load_test/loadTest.sh with bash and the given environment additions. */
async function runLoadTest(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("bash", [LOAD_TEST, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

function parseReport(stdout: string): BenchReport {
  return JSON.parse(stdout) as BenchReport;
}

/** What every healthy run must show. */
function assertPlausible(report: BenchReport, stderr: string): void {
  assert.equal(report.errors.total, 0, `errors: ${JSON.stringify(report.errors)} ${stderr}`);
  assert.ok(report.opsPerSec > 0);
  assert.ok(report.totals.requests > 0);
  assert.equal(report.totals.ok, report.totals.requests);
  assert.equal(report.totals.gets + report.totals.sets, report.totals.requests);
  const all = report.latencyUs.all;
  assert.ok(all !== null);
  assert.ok(all.min > 0 && all.min <= all.p50);
  assert.ok(all.p50 <= all.p90 && all.p90 <= all.p99 && all.p99 <= all.p999 && all.p999 <= all.max);
  assert.ok(report.timeline.points.length >= 1);
  assert.equal(
    report.timeline.points.reduce((sum, p) => sum + p.ops, 0),
    report.totals.ok,
    "the timeline accounts for every operation",
  );
}

describe(
  "ringcache bench against redis-server",
  { skip: skipUnless("redis-server", "redis-cli") },
  () => {
    let redis: ChildProcess | undefined;
    let port = 0;
    const redisCli = (...args: string[]): string =>
      execFileSync(which("redis-cli") ?? "redis-cli", ["-p", String(port), ...args], {
        encoding: "utf8",
      });

    /** Calls of a command since the last CONFIG RESETSTAT, from INFO commandstats. */
    const calls = (command: string): number => {
      const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(
        redisCli("info", "commandstats"),
      );
      return match === null ? 0 : Number(match[1]);
    };

    before(async () => {
      port = await freePort();
      redis = spawn(
        which("redis-server") ?? "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: "ignore" },
      );
      await waitForPort(port);
    });

    after(() => {
      redis?.kill("SIGKILL");
    });

    it("measures a 2 s run with warm-up, and writes the HTML report", async () => {
      redisCli("flushall");
      redisCli("config", "resetstat");
      const html = join(tempDir("ringcache-bench-"), "report.html");
      const r = await runCli([
        "bench",
        "--target",
        `127.0.0.1:${port}`,
        "--duration",
        "2s",
        "--connections",
        "8",
        "--keyspace",
        "5000",
        "--json",
        "--html",
        html,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = parseReport(r.stdout);
      assertPlausible(report, r.stderr);
      assert.equal(report.stoppedBy, "duration");
      assert.ok(report.timeline.points.length >= 10, "a point per 100 ms");
      assert.ok(report.durationMs >= 2000 && report.durationMs < 4000, `${report.durationMs} ms`);
      assert.deepEqual(report.target, {
        protocol: "resp",
        host: "127.0.0.1",
        port,
        loopback: true,
      });
      assert.equal(report.warmup.complete, true);
      assert.equal(report.warmup.loaded, 5000);
      assert.equal(report.hitRatio, 1, "every key was preloaded, so every read hits");
      assert.ok(Math.abs(report.totals.gets / report.totals.requests - 0.9) < 0.02);
      // The server saw exactly what the report counts: warm-up SETs plus measured ones.
      assert.equal(calls("get"), report.totals.gets);
      assert.equal(calls("set"), 5000 + report.totals.sets);
      assert.equal(Number(redisCli("dbsize").trim()), 5000);
      // The HTML report is one file with both charts drawn from data.
      const page = readFileSync(html, "utf8");
      assert.match(page, /<svg id="latency-over-time"[^]*?<polyline [^]*?<\/svg>/);
      assert.match(page, /<svg id="latency-histogram"[^]*?<rect class="bar" [^]*?<\/svg>/);
      assert.match(r.stderr, /wrote the HTML report/);
    });

    it("stops after a request count, pipelined, with Zipf keys, value ranges and a TTL", async () => {
      redisCli("flushall");
      redisCli("config", "resetstat");
      const r = await runCli([
        "bench",
        "--target",
        `localhost:${port}`,
        "--requests",
        "20000",
        "--connections",
        "4",
        "--pipeline",
        "16",
        "--keyspace",
        "2000",
        "--distribution",
        "zipf",
        "--zipf-skew",
        "1.1",
        "--read-ratio",
        "0.5",
        "--value-size",
        "10-300",
        "--ttl",
        "120",
        "--json",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const report = parseReport(r.stdout);
      assertPlausible(report, r.stderr);
      assert.equal(report.stoppedBy, "requests");
      assert.equal(report.totals.requests, 20000);
      assert.equal(report.hitRatio, 1);
      assert.equal(calls("set"), 2000 + report.totals.sets);
      // Values span the range, and every key carries the TTL.
      const lengths = Array.from({ length: 50 }, (_, i) =>
        Number(redisCli("strlen", `key:${String(i).padStart(12, "0")}`).trim()),
      );
      assert.ok(lengths.every((n) => n >= 10 && n <= 300) && new Set(lengths).size > 10);
      const ttl = Number(redisCli("ttl", "key:000000000000").trim());
      assert.ok(ttl > 100 && ttl <= 120, `ttl ${ttl}`);
    });

    it("counts error replies by kind", async () => {
      redisCli("flushall");
      redisCli("config", "set", "maxmemory-policy", "noeviction");
      redisCli("config", "set", "maxmemory", "1");
      try {
        const r = await runCli([
          "bench",
          "--target",
          `127.0.0.1:${port}`,
          "--requests",
          "1000",
          "--connections",
          "2",
          "--read-ratio",
          "0.5",
          "--no-warmup",
          "--json",
        ]);
        assert.equal(r.code, 0, r.stderr); // the reads (misses) succeeded
        const report = parseReport(r.stdout);
        assert.equal(report.errors.byKind["OOM"], report.totals.sets);
        assert.match(report.errors.samples["OOM"] ?? "", /^OOM command not allowed/);
        assert.equal(report.errors.replies, report.totals.sets);
        assert.equal(report.totals.misses, report.totals.gets);
        assert.equal(
          report.latencyUs.set?.count,
          report.totals.sets,
          "error replies have latencies",
        );
      } finally {
        redisCli("config", "set", "maxmemory", "0");
      }
    });

    it("is what load_test/loadTest.sh runs, with the load balancer's ports from env or flags", async () => {
      const closed = String(await freePort());
      const quick = ["--requests", "1000", "--keyspace", "200", "--connections", "2", "--json"];
      // The RESP port from the environment...
      let r = await runLoadTest(quick, { RINGCACHE_LB_RESP_PORT: String(port) });
      assert.equal(r.code, 0, r.stderr);
      let report = parseReport(r.stdout);
      assert.deepEqual([report.target.host, report.target.port], ["127.0.0.1", port]);
      assert.equal(report.totals.requests, 1000);
      // ...a flag beats the environment...
      r = await runLoadTest(["--resp-port", String(port), ...quick], {
        RINGCACHE_LB_RESP_PORT: closed,
      });
      assert.equal(r.code, 0, r.stderr);
      // ...and --target replaces the load balancer altogether.
      r = await runLoadTest(["--target", `127.0.0.1:${port}`, "--resp-port", closed, ...quick], {});
      assert.equal(r.code, 0, r.stderr);
      report = parseReport(r.stdout);
      assert.equal(report.target.port, port);
      // An unreachable load balancer gets a hint.
      r = await runLoadTest(["--duration", "1s"], { RINGCACHE_LB_RESP_PORT: closed });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /is the local cluster up\? Its load balancer is expected at 127\.0\.0\.1:\d+/,
      );
      r = await runLoadTest(["--help"], {});
      assert.equal(r.code, 0);
      for (const text of [
        "RINGCACHE_LB_HOST",
        "RINGCACHE_LB_RESP_PORT",
        "RINGCACHE_LB_HTTP_PORT",
        "--zipf-skew",
      ]) {
        assert.ok(r.stdout.includes(text), `--help lacks ${text}`);
      }
      r = await runLoadTest(["--http-port", "x", "--protocol", "http"], {});
      assert.equal(r.code, 2);
      assert.match(r.stderr, /http port must be a number/);
    });

    it("prints a readable text report by default", async () => {
      const r = await runCli([
        "bench",
        "--target",
        `127.0.0.1:${port}`,
        "--requests",
        "2000",
        "--connections",
        "2",
        "--keyspace",
        "100",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /^ringcache bench: resp 127\.0\.0\.1:\d+, 2 connections x pipeline 1\n/,
      );
      assert.match(r.stdout, /throughput [\d,]+ ops\/s/);
      assert.match(r.stdout, /hit ratio {2}100\.00%/);
      assert.match(r.stdout, /all +p50 .* p99\.9 .* max /);
      assert.match(r.stdout, /errors {5}none/);
      // Not a terminal: no progress line, no escape codes.
      assert.ok(!(r.stdout + r.stderr).includes("\u001b["));
    });
  },
);

describe("ringcache bench over HTTP", () => {
  let server: HttpServer;
  let port = 0;
  const store = new Map<string, Buffer>();
  const seen = { get: 0, put: 0, ttl: new Set<string>(), other: 0 };

  before(async () => {
    // The masters' key API: GET/PUT /v1/keys/{key}, 404 on a miss.
    server = createHttpServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const key = decodeURIComponent(url.pathname.slice("/v1/keys/".length));
      if (!url.pathname.startsWith("/v1/keys/") || key === "") {
        seen.other++;
        res.writeHead(400).end();
        return;
      }
      if (key.startsWith("fail:")) {
        res.writeHead(503, { "content-length": 0 }).end();
        return;
      }
      if (req.method === "GET") {
        seen.get++;
        const value = store.get(key);
        if (value === undefined) res.writeHead(404, { "content-length": 0 }).end();
        else res.writeHead(200, { "content-type": "application/octet-stream" }).end(value);
        return;
      }
      if (req.method === "PUT") {
        const parts: Buffer[] = [];
        req.on("data", (d: Buffer) => parts.push(d));
        req.on("end", () => {
          seen.put++;
          seen.ttl.add(url.searchParams.get("ttl") ?? "none");
          store.set(key, Buffer.concat(parts));
          res.writeHead(204).end();
        });
        return;
      }
      seen.other++;
      res.writeHead(405).end();
    });
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("measures GET/PUT /v1/keys/{key}, pipelined, with warm-up and a TTL", async () => {
    const r = await runCli([
      "bench",
      "--protocol",
      "http",
      "--target",
      `127.0.0.1:${port}`,
      "--duration",
      "2s",
      "--connections",
      "8",
      "--pipeline",
      "4",
      "--keyspace",
      "3000",
      "--value-size",
      "100",
      "--ttl",
      "30",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = parseReport(r.stdout);
    assertPlausible(report, r.stderr);
    assert.equal(report.target.protocol, "http");
    assert.equal(report.warmup.complete, true);
    assert.equal(report.hitRatio, 1);
    assert.equal(seen.get, report.totals.gets);
    assert.equal(seen.put, 3000 + report.totals.sets);
    assert.deepEqual([...seen.ttl], ["30"]);
    assert.equal(seen.other, 0);
    assert.equal(store.size, 3000);
    assert.equal(store.get("key:000000000042")?.toString(), "x".repeat(100));
  });

  it("counts misses without warm-up, and error statuses by kind", async () => {
    store.clear();
    const r = await runCli([
      "bench",
      "--protocol",
      "http",
      "--target",
      `127.0.0.1:${port}`,
      "--requests",
      "3000",
      "--connections",
      "4",
      "--keyspace",
      "1000000",
      "--read-ratio",
      "1",
      "--no-warmup",
      "--key-prefix",
      "absent:",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.warmup.enabled, false);
    assert.equal(report.hitRatio, 0);
    assert.equal(report.totals.misses, 3000);
    assert.equal(report.errors.total, 0);

    const failing = await runCli([
      "bench",
      "--protocol",
      "http",
      "--target",
      `127.0.0.1:${port}`,
      "--requests",
      "500",
      "--connections",
      "2",
      "--pipeline",
      "8",
      "--no-warmup",
      "--key-prefix",
      "fail:",
      "--json",
    ]);
    assert.equal(failing.code, 1, "nothing succeeded");
    const errors = parseReport(failing.stdout).errors;
    assert.deepEqual(errors.byKind, { "HTTP 503": 500 });
    assert.equal(errors.samples["HTTP 503"], "HTTP/1.1 503 Service Unavailable");
  });
});

describe("ringcache bench over HTTP when the server closes keep-alive connections", () => {
  // Like NGINX after keepalive_requests responses: the last response says Connection: close,
  // the socket closes, and pipelined requests behind it are dropped unanswered.
  const PER_CONNECTION = 50;
  let server: TcpServer;
  let port = 0;
  const store = new Map<string, number>();
  let connections = 0;

  function respond(socket: Socket, served: number, status: string, body = ""): void {
    const last = served === PER_CONNECTION;
    socket.write(
      `HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\n${last ? "Connection: close\r\n" : ""}\r\n${body}`,
    );
    if (last) socket.end();
  }

  before(async () => {
    server = createTcpServer({ noDelay: true }, (socket) => {
      connections++;
      let pending = Buffer.alloc(0);
      let served = 0;
      socket.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (served < PER_CONNECTION) {
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) return;
          const head = pending.toString("latin1", 0, end);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (pending.length < end + 4 + length) return;
          pending = pending.subarray(end + 4 + length);
          const [method = "", path = ""] = head.split(" ");
          const key = path.slice("/v1/keys/".length);
          served++;
          if (method === "PUT") {
            store.set(key, length);
            respond(socket, served, "204 No Content");
          } else if (store.has(key)) {
            respond(socket, served, "200 OK", "x".repeat(store.get(key) ?? 0));
          } else {
            respond(socket, served, "404 Not Found");
          }
        }
      });
      socket.on("error", () => undefined);
    });
    port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  });

  after(() => {
    server.close();
  });

  it("reopens without errors and re-sends the requests the server dropped", async () => {
    const r = await runCli([
      "bench",
      "--protocol",
      "http",
      "--target",
      `127.0.0.1:${port}`,
      "--requests",
      "3000",
      "--connections",
      "4",
      "--pipeline",
      "8",
      "--keyspace",
      "500",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = parseReport(r.stdout);
    assert.equal(report.errors.total, 0, JSON.stringify(report.errors));
    assert.equal(report.warmup.loaded, 500);
    assert.equal(store.size, 500, "every warm-up key arrived, dropped ones re-sent");
    assert.equal(report.totals.requests, 3000);
    assert.equal(report.hitRatio, 1);
    assert.ok(connections >= (500 + 3000) / PER_CONNECTION, `${connections} connections`);
  });
});

describe("ringcache bench always stops by itself", () => {
  let silent: TcpServer;
  let port = 0;
  const sockets = new Set<Socket>();
  let accepted = 0;

  before(async () => {
    // Accepts connections and reads requests but never answers.
    silent = createTcpServer((socket) => {
      accepted++;
      sockets.add(socket);
      socket.on("data", () => undefined);
      socket.on("close", () => sockets.delete(socket));
    });
    port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, "127.0.0.1", resolve));
  });

  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });

  it("fails requests that get no reply and ends at its deadline", async () => {
    const started = Date.now();
    const r = await runCli([
      "bench",
      "--target",
      `127.0.0.1:${port}`,
      "--duration",
      "1s",
      "--timeout",
      "300ms",
      "--connections",
      "3",
      "--no-warmup",
      "--json",
    ]);
    const elapsed = Date.now() - started;
    assert.equal(r.code, 1, "nothing succeeded");
    assert.match(r.stderr, /no request succeeded/);
    const report = parseReport(r.stdout);
    assert.ok((report.errors.byKind["timeout"] ?? 0) >= 3, JSON.stringify(report.errors));
    assert.equal(report.totals.ok, 0);
    assert.ok(elapsed < 6000, `took ${elapsed} ms`);
  });

  it("ends a warm-up that cannot finish at its timeout", async () => {
    const r = await runCli([
      "bench",
      "--target",
      `127.0.0.1:${port}`,
      "--duration",
      "200ms",
      "--warmup-timeout",
      "300ms",
      "--timeout",
      "200ms",
      "--connections",
      "2",
      "--json",
    ]);
    const report = parseReport(r.stdout);
    assert.equal(report.warmup.enabled, true);
    assert.equal(report.warmup.complete, false);
    assert.equal(report.warmup.loaded, 0);
    assert.ok(report.warmup.errors > 0);
  });

  it("reports what ran when interrupted", async () => {
    const child = spawn(
      process.execPath,
      [
        BIN,
        "bench",
        "--target",
        `127.0.0.1:${port}`,
        "--duration",
        "60s",
        "--no-warmup",
        "--timeout",
        "10s",
        "--json",
      ],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    // Interrupt only once the run is under way (it has connected), however slow the start.
    const before = accepted;
    await waitFor("the bench to connect", () => accepted > before, { timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.ok(Date.now() - started < 3000, "a signal ends the run at once");
    const report = parseReport(stdout);
    assert.equal(report.stoppedBy, "interrupted");
    assert.equal(code, 1); // the silent server answered nothing
  });

  it("exits 1 with a clear message when the target refuses connections", async () => {
    const closed = await freePort();
    const r = await runCli(["bench", "--target", `127.0.0.1:${closed}`, "--duration", "1s"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(`cannot connect to 127\\.0\\.0\\.1:${closed} \\(resp\\).*ECONNREFUSED`),
    );
    assert.equal(r.stdout, "");
  });
});

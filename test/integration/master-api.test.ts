// A master in front of three auxiliary nodes (R=2), driven through its real client interfaces:
// replies compared byte for byte with a real redis-server, the clients people use (ioredis,
// node-redis, redis-cli, redis-benchmark), the HTTP API, and `ringcache status`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { Agent, createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { TestCluster } from "../helpers/cluster.js";
import { scriptLikeRedis } from "../helpers/like-redis.js";
import { runCli } from "../helpers/process.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless, which } from "../helpers/tools.js";

const run = promisify(execFile);

// Commands whose replies are deterministic, in an order where each depends on the ones before.
const SCRIPT: string[][] = [
  ["FLUSHALL"],
  ["PING"],
  ["PING", "hello"],
  ["PING", "a", "b"],
  ["ECHO"],
  ["ECHO", "hi there"],
  ["GET"],
  ["GET", "missing"],
  ["GET", "a", "b"],
  ["SET"],
  ["SET", "k"],
  ["SET", "k", "v"],
  ["GET", "k"],
  ["SET", "k", "v2", "GET"],
  ["SET", "k", "v3", "NX"],
  ["GET", "k"],
  ["SET", "k", "v3", "XX"],
  ["SET", "nk", "x", "XX"],
  ["SET", "nk", "x", "NX", "GET"],
  ["SET", "nk", "y", "NX", "GET"],
  ["SET", "k", "v", "EX"],
  ["SET", "k", "v", "EX", "0"],
  ["SET", "k", "v", "EX", "-5"],
  ["SET", "k", "v", "EX", "abc"],
  ["SET", "k", "v", "EX", "10", "PX", "100"],
  ["SET", "k", "v", "KEEPTTL", "EX", "10"],
  ["SET", "k", "v", "NX", "XX"],
  ["SET", "k", "v", "foo"],
  ["SET", "k", "v", "PX", "99999999999999999999999"],
  ["SET", "k", "v", "EX", "9223372036854775807"],
  ["SET", "k", "v", "EXAT", "0"],
  ["SET", "k", "v4", "KEEPTTL"],
  ["GET", "k"],
  ["SET", "bin", "a\r\nb\u0000c\u00ff"],
  ["GET", "bin"],
  ["SET", "empty", ""],
  ["GET", "empty"],
  ["MSET"],
  ["MSET", "a"],
  ["MSET", "a", "1", "b"],
  ["MSET", "a", "1", "b", "2", "c", "3"],
  ["MGET", "a", "b", "c", "nope", "a"],
  ["MGET"],
  ["DEL"],
  ["DEL", "a", "nope", "b", "a"],
  ["EXISTS"],
  ["EXISTS", "c", "c", "nope", "a"],
  ["INCR"],
  ["INCR", "a", "b"],
  ["INCR", "counter"],
  ["INCR", "counter"],
  ["INCRBY", "counter", "10"],
  ["INCRBY", "counter", "x"],
  ["INCRBY", "counter", "99999999999999999999"],
  ["DECR", "counter"],
  ["DECRBY", "counter", "5"],
  ["DECRBY", "counter", "-9223372036854775808"],
  ["GET", "counter"],
  ["INCR", "k"],
  ["SET", "big", "9223372036854775807"],
  ["INCR", "big"],
  ["DECRBY", "big", "-1"],
  ["INCRBY", "fresh", "-7"],
  ["EXPIRE"],
  ["EXPIRE", "c"],
  ["EXPIRE", "c", "x"],
  ["EXPIRE", "c", "x", "foo"],
  ["EXPIRE", "c", "100", "foo"],
  ["EXPIRE", "c", "100", "nx", "xx"],
  ["EXPIRE", "c", "100", "gt", "lt"],
  ["EXPIRE", "nope", "100"],
  ["EXPIRE", "c", "100", "xx"],
  ["EXPIRE", "c", "100", "nx"],
  ["EXPIRE", "c", "50", "nx"],
  ["EXPIRE", "c", "200", "gt"],
  ["EXPIRE", "c", "100", "gt"],
  ["EXPIRE", "c", "50", "lt"],
  ["PERSIST", "c"],
  ["PERSIST", "c"],
  ["PERSIST", "nope"],
  ["TTL", "c"],
  ["TTL", "nope"],
  ["PTTL", "nope"],
  ["TTL"],
  ["PERSIST"],
  ["PEXPIRE", "c", "9223372036854775807"],
  ["EXPIRE", "c", "9223372036854775807"],
  ["PEXPIRE", "c", "100000"],
  ["PEXPIREAT", "c", "1", "gt"],
  ["EXPIRE", "c", "-1"],
  ["GET", "c"],
  ["EXISTS", "c"],
  ["EXPIREAT", "counter", "1"],
  ["GET", "counter"],
  ["DBSIZE", "x"],
  ["DBSIZE"],
  ["FLUSHALL", "foo"],
  ["FLUSHALL", "async", "x"],
  ["FLUSHALL", "SYNC"],
  ["DBSIZE"],
  ["GET", "k"],
  ["CONFIG"],
  ["CONFIG", "GET"],
  ["CONFIG", "GET", "save"],
  ["CONFIG", "GET", "appendonly"],
  ["CONFIG", "GET", "sav*"],
  ["CONFIG", "SET", "foo", "bar"],
  ["CONFIG", "foo"],
  ["SELECT", "0"],
  ["SELECT", "x"],
  ["SELECT"],
  ["CLIENT", "SETNAME", "tester"],
  ["CLIENT", "GETNAME"],
  ["CLIENT", "SETNAME", "has space"],
  ["HELLO", "4"],
  ["HELLO", "x"],
  ["AUTH", "pw"],
  ["FOO"],
  ["FOO", "bar", "baz"],
  ["get", "k"],
];

describe("master API", () => {
  let cluster: TestCluster;
  let port: number;
  let base: string;

  before(async () => {
    // These tests are about replies, not fault timing: a request timeout that a loaded machine
    // cannot miss, so a stalled node does not turn a compatibility check into a TIMEOUT.
    cluster = await TestCluster.start({
      auxiliary: 3,
      replicas: 2,
      requestTimeout: "3s",
      masterArgs: ["--max-key-size", "1kb", "--max-value-size", "64kb", "--max-batch-keys", "5"],
    });
    port = cluster.master().port;
    base = cluster.master().url("");
  });
  after(async () => {
    await cluster.stop();
  });

  describe("RESP like Redis 7", { skip: skipUnless("redis-server") }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedisServer();
    });
    after(async () => {
      await redis.stop();
    });

    scriptLikeRedis(SCRIPT, () => ({ redis: redis.port, tested: port }));
  });

  it("serves ioredis, including its ready check, pipelines and binary values", async () => {
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    try {
      await client.connect();
      assert.equal(client.status, "ready");
      assert.equal(await client.set("io:a", "1"), "OK");
      assert.equal(await client.get("io:a"), "1");
      const binary = Buffer.from([0, 1, 2, 255, 13, 10]);
      await client.set(Buffer.from("io:bin\u0000"), binary);
      assert.deepEqual(await client.getBuffer(Buffer.from("io:bin\u0000")), binary);
      const pipe = client.pipeline();
      for (let i = 0; i < 200; i++) pipe.incr("io:counter");
      const results = (await pipe.exec()) ?? [];
      assert.deepEqual(
        results.map(([err, v]) => [err, v]),
        Array.from({ length: 200 }, (_, i) => [null, i + 1]),
      );
      await client.mset({ "io:x": "X", "io:y": "Y" });
      assert.deepEqual(await client.mget("io:x", "io:none", "io:y"), ["X", null, "Y"]);
      assert.equal(await client.expire("io:x", 100), 1);
      const ttl = await client.ttl("io:x");
      assert.ok(ttl > 98 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await client.del("io:x", "io:y", "io:none"), 2);
      assert.equal(await client.exists("io:x", "io:a"), 1);
      // Redis lists several patterns' matches in hash order; compare them as pairs.
      const config = (await client.config("GET", "save", "appendonly")) as string[];
      assert.deepEqual(
        new Map([
          [config[0], config[1]],
          [config[2], config[3]],
        ]),
        new Map([
          ["appendonly", "no"],
          ["save", ""],
        ]),
      );
    } finally {
      client.disconnect();
    }
  });

  it("serves node-redis", async () => {
    const client = createClient({ url: `redis://127.0.0.1:${port}` });
    client.on("error", () => {});
    await client.connect();
    try {
      assert.equal(await client.set("nr:a", "hello"), "OK");
      assert.equal(await client.get("nr:a"), "hello");
      assert.equal(await client.incrBy("nr:n", 5), 5);
      assert.deepEqual(await client.mGet(["nr:a", "nr:zz"]), ["hello", null]);
      assert.equal(await client.ping(), "PONG");
    } finally {
      client.destroy();
    }
  });

  it("serves redis-cli", { skip: skipUnless("redis-cli") }, async () => {
    const cli = which("redis-cli") as string;
    const call = async (...args: string[]): Promise<string> =>
      (await run(cli, ["-p", String(port), ...args])).stdout.trim();
    assert.equal(await call("SET", "cli:k", "from cli"), "OK");
    assert.equal(await call("GET", "cli:k"), "from cli");
    assert.equal(await call("DEL", "cli:k"), "1");
    assert.match(await call("INFO", "server"), /redis_version:7/);
    assert.match(await call("INFO"), /loading:0/);
  });

  it("runs a short redis-benchmark", { skip: skipUnless("redis-benchmark") }, async () => {
    const bench = which("redis-benchmark") as string;
    const { stdout } = await run(bench, [
      ...["-p", String(port), "-c", "10", "-n", "3000", "-d", "50", "-r", "1000"],
      ...["-t", "set,get", "-P", "4", "--csv"],
    ]);
    const rows = stdout
      .trim()
      .split("\n")
      .filter((l) => /^"(SET|GET)"/.test(l))
      .map((l) => l.split(",").map((c) => c.replace(/"/g, "")));
    assert.equal(rows.length, 2, stdout);
    for (const row of rows) assert.ok(Number(row[1]) > 0, `${row[0]}: ${row[1]} req/s`);
    const client = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    try {
      const keys = await client.dbsize();
      assert.ok(keys > 100, `dbsize ${keys}`);
    } finally {
      client.disconnect();
    }
  });

  describe("HTTP", () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());

    interface Reply {
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: Buffer;
      localPort: number;
    }

    function http(
      method: string,
      path: string,
      body?: Buffer | string,
      headers: Record<string, string> = {},
    ): Promise<Reply> {
      return new Promise((resolve, reject) => {
        const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
              localPort: res.socket?.localPort ?? req.socket?.localPort ?? 0,
            }),
          );
        });
        req.on("error", reject);
        req.end(body);
      });
    }

    const json = (
      r: Reply,
    ): { error?: { code: string; message: string } } & Record<string, unknown> =>
      JSON.parse(r.body.toString()) as { error?: { code: string; message: string } };

    it("stores, reads and deletes raw bytes under percent-encoded keys", async () => {
      const value = Buffer.from([0, 1, 2, 0xff, 0x0d, 0x0a, 0x41]);
      assert.equal((await http("PUT", "/v1/keys/hello%20world%2F%00", value)).status, 204);
      const got = await http("GET", "/v1/keys/hello%20world%2F%00");
      assert.equal(got.status, 200);
      assert.equal(got.headers["content-type"], "application/octet-stream");
      assert.deepEqual(got.body, value);
      // The same keyspace as RESP.
      const client = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
      try {
        assert.deepEqual(await client.getBuffer(Buffer.from("hello world/\u0000")), value);
        assert.equal((await http("PUT", "/v1/keys/ttl-key?ttl=100", "x")).status, 204);
        const ttl = await client.ttl("ttl-key");
        assert.ok(ttl > 98 && ttl <= 100, `ttl ${ttl}`);
      } finally {
        client.disconnect();
      }
      assert.equal((await http("DELETE", "/v1/keys/hello%20world%2F%00")).status, 204);
      const again = await http("DELETE", "/v1/keys/hello%20world%2F%00");
      assert.equal(again.status, 404);
      assert.equal(json(again).error?.code, "NOT_FOUND");
      const missing = await http("GET", "/v1/keys/hello%20world%2F%00");
      assert.equal(missing.status, 404);
      assert.equal(json(missing).error?.code, "NOT_FOUND");
    });

    it("keeps connections alive", async () => {
      const ports = new Set<number>();
      for (let i = 0; i < 10; i++) {
        const r = await http("GET", "/healthz");
        assert.equal(r.status, 200);
        ports.add(r.localPort);
      }
      assert.equal(ports.size, 1, "one connection served every request");
    });

    it("answers bad input with JSON errors and the catalogue's status", async () => {
      const cases: [string, string, Buffer | string | undefined, number, string][] = [
        ["GET", "/v1/keys/%zz", undefined, 400, "BAD_REQUEST"],
        ["GET", "/v1/keys/", undefined, 400, "BAD_REQUEST"],
        ["PUT", "/v1/keys/k?ttl=abc", "v", 400, "BAD_REQUEST"],
        ["PUT", "/v1/keys/k?ttl=0", "v", 400, "BAD_REQUEST"],
        ["GET", `/v1/keys/${"k".repeat(1025)}`, undefined, 414, "KEY_TOO_LARGE"],
        ["PUT", "/v1/keys/big", Buffer.alloc(65 * 1024), 413, "VALUE_TOO_LARGE"],
        ["POST", "/v1/keys/k", "v", 405, "METHOD_NOT_ALLOWED"],
        ["GET", "/v1/nothing", undefined, 404, "NOT_FOUND"],
        ["POST", "/v1/batch/get", "{not json", 400, "BAD_REQUEST"],
        ["POST", "/v1/batch/get", '{"keys":"a"}', 400, "BAD_REQUEST"],
        ["POST", "/v1/batch/get", '{"keys":["a","b","c","d","e","f"]}', 400, "BAD_REQUEST"],
        [
          "POST",
          "/v1/batch/set",
          '{"entries":[{"key":"a","value":"!!","ttl":0}]}',
          400,
          "BAD_REQUEST",
        ],
        [
          "POST",
          "/v1/batch/set",
          '{"entries":[{"key":"a","value":"!!"}],"encoding":"base64"}',
          400,
          "BAD_REQUEST",
        ],
        ["GET", "/v1/batch/get", undefined, 405, "METHOD_NOT_ALLOWED"],
        [
          "POST",
          "/v1/internal/register",
          '{"id":"bad id","host":"h","port":1}',
          400,
          "BAD_REQUEST",
        ],
      ];
      for (const [method, path, body, status, code] of cases) {
        const r = await http(method, path, body);
        assert.equal(r.status, status, `${method} ${path}: ${r.body.toString()}`);
        assert.equal(r.headers["content-type"], "application/json");
        const err = json(r).error;
        assert.equal(err?.code, code, `${method} ${path}`);
        assert.ok((err?.message.length ?? 0) > 0);
      }
      assert.equal((await http("POST", "/v1/keys/k", "v")).headers.allow, "GET, HEAD, PUT, DELETE");
    });

    it("refuses a chunked body over the limit while it streams", async () => {
      const r = await new Promise<number>((resolve, reject) => {
        const req = request(`${base}/v1/keys/chunked`, { method: "PUT" }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        for (let i = 0; i < 40; i++) req.write(Buffer.alloc(4096));
        req.end();
      });
      assert.equal(r, 413);
    });

    it("reads and writes batches in order, as UTF-8 or base64", async () => {
      const set = await http(
        "POST",
        "/v1/batch/set",
        JSON.stringify({
          entries: [
            { key: "b1", value: "één" },
            { key: "b2", value: "two", ttl: 60 },
          ],
        }),
      );
      assert.equal(set.status, 200, set.body.toString());
      assert.deepEqual(json(set), { stored: 2 });
      const bin = Buffer.from([0xff, 0, 0x80]);
      const set64 = await http(
        "POST",
        "/v1/batch/set",
        JSON.stringify({
          encoding: "base64",
          entries: [
            { key: Buffer.from("b\u0000in").toString("base64"), value: bin.toString("base64") },
          ],
        }),
      );
      assert.equal(set64.status, 200);
      const get = await http(
        "POST",
        "/v1/batch/get",
        JSON.stringify({ keys: ["b2", "none", "b1"] }),
      );
      assert.equal(get.status, 200);
      assert.deepEqual(json(get), { encoding: "utf8", values: ["two", null, "één"] });
      const get64 = await http(
        "POST",
        "/v1/batch/get",
        JSON.stringify({ encoding: "base64", keys: [Buffer.from("b\u0000in").toString("base64")] }),
      );
      assert.deepEqual(json(get64), { encoding: "base64", values: [bin.toString("base64")] });
      const empty = await http("POST", "/v1/batch/get", JSON.stringify({ keys: [] }));
      assert.deepEqual(json(empty), { encoding: "utf8", values: [] });
    });

    it("shows the cluster, health, readiness and metrics", async () => {
      const view = json(await http("GET", "/v1/cluster")) as unknown as {
        epoch: string;
        replicas: { configured: number; effective: number };
        nodes: { id: string; state: string; share: number; inRing: boolean }[];
        leader: null;
      };
      assert.match(view.epoch, /^[0-9a-f]+$/);
      assert.deepEqual(view.replicas, { configured: 2, effective: 2 });
      assert.deepEqual(
        view.nodes.map((n) => [n.id, n.state, n.inRing]),
        [
          ["a1", "up", true],
          ["a2", "up", true],
          ["a3", "up", true],
        ],
      );
      const total = view.nodes.reduce((s, n) => s + n.share, 0);
      assert.ok(Math.abs(total - 1) < 1e-9, `shares add up to ${total}`);
      for (const n of view.nodes) assert.ok(n.share > 0.2 && n.share < 0.5, `${n.id}: ${n.share}`);
      assert.equal((await http("GET", "/healthz")).status, 200);
      const ready = await http("GET", "/readyz");
      assert.equal(ready.status, 200);
      assert.equal(json(ready)["nodesUp"], 3);
      const metrics = (await http("GET", "/metrics")).body.toString();
      for (const line of [
        /^ringcache_master_commands_total\{command="get",result="ok"\} \d+/m,
        /^ringcache_master_command_duration_seconds_bucket\{command="set",result="ok",le="0\.001"\} \d+/m,
        /^ringcache_master_node_up\{node="a1"\} 1$/m,
        /^ringcache_master_node_state\{node="a2",state="up"\} 1$/m,
        /^ringcache_master_node_requests_total\{node="a3"\} \d+/m,
        /^ringcache_master_node_request_duration_seconds_count\{node="a1"\} \d+/m,
        /^ringcache_master_ring_share\{node="a1"\} 0\.\d+/m,
        /^ringcache_master_ring_epoch_info\{epoch="[0-9a-f]+"\} 1$/m,
        /^ringcache_master_client_connections\{protocol="http"\} \d+/m,
        /^ringcache_master_http_requests_total\{route="keys",status="204"\} \d+/m,
        /^nodejs_eventloop_lag_seconds \d/m,
        /^ringcache_build_info\{version="\d+\.\d+\.\d+[^"]*",role="master"\} 1$/m,
        /^ringcache_master_replicas 2$/m,
        /^ringcache_master_replicas_configured 2$/m,
        /^ringcache_master_is_leader 1$/m,
        /^ringcache_master_leader_info\{leader="m1"\} 1$/m,
        /^ringcache_master_leader_changes_total 0$/m,
        /^ringcache_master_rebalance_started_timestamp_seconds \d/m,
        /^ringcache_master_rebalance_ranges \d+$/m,
        /^ringcache_master_rebalance_ranges_done \d+$/m,
        /^ringcache_master_rebalance_bytes_moved_total \d+$/m,
        /^ringcache_master_backup_write_failures_total 0$/m,
        /^ringcache_master_backup_compaction_failures_total 0$/m,
        /^ringcache_master_backup_last_write_timestamp_seconds \d/m,
      ]) {
        assert.match(metrics, line);
      }
    });

    it("lists the members to scrape for Prometheus (http_sd)", async () => {
      // Nodes given by --auxiliary that never registered have no known metrics port: only the
      // master is listed (the registered case is in prometheus.test.ts, with a real Prometheus).
      const all = await http("GET", "/v1/sd/prometheus");
      assert.equal(all.status, 200);
      assert.equal(all.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(all.body.toString()), [
        {
          targets: [`127.0.0.1:${cluster.master().httpPort}`],
          labels: { role: "master", master: "m1" },
        },
      ]);
      const nodes = await http("GET", "/v1/sd/prometheus?role=auxiliary");
      assert.deepEqual(JSON.parse(nodes.body.toString()), []);
      const bad = await http("GET", "/v1/sd/prometheus?role=nginx");
      assert.equal(bad.status, 400);
      assert.match(json(bad).error?.message ?? "", /role must be one of master, auxiliary/);
      assert.equal((await http("POST", "/v1/sd/prometheus", "")).status, 405);
    });
  });

  it("prints the cluster with `ringcache status`", async () => {
    const { code, stdout } = await runCli(["status", "--url", base]);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /^master m1 .*nodes up 3 of 3$/m);
    assert.match(stdout, /^a2 +127\.0\.0\.1:\d+ +up +\d+\.\d% +0 +config /m);
    const asJson = await runCli(["status", "--url", base, "--json"]);
    assert.equal((JSON.parse(asJson.stdout) as { nodes: unknown[] }).nodes.length, 3);
    const down = await runCli(["status", "--url", "http://127.0.0.1:1"]);
    assert.equal(down.code, 1);
    const timed = await runCli(["status", "--url", base, "--timeout", "2s"]);
    assert.equal(timed.code, 0, timed.stderr);
    const bad = await runCli(["status", "--url", base, "--timeout", "2x"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid --timeout: expected a duration such as 2s, got "2x"/);
  });

  it("gives up `ringcache status` after --timeout when a master accepts and never answers", async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port: silentPort } = silent.address() as AddressInfo;
      const res = await runCli([
        "status",
        "--url",
        `http://127.0.0.1:${silentPort}`,
        "--timeout",
        "300ms",
      ]);
      assert.equal(res.code, 1);
      // The option's bound gave up, not the 3 s default's.
      assert.match(res.stderr, /no answer within 300 ms/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

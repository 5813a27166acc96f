// RESP3 on every client port (docs/design.md, "Client interfaces"). With a secret configured on
// both sides, the same scripts go to a real redis-server (requirepass) and to a master and an
// auxiliary node's plain port: HELLO's errors before AUTH, AUTH through HELLO, every reply after
// HELLO 3, back to RESP2 with HELLO 2 and RESET. Replies compare byte for byte, HELLO's own
// with its id and version masked. Then the clients that speak RESP3 (node-redis with RESP: 3,
// redis-cli -3), the human-readable replies (INFO, CLIENT INFO) by structure, and the push
// features, which answer an error at once.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { createClient } from "redis";
import { TestCluster } from "../helpers/cluster.js";
import {
  diffReplies,
  maskHelloReplies,
  pipelined,
  rawReplies,
  splitReplies,
} from "../helpers/raw-resp.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { skipUnless, which } from "../helpers/tools.js";

const run = promisify(execFile);
const SECRET = "resp3-secret";

/** HELLO before AUTH, then AUTH through HELLO (each wrong secret is answered late). */
const HANDSHAKE: string[][] = [
  ["HELLO", "3"],
  ["GET", "k"],
  ["HELLO", "3", "SETNAME", "early"],
  ["HELLO", "2", "SETNAME", "n1", "FOO"],
  ["HELLO", "4", "AUTH", "default", SECRET],
  ["HELLO", "1"],
  ["HELLO", "x"],
  ["HELLO", "03"],
  ["HELLO", "-1"],
  ["HELLO", "99999999999999999999"],
  ["HELLO", "3", "AUTH", "default"],
  ["HELLO", "3", "Auth"],
  ["HELLO", "3", "SETNAME"],
  ["HELLO", "3", "SETNAME", "a b", "AUTH", "default", SECRET],
  ["HELLO", "3", "AUTH", "default", "wrong"],
  ["HELLO", "3", "AUTH", "nobody", SECRET],
  ["CLIENT", "GETNAME"],
  ["HELLO", "3", "AUTH", "default", SECRET, "SETNAME", "r3", "FOO"],
  ["CLIENT", "GETNAME"],
  ["GET", "missing"],
  ["HELLO", "2", "SETNAME", "n2", "SETNAME", "bad name"],
  ["CLIENT", "GETNAME"],
  ["HELLO", "3", "auth", "default", SECRET, "setname", "r3"],
];

/** After HELLO 3: the replies whose RESP3 form differs, and some that do not. */
const IN_RESP3: string[][] = [
  ["FLUSHALL"],
  ["CLIENT", "GETNAME"],
  ["CLIENT", "SETNAME", ""],
  ["CLIENT", "GETNAME"],
  ["HELLO", "3", "SETNAME", "bad\u0001name"],
  ["PING"],
  ["PING", "x"],
  ["ECHO", "y"],
  ["SET", "k", "v"],
  ["GET", "k"],
  ["GET", "missing"],
  ["MGET", "k", "missing", "k"],
  ["MGET", "missing"],
  ["SET", "k", "v2", "NX"],
  ["SET", "k", "v2", "XX", "GET"],
  ["SET", "nk", "v", "XX", "GET"],
  ["SET", "nk", "v", "XX"],
  ["SET", "nk", "v", "NX", "GET"],
  ["SET", "k", "v3", "KEEPTTL", "GET"],
  ["MSET", "a", "1", "b", "2"],
  ["MGET", "a", "nope", "b"],
  ["INCR", "n"],
  ["INCRBY", "n", "x"],
  ["EXPIRE", "n", "100"],
  ["TTL", "n"],
  ["PERSIST", "n"],
  ["TTL", "n"],
  ["TTL", "missing"],
  ["PTTL", "missing"],
  ["EXISTS", "k", "missing", "a"],
  ["DEL", "a", "missing"],
  ["DBSIZE"],
  ["CONFIG", "GET", "save"],
  ["CONFIG", "GET", "sav*"],
  ["CONFIG", "GET", "appendonly"],
  ["CONFIG", "GET", "nomatch"],
  ["SELECT", "0"],
  ["GET"],
  ["FOO", "bar"],
  ["COMMAND", "DOCS", "nosuchcommand"],
  ["CLIENT", "LIST", "ID", "99999", "0", "-5"],
  ["CLIENT", "LIST", "TYPE", "foo"],
  ["CLIENT", "LIST", "ID", "abc"],
  ["CLIENT", "LIST", "foo"],
  ["CLIENT", "LIST", "TYPE", "normal", "extra"],
  ["CLIENT", "INFO", "x"],
  ["HELLO"],
  ["HELLO", "2"],
  ["GET", "missing"],
  ["CLIENT", "LIST", "ID", "99999"],
  ["MGET", "missing", "k"],
  ["CLIENT", "GETNAME"],
  ["HELLO"],
  ["HELLO", "3"],
  ["GET", "missing"],
  ["RESET"],
  ["GET", "missing"],
  ["AUTH", SECRET],
  ["GET", "missing"],
  ["HELLO"],
];

const SCRIPT = [...HANDSHAKE, ...IN_RESP3];
/** What an auxiliary node's plain port answers of it (no MGET, MSET, INCR, EXPIRE, CONFIG). */
const MASTER_ONLY = new Set(["mget", "mset", "incr", "incrby", "expire", "persist", "config"]);
const AUXILIARY_SCRIPT = SCRIPT.filter((c) => !MASTER_ONLY.has((c[0] as string).toLowerCase()));

/**
 * One write: a deferred GET before and after each switch, and a SET NX that holds the
 * connection while HELLO 2 runs: each reply keeps the protocol of its command's turn.
 */
const SWITCHING: string[][] = [
  ["HELLO", "3", "AUTH", "default", SECRET],
  ["GET", "missing"],
  ["SET", "sw", "1", "NX", "GET"],
  ["GET", "missing"],
  ["HELLO", "2"],
  ["GET", "missing"],
  ["MGET", "missing", "sw"],
  ["HELLO", "3"],
  ["SET", "sw", "2", "XX", "GET"],
  ["SET", "none", "2", "XX", "GET"],
  ["MGET", "missing", "sw"],
  ["DEL", "sw"],
];

/** A RESP3 verbatim string (`=len\r\ntxt:…\r\n`) whose length is right; returns the text. */
function verbatimText(reply: Buffer): string {
  const text = reply.toString("latin1");
  const m = /^=(\d+)\r\ntxt:([\s\S]*)\r\n$/.exec(text);
  assert.ok(m !== null, `not a verbatim string: ${JSON.stringify(text.slice(0, 80))}`);
  assert.equal(Number(m[1]), Buffer.byteLength(m[2] as string, "latin1") + 4);
  return m[2] as string;
}

/** A RESP2 bulk string whose length is right; returns the text. */
function bulkText(reply: Buffer): string {
  const text = reply.toString("latin1");
  const m = /^\$(\d+)\r\n([\s\S]*)\r\n$/.exec(text);
  assert.ok(m !== null, `not a bulk string: ${JSON.stringify(text.slice(0, 80))}`);
  assert.equal(Number(m[1]), Buffer.byteLength(m[2] as string, "latin1"));
  return m[2] as string;
}

describe("RESP3 on every client port", () => {
  let cluster: TestCluster;
  let masterPort: number;
  let auxiliaryPort: number;

  before(async () => {
    cluster = await TestCluster.start({
      auxiliary: 2,
      replicas: 2,
      secret: SECRET,
      requestTimeout: "3s",
    });
    masterPort = cluster.master().port;
    auxiliaryPort = (cluster.auxiliaries[0] as { port: number }).port;
  });
  after(async () => {
    await cluster.stop();
  });

  describe("byte for byte as redis-server 7.0", { skip: skipUnless("redis-server") }, () => {
    let redis: RedisServer;
    before(async () => {
      redis = await startRedisServer(["--requirepass", SECRET]);
    });
    after(async () => {
      await redis.stop();
    });

    async function compare(port: number, script: string[][]): Promise<void> {
      const expected = maskHelloReplies(script, await rawReplies(redis.port, script));
      const actual = maskHelloReplies(script, await rawReplies(port, script));
      assert.deepEqual(diffReplies(script, expected, actual), []);
    }

    it("a master: HELLO's errors, AUTH through HELLO, every reply in RESP3, then RESP2", async () => {
      await compare(masterPort, SCRIPT);
    });

    it("an auxiliary node's plain port: the same", async () => {
      await compare(auxiliaryPort, AUXILIARY_SCRIPT);
    });

    it("a master: one pipelined write that switches protocols between deferred replies", async () => {
      const replies = async (port: number): Promise<Buffer[]> =>
        maskHelloReplies(SWITCHING, splitReplies(await pipelined(port, SWITCHING)));
      const expected = await replies(redis.port);
      assert.deepEqual(diffReplies(SWITCHING, expected, await replies(masterPort)), []);
    });

    it("INFO and CLIENT INFO / LIST: verbatim strings in RESP3, bulks in RESP2, as Redis", async () => {
      const script = [
        ["AUTH", SECRET],
        ["CLIENT", "SETNAME", "viewer"],
        ["INFO", "server"],
        ["CLIENT", "INFO"],
        ["CLIENT", "LIST", "TYPE", "normal"],
        ["HELLO", "3"],
        ["INFO", "server"],
        ["INFO", "nosuchsection"],
        ["CLIENT", "INFO"],
        ["CLIENT", "LIST", "TYPE", "normal"],
        ["CLIENT", "LIST", "TYPE", "pubsub"],
      ];
      for (const port of [redis.port, masterPort, auxiliaryPort]) {
        const r = await rawReplies(port, script);
        const at = (i: number): Buffer => r[i] as Buffer;
        assert.match(bulkText(at(2)), /^# Server\r\nredis_version:7\.0\.\d+\r\n/);
        assert.match(bulkText(at(3)), /^id=\d+ addr=\S+ laddr=\S+ .*name=viewer .*resp=2\n$/);
        assert.match(bulkText(at(4)), /(^|\n)id=\d+ addr=\S+ .*name=viewer .*resp=2\n/);
        assert.match(verbatimText(at(6)), /^# Server\r\nredis_version:7\.0\.\d+\r\n/);
        assert.equal(at(7).toString("latin1"), "=4\r\ntxt:\r\n");
        assert.match(verbatimText(at(8)), /^id=\d+ addr=\S+ laddr=\S+ .*name=viewer .*resp=3\n$/);
        assert.match(verbatimText(at(9)), /(^|\n)id=\d+ addr=\S+ .*name=viewer .*resp=3\n/);
        assert.equal(at(10).toString("latin1"), "=4\r\ntxt:\r\n");
      }
    });
  });

  it("serves node-redis with RESP: 3", async () => {
    const client = createClient({
      url: `redis://127.0.0.1:${masterPort}`,
      RESP: 3,
      password: SECRET,
      name: "node-redis-3",
    });
    client.on("error", () => {});
    await client.connect();
    try {
      const hello = await client.sendCommand<Record<string, unknown>>(["HELLO"]);
      assert.equal(hello.proto, 3);
      assert.equal(await client.clientGetName(), "node-redis-3");
      assert.equal(await client.set("nr3:a", "hello"), "OK");
      assert.equal(await client.get("nr3:a"), "hello");
      assert.equal(await client.get("nr3:none"), null);
      assert.equal(await client.set("nr3:a", "x", { condition: "NX" }), null);
      assert.deepEqual(await client.mGet(["nr3:a", "nr3:none", "nr3:a"]), ["hello", null, "hello"]);
      assert.equal(await client.incr("nr3:n"), 1);
      assert.equal(await client.expire("nr3:n", 100), 1);
      const ttl = await client.ttl("nr3:n");
      assert.ok(ttl > 98 && ttl <= 100, `ttl ${ttl}`);
      assert.equal(await client.ttl("nr3:none"), -2);
      // Pipelined: node-redis writes these in one go and matches the replies in order.
      const n = 200;
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          i % 2 === 0 ? client.incr("nr3:p") : client.get(`nr3:none${i}`),
        ),
      );
      assert.deepEqual(
        results,
        Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i / 2 + 1 : null)),
      );
      await assert.rejects(client.incr("nr3:a"), /ERR value is not an integer or out of range/);
      assert.deepEqual(
        { ...(await client.configGet("save")) },
        {
          save: "",
        },
      );
      assert.match(await client.info("server"), /^# Server\r\nredis_version:/);
      assert.equal(await client.ping(), "PONG");
    } finally {
      client.destroy();
    }
  });

  it("serves redis-cli -3", { skip: skipUnless("redis-cli") }, async () => {
    const cli = which("redis-cli") as string;
    const env = { ...process.env, REDISCLI_AUTH: SECRET };
    const call = async (port: number, ...args: string[]): Promise<{ out: string; err: string }> => {
      const { stdout, stderr } = await run(cli, ["-3", "-p", String(port), ...args], { env });
      return { out: stdout.trim(), err: stderr.trim() };
    };
    for (const port of [masterPort, auxiliaryPort]) {
      assert.deepEqual(await call(port, "PING"), { out: "PONG", err: "" });
      assert.deepEqual(await call(port, "SET", "cli3:k", "from cli"), { out: "OK", err: "" });
      assert.deepEqual(await call(port, "GET", "cli3:k"), { out: "from cli", err: "" });
      assert.deepEqual(await call(port, "--no-raw", "GET", "cli3:none"), {
        out: "(nil)",
        err: "",
      });
      assert.deepEqual(await call(port, "--no-raw", "DEL", "cli3:k"), {
        out: "(integer) 1",
        err: "",
      });
      const info = await call(port, "INFO", "server");
      assert.equal(info.err, "");
      assert.match(info.out, /^# Server\r?\nredis_version:7/);
      assert.match((await call(port, "CLIENT", "INFO")).out, / resp=3$/);
    }
  });

  describe("push features answer an error at once", () => {
    const PUSH: string[][] = [
      ["SUBSCRIBE", "ch"],
      ["PSUBSCRIBE", "ch*"],
      ["SSUBSCRIBE", "ch"],
      ["UNSUBSCRIBE"],
      ["PUNSUBSCRIBE"],
      ["SUNSUBSCRIBE"],
      ["PUBLISH", "ch", "m"],
      ["SPUBLISH", "ch", "m"],
      ["PUBSUB", "CHANNELS"],
      ["MONITOR"],
      ["CLIENT", "TRACKING", "on"],
      ["CLIENT", "TRACKINGINFO"],
      ["CLIENT", "GETREDIR"],
      ["CLIENT", "CACHING", "yes"],
    ];

    for (const hello of ["2", "3"]) {
      it(`in RESP${hello}, on a master and an auxiliary node, the connection serving on`, async () => {
        const script = [["HELLO", hello, "AUTH", "default", SECRET], ...PUSH, ["PING"]];
        for (const port of [masterPort, auxiliaryPort]) {
          const replies = await rawReplies(port, script);
          PUSH.forEach((command, i) => {
            const name = command[0] === "CLIENT" ? `CLIENT ${command[1]}` : command[0];
            assert.equal(
              (replies[i + 1] as Buffer).toString("latin1"),
              `-ERR ${name} is not supported: ringcache sends no push messages (no pub/sub, MONITOR or client tracking)\r\n`,
            );
          });
          assert.equal((replies[PUSH.length + 1] as Buffer).toString("latin1"), "+PONG\r\n");
        }
      });
    }

    it("node-redis's subscribe() rejects instead of waiting, in RESP2 and RESP3", async () => {
      for (const RESP of [2, 3] as const) {
        const client = createClient({
          url: `redis://127.0.0.1:${masterPort}`,
          RESP,
          password: SECRET,
        });
        client.on("error", () => {});
        await client.connect();
        try {
          await assert.rejects(
            client.subscribe("ch", () => {}),
            /SUBSCRIBE is not supported/,
          );
        } finally {
          client.destroy();
        }
      }
    });
  });
});

// The master's node pool and router against real redis-servers standing in as nodes (plain
// GET/SET/PING are all these tests send, and a redis-server answers them like an auxiliary
// node does): FIFO matching under pipelining, in-place timeouts, fail-fast, reconnects,
// multi-key gathering in order, and read failover.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { performance } from "node:perf_hooks";
import { HybridClock } from "../../src/clock/hlc.js";
import type { RingcacheError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { HealthChecker } from "../../src/master/health.js";
import { Membership } from "../../src/master/membership.js";
import {
  NodePool,
  type NodeClient,
  type ReplyTarget,
  type TroubleKind,
} from "../../src/master/pool.js";
import { GatherOp } from "../../src/master/ops/gather.js";
import type { OpSink } from "../../src/master/ops/op.js";
import { ReadOp } from "../../src/master/ops/read.js";
import { Router } from "../../src/master/router.js";
import { Topology } from "../../src/master/topology.js";
import type { RespValue } from "../../src/protocol/resp/index.js";
import { freePorts } from "../helpers/ports.js";
import { skipUnless, which } from "../helpers/tools.js";
import { sleep, waitFor, waitForPort } from "../helpers/wait.js";

const logger = createLogger({ node: "test", role: "master", level: "silent" });

/** A redis-server on a fixed port, so that it can be restarted at the same address. */
class Redis {
  readonly port: number;
  private child: ChildProcess | undefined;
  constructor(port: number) {
    this.port = port;
  }
  async start(): Promise<void> {
    this.child = spawn(
      which("redis-server") as string,
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    await waitForPort(this.port);
  }
  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }
  /** kill -9 (a stopped process dies too, without running anything more). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }
}

/** Records each request's outcome by token, copying bulks as the contract requires. */
class Recorder implements ReplyTarget {
  readonly replies = new Map<number, RespValue>();
  readonly errors = new Map<number, RingcacheError>();
  readonly at = new Map<number, number>();
  onNodeReply(token: number, value: RespValue): void {
    assert.ok(!this.replies.has(token) && !this.errors.has(token), `token ${token} ended twice`);
    this.replies.set(token, Buffer.isBuffer(value) ? Buffer.from(value) : value);
    this.at.set(token, performance.now());
  }
  onNodeError(token: number, error: RingcacheError): void {
    assert.ok(!this.replies.has(token) && !this.errors.has(token), `token ${token} ended twice`);
    this.errors.set(token, error);
    this.at.set(token, performance.now());
  }
  get done(): number {
    return this.replies.size + this.errors.size;
  }
}

function send(client: NodeClient, target: ReplyTarget, token: number, args: string[]): boolean {
  const conn = client.connection(token);
  if (conn === null) return false;
  conn.writer().command(args);
  conn.expect(target, token);
  return true;
}

describe("node pool", { skip: skipUnless("redis-server") }, () => {
  let redis: Redis;
  let pool: NodePool;
  const trouble: TroubleKind[] = [];

  before(async () => {
    const [port] = (await freePorts(1)) as [number];
    redis = new Redis(port);
    await redis.start();
    pool = new NodePool({
      connectionsPerNode: 2,
      requestTimeoutMs: 200,
      logger,
      listener: { onNodeTrouble: (_client, kind) => trouble.push(kind) },
    });
    const client = pool.add("r1", "127.0.0.1", redis.port);
    await waitFor("connections", () => client.connections.every((c) => c.ready));
  });
  after(async () => {
    pool.close();
    await redis.stop();
  });

  it("matches thousands of pipelined replies to their requests, first in first out", async () => {
    // A pool of its own with a long timeout: on a loaded machine thousands of requests in
    // flight may take longer than the short timeout the other tests need.
    const fifoPool = new NodePool({ connectionsPerNode: 2, requestTimeoutMs: 30_000, logger });
    after(() => fifoPool.close());
    const client = fifoPool.add("r1", "127.0.0.1", redis.port);
    await waitFor("connections", () => client.connections.every((c) => c.ready));
    const rec = new Recorder();
    const n = 4000;
    for (let i = 0; i < n; i++) assert.ok(send(client, rec, i, ["SET", `k${i}`, `v${i}`]));
    await waitFor("the SETs", () => rec.done === n);
    // Spread over several turns, so that both connections carry requests.
    for (let i = 0; i < n; i++) {
      assert.ok(send(client, rec, n + i, ["GET", `k${i}`]));
      if (i % 500 === 0) await sleep(1);
    }
    await waitFor("the GETs", () => rec.done === 2 * n);
    assert.equal(rec.errors.size, 0);
    for (let i = 0; i < n; i++) {
      assert.equal(rec.replies.get(i), "OK");
      assert.deepEqual(rec.replies.get(n + i), Buffer.from(`v${i}`), `GET k${i}`);
    }
    const used = client.connections.filter((c) => c.ready).length;
    assert.equal(used, 2);
    assert.ok(client.stats.requests >= 2 * n);
  });

  it("times a stopped node's requests out in place, and keeps later replies in step", async () => {
    const client = pool.get("r1") as NodeClient;
    const rec = new Recorder();
    send(client, rec, 0, ["SET", "x", "X"]);
    send(client, rec, 1, ["SET", "y", "Y"]);
    await waitFor("the SETs", () => rec.done === 2);
    redis.signal("SIGSTOP");
    const sentAt = performance.now();
    send(client, rec, 2, ["GET", "x"]);
    await waitFor("the timeout", () => rec.done === 3, { timeoutMs: 2000 });
    const waited = (rec.at.get(2) as number) - sentAt;
    assert.equal(rec.errors.get(2)?.code, "TIMEOUT");
    assert.ok(waited >= 190 && waited < 500, `timed out after ${waited.toFixed(0)} ms`);
    assert.ok(trouble.includes("timeout"));
    redis.signal("SIGCONT");
    // The late reply to GET x must be dropped, not handed to GET y.
    for (let i = 0; i < 2; i++) send(client, rec, 3 + i, ["GET", "y"]);
    await waitFor("GET y", () => rec.done === 5);
    assert.deepEqual(rec.replies.get(3), Buffer.from("Y"));
    assert.deepEqual(rec.replies.get(4), Buffer.from("Y"));
  });

  it("fails fast when the node is not accepting", () => {
    const client = pool.get("r1") as NodeClient;
    client.accepting = false;
    assert.equal(client.connection(0), null);
    client.accepting = true;
    assert.notEqual(client.connection(0), null);
  });

  it("fails pending requests when the node dies, refuses new ones, and reconnects when it is back", async () => {
    const client = pool.get("r1") as NodeClient;
    const rec = new Recorder();
    redis.signal("SIGSTOP");
    send(client, rec, 0, ["GET", "x"]);
    await sleep(20);
    trouble.length = 0;
    await redis.stop();
    await waitFor("the pending request to fail", () => rec.done === 1);
    assert.equal(rec.errors.get(0)?.code, "UNAVAILABLE");
    await waitFor("no connection left", () => client.connection(0) === null);
    assert.ok(trouble.includes("lost"), `trouble: ${trouble.join(",")}`);
    await waitFor("a refused reconnect", () => trouble.includes("refused"), { timeoutMs: 3000 });
    await redis.start();
    await waitFor("a reconnect", () => client.connected, { timeoutMs: 3000 });
    send(client, rec, 1, ["PING"]);
    await waitFor("PING", () => rec.done === 2);
    assert.equal(rec.replies.get(1), "PONG");
  });
});

/**
 * A node that answers +OK to each command only when told to, and keeps every chunk it reads:
 * what shows how the pool's requests are grouped into writes.
 */
class HeldNode {
  readonly chunks: string[] = [];
  private socket: Socket | null = null;
  private readonly server: Server;
  port = 0;
  constructor() {
    this.server = createServer((socket) => {
      this.socket = socket;
      socket.on("data", (d: Buffer) => this.chunks.push(d.toString("latin1")));
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as { port: number }).port;
  }
  /** Commands read so far (each request is a RESP array: one `*` line per command). */
  get commands(): number {
    return this.chunks.join("").split("*").length - 1;
  }
  answer(n: number): void {
    this.socket?.write("+OK\r\n".repeat(n));
  }
  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe("node pool: requests made while earlier ones are unanswered", () => {
  let node: HeldNode;
  let pool: NodePool;
  let client: NodeClient;

  before(async () => {
    node = new HeldNode();
    await node.start();
    pool = new NodePool({ connectionsPerNode: 1, requestTimeoutMs: 10_000, logger });
    client = pool.add("h1", "127.0.0.1", node.port);
    await waitFor("the connection", () => client.connected);
  });
  after(async () => {
    pool.close();
    await node.close();
  });

  it("wait for its reply, then leave together in one write", async () => {
    const rec = new Recorder();
    send(client, rec, 0, ["SET", "a", "1"]);
    await waitFor("the first request", () => node.commands === 1);
    // Three more, each in a turn of its own: none is written while the first is unanswered.
    for (let i = 1; i <= 3; i++) {
      send(client, rec, i, ["SET", `k${i}`, "v"]);
      await sleep(5);
    }
    await sleep(30);
    assert.equal(node.commands, 1, "requests were written before the earlier reply came");
    const chunksBefore = node.chunks.length;
    node.answer(1);
    await waitFor("the held requests", () => node.commands === 4);
    assert.equal(node.chunks.length, chunksBefore + 1, "the held requests left in one write");
    node.answer(3);
    await waitFor("the replies", () => rec.done === 4);
    for (let i = 0; i < 4; i++) assert.equal(rec.replies.get(i), "OK");
  });

  it("are written at once when a turn brings 16 of them, or 64 KiB", async () => {
    const rec = new Recorder();
    const base = node.commands;
    send(client, rec, 0, ["GET", "a"]);
    await waitFor("the first request", () => node.commands === base + 1);
    // A pipelined client's turn: enough for a write of its own.
    for (let i = 1; i <= 16; i++) send(client, rec, i, ["GET", `k${i}`]);
    await waitFor("the 16 requests", () => node.commands === base + 17, { timeoutMs: 2000 });
    // Two large ones in turns of their own: the second brings the bytes waiting past 64 KiB.
    const value = "x".repeat(40 * 1024);
    send(client, rec, 17, ["SET", "big1", value]);
    await sleep(5);
    send(client, rec, 18, ["SET", "big2", value]);
    await waitFor("the large requests", () => node.commands === base + 19, { timeoutMs: 2000 });
    node.answer(19);
    await waitFor("the replies", () => rec.done === 19);
    assert.equal(rec.errors.size, 0);
  });
});

describe("router over real nodes", { skip: skipUnless("redis-server") }, () => {
  const servers: Redis[] = [];
  let membership: Membership;
  let pool: NodePool;
  let checker: HealthChecker;
  let router: Router;
  let topology: Topology;

  before(async () => {
    for (const port of await freePorts(3)) {
      const r = new Redis(port);
      await r.start();
      servers.push(r);
    }
    membership = new Membership({
      healthFailures: 3,
      // Long enough that a killed node is noticed by the requests, not by the probes.
      healthIntervalMs: 60_000,
      requestTimeoutMs: 300,
      logger,
    });
    pool = new NodePool({
      connectionsPerNode: 1,
      requestTimeoutMs: 300,
      logger,
      listener: membership,
    });
    checker = new HealthChecker({ intervalMs: 60_000, deadlineMs: 300, logger }, membership);
    membership.attach(pool, checker);
    topology = new Topology(membership, { vnodes: 160, replicas: 2, logger });
    router = new Router(topology, new HybridClock(1));
    servers.forEach((s, i) =>
      membership.add({ id: `r${i}`, host: "127.0.0.1", port: s.port }, "config"),
    );
    await checker.probeAll();
    assert.equal(topology.ring.size, 3);
    assert.equal(topology.replicas, 2);
  });
  after(async () => {
    checker.stop();
    pool.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  /** Writes key=value on both owners of the key, directly. */
  async function seed(key: string, value: string): Promise<string[]> {
    const owners = router.ownersOf(Buffer.from(key));
    const rec = new Recorder();
    owners.forEach((c, i) => send(c, rec, i, ["SET", key, value]));
    await waitFor(`seed ${key}`, () => rec.done === owners.length);
    return owners.map((c) => c.id);
  }

  it("splits MGET by owner and gathers the values back in key order", async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `mk${i}`);
    const primaries = new Set<string>();
    for (const k of keys) {
      if (k !== "mk7") primaries.add((await seed(k, `val-${k}`))[0] as string);
    }
    assert.equal(primaries.size, 3, "the keys spread over all three nodes");
    let result: GatherOp<null> | undefined;
    const sink: OpSink<GatherOp<null>> = { opDone: (op) => (result = op) };
    new GatherOp(
      router,
      "mget",
      [...keys, "mk0"].map((k) => Buffer.from(k)),
      null,
      null,
      sink,
      null,
    ).start();
    await waitFor("MGET", () => result !== undefined);
    const op = result as GatherOp<null>;
    assert.equal(op.error, null);
    assert.deepEqual(
      op.values.map((v) => (v === null ? null : v.toString())),
      [...keys.map((k) => (k === "mk7" ? null : `val-${k}`)), "val-mk0"],
    );
  });

  it("reads from the next owner when the first one fails", async () => {
    // A key whose first owner is r0, then r0 dies.
    let key = "";
    for (let i = 0; key === ""; i++) {
      if (router.ownersOf(Buffer.from(`fk${i}`))[0]?.id === "r0") key = `fk${i}`;
    }
    await seed(key, "survives");
    await (servers[0] as Redis).stop();
    const before = router.counters.readFailovers;
    let done: ReadOp<null> | undefined;
    const sink: OpSink<ReadOp<null>> = {
      opDone: (op) => {
        done = op;
        assert.equal(op.value?.toString(), "survives");
      },
    };
    new ReadOp(router, Buffer.from(key), "value", sink, null).start();
    await waitFor("the read", () => done !== undefined);
    assert.equal(done?.error, null);
    assert.equal(router.counters.readFailovers, before + 1);
    // The lost connection was evidence: r0 is down at once (refused on reconnect) and out of the ring.
    await waitFor("r0 down", () => membership.get("r0")?.health.state === "down", {
      timeoutMs: 3000,
    });
    assert.equal(topology.ring.size, 2);
    assert.ok(!topology.ring.members.some((m) => m.id === "r0"));
  });
});

// The master's connections over the in-process loopback transport, with time in the test's
// hands (a ManualScheduler): the connection core's FIFO and in-place timeouts, then a pool
// and the router's operations against real auxiliary command handlers, under faults.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HybridClock } from "../../src/clock/hlc.js";
import { RingcacheError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { HealthChecker } from "../../src/master/health.js";
import { Membership } from "../../src/master/membership.js";
import type { OpSink } from "../../src/master/ops/op.js";
import { ReadOp } from "../../src/master/ops/read.js";
import { WriteOp } from "../../src/master/ops/write.js";
import { NodePool, type NodeClient } from "../../src/master/pool.js";
import { Router } from "../../src/master/router.js";
import { Topology } from "../../src/master/topology.js";
import { Connection, type ReplyTarget } from "../../src/master/transport/connection.js";
import { LoopbackNode, LoopbackTransport } from "../../src/simulation/loopback.js";
import { ManualScheduler } from "../../src/master/transport/scheduler.js";
import type { RespValue } from "../../src/protocol/resp/index.js";

const logger = createLogger({ node: "test", role: "master", level: "silent" });
const HOST = "10.0.0.1";

/** Each request's outcome by token, with the scheduler time it ended at. */
class Recorder implements ReplyTarget {
  readonly replies = new Map<number, RespValue>();
  readonly errors = new Map<number, RingcacheError>();
  readonly at = new Map<number, number>();
  private readonly scheduler: ManualScheduler;
  constructor(scheduler: ManualScheduler) {
    this.scheduler = scheduler;
  }
  onNodeReply(token: number, value: RespValue): void {
    assert.ok(!this.at.has(token), `token ${token} ended twice`);
    this.replies.set(token, Buffer.isBuffer(value) ? value.toString() : value);
    this.at.set(token, this.scheduler.now());
  }
  onNodeError(token: number, error: RingcacheError): void {
    assert.ok(!this.at.has(token), `token ${token} ended twice`);
    this.errors.set(token, error);
    this.at.set(token, this.scheduler.now());
  }
}

/** The core alone: encode, push, write at once. */
class RawConnection extends Connection {
  send(args: string[], target: ReplyTarget, token: number): void {
    this.out.command(args);
    this.push(target, token);
    if (this.writable) this.writeOut();
  }
  protected override connected(): void {
    if (this.writable) this.writeOut();
  }
}

function network(
  nodes: number,
  secret?: string,
): {
  scheduler: ManualScheduler;
  transport: LoopbackTransport;
} {
  const scheduler = new ManualScheduler(1000);
  const transport = new LoopbackTransport(scheduler);
  for (let i = 0; i < nodes; i++) {
    transport.listen(HOST, 7001 + i, new LoopbackNode({ id: `a${i + 1}`, secret }));
  }
  return { scheduler, transport };
}

describe("connection core over the loopback", () => {
  function raw(timeoutMs: number, secret?: string) {
    const net = network(1, secret);
    const conn = new RawConnection({
      transport: net.transport,
      host: HOST,
      port: 7001,
      secret,
      requestTimeoutMs: timeoutMs,
      reconnect: true,
      lostError: new RingcacheError("UNAVAILABLE", "lost"),
      timeoutError: new RingcacheError("TIMEOUT", "timed out"),
    });
    conn.open();
    return { ...net, conn, rec: new Recorder(net.scheduler) };
  }

  it("matches pipelined replies first in, first out, after AUTH", () => {
    const { scheduler, conn, rec } = raw(500, "s3cret");
    for (let i = 0; i < 50; i++) conn.send(["SET", `k${i}`, `v${i}`], rec, i);
    for (let i = 0; i < 50; i++) conn.send(["GET", `k${i}`], rec, 50 + i);
    scheduler.runDue();
    assert.equal(conn.pending, 0);
    for (let i = 0; i < 50; i++) {
      assert.equal(rec.replies.get(i), "OK");
      assert.equal(rec.replies.get(50 + i), `v${i}`);
    }
    conn.close();
  });

  it("times a request out at exactly its timeout and discards its late reply", () => {
    const { scheduler, transport, conn, rec } = raw(100);
    scheduler.runDue();
    assert.ok(conn.ready);
    conn.send(["SET", "k", "first"], rec, 1);
    scheduler.runDue();
    assert.equal(rec.replies.get(1), "OK");
    transport.pause(HOST, 7001);
    const sentAt = scheduler.now();
    conn.send(["GET", "k"], rec, 2);
    scheduler.advance(99);
    assert.equal(rec.at.has(2), false);
    scheduler.advance(1);
    assert.equal(rec.errors.get(2)?.code, "TIMEOUT");
    assert.equal(rec.at.get(2), sentAt + 100);
    // Sent after the timeout, behind the late reply in the FIFO: gets its own answer.
    conn.send(["SET", "k", "second"], rec, 3);
    assert.equal(conn.pending, 2);
    transport.resume(HOST, 7001);
    scheduler.runDue();
    assert.equal(rec.replies.get(3), "OK");
    assert.equal(rec.replies.has(2), false);
    assert.equal(conn.pending, 0);
    conn.close();
  });

  it("keeps the FIFO in step when a reply is dropped", () => {
    const { scheduler, transport, conn, rec } = raw(100);
    scheduler.runDue();
    transport.dropNextReply(HOST, 7001);
    conn.send(["PING"], rec, 1);
    scheduler.advance(100);
    assert.equal(rec.errors.get(1)?.code, "TIMEOUT");
    // The dropped reply never comes: the timed-out request holds its place until the loss.
    conn.send(["PING"], rec, 2);
    scheduler.runDue();
    assert.equal(rec.replies.has(2), false, "a reply is never handed to a later request");
    conn.close();
  });

  it("fails pending requests when the node goes down, and reconnects after it returns", () => {
    const { scheduler, transport, conn, rec } = raw(1000);
    scheduler.runDue();
    transport.pause(HOST, 7001);
    conn.send(["PING"], rec, 1);
    transport.refuse(HOST, 7001);
    scheduler.runDue();
    assert.equal(rec.errors.get(1)?.message, "lost");
    scheduler.advance(2000);
    assert.equal(conn.ready, false);
    transport.resume(HOST, 7001);
    transport.refuse(HOST, 7001, false);
    scheduler.advance(2000);
    assert.ok(conn.ready);
    conn.send(["PING"], rec, 2);
    scheduler.runDue();
    assert.equal(rec.replies.get(2), "PONG");
    conn.close();
  });
});

describe("pool and router over the loopback", () => {
  const TIMEOUT_MS = 300;
  const RESEND_MS = 100;
  const HOLD_MS = 2000;

  async function cluster() {
    const net = network(3);
    const membership = new Membership({
      healthFailures: 3,
      healthIntervalMs: 60_000,
      requestTimeoutMs: TIMEOUT_MS,
      logger,
    });
    const pool = new NodePool({
      connectionsPerNode: 1,
      requestTimeoutMs: TIMEOUT_MS,
      logger,
      listener: membership,
      transport: net.transport,
    });
    const checker = new HealthChecker(
      { intervalMs: 60_000, deadlineMs: TIMEOUT_MS, logger, transport: net.transport },
      membership,
    );
    membership.attach(pool, checker);
    const topology = new Topology(membership, { vnodes: 160, replicas: 2, logger });
    const router = new Router(topology, new HybridClock(1), {
      holds: { scheduler: net.scheduler, resendMs: RESEND_MS, holdMs: HOLD_MS },
    });
    const asked: string[] = [];
    router.holds.askLeader = (node) => asked.push(node);
    for (let i = 0; i < 3; i++) {
      membership.add({ id: `a${i + 1}`, host: HOST, port: 7001 + i }, "config");
    }
    const probed = checker.probeAll();
    net.scheduler.advance(10);
    await probed;
    assert.equal(topology.ring.size, 3);
    const close = (): void => {
      checker.stop();
      pool.close();
    };
    return { ...net, membership, pool, router, asked, close };
  }

  const done: unknown[] = [];
  const writes: OpSink<WriteOp<null>> = { opDone: (op) => done.push(op) };
  const reads: OpSink<ReadOp<null>> = { opDone: (op) => done.push(op) };

  function write(router: Router, key: string, value: string): WriteOp<null> {
    const op = new WriteOp(router, "put", Buffer.from(key), Buffer.from(value), 0, writes, null);
    op.start();
    return op;
  }
  function read(router: Router, key: string): ReadOp<null> {
    const op = new ReadOp(router, Buffer.from(key), "value", reads, null);
    op.start();
    return op;
  }
  function ended(op: unknown): boolean {
    return done.includes(op);
  }

  it("writes and reads round-trip through the nodes' own handlers", async () => {
    const { scheduler, router, transport, close } = await cluster();
    const ops = Array.from({ length: 40 }, (_, i) => write(router, `key${i}`, `value${i}`));
    scheduler.runDue();
    for (const op of ops) assert.ok(ended(op) && op.error === null);
    for (let i = 0; i < 40; i++) {
      const op = read(router, `key${i}`);
      scheduler.runDue();
      assert.ok(ended(op));
      assert.equal(op.error, null);
      assert.equal(String(op.value), `value${i}`);
    }
    // Both owners hold each key.
    let copies = 0;
    for (let i = 0; i < 3; i++) {
      copies += (transport.nodeAt(HOST, 7001 + i) as LoopbackNode).store.stats.entries;
    }
    assert.equal(copies, 80);
    close();
  });

  it("times out a request over a cut link at exactly the request timeout", async () => {
    const { scheduler, pool, router, transport, close } = await cluster();
    const [first, second] = router.ownersOf(Buffer.from("cut-key")) as [NodeClient, NodeClient];
    write(router, "cut-key", "v");
    scheduler.runDue();
    transport.cut(first.host, first.port);
    const rec = new Recorder(scheduler);
    const conn = first.connection(0);
    assert.ok(conn !== null);
    const sentAt = scheduler.now();
    conn.writer().command(["GET", "cut-key"]);
    conn.expect(rec, 1);
    // The read fails over from the cut owner to the next when its request times out.
    const op = read(router, "cut-key");
    scheduler.advance(TIMEOUT_MS - 1);
    assert.equal(rec.at.has(1), false);
    assert.equal(ended(op), false);
    scheduler.advance(1);
    assert.equal(rec.errors.get(1)?.code, "TIMEOUT");
    assert.equal(rec.at.get(1), sentAt + TIMEOUT_MS);
    scheduler.runDue();
    assert.ok(ended(op));
    assert.equal(String(op.value), "v");
    assert.equal(pool.get(second.id), second);
    close();
  });

  it("fails requests to a node that refuses connections at once", async () => {
    const { scheduler, membership, router, transport, close } = await cluster();
    const [first] = router.ownersOf(Buffer.from("down-key")) as [NodeClient];
    transport.refuse(first.host, first.port);
    scheduler.advance(100); // the loss, then a reconnect refused
    assert.equal(membership.get(first.id)?.health.state, "down");
    assert.equal(first.connection(0), null);
    const op = read(router, "down-key");
    const startedAt = scheduler.now();
    scheduler.runDue();
    assert.ok(ended(op), "the read went to a live owner without waiting");
    assert.equal(scheduler.now(), startedAt);
    close();
  });

  it("discards a reply that arrives after its request timed out", async () => {
    const { scheduler, router, transport, close } = await cluster();
    const [first] = router.ownersOf(Buffer.from("late-key")) as [NodeClient];
    write(router, "late-key", "old");
    scheduler.runDue();
    transport.pause(first.host, first.port);
    const rec = new Recorder(scheduler);
    const conn = first.connection(0) as NonNullable<ReturnType<NodeClient["connection"]>>;
    conn.writer().command(["GET", "late-key"]);
    conn.expect(rec, 1);
    scheduler.advance(TIMEOUT_MS);
    assert.equal(rec.errors.get(1)?.code, "TIMEOUT");
    conn.writer().command(["PING"]);
    conn.expect(rec, 2);
    scheduler.runDue();
    transport.resume(first.host, first.port);
    scheduler.runDue();
    assert.equal(rec.replies.get(2), "PONG");
    assert.equal(rec.replies.has(1), false);
    close();
  });

  // docs/design.md, "Acknowledging a write": every owner the ring counts, or a newer ring.
  it("holds a write one owner did not apply until the ring no longer counts that owner", async () => {
    const { scheduler, membership, router, transport, asked, close } = await cluster();
    const [first, second] = router.ownersOf(Buffer.from("held")) as [NodeClient, NodeClient];
    transport.cut(first.host, first.port);
    const op = write(router, "held", "v");
    scheduler.advance(TIMEOUT_MS + RESEND_MS * 3);
    assert.equal(ended(op), false, "acknowledged although one owner never applied it");
    assert.equal(router.holds.size, 1);
    assert.ok(asked.includes(first.id), "the leader was not asked about the owner");
    const stored = (c: NodeClient): number =>
      (transport.nodeAt(c.host, c.port) as LoopbackNode).store.stats.entries;
    assert.equal(stored(second), 1);
    // The node is taken for down: the ring drops it, and the write is acknowledged.
    membership.onProbeResult(first.id, { ok: false, reason: "refused", refused: true });
    assert.equal(router.topology.inRing(first.id), false);
    scheduler.runDue();
    assert.ok(ended(op));
    assert.equal(op.error, null);
    assert.equal(router.holds.size, 0);
    assert.equal(router.holds.counters.acknowledged, 1);
    close();
  });

  it("acknowledges a held write once the owner that missed it applies it", async () => {
    const { scheduler, router, transport, close } = await cluster();
    const [first] = router.ownersOf(Buffer.from("healed")) as [NodeClient];
    transport.pause(first.host, first.port);
    const op = write(router, "healed", "v");
    scheduler.advance(TIMEOUT_MS + RESEND_MS);
    assert.equal(ended(op), false);
    transport.resume(first.host, first.port);
    scheduler.advance(RESEND_MS * 2);
    assert.ok(ended(op));
    assert.equal(op.error, null);
    const node = transport.nodeAt(first.host, first.port) as LoopbackNode;
    assert.equal(node.store.stats.entries, 1);
    close();
  });

  it("gives up on a held write with TRYAGAIN while the ring keeps the owner", async () => {
    const { scheduler, router, transport, close } = await cluster();
    const [first] = router.ownersOf(Buffer.from("kept")) as [NodeClient];
    transport.cut(first.host, first.port);
    const op = write(router, "kept", "v");
    const startedAt = scheduler.now();
    scheduler.advance(HOLD_MS - 1);
    assert.equal(ended(op), false);
    scheduler.advance(TIMEOUT_MS + RESEND_MS);
    assert.ok(ended(op));
    assert.equal(op.error?.code, "TRY_AGAIN");
    assert.match(op.error?.respLine ?? "", /^TRYAGAIN .*may have been applied/);
    assert.ok(scheduler.now() - startedAt <= HOLD_MS + TIMEOUT_MS + RESEND_MS);
    assert.equal(router.holds.counters.gaveUp, 1);
    close();
  });
});

// The command registry (src/redis/registry.ts): lookup by name bytes in any case, Redis's
// arity convention, and a family added to a node's registry that its dispatcher runs without
// knowing of it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { HybridClock } from "../../src/clock/hlc.js";
import { createLogger } from "../../src/log.js";
import type { MasterHandler } from "../../src/master/commands/context.js";
import { MasterCommands } from "../../src/master/commands/dispatcher.js";
import { masterRegistry } from "../../src/master/commands/registry.js";
import { Membership } from "../../src/master/membership.js";
import { Router } from "../../src/master/router.js";
import { Topology } from "../../src/master/topology.js";
import { RespReplyError } from "../../src/protocol/resp/index.js";
import { CommandRegistry, REPLIES_LATER } from "../../src/redis/registry.js";
import { RespServer } from "../../src/server/resp-server.js";
import { RespTestClient } from "../helpers/resp-client.js";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

describe("CommandRegistry", () => {
  it("finds names in any case, ids in registration order, 0 for the rest", () => {
    const r = new CommandRegistry<string>("unknown", "?");
    assert.equal(r.add({ name: "get", arity: 2, flags: 0, handler: "g" }), 1);
    assert.equal(r.add({ name: "RC.PUT", arity: 0, flags: 0, handler: "p" }), 2);
    assert.equal(r.lookup(b("GET")), 1);
    assert.equal(r.lookup(b("gEt")), 1);
    assert.equal(r.lookup(b("rc.put")), 2);
    for (const other of ["", "ge", "gett", "get\0", "G\x05T", "rc\x0eput", "x".repeat(40)]) {
      assert.equal(r.lookup(b(other)), 0, JSON.stringify(other));
    }
    assert.equal(r.names[0], "unknown");
    assert.equal(r.handlers[r.id("rc.put")], "p");
    assert.equal(r.size, 2);
  });

  it("keeps finding every name as the table grows", () => {
    const r = new CommandRegistry<number>("unknown", 0);
    const names = Array.from({ length: 300 }, (_, i) => `cmd${i}.${"x".repeat(i % 7)}`);
    for (const name of names) r.add({ name, arity: -1, flags: 0, handler: 0 });
    names.forEach((name, i) => assert.equal(r.lookup(b(name.toUpperCase())), i + 1, name));
  });

  it("refuses a name twice", () => {
    const r = new CommandRegistry<number>("unknown", 0);
    r.add({ name: "get", arity: 2, flags: 0, handler: 0 });
    assert.throws(() => r.add({ name: "GET", arity: 2, flags: 0, handler: 0 }), /twice/);
  });

  it("reads arity as Redis does: exact when positive, a minimum when negative, 0 unchecked", () => {
    const r = new CommandRegistry<number>("unknown", 0);
    const exact = r.add({ name: "a", arity: 2, flags: REPLIES_LATER, handler: 0 });
    const least = r.add({ name: "b", arity: -3, flags: 0, handler: 0 });
    const free = r.add({ name: "c", arity: 0, flags: 0, handler: 0 });
    assert.deepEqual(
      [1, 2, 3].map((n) => r.arityOk(exact, n)),
      [false, true, false],
    );
    assert.deepEqual(
      [2, 3, 9].map((n) => r.arityOk(least, n)),
      [false, true, true],
    );
    assert.deepEqual(
      [0, 1, 9].map((n) => r.arityOk(free, n)),
      [true, true, true],
    );
    assert.equal(r.flags(exact), REPLIES_LATER);
    assert.equal(r.arity(least), -3);
  });
});

/** A family only this test knows: the dispatcher runs it like any other. */
function tinyFamily(registry: CommandRegistry<MasterHandler>): void {
  registry.add({
    name: "t.upper",
    arity: 2,
    flags: 0,
    handler: (_m, conn, args) => conn.out.bulkString((args[1] as Buffer).toString().toUpperCase()),
  });
  registry.add({
    name: "t.later",
    arity: -1,
    flags: REPLIES_LATER,
    handler: (m, conn, args) => {
      const slot = m.slot(conn);
      const argc = args.length;
      setTimeout(() => slot.complete(b(`:${argc}\r\n`)), 5);
    },
  });
}

describe("a family added to the master's registry", () => {
  const logger = createLogger({ node: "test", role: "master", level: "silent" });
  let server: RespServer;
  let client: RespTestClient;

  before(async () => {
    const membership = new Membership({
      healthFailures: 3,
      healthIntervalMs: 60_000,
      requestTimeoutMs: 2000,
      logger,
    });
    const topology = new Topology(membership, { vnodes: 16, replicas: 1, logger });
    const router = new Router(topology, new HybridClock(1));
    const commands = new MasterCommands(
      router,
      null,
      { maxKeySize: 512, maxValueSize: 1024 },
      {
        id: "m1",
        version: "7.0.0",
        port: () => 0,
        startedAt: Date.now(),
        clients: () => ({ open: 1, total: 1, rejected: 0 }),
        ring: () => ({ epoch: "0", up: 0, known: 0, replicas: 1 }),
      },
      masterRegistry().include(tinyFamily),
    );
    server = new RespServer(
      {
        host: "127.0.0.1",
        port: 0,
        maxClients: 10,
        idleTimeoutMs: 0,
        maxOutputBuffer: 1 << 20,
        logger,
      },
      commands,
    );
    client = await RespTestClient.connect(await server.listen());
  });

  after(() => {
    client.close();
    server.closeAll();
    server.stopAccepting();
  });

  it("dispatches its commands, in order with the others, arity checked", async () => {
    const replies = await client.pipeline([
      ["T.LATER", "a", "b"],
      ["t.upper", "ringcache"],
      ["PING"],
      ["t.upper"],
      ["COMMAND", "COUNT"],
    ]);
    assert.equal(replies[0], 3);
    assert.deepEqual(replies[1], b("RINGCACHE"));
    assert.equal(replies[2], "PONG");
    assert.ok(replies[3] instanceof RespReplyError);
    assert.equal(replies[3].message, "ERR wrong number of arguments for 't.upper' command");
    assert.equal(replies[4], masterRegistry().size + 2);
  });
});

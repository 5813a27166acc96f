// Host names instead of addresses: what the configuration accepts, and a master following an
// auxiliary node whose name moves to a new address while the old one goes silent (time in the
// test's hands, no sockets).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatAddress, parseAddress, parseHost } from "../../src/config/fields.js";
import { loadAuxiliaryConfig, loadMasterConfig } from "../../src/config/schema.js";
import type { RingcacheError } from "../../src/errors.js";
import { createLogger } from "../../src/log.js";
import { HealthChecker } from "../../src/master/health.js";
import { Membership } from "../../src/master/membership.js";
import { NodePool, type ReplyTarget } from "../../src/master/pool.js";
import { ManualScheduler } from "../../src/master/transport/scheduler.js";
import type { Transport, Wire, WireEvents } from "../../src/master/transport/transport.js";
import type { RespValue } from "../../src/protocol/resp/index.js";
import { LoopbackNode, LoopbackTransport } from "../../src/simulation/loopback.js";

describe("addresses in the configuration", () => {
  it("takes host names, IPv4, and IPv6 in brackets", () => {
    assert.deepEqual(parseAddress("a1.ringcache.test:7001"), {
      host: "a1.ringcache.test",
      port: 7001,
    });
    assert.deepEqual(parseAddress("ringcache_a1_1:7001"), { host: "ringcache_a1_1", port: 7001 });
    assert.deepEqual(parseAddress("10.0.0.21:7001"), { host: "10.0.0.21", port: 7001 });
    assert.deepEqual(parseAddress("[::1]:7001"), { host: "::1", port: 7001 });
    assert.deepEqual(parseAddress("[fd00::21]:7001"), { host: "fd00::21", port: 7001 });
    for (const bad of [
      "::1:7001", // which colon ends the address?
      "[a1]:7001",
      "a1",
      "a1:",
      "a1:0",
      "a1:65536",
      "a1:+80",
      ":7001",
      "a b:7001",
      "http://a1:7001",
      "-a1:7001",
    ]) {
      assert.equal(parseAddress(bad), undefined, bad);
    }
  });

  it("takes a bind host as a name or an address, IPv6 with or without brackets", () => {
    assert.equal(parseHost("0.0.0.0"), "0.0.0.0");
    assert.equal(parseHost("::"), "::");
    assert.equal(parseHost("[::1]"), "::1");
    assert.equal(parseHost("localhost"), "localhost");
    assert.equal(parseHost("a1.ringcache.test."), "a1.ringcache.test.");
    assert.equal(parseHost("a1:7001"), undefined);
    assert.equal(parseHost(""), undefined);
  });

  it("writes IPv6 in brackets where an address has a port", () => {
    assert.equal(formatAddress("::1", 8080), "[::1]:8080");
    assert.equal(formatAddress("m2.ringcache.test", 8080), "m2.ringcache.test:8080");
  });

  it("accepts names and bracketed IPv6 in every setting that takes an address", () => {
    const m = loadMasterConfig({
      flags: {
        id: "m1",
        dataDir: "d",
        host: "[::1]",
        auxiliary: "a1=a1.ringcache.test:7001,a2=[fd00::22]:7001",
        peers: "m2=m2.ringcache.test:8080",
      },
    });
    assert.equal(m.host, "::1");
    const e = loadMasterConfig({
      flags: { id: "m1", dataDir: "d", advertiseHost: "[fd00::11]", etcdEndpoints: "etcd1:2379" },
    });
    assert.equal(e.advertiseHost, "fd00::11");
    assert.deepEqual(e.etcdEndpoints, [{ host: "etcd1", port: 2379 }]);
    assert.deepEqual(
      m.auxiliary.map((a) => formatAddress(a.host, a.port)),
      ["a1.ringcache.test:7001", "[fd00::22]:7001"],
    );
    assert.equal(m.peers[0]?.host, "m2.ringcache.test");
    const a = loadAuxiliaryConfig({
      flags: { id: "a1", dataDir: "d", masters: "m1.ringcache.test:8080,[::1]:8081" },
    });
    assert.deepEqual(a.masters, [
      { host: "m1.ringcache.test", port: 8080 },
      { host: "::1", port: 8081 },
    ]);
    assert.throws(
      () => loadMasterConfig({ flags: { id: "m1", dataDir: "d", auxiliary: "a1=::1:7001" } }),
      /--auxiliary .*IPv6 in brackets/,
    );
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { id: "a1", dataDir: "d", host: "a host" } }),
      /--host .*a host name or an IP address/,
    );
  });
});

/**
 * TCP as the master sees it, with a resolver: every connect resolves its host name through
 * `names` at that moment, as net.connect does, and reaches whatever listens at the address.
 */
class NamedTransport implements Transport {
  readonly loopback: LoopbackTransport;
  readonly names = new Map<string, string>();
  /** Every connect: the name asked for and the address it resolved to. */
  readonly connects: { name: string; address: string }[] = [];

  constructor(loopback: LoopbackTransport) {
    this.loopback = loopback;
  }

  get scheduler(): ManualScheduler {
    return this.loopback.scheduler as ManualScheduler;
  }

  connect(host: string, port: number, events: WireEvents): Wire {
    const address = this.names.get(host) ?? host;
    this.connects.push({ name: host, address });
    return this.loopback.connect(address, port, events);
  }
}

class Replies implements ReplyTarget {
  readonly got = new Map<number, string>();
  onNodeReply(token: number, value: RespValue): void {
    this.got.set(token, String(value));
  }
  onNodeError(token: number, error: RingcacheError): void {
    this.got.set(token, error.code);
  }
}

describe("a master follows an auxiliary node's name to a new address", () => {
  it("drops a connection stalled on the old address once the node answers probes at the new one", async () => {
    const INTERVAL_MS = 200;
    const TIMEOUT_MS = 300;
    const scheduler = new ManualScheduler(1000);
    // Probe results arrive through promises: let them settle as time moves.
    const run = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 5) {
        scheduler.advance(Math.min(5, ms - t));
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const loopback = new LoopbackTransport(scheduler);
    const transport = new NamedTransport(loopback);
    const node = new LoopbackNode({ id: "a1" });
    loopback.listen("10.0.0.21", 7001, node);
    transport.names.set("a1.test", "10.0.0.21");

    const logger = createLogger({ node: "m1", role: "master", level: "silent" });
    const membership = new Membership({
      healthFailures: 3,
      healthIntervalMs: INTERVAL_MS,
      requestTimeoutMs: TIMEOUT_MS,
      logger,
    });
    const pool = new NodePool({
      connectionsPerNode: 1,
      requestTimeoutMs: TIMEOUT_MS,
      logger,
      listener: membership,
      transport,
    });
    const checker = new HealthChecker(
      { intervalMs: INTERVAL_MS, deadlineMs: Math.min(INTERVAL_MS, TIMEOUT_MS), logger, transport },
      membership,
    );
    membership.attach(pool, checker);
    const states: string[] = [];
    membership.on("state", (_id, _from, to) => states.push(to));
    membership.add({ id: "a1", host: "a1.test", port: 7001 }, "config");
    checker.start();
    await run(10);
    assert.deepEqual(states, ["up"]);

    const client = pool.get("a1");
    assert.ok(client !== undefined);
    const replies = new Replies();
    const ping = (token: number): void => {
      const conn = client.connection(token);
      assert.ok(conn !== null, "the pool takes the request");
      conn.writer().command(["PING"]);
      conn.expect(replies, token);
    };
    ping(1);
    await run(10);
    assert.equal(replies.got.get(1), "PONG");

    // a1 moves: the same node (its snapshot) at a new address; nothing answers at the old one
    // any more, and nothing closes the connections there either (a host gone, not a process).
    loopback.pause("10.0.0.21", 7001);
    loopback.listen("10.0.0.22", 7001, node);
    transport.names.set("a1.test", "10.0.0.22");

    ping(2);
    await run(TIMEOUT_MS);
    assert.equal(replies.got.get(2), "TIMEOUT");
    assert.ok(client.connections[0]?.stalled, "the request's connection heard nothing");

    // The prober drops its connection after a failed probe; its next one resolves the name to
    // the new address and gets PONG, and the pool lets go of its stalled connection.
    await run(INTERVAL_MS * 4);
    assert.equal(client.connections[0]?.stalled, false);
    ping(3);
    await run(10);
    assert.equal(replies.got.get(3), "PONG");

    // Every connection asked for the name; those made after the move reached the new address.
    assert.ok(transport.connects.every((c) => c.name === "a1.test"));
    const after = transport.connects.slice(2);
    assert.ok(after.length >= 2, "prober and pool both reconnected");
    assert.ok(after.every((c) => c.address === "10.0.0.22"));
    assert.ok(!states.includes("down"), `a1 never counted as down: ${states.join(", ")}`);
    checker.stop();
    pool.close();
  });
});

// The HTTP API's pure parts: key decoding, the ttl parameter, JSON bodies, and the status table.
// (Real requests against a cluster are in test/integration/master-http.test.ts.)
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderStatus } from "../../src/cli/status.js";
import type { ClusterView } from "../../src/master/http.js";
import {
  decodeKey,
  parseJsonBody,
  parseTtl,
  registrationSchema,
} from "../../src/master/http-input.js";

describe("decodeKey", () => {
  it("percent-decodes to opaque bytes, any bytes", () => {
    assert.deepEqual(decodeKey("user%3A42"), Buffer.from("user:42"));
    assert.deepEqual(decodeKey("%00%ff%FE"), Buffer.from([0, 0xff, 0xfe]));
    assert.deepEqual(decodeKey("a/b"), Buffer.from("a/b"));
    assert.deepEqual(decodeKey("%E2%82%AC"), Buffer.from("€"));
    assert.deepEqual(decodeKey("plus+stays"), Buffer.from("plus+stays"));
    assert.deepEqual(decodeKey(""), Buffer.alloc(0));
  });

  it("refuses malformed escapes", () => {
    for (const bad of ["%", "%4", "%zz", "a%g0", "%%"]) assert.equal(decodeKey(bad), null, bad);
  });
});

describe("parseTtl", () => {
  it("reads whole seconds", () => {
    assert.equal(parseTtl(""), undefined);
    assert.equal(parseTtl("ttl="), undefined);
    assert.equal(parseTtl("ttl=60"), 60);
    assert.equal(parseTtl("x=1&ttl=1"), 1);
  });

  it("refuses anything else with a message", () => {
    for (const bad of ["ttl=0", "ttl=-1", "ttl=1.5", "ttl=abc", "ttl=99999999999", "ttl=1e3"]) {
      assert.throws(
        () => parseTtl(bad),
        (err: Error & { code?: string }) =>
          err.code === "BAD_REQUEST" && /ttl must be/.test(err.message),
        bad,
      );
    }
  });
});

describe("JSON bodies", () => {
  it("accepts a registration and says which field is wrong otherwise", () => {
    const ok = parseJsonBody(
      registrationSchema,
      Buffer.from('{"id":"a1","host":"127.0.0.1","port":7001,"httpPort":9101}'),
    );
    assert.deepEqual(ok, { id: "a1", host: "127.0.0.1", port: 7001, httpPort: 9101 });
    assert.throws(() => parseJsonBody(registrationSchema, Buffer.from("{")), /not valid JSON/);
    assert.throws(
      () => parseJsonBody(registrationSchema, Buffer.from('{"id":"a1","host":"h","port":70000}')),
      /^RingcacheError: port: /,
    );
    assert.throws(
      () => parseJsonBody(registrationSchema, Buffer.from('{"id":"a b","host":"h","port":1}')),
      /^RingcacheError: id: /,
    );
  });
});

describe("renderStatus", () => {
  it("prints the cluster as a table", () => {
    const view: ClusterView = {
      master: { id: "m1", version: "0.1.0", uptimeSeconds: 42 },
      epoch: "abcd1234",
      replicas: { configured: 2, effective: 2 },
      vnodes: 160,
      nodes: [
        {
          id: "a1",
          host: "127.0.0.1",
          port: 7001,
          httpPort: 9101,
          source: "config",
          state: "up",
          inRing: true,
          share: 0.5,
          failures: 0,
          since: "2024-01-01T00:00:00.000Z",
          lastError: null,
          lastRegistration: null,
        },
        {
          id: "a2",
          host: "127.0.0.1",
          port: 7002,
          httpPort: null,
          source: "registered",
          state: "down",
          inRing: false,
          share: 0,
          failures: 3,
          since: "2024-01-01T00:00:01.000Z",
          lastError: "ECONNREFUSED",
          lastRegistration: "2024-01-01T00:00:00.500Z",
        },
      ],
      peers: [{ id: "m2", host: "127.0.0.1", port: 8081 }],
      leader: "m1",
      rebalance: {
        running: true,
        sources: ["0011223344556677"],
        target: "abcd1234",
        tasksTotal: 3,
        tasksDone: 1,
        rangesTotal: 40,
        rangesDone: 12,
        startedAt: "2024-01-01T00:00:02.000Z",
        keysMovedThisMove: 1200,
        keysMovedTotal: 5000,
        bytesMovedTotal: 180000,
        keysRemovedTotal: 4000,
        movesCompleted: 2,
        restarts: 0,
        failures: 0,
        lastDurationMs: 850,
        lastError: null,
      },
      coordination: { generation: 7, livePeers: ["m2"], lastPropagationMs: 1.5, sources: [] },
    };
    const text = renderStatus(view);
    const lines = text.split("\n");
    assert.equal(
      lines[0],
      "master m1 (up 42 s)   epoch abcd1234   replicas 2 of 2   nodes up 1 of 2",
    );
    assert.match(lines[2] ?? "", /^NODE +ADDRESS +STATE +SHARE +FAILURES +SOURCE +SINCE$/);
    assert.match(
      lines[3] ?? "",
      /^a1 +127\.0\.0\.1:7001 +up +50\.0% +0 +config +2024-01-01T00:00:00\.000Z$/,
    );
    assert.match(
      lines[4] ?? "",
      /^a2 +127\.0\.0\.1:7002 +down +0\.0% +3 +registered .*\(ECONNREFUSED\)$/,
    );
    assert.match(text, /peers: m2=127\.0\.0\.1:8081/);
    assert.match(text, /leader: m1 +generation 7 +live peers 1 +last ring push 1\.5 ms/);
    assert.match(
      text,
      /rebalance: moving to abcd1234 \(1\/3 senders done\), 1200 entries copied so far, since 2024-01-01T00:00:02\.000Z$/m,
    );
    const idle = renderStatus({ ...view, rebalance: { ...view.rebalance!, running: false } });
    assert.match(idle, /rebalance: idle; 2 moves done, 5000 entries copied, 4000 removed/);
  });
});

// Host names instead of addresses: what the configuration accepts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatAddress, parseAddress, parseHost } from "../../src/config/fields.js";
import { loadAuxiliaryConfig, loadMasterConfig } from "../../src/config/schema.js";

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

// The balancer's parts that need no NGINX: the configuration it renders (names, not addresses;
// a name that does not resolve left out) and which names a look at the resolver finds changed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadBalancerConfig } from "../../src/config/balancer.js";
import { balancerNginxConfig } from "../../src/local/balancer.js";
import { NameWatch, type Lookup } from "../../src/local/name-watch.js";

describe("the balancer's NGINX configuration", () => {
  const config = loadBalancerConfig({
    flags: {
      resp: "m1.ringcache.test:6380,[fd00::12]:6380",
      http: "m1.ringcache.test:8080,[fd00::12]:8080",
      listenHost: "::",
      runDir: "/run/rc",
    },
  });

  it("names the masters by their names, IPv6 in brackets", () => {
    const conf = balancerNginxConfig(config);
    assert.match(conf, /server m1\.ringcache\.test:6380 /);
    assert.match(conf, /server \[fd00::12\]:8080 /);
    assert.match(conf, /listen \[::\]:6379 reuseport;/);
    assert.match(conf, /pid \/run\/rc\/nginx\.pid;/);
    assert.doesNotMatch(conf, /^user /m);
  });

  it("leaves out a name that does not resolve", () => {
    const conf = balancerNginxConfig(config, { resolves: (h) => h !== "m1.ringcache.test" });
    assert.doesNotMatch(conf, /m1\.ringcache\.test/);
    assert.match(conf, /server \[fd00::12\]:6380 /);
  });

  it("refuses a configuration without masters or with one port twice", () => {
    assert.throws(() => loadBalancerConfig({ flags: { http: "m1:8080" } }), /--resp/);
    assert.throws(
      () => loadBalancerConfig({ flags: { resp: "m1:6380", http: "m1:8080", httpPort: 6379 } }),
      /must differ/,
    );
  });
});

describe("NameWatch", () => {
  /** A resolver whose answers the test sets; a missing name does not resolve. */
  function resolver(): { lookup: Lookup; hosts: Map<string, string[] | Error> } {
    const hosts = new Map<string, string[] | Error>();
    const lookup: Lookup = (name) => {
      const answer = hosts.get(name);
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve(answer ?? []);
    };
    return { lookup, hosts };
  }

  it("reports every name first, then exactly the names whose addresses changed", async () => {
    const { lookup, hosts } = resolver();
    hosts.set("m1", ["10.0.0.11"]);
    hosts.set("m2", ["10.0.0.12", "10.0.0.13"]);
    const watch = new NameWatch(["m1", "m2", "m1"], lookup);
    assert.deepEqual(await watch.refresh(), [
      { name: "m1", from: null, to: ["10.0.0.11"] },
      { name: "m2", from: null, to: ["10.0.0.12", "10.0.0.13"] },
    ]);
    assert.deepEqual(await watch.refresh(), []);
    // The same addresses in another order are no change.
    hosts.set("m2", ["10.0.0.13", "10.0.0.12"]);
    assert.deepEqual(await watch.refresh(), []);
    hosts.set("m1", ["10.0.0.21"]);
    assert.deepEqual(await watch.refresh(), [
      { name: "m1", from: ["10.0.0.11"], to: ["10.0.0.21"] },
    ]);
    assert.deepEqual(watch.addresses("m1"), ["10.0.0.21"]);
  });

  it("drops a name that stops resolving, and keeps the addresses when the resolver fails", async () => {
    const { lookup, hosts } = resolver();
    hosts.set("m1", ["10.0.0.11"]);
    const watch = new NameWatch(["m1"], lookup);
    await watch.refresh();
    hosts.set("m1", Object.assign(new Error("queryA ETIMEOUT"), { code: "EAI_AGAIN" }));
    assert.deepEqual(await watch.refresh(), []);
    assert.ok(watch.resolves("m1"));
    hosts.delete("m1");
    assert.deepEqual(await watch.refresh(), [{ name: "m1", from: ["10.0.0.11"], to: [] }]);
    assert.equal(watch.resolves("m1"), false);
    hosts.set("m1", ["10.0.0.12"]);
    assert.deepEqual(await watch.refresh(), [{ name: "m1", from: [], to: ["10.0.0.12"] }]);
  });
});

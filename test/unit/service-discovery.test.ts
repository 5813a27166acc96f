// The http_sd document a master serves (GET /v1/sd/prometheus): one group per member with the
// labels the generated prometheus.yml uses, alike on every master, and the master's own host.
// (A real Prometheus discovering a node through it: test/integration/prometheus.test.ts.)
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { describe, it } from "node:test";
import { renderPrometheusConfig } from "../../src/local/prometheus.js";
import {
  httpSdGroups,
  ownHost,
  parseRoleQuery,
  type ScrapeTarget,
} from "../../src/master/service-discovery.js";

const members: ScrapeTarget[] = [
  { role: "auxiliary", id: "a2", host: "a2", port: 9101 },
  { role: "master", id: "m2", host: "m2", port: 8080 },
  { role: "auxiliary", id: "a1", host: "fd00::1", port: 9101 },
  { role: "master", id: "m1", host: "m1", port: 8080 },
  { role: "master", id: "m2", host: "m2", port: 8080 },
];

describe("service discovery", () => {
  it("lists each member once, masters first, with its role and id as labels", () => {
    assert.deepEqual(httpSdGroups(members, undefined), [
      { targets: ["m1:8080"], labels: { role: "master", master: "m1" } },
      { targets: ["m2:8080"], labels: { role: "master", master: "m2" } },
      { targets: ["[fd00::1]:9101"], labels: { role: "auxiliary", node: "a1" } },
      { targets: ["a2:9101"], labels: { role: "auxiliary", node: "a2" } },
    ]);
    assert.deepEqual(
      httpSdGroups(members, "auxiliary").map((g) => g.targets[0]),
      ["[fd00::1]:9101", "a2:9101"],
    );
    assert.deepEqual(httpSdGroups([], "master"), []);
  });

  it("reads the role parameter and refuses an unknown one", () => {
    assert.equal(parseRoleQuery(""), undefined);
    assert.equal(parseRoleQuery("role="), undefined);
    assert.equal(parseRoleQuery("role=master"), "master");
    assert.equal(parseRoleQuery("x=1&role=auxiliary"), "auxiliary");
    assert.throws(
      () => parseRoleQuery("role=nginx"),
      (err: Error & { code?: string }) =>
        err.code === "BAD_REQUEST" && /role must be one of master, auxiliary/.test(err.message),
    );
  });

  it("names the master as its peers and Prometheus reach it", () => {
    assert.equal(ownHost("m1.example", "0.0.0.0", "10.0.0.5:8080"), "m1.example");
    assert.equal(ownHost(undefined, "127.0.0.1", "localhost:8080"), "127.0.0.1");
    // A wildcard bind: the host the request was sent to.
    assert.equal(ownHost(undefined, "0.0.0.0", "m1:8080"), "m1");
    assert.equal(ownHost(undefined, "::", "[fd00::2]:8080"), "fd00::2");
    assert.equal(ownHost(undefined, "0.0.0.0", "m1"), "m1");
    // Nothing usable in the Host header: the machine's name.
    assert.equal(ownHost(undefined, "0.0.0.0", undefined), hostname());
    assert.equal(ownHost(undefined, "0.0.0.0", "bad host/x"), hostname());
    assert.equal(ownHost(undefined, "0.0.0.0", "0.0.0.0:8080"), hostname());
  });

  it("is what the generated prometheus.yml asks every master for, for both jobs", () => {
    const text = renderPrometheusConfig({
      masters: [
        { address: "m1:8080", node: "m1" },
        { address: "m2:8080", node: "m2" },
      ],
      ruleFiles: ["alerts.yml"],
      alertmanagers: ["alertmanager:9093"],
    });
    for (const m of ["m1", "m2"]) {
      for (const role of ["master", "auxiliary"]) {
        assert.ok(text.includes(`- url: http://${m}:8080/v1/sd/prometheus?role=${role}`), role);
      }
    }
    // The masters' static targets carry the labels service discovery gives them.
    assert.match(text, /- targets: \["m1:8080"\]\n +labels:\n +role: master\n +master: m1\n/);
    assert.match(text, /rule_files:\n {2}- alerts\.yml\n/);
    assert.match(text, /targets: \["alertmanager:9093"\]/);
  });
});

// The etcd cluster the tests across hosts coordinate through: three members, each on its own
// host, form one cluster; writes go through any member and are read through another; one
// member lost keeps the quorum, two lost stop writes, and their return brings writes back.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { EtcdCluster } from "../helpers/hosts/etcd.js";
import { TestNetwork } from "../helpers/hosts/network.js";
import { skipUnlessRoot } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const skip = skipUnlessRoot("ip", "iptables", "etcd");

describe("etcd across hosts", { skip }, () => {
  let net: TestNetwork;
  let etcd: EtcdCluster;

  before(async () => {
    net = await TestNetwork.create();
    etcd = await EtcdCluster.start(net);
  });
  after(async () => {
    await etcd?.stop();
    await net?.remove();
  });

  it("forms one cluster: a key written through one member reads back through the others", async () => {
    const revision = await etcd.put("ringcache-test/a", "one", "e1");
    assert.ok(revision > 0);
    assert.equal(await etcd.get("ringcache-test/a", "e2"), "one");
    assert.equal(await etcd.get("ringcache-test/a", "e3"), "one");
    assert.match(etcd.endpoints(), /^(\d+\.\d+\.\d+\.\d+:2379,){2}\d+\.\d+\.\d+\.\d+:2379$/);
  });

  it("keeps taking writes with one member killed, stops without a quorum, resumes with it back", async () => {
    await etcd.member("e3").kill9();
    // If e3 led etcd, the other two elect a leader first (about one election timeout).
    await waitFor("a write through e1 with e3 killed", async () => {
      await etcd.put("ringcache-test/b", "two", "e1");
      return true;
    });
    assert.equal(await etcd.get("ringcache-test/b", "e2"), "two");

    await etcd.member("e2").kill9();
    // One member of three: no quorum, so a write is never committed.
    await assert.rejects(etcd.put("ringcache-test/c", "lost quorum", "e1", 3000));

    await etcd.member("e2").restart();
    await etcd.member("e3").restart();
    await etcd.waitHealthy();
    await waitFor("a write through e3 after the quorum returned", async () => {
      await etcd.put("ringcache-test/d", "back", "e3");
      return true;
    });
    assert.equal(await etcd.get("ringcache-test/d", "e1"), "back");
    assert.equal(await etcd.get("ringcache-test/b", "e3"), "two");
  });
});

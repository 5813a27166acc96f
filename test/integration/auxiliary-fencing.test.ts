// An auxiliary node fences the steps of a move by the leader's term (docs/design.md,
// "Coordination through etcd"): once it has seen a term, it refuses every move step of an older
// one and changes nothing, while steps without a term (built-in coordination) and the request
// path (RC.PUT, RC.GET) go on as before.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { PageWriter } from "../../src/protocol/page.js";
import { RespReplyError } from "../../src/protocol/resp/index.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { RespTestClient } from "../helpers/resp-client.js";

function pageOf(key: string, value: string, version: number): Buffer {
  const page = new PageWriter();
  page.add(Buffer.from(key), Buffer.from(value), version, 0, false);
  return Buffer.from(page.view());
}

function fencedError(reply: unknown, term: number, begun: number): void {
  assert.ok(reply instanceof RespReplyError, `expected -FENCED, got ${String(reply)}`);
  assert.equal(reply.message, `FENCED move step of term ${term} but term ${begun} has begun`);
}

describe("move steps fenced by the leader's term", () => {
  let node: AuxiliaryHandle;
  let client: RespTestClient;

  before(async () => {
    node = await startAuxiliary({ id: "f1" });
    client = await RespTestClient.connect(node.port);
  });
  after(async () => {
    client.close();
    await node.destroy();
  });

  it("refuses a step of an older term after seeing a newer one, and accepts term 0", async () => {
    // Term 0 (no TERM): accepted whatever the node has seen, as built-in coordination sends.
    assert.equal(await client.call("RC.PUTPAGE", pageOf("k0", "v0", 100)), 1);

    // A leader of term 7 learns the node's limits: the node now knows term 7.
    const stats = JSON.parse(String(await client.call("RC.STATS", "TERM", "7"))) as {
      term: number;
    };
    assert.equal(stats.term, 7);

    // The leader of term 5, whose tenure is over, copies, scans and removes: all refused.
    fencedError(await client.call("RC.PUTPAGE", "TERM", "5", pageOf("k1", "old", 200)), 5, 7);
    assert.equal(await client.call("RC.GET", "k1"), null, "a fenced page applied nothing");
    fencedError(await client.call("RC.SCANPAGE", "0", "100", "TERM", "5"), 5, 7);
    fencedError(await client.call("RC.CDELPAGE", "TERM", "5", pageOf("k0", "", 100)), 5, 7);
    fencedError(await client.call("RC.CDEL", "k0", "100", "TERM", "6"), 6, 7);
    fencedError(await client.call("RC.STATS", "TERM", "6"), 6, 7);
    const kept = await client.call("RC.GET", "k0");
    assert.ok(Array.isArray(kept) && String(kept[0]) === "v0", "a fenced delete removed nothing");

    // The current term's steps go through; a newer term raises the bar.
    assert.equal(await client.call("RC.PUTPAGE", "TERM", "7", pageOf("k1", "new", 300)), 1);
    const scanned = await client.call("RC.SCANPAGE", "0", "100", "TERM", "8");
    assert.ok(Array.isArray(scanned), `scan answered ${String(scanned)}`);
    fencedError(await client.call("RC.PUTPAGE", "TERM", "7", pageOf("k2", "v", 400)), 7, 8);

    // Term 0 and the request path are never fenced.
    assert.equal(await client.call("RC.PUTPAGE", pageOf("k3", "v3", 500)), 1);
    assert.equal(await client.call("RC.PUT", "k4", "v4", "600", "0"), 1);
    const got = await client.call("RC.GET", "k4");
    assert.ok(Array.isArray(got) && String(got[0]) === "v4");
    assert.equal(await client.call("RC.CDEL", "k3", "500"), 1);

    const after = JSON.parse(String(await client.call("RC.STATS"))) as {
      term: number;
      fenced: number;
    };
    assert.equal(after.term, 8);
    assert.equal(after.fenced, 6);
  });

  it("refuses a malformed term as a bad request", async () => {
    const reply = await client.call("RC.PUTPAGE", "TERM", "x", pageOf("k5", "v", 700));
    assert.ok(reply instanceof RespReplyError);
    assert.match(reply.message, /^ERR invalid term/);
  });
});

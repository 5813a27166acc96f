// A master's recovery link (src/master/link.ts) against a real auxiliary node with a secret:
// pages handed to the socket uncopied (requestWithBulk) and ordinary requests issued in the same
// turns, in any interleaving, reach the node in order and each gets its own reply.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NodeLink } from "../../src/master/link.js";
import {
  encodeGet,
  encodePutPageHead,
  readCount,
  readGetReply,
} from "../../src/protocol/internal/index.js";
import { PageWriter } from "../../src/protocol/page.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";

describe("master recovery link", () => {
  let node: AuxiliaryHandle;
  let link: NodeLink;

  before(async () => {
    node = await startAuxiliary({ secret: "s3cret-link", args: ["--max-memory", "64mb"] });
    link = new NodeLink({
      host: "127.0.0.1",
      port: node.port,
      secret: "s3cret-link",
      timeoutMs: 5000,
    });
  });
  after(async () => {
    link.close();
    await node.stop();
  });

  it("keeps pages sent uncopied and plain requests in order", async () => {
    const rounds = 40;
    const pending: Promise<unknown>[] = [];
    const expected: unknown[] = [];
    for (let round = 0; round < rounds; round++) {
      // A page of 1..50 entries, sent in two parts (as a receiver's slices of a page are).
      const page = new PageWriter();
      const n = 1 + ((round * 7) % 50);
      for (let i = 0; i < n; i++) {
        page.add(
          Buffer.from(`ln:${round}:${i}`),
          Buffer.alloc(100 + i, 65 + (i % 26)),
          10 + round,
          0,
          false,
        );
      }
      const bytes = Buffer.from(page.view());
      const cut = Math.floor(bytes.length / 3);
      pending.push(
        link.requestWithBulk(
          encodePutPageHead,
          [bytes.subarray(0, cut), bytes.subarray(cut)],
          readCount,
        ),
      );
      expected.push(n);
      // A read of an entry of the previous page, queued between two pages.
      if (round > 0) {
        const key = Buffer.from(`ln:${round - 1}:0`);
        pending.push(
          link.request(
            (w) => encodeGet(w, key),
            (reply) => readGetReply(reply)?.version,
          ),
        );
        expected.push(10 + round - 1);
      }
      // Every few rounds, let a turn pass: flushes fall between and inside the rounds.
      if (round % 5 === 4) await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(await Promise.all(pending), expected);
  });
});

import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { freePort as benchFreePort } from "../../bench/support.js";
import { freePort } from "../helpers/ports.js";

const EPHEMERAL_LOW = 32_768;

function listenOn(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
  });
}

describe("free ports for test and benchmark servers", () => {
  it("never hands out a port twice in one process, nor one an outgoing connection may take", async () => {
    const seen = new Set<number>();
    // Both helpers draw from one record: a benchmark that uses both cannot get a port twice.
    for (let i = 0; i < 300; i++) {
      const port = i % 2 === 0 ? await freePort() : await benchFreePort();
      assert.ok(!seen.has(port), `port ${port} handed out twice`);
      assert.ok(port < EPHEMERAL_LOW, `port ${port} is in the ephemeral range`);
      seen.add(port);
    }
    // Each can still be listened on.
    for (const port of [...seen].slice(0, 20)) await listenOn(port);
  });
});

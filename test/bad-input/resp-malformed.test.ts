// Malformed RESP to a master's client port and to an auxiliary node's port: each frame gets
// Redis's own protocol error (the texts below are what redis-server answers to the same bytes)
// and that connection alone is closed; the node keeps serving everyone else.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { RespWriter } from "../../src/protocol/resp/index.js";
import { MALFORMED } from "./frames.js";
import { exchange, Guard } from "./guard.js";

describe("malformed RESP", () => {
  let guard: Guard;

  before(async () => {
    guard = await Guard.start();
  });
  after(async () => {
    await guard.stop();
  });

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`to the ${targetName}: a protocol error for each bad frame, only that connection closed`, async () => {
      const target = guard.target(targetName);
      for (const [name, bytes, reply, closed] of MALFORMED) {
        const got = await exchange(target.port, bytes, 500);
        assert.equal(got.data.toString("latin1"), reply, `${name}: reply`);
        assert.equal(got.closed, closed, `${name}: connection closed`);
      }
      await guard.check(`malformed RESP to the ${targetName}`);
    });
  }

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`to the ${targetName}: a pipeline of 10k commands split at every byte gets the same replies as unsplit`, async () => {
      const target = guard.target(targetName);
      const count = 10_000;
      // Each run writes its own keys, so both runs see the same state and give the same replies.
      const pipeline = (run: string): Buffer => {
        const w = new RespWriter();
        for (let i = 0; i < count; i++) {
          const key = `split:${targetName}:${run}:${i % 500}`;
          if (i % 3 === 0) w.command(["SET", key, `v${i}\r\n${"é".repeat(i % 7)}`]);
          else if (i % 3 === 1) w.command(["GET", key]);
          else w.command(["EXISTS", key, "nope"]);
        }
        return w.take();
      };
      // Unsplit: one write. Split: one byte per write, yielding to the event loop so the
      // server really receives many small chunks.
      const unsplit = await oneShot(target.port, pipeline("whole"));
      const split = await oneShot(target.port, pipeline("split"), 1);
      assert.equal(split.length, unsplit.length);
      assert.ok(split.equals(unsplit), "split replies differ from unsplit ones");
      // 10k replies: "+OK", bulk or nil, and ":n" — count the lines that start a reply.
      assert.ok(unsplit.length > count * 4, `only ${unsplit.length} reply bytes`);
      await guard.check(`pipeline split at every byte to the ${targetName}`);
    });
  }
});

/**
 * Sends `bytes` (in slices of `slice` bytes, or at once) followed by QUIT and returns every
 * reply byte before the server's "+OK" to QUIT and its close.
 */
async function oneShot(port: number, bytes: Buffer, slice = 0): Promise<Buffer> {
  const socket = connect({ port, host: "127.0.0.1" });
  socket.setNoDelay(true);
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("data", (c: Buffer) => chunks.push(c));
  if (slice === 0) socket.write(bytes);
  else {
    for (let i = 0; i < bytes.length; i += slice) {
      socket.write(bytes.subarray(i, i + slice));
      if (i % 256 === 0) await new Promise((r) => setImmediate(r));
    }
  }
  socket.write("QUIT\r\n");
  await closed;
  const all = Buffer.concat(chunks);
  assert.ok(all.subarray(all.length - 5).equals(Buffer.from("+OK\r\n")), "QUIT answered +OK");
  return all.subarray(0, all.length - 5);
}

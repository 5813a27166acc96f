// Memory bounds of a real auxiliary node: a write flood of random sizes stays within the
// budget, and a client that sends but never reads is disconnected instead of growing the
// server's memory.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { encodeMPut, readStatsReply, encodeStats } from "../../src/protocol/internal/index.js";
import { RespWriter } from "../../src/protocol/resp/index.js";
import { startAuxiliary } from "../helpers/auxiliary.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { waitFor } from "../helpers/wait.js";

function infoField(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)\\r$`, "m").exec(info);
  assert.ok(m !== null, `INFO has no ${name}`);
  return Number(m[1]);
}

describe("auxiliary node: memory bounds", () => {
  it("holds its memory budget under a write flood of random sizes", async () => {
    const budget = 4 * 1024 * 1024;
    const node = await startAuxiliary({ args: ["--max-memory", String(budget)] });
    const client = await RespTestClient.connect(node.port);
    try {
      let written = 0;
      let version = 1;
      for (let round = 0; round < 40; round++) {
        const w = new RespWriter();
        const n = 50;
        for (let c = 0; c < n; c++) {
          const entries = [];
          for (let i = 0; i < 5; i++) {
            // Mostly small, sometimes large: sizes from 1 byte to 64 KiB.
            const size =
              Math.random() < 0.9
                ? 1 + Math.floor(Math.random() * 512)
                : 1 + Math.floor(Math.random() * 65536);
            written += size;
            entries.push({
              key: Buffer.from(`f:${Math.floor(Math.random() * 1e6)}`),
              value: Buffer.alloc(size, 0x78),
              version: version++,
              expiresAt: 0,
            });
          }
          encodeMPut(w, entries);
        }
        // Plain SETs too (the path redis-cli uses).
        for (let i = 0; i < 50; i++) {
          w.command(["SET", `s:${round}:${i}`, Buffer.alloc(Math.floor(Math.random() * 20000))]);
        }
        const replies = await client.send(w.take(), n + 50);
        for (const r of replies) assert.ok(Array.isArray(r) || r === "OK", String(r));
        const stats = readStatsReply(
          (
            await client.send(
              (() => {
                const x = new RespWriter();
                encodeStats(x);
                return x.take();
              })(),
              1,
            )
          )[0] ?? null,
        );
        assert.ok(stats.bytes <= budget, `round ${round}: ${stats.bytes} bytes > budget ${budget}`);
      }
      assert.ok(written > 5 * budget, `the flood wrote ${written} bytes`);
      const info = (await client.call("INFO")) as Buffer;
      const text = info.toString();
      assert.ok(infoField(text, "used_memory") <= budget);
      assert.ok(infoField(text, "evicted_keys") > 0);
      assert.ok(infoField(text, "used_memory_rss") < 400 * 1024 * 1024, "RSS stays bounded");
    } finally {
      client.close();
      await node.destroy();
    }
  });

  it("disconnects a client that never reads its replies, and keeps serving others", async () => {
    const node = await startAuxiliary({ args: ["--max-output-buffer", "256kb"] });
    const client = await RespTestClient.connect(node.port);
    try {
      assert.equal(await client.call("SET", "big", Buffer.alloc(60_000, 0x62)), "OK");
      const rssBefore = infoField(
        ((await client.call("INFO", "memory")) as Buffer).toString(),
        "used_memory_rss",
      );
      // Pipeline GETs of a 60 KB value (10,000 of them ask for 600 MB of replies) and never read.
      // No 'data' listener: the socket never reads, so the kernel buffers fill up.
      const greedy = connect({ port: node.port, host: "127.0.0.1" });
      greedy.on("error", () => undefined);
      const chunk = Buffer.from("GET big\r\n".repeat(1000));
      let sent = 0;
      const pump = (): void => {
        while (sent < 10 && !greedy.destroyed) {
          sent++;
          if (!greedy.write(chunk)) {
            greedy.once("drain", pump);
            return;
          }
        }
      };
      greedy.once("connect", pump);
      await waitFor("the server to drop the greedy client", () =>
        node.process.logText().includes("client output buffer over the limit"),
      );
      const clients = async () =>
        infoField(
          ((await client.call("INFO", "clients")) as Buffer).toString(),
          "connected_clients",
        );
      await waitFor("one client left", async () => (await clients()) === 1);
      greedy.destroy();
      assert.equal(await client.call("PING"), "PONG", "the node still serves");
      const rssAfter = infoField(
        ((await client.call("INFO", "memory")) as Buffer).toString(),
        "used_memory_rss",
      );
      assert.ok(rssAfter - rssBefore < 150 * 1024 * 1024, `RSS grew by ${rssAfter - rssBefore}`);
    } finally {
      client.close();
      await node.destroy();
    }
  });
});

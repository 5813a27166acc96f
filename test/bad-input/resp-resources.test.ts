// Resource attacks on a master's client port and an auxiliary node's port, scaled to a 2-core
// machine: many connections each holding a half-sent large bulk, a client that pipelines GETs
// of large values and never reads, thousands of idle and byte-a-second connections, and more
// clients than --max-clients.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { sleep, waitFor } from "../helpers/wait.js";
import { closeSockets, exchange, Guard, metric, openSockets } from "./guard.js";

const MiB = 1024 * 1024;

async function heapOf(url: string): Promise<number> {
  const text = await (await fetch(url)).text();
  return metric(text, "nodejs_heap_size_used_bytes") + metric(text, "nodejs_external_memory_bytes");
}

describe("resource attacks", () => {
  let guard: Guard;

  before(async () => {
    guard = await Guard.start();
  });
  after(async () => {
    await guard.stop();
  });

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`to the ${targetName}: 1,000 connections each holding a half-sent 1 MB bulk cost what they sent, not what they claim`, async () => {
      const target = guard.target(targetName);
      const before = await heapOf(target.metricsUrl);
      const sockets = await openSockets(target.port, 1000);
      // Claims 1 MB, sends 1 KB of it: 1,000 such claims would be 1 GB if buffered by claim.
      const header = Buffer.from("*3\r\n$3\r\nSET\r\n$9\r\nhalf-sent\r\n$1000000\r\n");
      const part = Buffer.concat([header, Buffer.alloc(1024, 0x61)]);
      for (const s of sockets) s.write(part);
      await sleep(500);
      const held = (await heapOf(target.metricsUrl)) - before;
      assert.ok(held < 64 * MiB, `holding 1,000 half-sent bulks grew memory by ${held} bytes`);
      assert.ok(
        sockets.every((s) => !s.destroyed),
        "a half-sent bulk is not an error",
      );
      await closeSockets(sockets);
      await guard.check(`half-sent bulks to the ${targetName}`);
    });
  }

  it("to the auxiliary a1: a client that pipelines GETs of large values and never reads is disconnected at the output limit", async () => {
    await nonReadingClient(guard, "auxiliary a1");
  });

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`to the ${targetName}: 2,000 idle and 50 byte-a-second connections neither starve others nor grow memory`, async () => {
      const target = guard.target(targetName);
      const idle = await openSockets(target.port, 2000);
      const slow = await openSockets(target.port, 50);
      const answers: string[] = slow.map(() => "");
      slow.forEach((s, i) => s.on("data", (c: Buffer) => (answers[i] += c.toString())));
      const command = Buffer.from("*1\r\n$4\r\nPING\r\n");
      for (let b = 0; b < command.length; b++) {
        for (const s of slow) s.write(command.subarray(b, b + 1));
        await sleep(150);
      }
      await waitFor("every byte-at-a-time PING to be answered", () =>
        answers.every((a) => a === "+PONG\r\n"),
      );
      assert.ok(idle.every((s) => !s.destroyed));
      await closeSockets([...idle, ...slow]);
      await guard.check(`idle and slow connections to the ${targetName}`);
    });
  }
});

describe("more clients than --max-clients", () => {
  let guard: Guard;
  const maxClients = 40;

  before(async () => {
    guard = await Guard.start({
      masterArgs: [
        ...["--max-value-size", "1mb", "--max-output-buffer", "4mb"],
        ...["--max-clients", String(maxClients)],
      ],
      auxiliaryArgs: ["--max-output-buffer", "4mb", "--max-clients", String(maxClients)],
    });
  });
  after(async () => {
    await guard.stop();
  });

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`the ${targetName} refuses connections past the limit with a clear error and takes new ones once others leave`, async () => {
      const target = guard.target(targetName);
      const sockets: Socket[] = [];
      const got = new Map<Socket, string>();
      for (let i = 0; i < maxClients + 5; i++) {
        const [s] = await openSockets(target.port, 1);
        const socket = s as Socket;
        got.set(socket, "");
        socket.on("data", (c: Buffer) => got.set(socket, (got.get(socket) ?? "") + c.toString()));
        sockets.push(socket);
      }
      await sleep(300);
      const refused = sockets.filter(
        (s) => got.get(s) === "-ERR max number of clients reached\r\n",
      );
      // The canary and the master's own links hold some of the slots.
      assert.ok(refused.length >= 5, `${refused.length} refused`);
      assert.ok(refused.length <= 5 + 4, `${refused.length} refused`);
      assert.ok(
        sockets.every((s) => got.get(s) === "" || refused.includes(s)),
        "an accepted connection got something unasked",
      );
      await closeSockets(sockets);
      const ping = await exchange(target.port, "PING\r\n", 300);
      assert.equal(ping.data.toString(), "+PONG\r\n");
      await guard.check(`more than max clients to the ${targetName}`);
    });
  }
});

// The master forwards all of a client's pipelined GETs at once over its one shared link to the
// owner, whose replies to that link exceed the node's --max-output-buffer many times over. The
// node must slow the link down (the master reads it) rather than drop it, and the master must
// cut off its own client, which never reads, without disturbing anyone else.
describe("a non-reading client of a master", () => {
  let guard: Guard;

  before(async () => {
    guard = await Guard.start();
  });
  after(async () => {
    await guard.stop();
  });

  it("is disconnected at the output limit without disturbing other clients", async () => {
    await nonReadingClient(guard, "master");
  });

  // The link from a master to a node is such a client whenever a master's clients pipeline
  // large GETs. (A master itself cuts off a client whose replies, already received from the
  // nodes, pass the limit: it cannot hold back what the nodes have answered.)
  it("to the auxiliary a1: a client that pipelines GETs of large values and reads them late is slowed down, not cut off", async () => {
    await lateReadingClient(guard, "auxiliary a1");
  });
});

/**
 * Pipelines 40 GETs of a 900 KB value (36 MB of replies, nine times the output limit), waits a
 * little under the stall limit, then reads: every reply must arrive, whole and in order.
 */
async function lateReadingClient(guard: Guard, targetName: string): Promise<void> {
  const target = guard.target(targetName);
  const key = `late:${targetName}`;
  const value = Buffer.alloc(900_000);
  for (let i = 0; i < value.length; i++) value[i] = 97 + (i % 26);
  const set = await exchange(
    target.port,
    Buffer.concat([
      Buffer.from(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n`),
      value,
      Buffer.from("\r\n"),
    ]),
    300,
  );
  assert.equal(set.data.toString(), "+OK\r\n");
  const count = 40;
  const reply = Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from("\r\n")]);
  const socket = connect({ port: target.port, host: "127.0.0.1" });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  let closed = false;
  socket.once("close", () => (closed = true));
  socket.pause();
  socket.write(`*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`.repeat(count));
  await sleep(400);
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on("data", (c: Buffer) => {
    chunks.push(c);
    received += c.length;
  });
  socket.resume();
  await waitFor(
    `all ${count} replies (${count * reply.length} bytes) from the ${targetName}`,
    () => received >= count * reply.length || closed,
    { timeoutMs: 20_000 },
  );
  assert.equal(closed, false, `the ${targetName} cut off a client that was reading`);
  const all = Buffer.concat(chunks);
  assert.equal(all.length, count * reply.length);
  for (let i = 0; i < count; i++) {
    assert.ok(
      all.subarray(i * reply.length, (i + 1) * reply.length).equals(reply),
      `reply ${i} differs`,
    );
  }
  socket.destroy();
  await guard.check(`late-reading client of the ${targetName}`);
}

/** Pipelines 200 GETs of a 900 KB value and never reads: the server must cut the client off. */
async function nonReadingClient(guard: Guard, targetName: string): Promise<void> {
  const target = guard.target(targetName);
  const key = `big:${targetName}`;
  const set = await exchange(
    target.port,
    `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${900_000}\r\n${"v".repeat(900_000)}\r\n`,
    300,
  );
  assert.equal(set.data.toString(), "+OK\r\n");
  // 200 GETs of 900 KB: 180 MB of replies against a 4 MB output limit.
  const socket = connect({ port: target.port, host: "127.0.0.1" });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.pause();
  const get = `*2\r\n$3\r\nGET\r\n$${key.length}\r\n${key}\r\n`;
  socket.write(get.repeat(200));
  await sleep(1500);
  let received = 0;
  socket.on("data", (c: Buffer) => (received += c.length));
  socket.resume();
  await Promise.race([
    closed,
    sleep(5000).then(() => assert.fail("the server kept the non-reading client")),
  ]);
  assert.ok(received < 200 * 900_000, `received ${received} bytes: the client was not cut off`);
  await guard.check(`non-reading client of the ${targetName}`);
}

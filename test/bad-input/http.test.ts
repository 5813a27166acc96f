// Hostile HTTP to a master's HTTP port: percent-encoded path traversal in keys, bodies over the
// limit, conflicting Content-Length/Transfer-Encoding, oversized headers, slow headers and
// bodies, and JSON with __proto__.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { sleep } from "../helpers/wait.js";
import { exchange, Guard } from "./guard.js";

/** Every file name under a directory, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

function statusOf(raw: Buffer): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(raw.toString("latin1"));
  return match === null ? 0 : Number(match[1]);
}

/**
 * Sends `head`, then `body` one byte every `everyMs`, and resolves when the server closes the
 * connection: with the status it sent (0 for none) and how long the connection lived.
 */
async function trickle(
  port: number,
  head: string,
  body: string,
  everyMs: number,
): Promise<{ status: number; ms: number }> {
  const socket = connect({ port, host: "127.0.0.1" });
  socket.on("error", () => undefined);
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const started = performance.now();
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  socket.write(head);
  let open = true;
  void closed.then(() => (open = false));
  for (let i = 0; open && i < body.length; i++) {
    await sleep(everyMs);
    if (open) socket.write(body[i] as string);
  }
  await closed;
  return { status: statusOf(Buffer.concat(chunks)), ms: performance.now() - started };
}

describe("hostile HTTP to a master", () => {
  let guard: Guard;
  let slow: Promise<[{ status: number; ms: number }, { status: number; ms: number }]>;

  before(async () => {
    guard = await Guard.start();
    // The slow clients run alongside the other cases; the last case collects them.
    const port = guard.master.httpPort;
    slow = Promise.all([
      trickle(port, "GET /v1/keys/pre:1 HTTP/1.1\r\n", "Host: x\r\nX-Slow: ".repeat(10), 1000),
      trickle(
        port,
        "PUT /v1/keys/slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
        "b".repeat(100),
        1000,
      ),
    ]);
  });
  after(async () => {
    await guard.stop();
  });

  it("treats percent-encoded path traversal as an opaque key and touches no file", async () => {
    const before = filesUnder(guard.cluster.dir);
    const keys = [
      "..%2F..%2F..%2Ftmp%2Fringcache-pwned",
      "%2e%2e%2f%2e%2e%2fetc%2fringcache-pwned",
      "..%5C..%5Cringcache-pwned",
      "a%00ringcache-pwned",
    ];
    for (const key of keys) {
      const put = await fetch(guard.master.url(`/v1/keys/${key}`), { method: "PUT", body: key });
      assert.equal(put.status, 204, key);
      const get = await fetch(guard.master.url(`/v1/keys/${key}`));
      assert.equal(await get.text(), key);
    }
    // Not percent-encoded: still one opaque key (Node does not normalise the path).
    const raw = await exchange(
      guard.master.httpPort,
      "PUT /v1/keys/../../tmp/ringcache-pwned HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    assert.equal(statusOf(raw.data), 204);
    const bad = await fetch(guard.master.url("/v1/keys/a%zzb"), { method: "PUT", body: "x" });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "BAD_REQUEST");
    // The decoded key reads back over RESP too, byte for byte.
    const decoded = "../../../tmp/ringcache-pwned";
    const stored = keys[0] as string;
    const resp = await exchange(
      guard.master.port,
      `*2\r\n$3\r\nGET\r\n$${decoded.length}\r\n${decoded}\r\n`,
      300,
    );
    assert.equal(resp.data.toString(), `$${stored.length}\r\n${stored}\r\n`);
    assert.deepEqual(filesUnder(guard.cluster.dir), before);
    assert.ok(!existsSync("/tmp/ringcache-pwned"));
    assert.ok(!existsSync("/etc/ringcache-pwned"));
    await guard.check("path traversal in keys");
  });

  it("refuses a body over the limit with 413 before it is sent, and a chunked one as it crosses", async () => {
    // Only the headers: the 413 must come without the server waiting for 100 MB.
    const declared = await exchange(
      guard.master.httpPort,
      "PUT /v1/keys/big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
    );
    assert.equal(statusOf(declared.data), 413);
    assert.ok(declared.closed);
    const chunk = `100000\r\n${"a".repeat(0x100000)}\r\n`;
    const chunked = await exchange(
      guard.master.httpPort,
      `PUT /v1/keys/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}`,
    );
    assert.equal(statusOf(chunked.data), 413);
    assert.ok(chunked.closed);
    const batch = await exchange(
      guard.master.httpPort,
      "POST /v1/batch/set HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n{",
    );
    assert.equal(statusOf(batch.data), 413);
    assert.equal((await fetch(guard.master.url("/v1/keys/big"))).status, 404);
    await guard.check("bodies over the limit");
  });

  it("rejects conflicting Content-Length and Transfer-Encoding, and oversized headers (431)", async () => {
    const cases: [string, number][] = [
      [
        "PUT /v1/keys/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
      ],
      [
        "PUT /v1/keys/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
      ],
      [
        "PUT /v1/keys/smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        400,
      ],
      [`GET /v1/keys/x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(400_000)}\r\n\r\n`, 431],
      [`GET /v1/keys/x HTTP/1.1\r\nHost: x\r\n${"X-Many: a\r\n".repeat(40_000)}\r\n`, 431],
    ];
    for (const [request, status] of cases) {
      const got = await exchange(guard.master.httpPort, request);
      assert.equal(statusOf(got.data), status, request.slice(0, 80));
      assert.ok(got.closed);
    }
    assert.equal((await fetch(guard.master.url("/v1/keys/smuggle"))).status, 404);
    await guard.check("request smuggling and oversized headers");
  });

  it("stores JSON keys named __proto__ and constructor as plain keys, with no pollution", async () => {
    const body =
      '{"__proto__":{"polluted":1},"entries":[{"key":"__proto__","value":"p"},' +
      '{"key":"constructor","value":"c","__proto__":{"ttl":1}},{"key":"toString","value":"t"}]}';
    const set = await fetch(guard.master.url("/v1/batch/set"), {
      method: "POST",
      body,
      headers: { "content-type": "application/json" },
    });
    assert.equal(set.status, 200);
    assert.deepEqual(await set.json(), { stored: 3 });
    const get = await fetch(guard.master.url("/v1/batch/get"), {
      method: "POST",
      body: '{"keys":["__proto__","constructor","toString","hasOwnProperty"]}',
    });
    assert.deepEqual(await get.json(), { encoding: "utf8", values: ["p", "c", "t", null] });
    // No TTL leaked in from the inner __proto__.
    const ttl = await exchange(guard.master.port, "*2\r\n$3\r\nTTL\r\n$11\r\nconstructor\r\n", 300);
    assert.equal(ttl.data.toString(), ":-1\r\n");
    const view = (await guard.master.view()) as unknown as Record<string, unknown>;
    assert.equal(view.polluted, undefined);
    await guard.check("JSON with __proto__");
  });

  it("closes slow headers within 10 s (408) and slow bodies within 30 s", async () => {
    const [headers, body] = await slow;
    console.log(
      `slow headers closed after ${headers.ms.toFixed(0)} ms (status ${headers.status}), ` +
        `slow body after ${body.ms.toFixed(0)} ms (status ${body.status})`,
    );
    assert.equal(headers.status, 408);
    assert.ok(headers.ms >= 9_000 && headers.ms < 13_000, `${headers.ms} ms`);
    assert.equal(body.status, 408);
    assert.ok(body.ms >= 29_000 && body.ms < 33_000, `${body.ms} ms`);
    assert.equal((await fetch(guard.master.url("/v1/keys/slow-body"))).status, 404);
    await guard.check("slow headers and bodies");
  });
});

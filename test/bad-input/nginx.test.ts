// Bad input through NGINX (the generated configuration of src/local/nginx.ts) in front of a
// master: malformed RESP over the stream proxy, and hostile HTTP that NGINX itself refuses or
// passes on. NGINX, the master and the auxiliary nodes all keep serving.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { startBalancer, type Balancer } from "../helpers/balancer.js";
import { skipUnless } from "../helpers/tools.js";
import { MALFORMED } from "./frames.js";
import { exchange, Guard } from "./guard.js";

function statusOf(raw: Buffer): number {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(raw.toString("latin1"));
  return match === null ? 0 : Number(match[1]);
}

describe("bad input through NGINX", { skip: skipUnless("nginx") }, () => {
  let guard: Guard;
  let balancer: Balancer;

  before(async () => {
    guard = await Guard.start();
    balancer = await startBalancer([guard.master], guard.cluster.dir, {
      maxBodyBytes: 1024 * 1024,
    });
  });
  after(async () => {
    await balancer?.stop();
    await guard?.stop();
  });

  async function check(label: string): Promise<void> {
    assert.equal(balancer.process.exitCode, null, `${label}: NGINX exited`);
    assert.doesNotMatch(balancer.errorLog(), /\[(alert|emerg|crit)\]/, `${label}: NGINX log`);
    await guard.check(label);
  }

  it("passes malformed RESP to the master, which answers each with its protocol error", async () => {
    for (const [name, bytes, reply, closed] of MALFORMED) {
      const got = await exchange(balancer.respPort, bytes, 500);
      assert.equal(got.data.toString("latin1"), reply, `${name}: reply`);
      assert.equal(got.closed, closed, `${name}: connection closed`);
    }
    const ok = await exchange(balancer.respPort, "GET pre:3\r\nQUIT\r\n");
    assert.match(ok.data.toString("latin1"), /^\$\d+\r\n/);
    await check("malformed RESP through NGINX");
  });

  it("refuses hostile HTTP or passes it on as opaque keys", async () => {
    const json = '{"__proto__":{"x":1},"entries":[{"key":"a","value":"b"}]}';
    const cases: [string, string, number][] = [
      [
        "percent-encoded traversal",
        "PUT /v1/keys/..%2F..%2Ftmp%2Fringcache-nginx-pwned HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        204,
      ],
      [
        "raw traversal",
        "PUT /v1/keys/../../tmp/ringcache-nginx-pwned HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        204,
      ],
      [
        "body over the limit (headers only)",
        "PUT /v1/keys/big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n",
        413,
      ],
      [
        "conflicting Content-Length and Transfer-Encoding",
        "PUT /v1/keys/smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
      ],
      // NGINX answers an oversized header with 400 "Request Header Or Cookie Too Large".
      [
        "oversized header",
        `GET /v1/keys/x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(400_000)}\r\n\r\n`,
        400,
      ],
      [
        "JSON with __proto__",
        `POST /v1/batch/set HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${json.length}\r\n\r\n${json}`,
        200,
      ],
    ];
    for (const [name, request, status] of cases) {
      const got = await exchange(balancer.httpPort, request);
      assert.equal(statusOf(got.data), status, name);
    }
    const get = await fetch(
      `http://127.0.0.1:${balancer.httpPort}/v1/keys/..%2F..%2Ftmp%2Fringcache-nginx-pwned`,
    );
    assert.equal(await get.text(), "hi");
    assert.ok(!existsSync("/tmp/ringcache-nginx-pwned"));
    assert.equal((await fetch(guard.master.url("/v1/keys/smuggle"))).status, 404);
    await check("hostile HTTP through NGINX");
  });
});

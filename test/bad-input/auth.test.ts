// Authentication: commands before AUTH, wrong secrets (each answered later than the last), and
// a node that would bind a non-loopback address without a secret refusing to start.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/process.js";
import { exchange, Guard } from "./guard.js";

const SECRET = "bad-input-secret";

describe("authentication", () => {
  let guard: Guard;

  before(async () => {
    guard = await Guard.start({ secret: SECRET });
  });
  after(async () => {
    await guard.stop();
  });

  it("the master's HTTP data routes need the secret as a Bearer token", async () => {
    const url = guard.master.url("/v1/keys/pre%3A1");
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, "NO_AUTH");
    const wrong = await fetch(url, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const put = await fetch(guard.master.url("/v1/batch/set"), {
      method: "POST",
      body: JSON.stringify({ entries: [{ key: "pre:1", value: "overwritten" }] }),
    });
    assert.equal(put.status, 401);
    await put.arrayBuffer();
    const ok = await fetch(url, { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    // Probes stay open for load balancers and Prometheus.
    const health = await fetch(guard.master.url("/healthz"));
    assert.equal(health.status, 200);
    await health.arrayBuffer();
    await guard.check("HTTP requests without the secret");
  });

  for (const targetName of ["master", "auxiliary a1"]) {
    it(`the ${targetName} answers NOAUTH to commands before AUTH and serves after it`, async () => {
      const port = guard.target(targetName).port;
      const before = await exchange(
        port,
        "GET pre:1\r\nSET pre:1 overwritten\r\nDEL pre:2\r\nQUIT\r\n",
      );
      assert.equal(
        before.data.toString(),
        "-NOAUTH Authentication required.\r\n".repeat(3) + "+OK\r\n",
      );
      const after = await exchange(port, `AUTH ${SECRET}\r\nPING\r\nQUIT\r\n`);
      assert.equal(after.data.toString(), "+OK\r\n+PONG\r\n+OK\r\n");
      await guard.check(`commands before AUTH to the ${targetName}`);
    });

    it(`the ${targetName} answers each wrong secret later than the last`, async () => {
      const port = guard.target(targetName).port;
      const started = performance.now();
      const wrong = 8;
      const got = await exchange(
        port,
        `${"AUTH wrong\r\n".repeat(wrong)}AUTH ${SECRET}\r\nPING\r\nQUIT\r\n`,
        5000,
      );
      const took = performance.now() - started;
      assert.equal(
        got.data.toString(),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n".repeat(wrong) +
          "+OK\r\n+PONG\r\n+OK\r\n",
      );
      // The n-th failure is answered after n x 100 ms: the eighth after 800 ms.
      assert.ok(took >= 750, `${wrong} wrong secrets answered in ${took.toFixed(0)} ms`);
      await guard.check(`wrong secrets to the ${targetName}`);
    });
  }
});

describe("a non-loopback bind without a secret", () => {
  for (const role of ["master", "auxiliary"]) {
    it(`the ${role} refuses to start, naming the fix`, async () => {
      const result = await runCli([
        role,
        ...["--id", "x1", "--host", "0.0.0.0", "--port", "0", "--http-port", "0"],
        ...["--data-dir", "/nonexistent/never-created"],
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /refusing to bind 0\.0\.0\.0 \(not loopback\) without --secret/);
    });
  }
});

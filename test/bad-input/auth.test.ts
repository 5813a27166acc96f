// Authentication: commands before AUTH, wrong secrets (answered later each time, counted per
// client address, so reconnecting keeps the delay; RESP AUTH and the master's HTTP Bearer token
// share the count), and a node that would bind a non-loopback address without a secret refusing
// to start.
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

    it(`the ${targetName} answers each wrong secret later, counted per client address`, async () => {
      const port = guard.target(targetName).port;
      const wrong = 4;
      const got = await exchange(
        port,
        `${"AUTH wrong\r\n".repeat(wrong)}AUTH ${SECRET}\r\nPING\r\nQUIT\r\n`,
        10_000,
      );
      assert.equal(
        got.data.toString(),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n".repeat(wrong) +
          "+OK\r\n+PONG\r\n+OK\r\n",
      );
      // A new connection from the same address starts where the last one left: its first
      // wrong secret is at least the fifth of this address (answered after >= 5 x 100 ms),
      // not a first one (100 ms). HELLO's AUTH option counts the same.
      for (const command of ["AUTH wrong", "HELLO 2 AUTH default wrong"]) {
        const started = performance.now();
        const again = await exchange(port, `${command}\r\nQUIT\r\n`, 10_000);
        const took = performance.now() - started;
        assert.match(again.data.toString(), /^-WRONGPASS .*\r\n\+OK\r\n$/);
        assert.ok(
          took >= (wrong + 1) * 100 - 20,
          `${command} answered after ${took.toFixed(0)} ms`,
        );
      }
      await guard.check(`wrong secrets to the ${targetName}`);
    });
  }

  it("the master answers a wrong HTTP Bearer secret late, counted with its RESP AUTH failures", async () => {
    const started = performance.now();
    const wrong = await fetch(guard.master.url("/v1/keys/pre%3A1"), {
      headers: { authorization: "Bearer still-wrong" },
    });
    const took = performance.now() - started;
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, "WRONG_PASS");
    // At least the eighth failure of this address on the master (one Bearer, six AUTH above).
    assert.ok(took >= 700 - 20, `answered after ${took.toFixed(0)} ms`);
    const ok = await fetch(guard.master.url("/v1/keys/pre%3A1"), {
      headers: { authorization: `Bearer ${SECRET}` },
    });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
    await guard.check("a wrong HTTP Bearer secret");
  });
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

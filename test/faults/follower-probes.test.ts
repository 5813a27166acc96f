// A follower master's own probes take a node for down while the leader keeps it in the ring
// (the follower's probes are quicker to give up: the same thing happens when only one master's
// requests time out under load). The follower must not let the node fall behind: a write it
// acknowledges is on the node (it holds writes until every owner the ring counts applied them,
// docs/design.md, "Acknowledging a write"), so once its probes see the node up again, reads it
// sends there return nothing older than what it acknowledged meanwhile.
//
//   m1 (leader: 10 failures of 200 ms)    m2 (follower: 2 failures of 50 ms, 100 ms timeout)
//   writers over m2 ──► SIGSTOP a1 ──► m2 sees a1 down, m1 does not ──► SIGCONT a1
//                   ──► m2 sees a1 up ──► every key read through both masters
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { MasterHandle, TestCluster } from "../helpers/cluster.js";
import { freePorts } from "../helpers/ports.js";
import { NodeProcess } from "../helpers/process.js";
import { recoveryView } from "../helpers/recovery.js";
import { RespTestClient } from "../helpers/resp-client.js";
import { sleep, waitFor } from "../helpers/wait.js";

const KEYS = 200;
const WRITERS = 4;

describe("a node down to the follower's probes only", () => {
  let cluster: TestCluster;
  let m2: MasterHandle;

  before(async () => {
    const [port, httpPort] = (await freePorts(2)) as [number, number];
    cluster = await TestCluster.start({
      masters: 1,
      auxiliary: 2,
      replicas: 2,
      healthInterval: "200ms",
      healthFailures: 10,
      requestTimeout: "1s",
      masterArgs: ["--peers", `m2=127.0.0.1:${httpPort}`],
    });
    const m1 = cluster.master(0);
    const proc = new NodeProcess(
      "master-m2",
      [
        "master",
        ...["--id", "m2", "--host", "127.0.0.1", "--port", String(port)],
        ...["--http-port", String(httpPort), "--data-dir", join(cluster.dir, "m2")],
        ...["--replicas", "2", "--health-interval", "50ms", "--health-failures", "2"],
        ...["--request-timeout", "100ms"],
        ...["--auxiliary", cluster.auxiliaries.map((a) => `${a.id}=127.0.0.1:${a.port}`).join(",")],
        ...["--peers", `m1=127.0.0.1:${m1.httpPort}`],
      ],
      cluster.dir,
    );
    m2 = new MasterHandle("m2", port, httpPort, proc);
    proc.start();
    await m2.waitReady();
    await waitFor("m2 to route by m1's ring of both nodes", async () => {
      const v = await recoveryView(m2);
      return v.leader === "m1" && v.nodes.filter((n) => n.share > 0).length === 2;
    });
  });
  after(async () => {
    await m2.process.terminate(5000);
    await cluster.stop();
  });

  it("sends the node the writes it acknowledges meanwhile, so it serves none older", async () => {
    const [m1, a1] = [cluster.master(0), cluster.aux(0)];
    // The last value acknowledged per key; values are increasing numbers.
    const acked = new Map<string, number>();
    let seq = 0;
    let writing = true;
    let downSince = Infinity;
    let upAgainAt = Infinity;
    let writesWhileDown = 0;
    /** Writes in flight at some moment while m2 saw a1 down (held ones among them). */
    let inFlightWhileDown = 0;
    const clients = await Promise.all(
      Array.from({ length: WRITERS }, () => RespTestClient.connect(m2.port)),
    );
    const writers = clients.map(async (client, w) => {
      while (writing) {
        const key = `fp:${(seq % (KEYS / WRITERS)) * WRITERS + w}`;
        const value = ++seq;
        const startedAt = performance.now();
        const reply = await client.call("SET", key, String(value));
        if (startedAt < upAgainAt && performance.now() > downSince) inFlightWhileDown++;
        if (reply !== "OK") continue;
        if (value > (acked.get(key) ?? 0)) acked.set(key, value);
        const now = performance.now();
        if (now > downSince && now < upAgainAt) writesWhileDown++;
      }
    });

    try {
      await sleep(200);
      a1.process.pause();
      try {
        await waitFor(
          "m2 to see a1 down",
          async () =>
            (await recoveryView(m2)).nodes.some((n) => n.id === "a1" && n.state === "down"),
          { timeoutMs: 5000, intervalMs: 10 },
        );
        downSince = performance.now();
        await sleep(300);
      } finally {
        a1.process.resume();
      }
      const leader = await recoveryView(m1);
      assert.ok(
        leader.nodes.some((n) => n.id === "a1" && n.share > 0),
        "m1 took a1 out of the ring: the pause was too long for this machine",
      );
      await waitFor(
        "m2 to see a1 up again",
        async () => (await recoveryView(m2)).nodes.some((n) => n.id === "a1" && n.state === "up"),
        { timeoutMs: 5000, intervalMs: 10 },
      );
      upAgainAt = performance.now();
      await sleep(200);
    } finally {
      writing = false;
      await Promise.all(writers);
    }
    assert.ok(inFlightWhileDown > 0, "no write was under way while m2 saw a1 down");
    // Every acknowledged write is on a1 itself (both nodes own every key).
    const direct = await RespTestClient.connect(a1.port);
    const behind: string[] = [];
    try {
      for (const [key, value] of acked) {
        const got = Number(String(await direct.call("GET", key)));
        if (!(got >= value)) behind.push(`${key} on a1: ${got}, acknowledged ${value}`);
      }
    } finally {
      direct.close();
    }
    assert.deepEqual(behind.slice(0, 10), [], `${behind.length} acknowledged writes not on a1`);

    const stale: string[] = [];
    for (const [name, master] of [
      ["m1", m1],
      ["m2", m2],
    ] as const) {
      const reader = clients[0] as RespTestClient;
      const via = master === m2 ? reader : await RespTestClient.connect(master.port);
      try {
        for (const [key, value] of acked) {
          const got = Number(String(await via.call("GET", key)));
          if (!(got >= value)) stale.push(`${key} via ${name}: ${got}, acknowledged ${value}`);
        }
      } finally {
        if (via !== reader) via.close();
      }
    }
    for (const c of clients) c.close();
    console.log(
      `[follower probes] ${seq} writes, ${inFlightWhileDown} under way and ${writesWhileDown} ` +
        `acknowledged while m2 saw a1 down; ` +
        `${stale.length} stale reads of ${acked.size * 2}`,
    );
    assert.deepEqual(stale.slice(0, 10), [], `${stale.length} stale reads`);
  });
});

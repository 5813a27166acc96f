// Two masters disagree on the leader for a moment: the lower id (the leader) is frozen with
// SIGSTOP long enough that the other takes over and publishes its own ring generation, then
// thawed. The masters must end up routing by the leader's generation again at once, not keep
// the newer-numbered generation the follower published while it led.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TestCluster } from "../helpers/cluster.js";
import { recoveryView } from "../helpers/recovery.js";
import { sleep, waitFor } from "../helpers/wait.js";

describe("a leader frozen and thawed", () => {
  let cluster: TestCluster;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 2,
      replicas: 2,
      healthInterval: "200ms",
      requestTimeout: "1s",
    });
  });
  after(async () => {
    await cluster.stop();
  });

  it("leads again, and both masters route by its generation", async () => {
    const [m1, m2] = [cluster.master(0), cluster.master(1)];
    const agreed = async (): Promise<number | false> => {
      const [v1, v2] = [await recoveryView(m1), await recoveryView(m2)];
      const g1 = v1.coordination?.generation ?? null;
      const g2 = v2.coordination?.generation ?? null;
      return v1.leader === "m1" && v2.leader === "m1" && g1 !== null && g1 === g2 ? g1 : false;
    };
    const first = await waitFor("both masters on m1's generation", agreed);

    m1.process.pause();
    try {
      await waitFor(
        "m2 to lead and publish its own generation",
        async () => {
          const v2 = await recoveryView(m2);
          return v2.leader === "m2" && (v2.coordination?.generation ?? 0) > first;
        },
        { timeoutMs: 10_000 },
      );
      await sleep(300);
    } finally {
      m1.process.resume();
    }
    const since = performance.now();
    const again = await waitFor("both masters back on one generation of m1's", agreed, {
      timeoutMs: 5000,
    });
    assert.ok(again > first, "m1 published a new generation");
    console.log(
      `[coordination] back on the leader's generation ${Math.round(performance.now() - since)} ms after SIGCONT`,
    );
  });
});

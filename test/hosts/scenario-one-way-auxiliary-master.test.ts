// Scenario f, across hosts: a one-way partition. Every packet from auxiliary node a1 to master
// m2 is dropped for 6 s while the packets from m2 to a1 still pass, then the drop heals. Two
// masters (m1 leads), three auxiliary nodes, R=2, built-in coordination, each process on its
// own host; every writer sends each operation to the next master in turn.
//
// m2's requests reach a1 and a1 applies them, but no answer comes back: to m2, a1 is as good as
// gone (its probes and requests time out, new connections never complete), while m1 reaches
// it. So, as when the link is cut both ways (scenario a), m2 holds its writes of a1's keys,
// asks the leader, and answers TRYAGAIN when m1 keeps a1
// (docs/design.md, "Acknowledging a write"); those writes did reach a1 and the other owner, which a TRYAGAIN allows. The pass
// rule: docs/design.md, "Invariants the tests hold".
import { describe, it } from "node:test";
import { hostSetup, HostRun, type NodeFaultTimes } from "../helpers/hosts/scenario.js";
import { skipUnlessRoot } from "../helpers/tools.js";

const skip = skipUnlessRoot("ip", "iptables");
const DROP_MS = 6000;

describe("scenario f: packets from a1 to m2 dropped for 6 s, one way", { skip }, () => {
  const setup = hostSetup({ masters: 2, auxiliary: 3, replicas: 2 });

  it("loses no acknowledged write and serves no stale read through either master", async () => {
    const { net, cluster } = setup();
    const a1 = cluster.aux("a1").host;
    const m2 = cluster.master("m2").host;
    const run = HostRun.start(cluster);
    let times: NodeFaultTimes;
    try {
      times = await run.nodeFault({
        master: "m2",
        node: "a1",
        fault: () => net.dropOneWay(a1, m2),
        heal: () => net.heal(a1, m2),
        ms: DROP_MS,
      });
    } finally {
      await run.stop();
    }
    const report = await run.verify();
    console.log(run.figures("scenario f", report, run.nodeFaultFigures(times)));
    await run.assertInvariants(report);
    run.assertNodeLostByOnly(times);
  });
});

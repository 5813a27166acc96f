// Scenario f, across hosts: a one-way partition. Every packet from auxiliary node a1 to master
// m2 is dropped for 6 s while the packets from m2 to a1 still pass, then the drop heals. Two
// masters (m1 leads), three auxiliary nodes, R=2, built-in coordination, each process on its
// own host; every writer sends each operation to the next master in turn.
//
// m2's requests reach a1 and a1 applies them, but no answer comes back: to m2, a1 is as good as
// gone (its probes and requests time out, new connections never complete), while m1 reaches
// it. So, as when the link is cut both ways (scenario a), m2 holds its writes of a1's keys,
// asks the leader, and answers TRYAGAIN when m1 keeps a1
// (docs/design.md, "Acknowledging a write"); those writes did reach a1 and the other owner,
// which a TRYAGAIN allows. The pass rule: docs/design.md, "Invariants the tests hold".
import { describeNodeLostByOneMaster } from "../helpers/hosts/scenario.js";

const DROP_MS = 6000;

describeNodeLostByOneMaster({
  title: "scenario f: packets from a1 to m2 dropped for 6 s, one way",
  label: "scenario f",
  ms: DROP_MS,
  fault: (net, m2, a1) => net.dropOneWay(a1, m2),
  heal: (net, m2, a1) => net.heal(a1, m2),
});

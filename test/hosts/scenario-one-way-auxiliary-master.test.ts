// Scenario f, across hosts: a one-way partition. Every packet from auxiliary node a1 to the
// following master is dropped for 6 s while the packets from that master to a1 still pass,
// then the drop heals. Two masters, three auxiliary nodes, R=2, each process on its own host,
// run once with built-in coordination (m2 follows) and once through etcd (the master whose
// lease came second follows); every writer sends each operation to the next master in turn.
//
// The follower's requests reach a1 and a1 applies them, but no answer comes back: to it, a1 is
// as good as gone (its probes and requests time out, new connections never complete), while
// the leader reaches it. So, as when the link is cut both ways (scenario a), the follower
// holds its writes of a1's keys, asks the leader, and answers TRYAGAIN when the leader keeps
// a1 (docs/design.md, "Acknowledging a write"); those writes did reach a1 and the other
// owner, which a TRYAGAIN allows. The pass rule: docs/design.md, "Invariants the tests hold".
import { describeNodeLostByOneMaster } from "../helpers/hosts/scenario.js";

const DROP_MS = 6000;

describeNodeLostByOneMaster({
  title: "scenario f: packets from a1 to the follower dropped for 6 s, one way",
  label: "scenario f",
  ms: DROP_MS,
  fault: (net, follower, a1) => net.dropOneWay(a1, follower),
  heal: (net, follower, a1) => net.heal(a1, follower),
});

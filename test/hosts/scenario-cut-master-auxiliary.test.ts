// Scenario a, across hosts: one master cut from one auxiliary node while the other master still
// reaches it. Two masters, three auxiliary nodes, R=2, each process on its own host, run once
// with built-in coordination and once through etcd; the master cut from a1 is the follower (m2
// under built-in; through etcd, whichever master's lease came second). Every writer sends each
// operation to the next master in turn, so a key written through one master is read through
// the other. After a warm-up, every packet between the follower and a1 is dropped for 6 s,
// then the cut heals; once the masters settle, every key is read back through both masters.
//
// The pass rule is that of docs/design.md, "Invariants the tests hold": 0 lost writes, 0 stale
// reads, 0 resurrected deletes. What keeps reads fresh here is the rule of
// docs/design.md, "Acknowledging a write": a write is acknowledged only when every owner of the
// key applied it, so the follower's writes of keys a1 owns wait for a1, or fail as TRYAGAIN
// (counted as indeterminate).
import { describeNodeLostByOneMaster } from "../helpers/hosts/scenario.js";

const CUT_MS = 6000;

describeNodeLostByOneMaster({
  title: "scenario a: the follower cut from a1 for 6 s while the leader still reaches it",
  label: "scenario a",
  ms: CUT_MS,
  fault: (net, follower, a1) => net.cut(follower, a1),
  heal: (net, follower, a1) => net.heal(follower, a1),
});

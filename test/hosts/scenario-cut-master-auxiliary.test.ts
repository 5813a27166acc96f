// Scenario a, across hosts: one master cut from one auxiliary node while the other master still
// reaches it. Two masters (m1 leads), three auxiliary nodes, R=2, built-in coordination, each
// process on its own host. Every writer sends each operation to the next master in turn, so a
// key written through m2 is read through m1 and the other way round. After a warm-up, every
// packet between m2 and a1 is dropped for 6 s, then the cut heals; once the masters settle,
// every key is read back through both masters.
//
// The pass rule is that of docs/design.md, "Invariants the tests hold": 0 lost writes, 0 stale
// reads, 0 resurrected deletes. What keeps reads fresh here is the rule of
// docs/design.md, "Acknowledging a write": a write is acknowledged only when every owner of the
// key applied it, so m2's writes of keys a1 owns wait for a1, or fail as TRYAGAIN (counted as
// indeterminate).
import { describeNodeLostByOneMaster } from "../helpers/hosts/scenario.js";

const CUT_MS = 6000;

describeNodeLostByOneMaster({
  title: "scenario a: m2 cut from a1 for 6 s while m1 still reaches it",
  label: "scenario a",
  ms: CUT_MS,
  fault: (net, m2, a1) => net.cut(m2, a1),
  heal: (net, m2, a1) => net.heal(m2, a1),
});

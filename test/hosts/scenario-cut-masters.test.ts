// Scenario e, across hosts, with the built-in coordination: the masters cut from each other
// (test/hosts/cut-masters.ts; the etcd variant is scenario-cut-masters-etcd.test.ts).
import { describeCutMasters } from "./cut-masters.js";

describeCutMasters("builtin");

// Scenario e, across hosts, with coordination through etcd: the masters cut from each other
// (test/hosts/cut-masters.ts); skipped where the master does not take --coordination etcd.
import { describeCutMasters } from "./cut-masters.js";

describeCutMasters("etcd");

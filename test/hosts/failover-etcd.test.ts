// Leader failover across hosts, with coordination through etcd: how long after the leader is
// gone another master leads, when the leader is killed with -9 and when it is cut from the
// other masters and from etcd (it still reaches the nodes). Three masters, three auxiliary
// nodes, three etcd members, each on its own host, a 2 s lease and a 200 ms health interval.
// Times run from the kill or the first rule of the cut to the successor's log line saying it
// leads (one machine, one clock).
//
//   RINGCACHE_FAILOVER_ROUNDS=10 node --test dist/test/hosts/failover-etcd.test.js
//
// runs 10 rounds of each (the figures in docs/reliability.md, "Across hosts"); the suite runs 1.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { HostMaster } from "../helpers/hosts/cluster.js";
import {
  agreedLeader,
  cutFromMastersAndEtcd,
  hostSetup,
  nextLeader,
  oneLeaderOneRing,
  skipFor,
} from "../helpers/hosts/scenario.js";
import { ledAt, medianAndWorst } from "../helpers/leader.js";
import { recoveryView } from "../helpers/recovery.js";
import { underLoad } from "../helpers/wait.js";

const TTL_MS = 2000;
const INTERVAL_MS = 200;
const ROUNDS = Number(process.env["RINGCACHE_FAILOVER_ROUNDS"] ?? 1);

describe("leader failover across hosts (etcd)", { skip: skipFor("etcd") }, () => {
  const setup = hostSetup({
    masters: 3,
    auxiliary: 3,
    replicas: 2,
    etcd: true,
    leaseTtl: `${TTL_MS / 1000}s`,
    healthInterval: `${INTERVAL_MS}ms`,
  });

  it(`another master leads within the lease after a kill -9 and a partition (${ROUNDS} of each)`, async () => {
    const { net, cluster } = setup();
    const times = { "kill -9": [] as number[], partition: [] as number[] };
    /** One failover: the leader struck at a Unix ms time, then back as a follower. */
    const round = async (
      strike: (leader: HostMaster) => Promise<void>,
      back: (leader: HostMaster) => Promise<void>,
    ): Promise<number> => {
      const leader = await agreedLeader(cluster.masters);
      const term = (await recoveryView(leader)).coordination?.term ?? 0;
      const others = cluster.masters.filter((m) => m !== leader);
      const at = Date.now();
      await strike(leader);
      const next = await nextLeader(others, leader.id);
      const led = await ledAt(cluster.master(next.id), next.id, at);
      assert.ok(next.term > term, `term ${next.term} after ${term}`);
      await back(leader);
      await oneLeaderOneRing(cluster.masters);
      return led - at;
    };
    for (let i = 0; i < ROUNDS; i++) {
      times["kill -9"].push(
        await round(
          (l) => l.kill9().then(() => undefined),
          (l) => l.restart(),
        ),
      );
      times.partition.push(
        await round(
          (l) => cutFromMastersAndEtcd(net, cluster, l),
          () => net.healAll(),
        ),
      );
    }
    for (const [fault, ms] of Object.entries(times)) {
      console.log(
        `[failover (etcd)] ${fault} of the leader, TTL ${TTL_MS} ms, interval ${INTERVAL_MS} ms, ` +
          `${ms.length} rounds: ${medianAndWorst(ms)}`,
      );
      // The lease lives a TTL after its last renewal, etcd sweeps expired leases every 500 ms,
      // and the successor assesses every interval; stretched for a loaded machine.
      for (const t of ms)
        assert.ok(t <= underLoad(TTL_MS + 500 + INTERVAL_MS), `${fault}: ${t} ms`);
    }
  });
});

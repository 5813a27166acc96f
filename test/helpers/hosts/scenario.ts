// What the fault scenarios across hosts share: the checker's workload through every master in
// turn, each master's view of the cluster sampled through the run, and the figures each
// scenario prints and the invariants it asserts (docs/reliability.md, "Across hosts").
//
//   const setup = hostSetup({ masters: 2, auxiliary: 3, replicas: 2 });   inside a describe
//   const { net, cluster } = setup();        inside its test
//   const run = HostRun.start(cluster);      12 writers, each sending to the next master in turn
//   try {
//     await sleep(WARM_UP_MS);
//     const cutAt = performance.now(); await net.cut(…);
//     await run.views.waitFor("m2 to take a1 down", "m2", (v) => nodeState(v, "a1") === "down");
//     … heal …; run.mark("by the heal"); await run.settle("heal to settled");
//   } finally {
//     await run.stop();                      the writers and the sampling end whatever failed
//   }
//   const report = await run.verify();       every key read back through every master
//   console.log(run.figures("scenario x", report, { … }));
//   await run.assertInvariants(report);
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import type { Checker, CheckerReport, KvClient } from "../checker.js";
import { BIN, REPO_ROOT } from "../process.js";
import { skipUnless, skipUnlessRoot } from "../tools.js";
import { recoveryView, type RecoveryView } from "../recovery.js";
import { kvOverRedis } from "../redis-client.js";
import { sleep, waitFor } from "../wait.js";
import { diagnosis, figures, Recorder, scenarioChecker, WRITERS } from "../../faults/load.js";
import { HostCluster, type HostClusterOptions, type HostMaster } from "./cluster.js";
import { EtcdCluster } from "./etcd.js";
import { TestNetwork, type Host } from "./network.js";

/** Load before the fault, so that every key has a history when it strikes. */
export const WARM_UP_MS = 3000;
/** Load after the cluster settled, judged by the same checker. */
export const AFTER_MS = 2000;

export interface HostSetup {
  readonly net: TestNetwork;
  readonly cluster: HostCluster;
}

/**
 * Inside a describe: before its tests, a test network and a cluster on it (coordinating through
 * an etcd cluster on the same network with `etcd: true`); after them, all stopped and removed.
 * Returns what the tests use, once the before hook has run.
 */
export function hostSetup(
  options: Omit<HostClusterOptions, "etcd"> & { readonly etcd?: boolean },
): () => HostSetup {
  let net: TestNetwork | undefined;
  let etcd: EtcdCluster | undefined;
  let cluster: HostCluster | undefined;
  before(async () => {
    net = await TestNetwork.create();
    if (options.etcd === true) etcd = await EtcdCluster.start(net);
    const { etcd: _, ...rest } = options;
    cluster = await HostCluster.start(net, { ...rest, ...(etcd === undefined ? {} : { etcd }) });
  });
  after(async () => {
    await cluster?.stop();
    await etcd?.stop();
    await net?.remove();
  });
  return () => {
    if (net === undefined || cluster === undefined) throw new Error("the hosts are not up");
    return { net, cluster };
  };
}

/** The state master view `v` gives node `id` (up, suspect, down; "absent": unknown to it). */
export function nodeState(v: RecoveryView, id: string): string {
  return v.nodes.find((n) => n.id === id)?.state ?? "absent";
}

/** Whether node `id` is a member of the ring master view `v` routes by. */
export function inRing(v: RecoveryView, id: string): boolean {
  return v.nodes.some((n) => n.id === id && n.share > 0);
}

/** Milliseconds from `from` to `t` for a figure, or "never". */
export function since(t: number | undefined, from: number): string {
  return t === undefined ? "never" : (t - from).toFixed(0);
}

let coordinationFlag: boolean | undefined;

/**
 * Whether this build's master takes `--coordination` (coordination through etcd). Asked once,
 * of `ringcache master --help`.
 */
export function masterTakesCoordination(): boolean {
  if (coordinationFlag === undefined) {
    const help = execFileSync(process.execPath, [BIN, "master", "--help"], {
      cwd: REPO_ROOT,
      encoding: "utf8",
    });
    coordinationFlag = help.includes("--coordination");
  }
  return coordinationFlag;
}

/** How the masters of a scenario agree (docs/design.md, "The leader and ring generations"). */
export type Coordination = "builtin" | "etcd";

/** Why a scenario under `coordination` cannot run here, or false. */
export function skipFor(coordination: Coordination): string | false {
  const hosts = skipUnlessRoot("ip", "iptables");
  if (hosts !== false || coordination === "builtin") return hosts;
  if (!masterTakesCoordination()) return "needs --coordination etcd";
  return skipUnless("etcd");
}

export const leaderOf = (v: RecoveryView): string => v.leader ?? "none";
export const generationOf = (v: RecoveryView): string =>
  String(v.coordination?.generation ?? "none");

/**
 * Waits until, in one round of views, every master names one leader and routes by one epoch
 * and one published generation; returns that round's views (in the order of `masters`).
 */
export function oneLeaderOneRing(
  masters: readonly HostMaster[],
  timeoutMs = 20_000,
): Promise<RecoveryView[]> {
  return waitFor(
    "every master to name one leader and route by one generation",
    async () => {
      const views = await Promise.all(masters.map((m) => recoveryView(m)));
      const first = views[0] as RecoveryView;
      const one = views.every(
        (v) =>
          v.leader !== null &&
          v.leader === first.leader &&
          v.epoch === first.epoch &&
          generationOf(v) === generationOf(first),
      );
      return one ? views : undefined;
    },
    { timeoutMs, intervalMs: 20 },
  );
}

/** The master every master names as leader, once they agree. */
export async function agreedLeader(masters: readonly HostMaster[]): Promise<HostMaster> {
  const [v] = await oneLeaderOneRing(masters);
  const leader = masters.find((m) => m.id === v?.leader);
  if (leader === undefined) throw new Error(`the leader ${v?.leader} is no master here`);
  return leader;
}

/** Cuts master `leader` from every other master and every etcd member (not from the nodes). */
export async function cutFromMastersAndEtcd(
  net: TestNetwork,
  cluster: HostCluster,
  leader: HostMaster,
): Promise<void> {
  const etcd = cluster.options.etcd?.members.map((e) => e.host) ?? [];
  const others = cluster.masters.filter((m) => m !== leader).map((m) => m.host);
  for (const h of [...others, ...etcd]) await net.cut(leader.host, h);
}

/**
 * Waits until every master of `others` names one leader that is not `old`; returns it, with
 * the term they name (etcd).
 */
export function nextLeader(
  others: readonly HostMaster[],
  old: string,
): Promise<{ id: string; term: number }> {
  return waitFor(
    `a master other than ${old} to lead`,
    async () => {
      const vs = await Promise.all(others.map((m) => recoveryView(m)));
      const l = vs[0]?.leader;
      const one = l !== null && l !== undefined && l !== old && vs.every((v) => v.leader === l);
      return one ? { id: l, term: vs[0]?.coordination?.term ?? 0 } : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 20 },
  );
}

/**
 * A writer's client that sends each operation to the next master in turn, as a round-robin
 * balancer does: what one master wrote, the other reads.
 */
export function alternating(clients: readonly KvClient[], start: number): KvClient {
  let next = start;
  const pick = (): KvClient => clients[next++ % clients.length] as KvClient;
  return {
    set: (key, value) => pick().set(key, value),
    get: (key) => pick().get(key),
    del: (key) => pick().del(key),
  };
}

export interface ViewSample {
  /** performance.now() when the view came back. */
  readonly at: number;
  readonly master: string;
  readonly view: RecoveryView;
}

/** Each master's view of the cluster (GET /v1/cluster), sampled every 50 ms. */
export class ViewLog {
  readonly samples: ViewSample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(masters: readonly HostMaster[]) {
    this.loop = (async () => {
      while (this.running) {
        await Promise.all(
          masters.map(async (m) => {
            try {
              const view = await recoveryView(m);
              this.samples.push({ at: performance.now(), master: m.id, view });
            } catch {
              // A view that times out on a loaded machine (or a master cut off): the next tells.
            }
          }),
        );
        await sleep(50);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** The first time at or after `from` that a view of `master` met `test`. */
  first(master: string, test: (v: RecoveryView) => boolean, from = 0): number | undefined {
    return this.samples.find((s) => s.master === master && s.at >= from && test(s.view))?.at;
  }

  /** The distinct values `pick` gives of the views of `master` in [from, to), in order. */
  seen<T>(master: string, pick: (v: RecoveryView) => T, from = 0, to = Infinity): T[] {
    const values = this.samples
      .filter((s) => s.master === master && s.at >= from && s.at < to)
      .map((s) => pick(s.view));
    return [...new Set(values)];
  }

  /** Waits until a view of `master` sampled at or after `from` meets `test`; returns its time. */
  waitFor(
    what: string,
    master: string,
    test: (v: RecoveryView) => boolean,
    from = 0,
    timeoutMs = 20_000,
  ): Promise<number> {
    return waitFor(what, () => this.first(master, test, from), { timeoutMs, intervalMs: 20 });
  }
}

/** A fault that should cost one master one node (and no other master that node). */
export interface NodeFault {
  /** The master the fault separates from the node. */
  readonly master: string;
  readonly node: string;
  readonly fault: () => Promise<void>;
  readonly heal: () => Promise<void>;
  /** How long the fault lasts. */
  readonly ms: number;
}

/** When a NodeFault struck, healed and the cluster settled again (performance.now()). */
export interface NodeFaultTimes extends NodeFault {
  readonly faultAt: number;
  readonly healedAt: number;
  readonly settledAt: number;
}

/**
 * One scenario's run: the checker's writers through every master in turn, recorded, and the
 * masters' views sampled, from start() until stop().
 */
export class HostRun {
  readonly cluster: HostCluster;
  readonly recorder = new Recorder(0);
  readonly checker: Checker = scenarioChecker();
  readonly views: ViewLog;
  private readonly load: Promise<void>;
  /** Stale reads counted at the end of each phase, for the figure split by phase. */
  private readonly marks: { readonly phase: string; readonly stale: number }[] = [];
  private stopped: Promise<void> | undefined;

  private constructor(cluster: HostCluster) {
    this.cluster = cluster;
    const perMaster = cluster.masters.map((m) => this.recorder.wrap(kvOverRedis(cluster.redis(m))));
    const clients = Array.from({ length: WRITERS }, (_, w) => alternating(perMaster, w));
    this.load = this.checker.run(clients, 180_000);
    this.views = new ViewLog(cluster.masters);
  }

  static start(cluster: HostCluster): HostRun {
    return new HostRun(cluster);
  }

  /** Ends a phase of the run (e.g. "by the heal"): its stale reads are reported apart. */
  mark(phase: string): void {
    this.marks.push({ phase, stale: this.checker.report().staleReads });
  }

  /**
   * Load after the cluster settled at `settledAt`: AFTER_MS of it, and at least 500 operations
   * begun since then.
   */
  /**
   * Waits for the cluster to settle, marks the checker's phase up to then, and lets the load
   * run on after it (loadAfter); returns when it settled.
   */
  async settle(phase: string): Promise<number> {
    await this.cluster.settled();
    const settledAt = performance.now();
    this.mark(phase);
    await this.loadAfter(settledAt);
    return settledAt;
  }

  async loadAfter(settledAt: number): Promise<void> {
    await sleep(AFTER_MS);
    await waitFor(
      "500 operations after the cluster settled",
      () => this.recorder.opsBetween(settledAt, Infinity) > 500,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  /**
   * A NodeFault under load: warm-up, the fault for its time, the heal; then waits until the
   * master sees the node up again and the cluster settles, and runs the load after. Phases of
   * stale reads: by the heal, heal to settled, after.
   */
  async nodeFault(f: NodeFault): Promise<NodeFaultTimes> {
    await sleep(WARM_UP_MS);
    // Times count from the first of the fault's rules: it drops packets before the others are in.
    const faultAt = performance.now();
    await f.fault();
    await sleep(f.ms);
    await f.heal();
    const healedAt = performance.now();
    this.mark("by the heal");
    await this.views.waitFor(
      `${f.master} to see ${f.node} up again`,
      f.master,
      (v) => nodeState(v, f.node) === "up",
      healedAt,
    );
    await this.cluster.settled();
    const settledAt = performance.now();
    this.mark("heal to settled");
    await this.loadAfter(settledAt);
    return { ...f, faultAt, healedAt, settledAt };
  }

  /** The figures of a NodeFault: when the master lost the node and saw it again, the errors. */
  nodeFaultFigures(t: NodeFaultTimes): Record<string, string | number> {
    const state = (v: RecoveryView): string => nodeState(v, t.node);
    const { views } = this;
    const detected = views.first(t.master, (v) => state(v) !== "up", t.faultAt);
    const down = views.first(t.master, (v) => state(v) === "down", t.faultAt);
    const recovered = views.first(t.master, (v) => state(v) === "up", t.healedAt);
    const statesDuring = Object.fromEntries(
      this.cluster.masters.map((m) => [
        `${t.node} to ${m.id} during the fault`,
        views.seen(m.id, state, t.faultAt, t.healedAt).join("/"),
      ]),
    );
    return {
      [`time to detect (${t.master} takes ${t.node} suspect/down) ms`]: since(detected, t.faultAt),
      "to down ms": since(down, t.faultAt),
      [`time to recover (heal to ${t.master} sees ${t.node} up) ms`]: since(recovered, t.healedAt),
      "heal to settled ms": since(t.settledAt, t.healedAt),
      "errors during the fault": this.errorsBetween(t.faultAt, t.healedAt),
      "errors after the heal": this.recorder.errors.filter((e) => e.startedAt >= t.healedAt).length,
      "last error after the heal ms": this.lastErrorAfter(t.healedAt).toFixed(0),
      ...statesDuring,
    };
  }

  /** The fault was the one intended: its master lost the node, no other master did. */
  assertNodeLostByOnly(t: NodeFaultTimes): void {
    const state = (v: RecoveryView): string => nodeState(v, t.node);
    const lost = this.views.first(t.master, (v) => state(v) !== "up", t.faultAt);
    assert.ok(lost !== undefined && lost < t.healedAt, `${t.master} never saw ${t.node} fail`);
    for (const m of this.cluster.masters) {
      if (m.id === t.master) continue;
      const seen = this.views.seen(m.id, state, t.faultAt, t.healedAt);
      assert.deepEqual(seen, ["up"], `${m.id} lost ${t.node} too`);
    }
  }

  /** Stops the writers and the sampling; idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.checker.stop();
      await this.views.stop();
      await this.load;
      this.mark("after");
    })();
    return this.stopped;
  }

  /** Reads every key back through every master (after stop()); returns the checker's report. */
  async verify(): Promise<CheckerReport> {
    const c = this.cluster;
    await this.checker.verify(c.masters.map((m) => kvOverRedis(c.redis(m))));
    return this.checker.report();
  }

  /** Operations that failed and overlapped [from, to). */
  errorsBetween(from: number, to = Infinity): number {
    return this.recorder.errors.filter((e) => e.endedAt >= from && e.startedAt < to).length;
  }

  /** Milliseconds from `from` to the end of the last failed operation begun after it. */
  lastErrorAfter(from: number): number {
    return this.recorder.errors
      .filter((e) => e.startedAt >= from)
      .reduce((t, e) => Math.max(t, e.endedAt - from), 0);
  }

  /** Failed operations counted by kind: the reply up to its first colon, comma or bracket. */
  errorKinds(): string {
    const kinds = new Map<string, number>();
    for (const e of this.recorder.errors) {
      const kind = e.message.split(/[:(;,]/)[0]?.trim() ?? e.message;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    return JSON.stringify(Object.fromEntries(kinds));
  }

  /** The scenario's line of figures: the load's, the run's errors by kind and stale reads by phase. */
  figures(name: string, report: CheckerReport, extra: Record<string, string | number>): string {
    const phases = this.marks.map((m) => m.phase).join("/");
    const stale = this.marks.map((m, i) => m.stale - (this.marks[i - 1]?.stale ?? 0)).join("/");
    return figures(name, report, this.recorder, {
      ...extra,
      "error kinds": this.errorKinds(),
      [`stale reads (${phases})`]: stale,
    });
  }

  /**
   * The invariants of docs/design.md, "Invariants the tests hold": nothing lost, stale,
   * resurrected, invented or corrupt, under enough load to tell. A violation comes with each
   * master's routing state and counters.
   */
  async assertInvariants(report: CheckerReport): Promise<void> {
    const violations =
      report.lostWrites +
      report.staleReads +
      report.resurrected +
      report.phantoms +
      report.checksumFailures;
    const detail =
      violations === 0 ? "" : `${report.examples.join("\n")}\n${await diagnosis(this.cluster)}`;
    assert.ok(report.writes.ok > 500 && report.reads.ok > 500, "too little load ran");
    assert.equal(report.lostWrites, 0, `lost writes\n${detail}`);
    assert.equal(report.staleReads, 0, `stale reads\n${detail}`);
    assert.equal(report.resurrected, 0, `resurrected deletes\n${detail}`);
    assert.equal(report.phantoms + report.checksumFailures, 0, `phantoms or corruption\n${detail}`);
  }
}

/** Both coordinations, each scenario file runs its steps under each in turn. */
export const COORDINATIONS: readonly Coordination[] = ["builtin", "etcd"];

/**
 * A scenario in which the following master loses a1 while the leader still reaches it, under
 * the checker's load through both masters, run under each coordination in turn: `fault` goes
 * in after the warm-up and `heal` after `ms`; the pass rule is the invariants, and only the
 * follower may take a1 for lost (docs/design.md, "Acknowledging a write"). With built-in
 * coordination the follower is m2 (the lowest id leads); through etcd it is whichever master's
 * election key came second, so that the fault is the same one in both modes: a follower that
 * must ask the leader about a node it cannot reach.
 */
export function describeNodeLostByOneMaster(o: {
  readonly title: string;
  readonly label: string;
  readonly ms: number;
  readonly fault: (net: TestNetwork, follower: Host, a1: Host) => Promise<void>;
  readonly heal: (net: TestNetwork, follower: Host, a1: Host) => Promise<void>;
}): void {
  for (const coordination of COORDINATIONS) {
    describe(`${o.title} (${coordination})`, { skip: skipFor(coordination) }, () => {
      const setup = hostSetup({
        masters: 2,
        auxiliary: 3,
        replicas: 2,
        etcd: coordination === "etcd",
      });

      it("loses no acknowledged write and serves no stale read through either master", async () => {
        const { net, cluster } = setup();
        const leader = await agreedLeader(cluster.masters);
        const follower = cluster.masters.find((m) => m !== leader) as HostMaster;
        const a1 = cluster.aux("a1").host;
        const run = HostRun.start(cluster);
        let times: NodeFaultTimes;
        try {
          times = await run.nodeFault({
            master: follower.id,
            node: "a1",
            fault: () => o.fault(net, follower.host, a1),
            heal: () => o.heal(net, follower.host, a1),
            ms: o.ms,
          });
        } finally {
          await run.stop();
        }
        const report = await run.verify();
        console.log(
          run.figures(`${o.label} (${coordination})`, report, {
            leader: leader.id,
            ...run.nodeFaultFigures(times),
          }),
        );
        await run.assertInvariants(report);
        run.assertNodeLostByOnly(times);
        // The fault struck a follower: the leader stayed the leader throughout.
        for (const m of cluster.masters) {
          const named = run.views
            .seen(m.id, leaderOf, times.faultAt, times.settledAt)
            .filter((l) => l !== "none");
          assert.deepEqual(named, [leader.id], `${m.id} named another leader`);
        }
      });
    });
  }
}

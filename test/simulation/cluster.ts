// A whole cluster in one process: masters (their real routing, health checks, coordination and
// rebalancing: MasterCore), auxiliary nodes (a real Store and the real command handlers:
// LoopbackNode), the network between them (LoopbackTransport per master, and the peer links
// below), and a clock that moves only when the simulation says so (ManualScheduler).
//
//   clients ──► SimClient ──(delay)──► master's Router ──► LoopbackTransport ──► LoopbackNode
//                                          │   ▲ probes, moves       (cut, delay, drop, refuse)
//                                          ▼   │
//                 other masters ◄── SimPeerLink (state polls, ring pushes: cut, delay)
//
// Everything that happens is a callback of the one scheduler, run in time order; async code
// in between (the rebalancer, the coordinator) runs as microtasks, drained after each callback.
// The same seed gives the same run.
import { createLogger, type Logger } from "../../src/log.js";
import type { PeerLink, PeerState } from "../../src/master/coordination/builtin.js";
import type { PublishedMembership } from "../../src/master/coordination/coordination.js";
import { MasterCore, type MasterCoreConfig } from "../../src/master/core.js";
import { ManualScheduler } from "../../src/master/transport/scheduler.js";
import type { MemberAddress } from "../../src/config/fields.js";
import { LoopbackNode, LoopbackTransport } from "../../src/simulation/loopback.js";
import { ProcessScheduler } from "./process.js";

const HOST = "127.0.0.1";
const NODE_PORT = 7000;
const MASTER_PORT = 8000;

export interface SimConfig {
  readonly masters: number;
  readonly nodes: number;
  readonly replicas: number;
  readonly vnodes: number;
  readonly healthIntervalMs: number;
  readonly healthFailures: number;
  readonly requestTimeoutMs: number;
  readonly connectionsPerNode: number;
  readonly tombstoneTtlMs: number;
  /** One-way network delay, drawn per delivery between these bounds (ms). */
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Most skew of a master's wall clock from the shared one (ms). */
  readonly maxSkewMs: number;
}

export const DEFAULT_SIM: SimConfig = {
  masters: 2,
  nodes: 3,
  replicas: 2,
  vnodes: 32,
  healthIntervalMs: 100,
  healthFailures: 3,
  requestTimeoutMs: 300,
  connectionsPerNode: 2,
  tombstoneTtlMs: 60_000,
  minDelayMs: 0.05,
  maxDelayMs: 2,
  maxSkewMs: 50,
};

export class SimNode {
  readonly id: string;
  readonly port: number;
  /** The process serving the address; null while it is down. */
  node: LoopbackNode | null = null;
  /** Crashed (its memory is gone), or gracefully gone. */
  down = false;
  paused = false;

  constructor(id: string, port: number) {
    this.id = id;
    this.port = port;
  }

  get address(): MemberAddress {
    return { id: this.id, host: HOST, port: this.port };
  }
}

export class SimMaster {
  readonly id: string;
  readonly port: number;
  sched: ProcessScheduler;
  transport: LoopbackTransport;
  core: MasterCore;
  /** Starts once MasterCore.start() resolved. */
  ready = false;

  constructor(
    id: string,
    port: number,
    sched: ProcessScheduler,
    core: MasterCore,
    t: LoopbackTransport,
  ) {
    this.id = id;
    this.port = port;
    this.sched = sched;
    this.core = core;
    this.transport = t;
  }

  get alive(): boolean {
    return !this.sched.dead;
  }
}

export class SimCluster {
  readonly config: SimConfig;
  readonly base: ManualScheduler;
  readonly masters: SimMaster[] = [];
  readonly nodes: SimNode[] = [];
  /** Peer links cut, as "from>to". */
  readonly peerCuts = new Set<string>();
  /** What happened, in order, for a failure's report. */
  readonly trace: string[] = [];
  private readonly logger: Logger;
  private nextNode = 1;
  /** Who each master last took for the leader (for the trace). */
  private readonly leaders = new Map<string, string>();

  constructor(seed: number, config: SimConfig = DEFAULT_SIM) {
    this.config = config;
    this.base = new ManualScheduler(0, seed);
    this.logger = createLogger({ node: "simulation", role: "master", level: "silent" });
    for (let i = 0; i < config.nodes; i++) this.addNodeProcess();
    for (let i = 0; i < config.masters; i++) {
      const id = `m${i + 1}`;
      this.masters.push(this.buildMaster(id, MASTER_PORT + i, this.initialNodes()));
    }
  }

  note(event: string): void {
    this.trace.push(`${this.base.now().toFixed(1).padStart(8)} ms  ${event}`);
  }

  /** A delay drawn for one delivery. */
  delay(): number {
    const { minDelayMs, maxDelayMs } = this.config;
    return minDelayMs + this.base.random() * (maxDelayMs - minDelayMs);
  }

  master(id: string): SimMaster {
    const m = this.masters.find((x) => x.id === id);
    if (m === undefined) throw new Error(`no master ${id}`);
    return m;
  }

  node(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  liveMasters(): SimMaster[] {
    return this.masters.filter((m) => m.alive);
  }

  // --- the clock -------------------------------------------------------------------------------

  /**
   * Runs the simulation until `until` (scheduler ms) or until `done()` holds, draining
   * microtasks after every callback so async code runs where it would between two events.
   */
  async run(until: number, done?: () => boolean): Promise<void> {
    for (;;) {
      await drainMicrotasks();
      if (done?.() === true) return;
      if (this.base.nextAt > until) {
        if (this.base.now() < until) this.base.advance(until - this.base.now());
        await drainMicrotasks();
        return;
      }
      this.base.step();
    }
  }

  /** Runs until the promise settles (or `limitMs` more of simulated time passed). */
  async settle<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let settled = false;
    const tracked = promise.finally(() => (settled = true));
    await this.run(this.base.now() + limitMs, () => settled);
    if (!settled) throw new Error(`still waiting after ${limitMs} simulated ms`);
    return tracked;
  }

  async start(): Promise<void> {
    await this.settle(
      Promise.all(this.masters.map((m) => this.startMaster(m))),
      10 * this.config.healthIntervalMs,
    );
  }

  // --- masters ---------------------------------------------------------------------------------

  private initialNodes(): MemberAddress[] {
    return this.nodes.filter((n) => !n.down).map((n) => n.address);
  }

  private buildMaster(id: string, port: number, auxiliary: MemberAddress[]): SimMaster {
    const c = this.config;
    const skew = (this.base.random() * 2 - 1) * c.maxSkewMs;
    const sched = new ProcessScheduler(this.base, skew);
    const transport = new LoopbackTransport(sched);
    transport.jitterMs = c.maxDelayMs;
    for (const n of this.nodes) if (n.node !== null) transport.listen(HOST, n.port, n.node);
    const config: MasterCoreConfig = {
      id,
      auxiliary,
      peers: Array.from({ length: c.masters }, (_, i) => ({
        id: `m${i + 1}`,
        host: HOST,
        port: MASTER_PORT + i,
      })).filter((p) => p.id !== id),
      replicas: c.replicas,
      vnodes: c.vnodes,
      healthInterval: c.healthIntervalMs,
      healthFailures: c.healthFailures,
      requestTimeout: c.requestTimeoutMs,
      connectionsPerNode: c.connectionsPerNode,
      rebalanceShare: 100,
      tombstoneTtl: c.tombstoneTtlMs,
    };
    const core = new MasterCore({
      config,
      logger: this.logger,
      transport,
      peerLink: new SimPeerLink(this, id),
      backup: null,
    });
    core.membership.on("state", (node, from, to, reason) =>
      this.note(`${id} sees ${node} ${from} → ${to} (${reason})`),
    );
    core.topology.on("ring", (ring) =>
      this.note(
        `${id} routes by [${ring.members.map((r) => r.id).join(" ")}] (${core.topology.mode})`,
      ),
    );
    core.coordination.on("leadership", (leader) => {
      if (leader !== this.leaders.get(id)) this.note(`${id} takes ${leader} for the leader`);
      this.leaders.set(id, leader);
    });
    return new SimMaster(id, port, sched, core, transport);
  }

  private async startMaster(m: SimMaster): Promise<void> {
    await m.core.start();
    m.ready = true;
  }

  /**
   * kill -9 of a master: nothing of it runs again. Its clients' requests in flight must be
   * failed (as lost) before this: closing the dead master's connections below runs its code
   * one last time, and an answer it would give then never reaches a client of a killed process.
   */
  killMaster(id: string): void {
    const m = this.master(id);
    this.note(`kill -9 master ${id}`);
    m.sched.kill();
    m.core.stop();
  }

  /** A killed master starts again, empty-handed, with the same id. */
  restartMaster(id: string): Promise<void> {
    const i = this.masters.findIndex((x) => x.id === id);
    const old = this.masters[i] as SimMaster;
    this.note(`start master ${id} again`);
    const fresh = this.buildMaster(id, old.port, this.initialNodes());
    this.masters[i] = fresh;
    return this.startMaster(fresh);
  }

  pauseMaster(id: string): void {
    this.note(`SIGSTOP master ${id}`);
    this.master(id).sched.pause();
  }

  resumeMaster(id: string): void {
    this.note(`SIGCONT master ${id}`);
    this.master(id).sched.resume();
  }

  // --- auxiliary nodes -------------------------------------------------------------------------

  private addNodeProcess(): SimNode {
    const n = new SimNode(`a${this.nextNode}`, NODE_PORT + this.nextNode);
    this.nextNode++;
    n.node = this.newNodeProcess(n);
    this.nodes.push(n);
    return n;
  }

  private newNodeProcess(n: SimNode): LoopbackNode {
    const base = this.base;
    return new LoopbackNode({ id: n.id, now: () => base.wallNow(), logger: this.logger });
  }

  private eachTransport(f: (t: LoopbackTransport) => void): void {
    for (const m of this.masters) f(m.transport);
  }

  /** kill -9 of a node: its memory is gone, its port refuses. */
  crashNode(id: string): void {
    const n = this.node(id);
    this.note(`kill -9 node ${id}`);
    n.node = null;
    n.down = true;
    n.paused = false;
    this.eachTransport((t) => {
      t.resume(HOST, n.port);
      t.refuse(HOST, n.port, true);
    });
  }

  /** A crashed node starts again with an empty store (it had no snapshot). */
  restartNode(id: string): void {
    const n = this.node(id);
    this.note(`start node ${id} again, empty`);
    const node = this.newNodeProcess(n);
    n.node = node;
    n.down = false;
    this.eachTransport((t) => {
      t.listen(HOST, n.port, node);
      t.refuse(HOST, n.port, false);
    });
  }

  /** SIGSTOP of a node: every master's way to it holds everything until resumed. */
  pauseNode(id: string): void {
    const n = this.node(id);
    this.note(`SIGSTOP node ${id}`);
    n.paused = true;
    this.eachTransport((t) => t.pause(HOST, n.port));
  }

  resumeNode(id: string): void {
    const n = this.node(id);
    this.note(`SIGCONT node ${id}`);
    n.paused = false;
    this.eachTransport((t) => t.resume(HOST, n.port));
  }

  /** A new node starts and registers with every live master. */
  joinNode(): SimNode {
    const n = this.addNodeProcess();
    this.note(`node ${n.id} joins`);
    const node = n.node as LoopbackNode;
    for (const m of this.masters) {
      m.transport.listen(HOST, n.port, node);
      if (m.alive) m.core.membership.add(n.address, "registered");
    }
    return n;
  }

  /**
   * A graceful leave: the node tells every live master, which take it out of the ring; the
   * node goes away once the leader says its data is handed off (see leftNode()).
   */
  announceLeave(id: string): void {
    this.note(`node ${id} leaves gracefully`);
    for (const m of this.liveMasters()) m.core.coordinator.leave(id);
  }

  /** Whether every live master's leave() says the node's data is off it. */
  leaveDone(id: string): boolean {
    return this.liveMasters().every((m) => m.core.coordinator.leave(id).done);
  }

  // --- links -----------------------------------------------------------------------------------

  /** Cuts one master's way to one node: "to-node", "from-node" or "both". */
  cutLink(master: string, node: string, way: "to-node" | "from-node" | "both"): void {
    this.note(`cut ${master} ⇸ ${node} (${way})`);
    this.master(master).transport.cut(HOST, this.node(node).port, way);
  }

  healLink(master: string, node: string): void {
    this.note(`heal ${master} — ${node}`);
    this.master(master).transport.heal(HOST, this.node(node).port);
  }

  cutPeers(from: string, to: string): void {
    this.note(`cut peer link ${from} ⇸ ${to}`);
    this.peerCuts.add(`${from}>${to}`);
  }

  healPeers(): void {
    if (this.peerCuts.size > 0) this.note("heal every peer link");
    this.peerCuts.clear();
  }

  /** Runs `f` on master `to` after a network delay, unless the way there is cut. */
  deliver(from: string, to: SimMaster, f: () => void): void {
    if (this.peerCuts.has(`${from}>${to.id}`)) return;
    to.sched.schedule(this.delay(), f);
  }

  /** Heals every fault: links, pauses; crashed nodes stay down. */
  healAll(): void {
    this.note("heal everything");
    this.healPeers();
    for (const m of this.masters) {
      if (m.alive && m.sched.paused) this.resumeMaster(m.id);
      for (const n of this.nodes) m.transport.heal(HOST, n.port);
    }
    for (const n of this.nodes) if (n.paused) this.resumeNode(n.id);
  }

  // --- state -----------------------------------------------------------------------------------

  /**
   * Every live master routes by the same ring, the leader's rebalancer is idle and its ring
   * holds exactly the nodes that are up (and not leaving).
   */
  converged(): boolean {
    const live = this.liveMasters();
    if (live.length === 0 || live.some((m) => !m.ready || m.sched.paused)) return false;
    const epoch = (live[0] as SimMaster).core.topology.epoch;
    if (live.some((m) => m.core.topology.epoch !== epoch || m.core.topology.awaitingLeader)) {
      return false;
    }
    const leader = live.find((m) => m.core.coordinator.isLeader);
    if (leader === undefined || leader.core.rebalancer.busy) return false;
    if (live.some((m) => m.core.coordinator.leader !== leader.id)) return false;
    const up = this.nodes
      .filter((n) => !n.down && !leader.core.membership.leaving.has(n.id))
      .map((n) => n.id)
      .sort();
    const ring = leader.core.topology.ring.members.map((r) => r.id).sort();
    return up.length === ring.length && up.every((id, i) => id === ring[i]);
  }

  stop(): void {
    for (const m of this.masters) {
      if (!m.alive) continue;
      m.core.stop();
      m.sched.kill();
    }
  }
}

/** The peers' internal endpoints over the simulated network (see BuiltinCoordination). */
class SimPeerLink implements PeerLink {
  private readonly cluster: SimCluster;
  private readonly from: string;

  constructor(cluster: SimCluster, from: string) {
    this.cluster = cluster;
    this.from = from;
  }

  state(to: MemberAddress): Promise<PeerState> {
    return this.call(to, (m) => Promise.resolve(m.core.coordination.state()));
  }

  push(to: MemberAddress, body: string): Promise<void> {
    return this.call(to, (m) => m.core.takeMembership(JSON.parse(body) as PublishedMembership));
  }

  suspect(to: MemberAddress, node: string, from: string): Promise<void> {
    return this.call(to, (m) => {
      m.core.coordination.suspected(node, from);
      return Promise.resolve();
    });
  }

  /**
   * Runs `handle` on the peer and brings its answer back, or fails like the HTTP client: at
   * once when the peer is dead (refused), after the poll timeout when nothing comes back.
   */
  private call<T>(to: MemberAddress, handle: (m: SimMaster) => Promise<T>): Promise<T> {
    const cluster = this.cluster;
    const me = cluster.master(this.from);
    const sched = me.sched;
    const timeoutMs = Math.max(200, cluster.config.healthIntervalMs);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = sched.schedule(timeoutMs, () => {
        if (done) return;
        done = true;
        reject(new Error(`${to.id} did not answer within ${timeoutMs} ms`));
      });
      const target = cluster.masters.find((m) => m.id === to.id);
      const answer = (outcome: () => void): void => {
        if (target === undefined) return;
        cluster.deliver(target.id, me, () => {
          if (done) return;
          done = true;
          sched.cancel(timer);
          outcome();
        });
      };
      if (target === undefined || !target.alive) {
        sched.schedule(cluster.delay(), () => {
          if (done) return;
          done = true;
          sched.cancel(timer);
          reject(new Error(`${to.id} refused the connection`));
        });
        return;
      }
      cluster.deliver(this.from, target, () => {
        handle(target).then(
          (value) => answer(() => resolve(value)),
          (err: unknown) =>
            answer(() => reject(err instanceof Error ? err : new Error(String(err)))),
        );
      });
    });
  }
}

/** Lets every microtask queued so far (and those they queue) run. */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

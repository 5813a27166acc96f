// Coordination between masters: who leads, and which ring everyone routes by.
//
//   every health interval:  GET /v1/internal/state of each peer ─► observe its clock (HLC
//                           exchange), note its probes' view and its published membership
//   leader = the live master with the lowest id (live: answered within the last K polls)
//   leader:     its own probes decide the ring; each change is published as a new generation
//               (a clock version, so newer is greater whoever issued it) and pushed at once to
//               every peer (POST /v1/internal/membership); the rebalancer moves the data
//   non-leader: adopts the newest generation it sees, routes by its member list, and keeps the
//               ring before the move in progress for reads (`previous`); before the first one
//               arrives it routes by no ring (requests fail with a clear error)
//
// What must stay true:
// - A master routes by the newest generation it knows; a non-leader never decides a ring.
// - The window in which two rings coexist is one push round-trip; it is measured and exported.
//   A peer answers a push once its writes routed by older rings have ended (see Router.drained),
//   so that none of them lands after the move has copied its range.
// - Two leaders at once (a partition) only waste work: every move step is versioned.
import type { HybridClock } from "../clock/hlc.js";
import type { MemberAddress } from "../config/fields.js";
import type { Logger } from "../log.js";
import type { Membership } from "./membership.js";
import type { Rebalancer } from "./rebalancer.js";
import type { Topology } from "./topology.js";

/** The membership a leader publishes. */
export interface PublishedMembership {
  /** A clock version taken when the leader decided: a newer decision has a greater one. */
  readonly generation: number;
  readonly leader: string;
  readonly members: readonly {
    readonly id: string;
    readonly host: string;
    readonly port: number;
  }[];
  readonly epoch: string;
  /** Member ids of the rings whose move is not done, oldest first (empty: no move). */
  readonly sources: readonly (readonly string[])[];
}

/** GET /v1/internal/state. */
export interface PeerState {
  readonly id: string;
  readonly clock: number;
  readonly leader: string;
  /** This master's probes' view of each auxiliary node. */
  readonly nodes: Readonly<Record<string, string>>;
  readonly membership: PublishedMembership | null;
}

export interface CoordinatorOptions {
  readonly id: string;
  readonly peers: readonly MemberAddress[];
  readonly intervalMs: number;
  /** Polls a peer may miss and still be live. */
  readonly failures: number;
  readonly secret?: string | undefined;
  readonly logger: Logger;
}

export interface CoordinatorDeps {
  readonly clock: HybridClock;
  readonly membership: Membership;
  readonly topology: Topology;
  readonly rebalancer: Rebalancer;
  /** Runs once, the first time this master leads with nodes in its ring (backup replay). */
  readonly onFirstLead?: () => Promise<void>;
}

interface Peer {
  readonly address: MemberAddress;
  /** Consecutive polls without an answer. */
  missed: number;
  state: PeerState | null;
}

export class Coordinator {
  readonly options: CoordinatorOptions;
  private readonly deps: CoordinatorDeps;
  private readonly peers: Peer[];
  leader: string;
  published: PublishedMembership | null = null;
  /** How long the last push of a new generation took to reach every live peer (ms). */
  lastPropagationMs = 0;
  pushes = 0;
  pushFailures = 0;
  leaderChanges = 0;
  private timer: NodeJS.Timeout | null = null;
  private firstLeadDone = false;
  /** This master acts as the leader (its rebalancer moves data). */
  private leading = false;
  private polling = false;

  constructor(options: CoordinatorOptions, deps: CoordinatorDeps) {
    this.options = options;
    this.deps = deps;
    // Peers count as live until they miss K polls, so the lowest id leads from the start.
    this.peers = options.peers.map((address) => ({ address, missed: 0, state: null }));
    this.leader = this.electLeader();
    // A node coming back while others serve is vetted before it joins the ring (its snapshot
    // may be too old to merge). The ring is rebuilt right after this event: it stays out.
    deps.membership.on("state", (id, from, to) => {
      if (!this.isLeader || !this.leading) return;
      if (to !== "up" || (from !== "down" && from !== "unknown")) return;
      const members = deps.topology.ring.members.map((m) => m.id);
      if (members.length === 0 || members.includes(id)) return;
      deps.membership.setQuarantined(id, true);
      void this.vet(id, members);
    });
    deps.topology.on("ring", (_ring, previous) => {
      if (!this.isLeader) return;
      deps.rebalancer.ringChanged(previous);
      // A move publishes before it copies; a change with nothing to move is published here.
      if (!deps.rebalancer.busy) void this.publish();
    });
  }

  get isLeader(): boolean {
    return this.leader === this.options.id;
  }

  /** Live peers (answered within the last K polls). */
  livePeers(): string[] {
    return this.peers.filter((p) => this.live(p)).map((p) => p.address.id);
  }

  /** The peers' probe views (exported as metrics). */
  peerViews(): { peer: string; node: string; state: string }[] {
    const out: { peer: string; node: string; state: string }[] = [];
    for (const p of this.peers) {
      if (p.state === null || !this.live(p)) continue;
      for (const [node, state] of Object.entries(p.state.nodes)) {
        out.push({ peer: p.address.id, node, state });
      }
    }
    return out;
  }

  start(): void {
    this.becomeLeaderOrNot();
    if (this.peers.length === 0) return;
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.deps.rebalancer.close();
  }

  state(): PeerState {
    const nodes: Record<string, string> = {};
    for (const n of this.deps.membership.all()) nodes[n.id] = n.health.state;
    return {
      id: this.options.id,
      clock: this.deps.clock.next(),
      leader: this.leader,
      nodes,
      membership: this.published,
    };
  }

  /** A membership pushed by a peer (or read from its state): adopted when it is newer. */
  receive(m: PublishedMembership): void {
    this.deps.clock.observe(m.generation);
    if (this.published !== null && m.generation <= this.published.generation) return;
    if (this.isLeader && m.leader !== this.options.id) {
      // Another master thought it led (it missed our polls) and published a newer generation
      // than ours: ours decides, so publish again, newer still (the clock has just observed
      // theirs), or the others would keep routing by that ring until our next change.
      if (this.leading) void this.publish();
      return;
    }
    this.adopt(m);
  }

  /**
   * Leader: publishes the current ring and the move's sources as a new generation and pushes it
   * to every live peer; resolves when they answered (or failed).
   */
  async publish(): Promise<void> {
    if (!this.isLeader) return;
    const { membership, topology } = this.deps;
    const m: PublishedMembership = {
      generation: this.deps.clock.next(),
      leader: this.options.id,
      members: topology.ring.members.map((r) => {
        const n = membership.get(r.id);
        return { id: r.id, host: n?.host ?? "", port: n?.port ?? 0 };
      }),
      epoch: topology.epoch,
      sources: this.deps.rebalancer.sourceMembers,
    };
    this.published = m;
    const peers = this.peers.filter((p) => this.live(p));
    if (peers.length === 0) return;
    const started = performance.now();
    const body = JSON.stringify(m);
    await Promise.all(peers.map((p) => this.push(p, m, body)));
    this.pushes++;
    this.lastPropagationMs = performance.now() - started;
  }

  /**
   * Pushes a generation to one peer, again after a failure: a live peer that missed it would
   * route writes by the old ring while the move copies data, and a write landing on a holder
   * after its range was copied would stay behind there. Gives up when the peer stops counting
   * as live, a newer generation replaces this one, or after the time a dead peer takes to be
   * given up (K polls), with a warning: the next poll hands the peer the generation anyway.
   */
  private async push(p: Peer, m: PublishedMembership, body: string): Promise<void> {
    const { intervalMs, failures } = this.options;
    const deadline = performance.now() + intervalMs * (failures + 1);
    for (;;) {
      try {
        await this.call(p.address, "/v1/internal/membership", body);
        return;
      } catch (err) {
        this.pushFailures++;
        if (!this.live(p) || this.published !== m || !this.isLeader) return;
        if (performance.now() >= deadline) {
          this.options.logger.warn(
            { peer: p.address.id, err: (err as Error).message },
            "a live master did not take the new ring; moving data anyway",
          );
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(20, intervalMs / 4)));
    }
  }

  /** An auxiliary node's graceful leave; `done` once its data is handed off. */
  leave(id: string): { done: boolean; leader: string } {
    this.deps.membership.setLeaving(id, true);
    const inRing = this.deps.topology.inRing(id);
    const moving = this.isLeader
      ? this.deps.rebalancer.busy
      : (this.published?.sources.length ?? 0) > 0;
    return { done: !inRing && !moving, leader: this.leader };
  }

  // --- internals -------------------------------------------------------------------------------

  private async vet(id: string, members: readonly string[]): Promise<void> {
    const membership = this.deps.membership;
    for (let attempt = 1; attempt <= 3 && membership.quarantined.has(id); attempt++) {
      try {
        const dropped = await this.deps.rebalancer.vet(id, members);
        if (dropped > 0) this.options.logger.info({ node: id, dropped }, "stale snapshot dropped");
        break;
      } catch (err) {
        this.options.logger.warn(
          { node: id, attempt, err: (err as Error).message },
          "cannot vet a returning node",
        );
        await new Promise((resolve) => setTimeout(resolve, this.options.intervalMs));
      }
    }
    membership.setQuarantined(id, false);
  }

  private live(p: Peer): boolean {
    return p.missed < this.options.failures;
  }

  private electLeader(): string {
    let leader = this.options.id;
    for (const p of this.peers) if (this.live(p) && p.address.id < leader) leader = p.address.id;
    return leader;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      await Promise.all(
        this.peers.map(async (p) => {
          try {
            const state = (await this.call(p.address, "/v1/internal/state")) as PeerState;
            p.missed = 0;
            p.state = state;
            this.deps.clock.observe(state.clock);
            if (state.membership !== null) this.receive(state.membership);
          } catch {
            p.missed++;
          }
        }),
      );
      this.becomeLeaderOrNot();
    } finally {
      this.polling = false;
    }
  }

  private becomeLeaderOrNot(): void {
    const leader = this.electLeader();
    const was = this.leader;
    if (leader !== was) {
      this.leaderChanges++;
      this.options.logger.info({ from: was, to: leader }, "leader changed");
    }
    this.leader = leader;
    const topology = this.deps.topology;
    const rebalancer = this.deps.rebalancer;
    if (this.isLeader) {
      if (!this.leading) {
        // Taking over: finish the moves the previous leader left, then decide from our probes.
        this.leading = true;
        const unfinished = this.published?.sources ?? [];
        rebalancer.setActive(true);
        rebalancer.resume(unfinished);
        topology.decide();
        if (!rebalancer.busy) void this.publish();
      }
      if (!this.firstLeadDone && topology.ring.size > 0 && this.deps.onFirstLead !== undefined) {
        this.firstLeadDone = true;
        void this.deps.onFirstLead();
      }
    } else {
      // Stepping down: our own generations no longer count, whatever their number; adopt the
      // leader's current membership even if it is older.
      if (this.leading) this.published = null;
      this.leading = false;
      rebalancer.setActive(false);
      const fromLeader = this.peers.find((p) => p.address.id === leader)?.state?.membership;
      if (fromLeader !== undefined && fromLeader !== null) this.receive(fromLeader);
      // Until the leader's membership arrives, route by no ring rather than one of our own
      // probes: keys written by our ring and then read by the leader's (or the other way
      // round) would miss or read an older copy. Requests fail with a clear error meanwhile.
      if (this.published === null && topology.deciding) topology.awaitLeader();
    }
  }

  private adopt(m: PublishedMembership): void {
    const membership = this.deps.membership;
    this.published = m;
    for (const a of m.members) {
      if (membership.get(a.id) === undefined && a.port > 0) membership.add(a, "registered");
    }
    this.deps.topology.follow(
      m.members.map((a) => a.id),
      m.sources,
    );
  }

  private async call(to: MemberAddress, path: string, body?: string): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.options.secret !== undefined)
      headers["authorization"] = `Bearer ${this.options.secret}`;
    const res = await fetch(`http://${to.host}:${to.port}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(Math.max(200, this.options.intervalMs)),
    });
    if (!res.ok) {
      await res.arrayBuffer();
      throw new Error(`${path} answered ${res.status}`);
    }
    return res.json();
  }
}

// What a master does as leader or follower, whatever way masters agree (the Coordination seam,
// coordination/coordination.ts).
//
//   leader:     its own probes decide the ring (topology.decide()); each change is published as
//               a new generation (a clock version, so newer is greater whoever issued it); the
//               rebalancer moves the data; a node that comes back is vetted before it rejoins
//   follower:   adopts the newest generation it sees and routes by its member list, with the
//               rings whose move is not done kept for reads (topology.follow()); before the
//               first one arrives it routes by no ring (topology.awaitLeader())
//
// What must stay true (docs/design.md, "The leader and ring generations"):
// - A master routes by the newest generation it knows; a follower never decides a ring.
// - The window in which two rings coexist is one publication's round trip; it is measured and
//   exported. A follower takes a generation once its writes routed by older rings have ended
//   (see Topology.drained), so that none of them lands after the move has copied its range.
// - Two leaders at once only waste work: every move step is versioned.
import type { HybridClock } from "../clock/hlc.js";
import type { Logger } from "../log.js";
import type { Coordination, PublishedMembership } from "./coordination/coordination.js";
import type { Membership } from "./membership.js";
import type { Rebalancer } from "./rebalancer.js";
import type { Topology } from "./topology.js";
import { REAL_TIME, sleepOn, type Scheduler } from "./transport/scheduler.js";

export interface CoordinatorOptions {
  readonly id: string;
  /** Pause between attempts to vet a returning node. */
  readonly retryDelayMs: number;
  readonly logger: Logger;
  /** Timers (default: Node's own). */
  readonly scheduler?: Scheduler;
}

export interface CoordinatorDeps {
  readonly clock: HybridClock;
  readonly membership: Membership;
  readonly topology: Topology;
  readonly rebalancer: Rebalancer;
  readonly coordination: Coordination;
  /** Runs once, the first time this master leads with nodes in its ring (backup replay). */
  readonly onFirstLead?: () => Promise<void>;
}

export class Coordinator {
  readonly options: CoordinatorOptions;
  readonly coordination: Coordination;
  private readonly deps: CoordinatorDeps;
  /** The generation this master routes by (its own when it leads). */
  published: PublishedMembership | null = null;
  private firstLeadDone = false;
  /** This master acts as the leader (its rebalancer moves data). */
  private leading = false;

  constructor(options: CoordinatorOptions, deps: CoordinatorDeps) {
    this.options = options;
    this.deps = deps;
    this.coordination = deps.coordination;
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
      if (!this.leading) return;
      deps.rebalancer.ringChanged(previous);
      // A move publishes before it copies; a change with nothing to move is published here.
      if (!deps.rebalancer.busy) void this.publish();
    });
    deps.coordination.on("leadership", () => this.leadOrFollow());
    deps.coordination.on("membership", (m) => this.receive(m));
    // A master holds writes for a node it cannot reach: the leader's own probes decide on it,
    // at once rather than at the next interval.
    deps.coordination.on("suspect", (node) => {
      if (this.leading) deps.membership.probeNow(node);
    });
  }

  get leader(): string {
    return this.coordination.leader;
  }

  get isLeader(): boolean {
    return this.coordination.leader === this.options.id;
  }

  /** Resolves once this master leads or follows (see Coordination.start). */
  start(): Promise<void> {
    return this.coordination.start();
  }

  stop(): void {
    this.coordination.stop();
    this.deps.rebalancer.close();
  }

  /** A membership published by some master: adopted when it is newer than the one routed by. */
  receive(m: PublishedMembership): void {
    this.deps.clock.observe(m.generation);
    if (this.published !== null && m.generation <= this.published.generation) return;
    if (this.leading && m.leader !== this.options.id) {
      // Another master thought it led (it missed our polls) and published a newer generation
      // than ours: ours decides, so publish again, newer still (the clock has just observed
      // theirs), or the others would keep routing by that ring until our next change.
      void this.publish();
      return;
    }
    // Not leading (yet): a master about to take over adopts what the last leader published,
    // so that it resumes the moves left unfinished instead of forgetting them.
    this.adopt(m);
  }

  /**
   * Leader: publishes the current ring and the move's sources as a new generation; resolves
   * when every live master has it (or the publication gave up).
   */
  async publish(): Promise<void> {
    if (!this.isLeader || !this.leading) return;
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
    await this.coordination.publish(m);
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
        await sleepOn(this.options.scheduler ?? REAL_TIME, this.options.retryDelayMs);
      }
    }
    membership.setQuarantined(id, false);
  }

  /** Takes up or hands over the leader's duties after leadership was assessed. */
  private leadOrFollow(): void {
    const { topology, rebalancer } = this.deps;
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
      return;
    }
    // Stepping down: our own generations no longer count, whatever their number; adopt the
    // leader's current membership even if it is older.
    if (this.leading) this.published = null;
    this.leading = false;
    rebalancer.setActive(false);
    const fromLeader = this.coordination.leaderMembership();
    if (fromLeader !== null) this.receive(fromLeader);
    // Until the leader's membership arrives, route by no ring rather than one of our own
    // probes: keys written by our ring and then read by the leader's (or the other way round)
    // would miss or read an older copy. Requests fail with a clear error meanwhile.
    if (this.published === null && topology.deciding) topology.awaitLeader();
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
}

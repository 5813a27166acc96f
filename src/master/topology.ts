// The one owner of a master's routing state: which ring it routes by, who decided that ring, the
// rings whose data is still moving to it, and the writes still in flight under older rings.
// Everything that asks "which ring does this master route by right now?" asks here.
//
//   Membership (nodes, health, leaving, quarantined) ──"members"──┐
//                                                                 ▼
//   coordination ──decide() / follow(ids) / awaitLeader()──► Topology ──"ring"──► rebalancer,
//   rebalancer ──setSources(rings)───────────────────────────►  │                 coordination,
//                                                               ▼                 metrics
//                                               ring, previous, clients (the router reads them)
//
// Modes (docs/design.md, "The leader and ring generations"):
//   deciding   this master's own probes decide the ring (it leads, or it is alone)
//   following  it routes by the member ids the leader published
//   awaiting   it follows a leader whose ring it has not received yet: it routes by no ring, and
//              requests fail with a clear error rather than go by a ring of its own
//
// What must stay true:
// - The ring is a pure function of its member set, so masters that see the same members route
//   the same way; it is replaced, never mutated, and `generation` counts the replacements.
// - `previous` is the oldest ring whose move has not finished (null: no move): reads of keys
//   whose owners changed also ask its owners, so a move causes neither misses nor stale reads.
// - A move never copies a range while a write routed by an older ring may still land there:
//   drained() says when every such write has ended (docs/design.md, "Moves and drained writes").
import { EventEmitter } from "node:events";
import type { Logger } from "../log.js";
import { Ring } from "../ring/ring.js";
import type { Membership } from "./membership.js";
import type { NodeClient } from "./pool.js";
import { REAL_TIME, type Scheduler } from "./transport/scheduler.js";

export type RoutingMode = "deciding" | "following" | "awaiting";

export interface TopologyOptions {
  readonly vnodes: number;
  /** The configured replication factor (a ring with fewer nodes holds fewer copies). */
  readonly replicas: number;
  readonly logger: Logger;
  /** The timers of drained() (default: Node's own). */
  readonly scheduler?: Scheduler;
  /**
   * The mode before anyone says otherwise (default "deciding"). A master that agrees with
   * peers starts "awaiting": it routes by no ring until it knows whether it leads.
   */
  readonly initialMode?: RoutingMode;
}

export interface TopologyEvents {
  /** The ring changed (a node joined or left it). */
  ring: [ring: Ring, previous: Ring];
}

export class Topology extends EventEmitter<TopologyEvents> {
  readonly options: TopologyOptions;
  readonly membership: Membership;
  mode: RoutingMode = "deciding";
  /** The ring requests are routed by. Replaced, never mutated. */
  ring: Ring;
  /** Clients of the nodes in the ring, by id: the router's lookup table. */
  clients = new Map<string, NodeClient>();
  /** Counts ring changes: a write remembers the one it started under (see drained()). */
  generation = 0;
  /** The oldest ring whose data is still moving to `ring` (null: no move). */
  previous: Ring | null = null;
  /** Member ids of the rings whose data is still moving, oldest first. */
  private sources: Ring[] = [];
  /** Following: the member ids the leader published, sorted. */
  private adopted: readonly string[] = [];

  // Writes in progress: those started under the current ring (generation `writeGeneration`)
  // and those started under any older one, and who waits for the older ones to end.
  private writeGeneration = 0;
  private writesNow = 0;
  private writesBefore = 0;
  private drainWaiters: (() => void)[] = [];

  constructor(membership: Membership, options: TopologyOptions) {
    super();
    this.options = options;
    this.membership = membership;
    this.ring = Ring.of([], { vnodes: options.vnodes });
    this.mode = options.initialMode ?? "deciding";
    membership.on("members", () => {
      if (this.mode === "deciding") this.rebuild();
    });
  }

  /** Copies of each key: the configured factor, capped by the nodes in the ring. */
  get replicas(): number {
    return Math.min(this.options.replicas, this.ring.size);
  }

  get epoch(): string {
    return this.ring.epoch;
  }

  /** Whether this master's own probes decide the ring. */
  get deciding(): boolean {
    return this.mode === "deciding";
  }

  /** This master follows a leader whose ring it has not received yet. */
  get awaitingLeader(): boolean {
    return this.mode === "awaiting";
  }

  /** Whether `id` is a member of the ring routed by now. */
  inRing(id: string): boolean {
    return this.clients.has(id);
  }

  // --- who decides ---------------------------------------------------------------------------

  /** Routes by this master's own probes (it leads, or it is alone). */
  decide(): void {
    this.mode = "deciding";
    this.rebuild();
  }

  /**
   * Routes by the member ids the leader published (ids this master does not know are skipped:
   * the caller adds them to the membership first), with the rings whose move is not done.
   */
  follow(ids: readonly string[], sources: readonly (readonly string[])[]): void {
    this.mode = "following";
    this.adopted = [...ids].sort();
    // The leader saw these nodes up: send to them now, even if this master's own probes have
    // not caught up (see Membership.expectUp).
    this.membership.expectUp(this.adopted);
    this.rebuild();
    this.setSources(sources.map((members) => this.ringOf(members)));
  }

  /** Routes by no ring until the leader's arrives (see follow). */
  awaitLeader(): void {
    this.adopted = [];
    this.mode = "following";
    this.rebuild();
    this.mode = "awaiting";
  }

  // --- moves ---------------------------------------------------------------------------------

  /** The rings whose data is still moving to the current one, oldest first. */
  get moveSources(): readonly Ring[] {
    return this.sources;
  }

  /** Sets the rings whose data is still moving (the leader's rebalancer, or the leader's word). */
  setSources(sources: readonly Ring[]): void {
    this.sources = [...sources];
    this.previous = this.sources[0] ?? null;
  }

  /** A ring of these member ids, with this master's vnodes. */
  ringOf(ids: readonly string[]): Ring {
    return Ring.of(
      ids.map((id) => ({ id })),
      { vnodes: this.ring.vnodes },
    );
  }

  // --- writes in flight ----------------------------------------------------------------------

  /** Counts a write in progress; returns the generation to hand back to writeEnded(). */
  writeStarted(): number {
    this.rollWrites();
    this.writesNow++;
    return this.writeGeneration;
  }

  writeEnded(generation: number): void {
    this.rollWrites();
    if (generation === this.writeGeneration) {
      this.writesNow--;
      return;
    }
    if (--this.writesBefore > 0 || this.drainWaiters.length === 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * Resolves true once every write started under an older ring than the current one has
   * ended, or false after `timeoutMs`. A move must not copy a range while a write routed by
   * the ring before it may still land there: the write would stay behind on a node that no
   * longer owns the key. The leader waits for its own before moving, a follower for its own
   * before it acknowledges the leader's new ring.
   */
  drained(timeoutMs: number): Promise<boolean> {
    this.rollWrites();
    if (this.writesBefore === 0) return Promise.resolve(true);
    const scheduler = this.options.scheduler ?? REAL_TIME;
    return new Promise((resolve) => {
      const timer = scheduler.schedule(timeoutMs, () => resolve(false));
      this.drainWaiters.push(() => {
        scheduler.cancel(timer);
        resolve(true);
      });
    });
  }

  /** Counts the writes of the current ring as older ones once the ring has changed. */
  private rollWrites(): void {
    const generation = this.generation;
    if (generation === this.writeGeneration) return;
    this.writesBefore += this.writesNow;
    this.writesNow = 0;
    this.writeGeneration = generation;
  }

  // --- the ring ------------------------------------------------------------------------------

  private rebuild(): void {
    const members =
      this.mode === "deciding"
        ? this.membership.decidedNodes()
        : this.membership.known(this.adopted);
    const ids = members.map((n) => n.id).sort();
    const current = this.ring.members.map((m) => m.id);
    if (ids.length === current.length && ids.every((id, i) => id === current[i])) {
      // Same member set: the ring is unchanged, but clients may have been replaced.
      for (const n of members) this.clients.set(n.id, n.client);
      return;
    }
    const previous = this.ring;
    this.generation++;
    this.ring = this.ringOf(ids);
    const clients = new Map<string, NodeClient>();
    for (const n of members) clients.set(n.id, n.client);
    this.clients = clients;
    this.options.logger.info({ epoch: this.ring.epoch, members: ids }, "ring changed");
    this.emit("ring", this.ring, previous);
  }
}

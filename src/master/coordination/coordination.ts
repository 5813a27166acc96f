// How masters agree: the seam between a master's Coordinator (coordinator.ts, which decides what
// to do as leader or follower) and the way masters elect a leader and share the published ring.
//
//   Coordinator ──publish(m)──────────────► Coordination ──► builtin.ts: peers poll each other;
//        ▲                                       │                        the live master with
//        └──"leadership" (who leads, term)───────┤                        the lowest id leads
//        └──"membership" (a published ring)──────┘           (etcd.ts: an election held by a
//                                                             lease; the ring kept in etcd)
//
// An implementation elects one leader, hands every published membership to every master (a
// push, a poll, a watch), and says who is live. It never decides a ring itself. Nothing on the
// request path waits for it (docs/design.md, "The leader and ring generations").
import type { EventEmitter } from "node:events";

/** The membership a leader publishes: one ring generation. */
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

/** One peer master's probe view of one auxiliary node. */
export interface PeerView {
  readonly peer: string;
  readonly node: string;
  readonly state: string;
}

export interface CoordinationEvents {
  /**
   * Leadership was assessed: who leads now (possibly unchanged). Emitted at start and after
   * every round of the implementation's liveness checks, so a listener may recheck its duties.
   */
  leadership: [leader: string];
  /** A membership published by some master arrived (it may be older than one already seen). */
  membership: [m: PublishedMembership];
  /**
   * Leader only: master `from` cannot reach auxiliary node `node`, which the ring still counts,
   * and holds writes until the leader decides on it (see askLeader).
   */
  suspect: [node: string, from: string];
}

export interface Coordination extends EventEmitter<CoordinationEvents> {
  /** Which implementation this is, as configuration names it. */
  readonly kind: "builtin" | "etcd";
  /** The leader's id, as last assessed. */
  readonly leader: string;
  /**
   * The fencing term of the current leadership: greater for every new tenure, so a step taken
   * under an older term can be refused. 0 where the implementation has none.
   */
  readonly term: number;
  /** Times the leader changed. */
  readonly leaderChanges: number;
  /** How long the last publication took to reach every live master (ms): two rings coexist. */
  readonly lastPropagationMs: number;
  /**
   * Starts electing and watching; resolves once leadership was first assessed, after this
   * master has heard what its peers publish (a master that would lead must first learn the
   * moves the last leader left unfinished).
   */
  start(): Promise<void>;
  stop(): void;
  /**
   * Leader: hands a new generation to every live master; resolves when each took it (or gave
   * up, with a warning). A later publish supersedes an earlier one still under way.
   */
  publish(m: PublishedMembership): Promise<void>;
  /** The newest membership the current leader is known to have published, or null. */
  leaderMembership(): PublishedMembership | null;
  /** Live peer masters (not this one). */
  livePeers(): string[];
  /** The peers' probe views, where the implementation learns them (exported as metrics). */
  peerViews(): PeerView[];
  /**
   * Asks the leader to decide on an auxiliary node this master cannot reach: the leader's
   * "suspect" event fires (on this master when it leads), and the leader probes the node at
   * once. Best effort, never awaited: a write held for the node waits for the leader's next
   * ring or gives up (docs/design.md, "Acknowledging a write").
   */
  askLeader(node: string): void;
}

// Built-in coordination, for masters on one host: they poll each other over HTTP.
//
//   every health interval:  GET /v1/internal/state of each peer ─► observe its clock (HLC
//                           exchange), note its probes' view and its published membership
//   leader = the live master with the lowest id (live: answered within the last K polls)
//   publish:  POST /v1/internal/membership to every live peer, again until it answers
//
// No quorum: a partition between masters gives two leaders, which only wastes work because
// every move step is versioned (docs/design.md, "The leader and ring generations"). Across
// hosts, coordinate through etcd instead.
import { httpCall } from "../../server/http-call.js";
import { EventEmitter } from "node:events";
import type { HybridClock } from "../../clock/hlc.js";
import { formatAddress, type MemberAddress } from "../../config/fields.js";
import type { Logger } from "../../log.js";
import { REAL_TIME, sleepOn, type Scheduler } from "../transport/scheduler.js";
import type {
  Coordination,
  CoordinationEvents,
  PeerView,
  PublishedMembership,
} from "./coordination.js";

/** GET /v1/internal/state: what a master tells its peers at every poll. */
export interface PeerState {
  readonly id: string;
  readonly clock: number;
  readonly leader: string;
  /** This master's probes' view of each auxiliary node. */
  readonly nodes: Readonly<Record<string, string>>;
  readonly membership: PublishedMembership | null;
}

/** What a master answers to GET /v1/internal/state, from its clock, leader and probes. */
export function peerState(
  id: string,
  leader: string,
  deps: Pick<BuiltinDeps, "clock" | "nodes" | "published">,
): PeerState {
  return {
    id,
    clock: deps.clock.next(),
    leader,
    nodes: deps.nodes(),
    membership: deps.published(),
  };
}

/** How one master reaches another's internal endpoints. */
export interface PeerLink {
  /** GET /v1/internal/state. */
  state(to: MemberAddress): Promise<PeerState>;
  /** POST /v1/internal/membership; resolves once the peer took it. */
  push(to: MemberAddress, body: string): Promise<void>;
  /** POST /v1/internal/suspect: {"node", "from"}, to the leader. */
  suspect(to: MemberAddress, node: string, from: string): Promise<void>;
}

export interface BuiltinOptions {
  readonly id: string;
  readonly peers: readonly MemberAddress[];
  readonly intervalMs: number;
  /** Polls a peer may miss and still be live. */
  readonly failures: number;
  readonly secret?: string | undefined;
  readonly logger: Logger;
  /** Timers (default: Node's own). */
  readonly scheduler?: Scheduler;
}

export interface BuiltinDeps {
  readonly clock: HybridClock;
  /** This master's probes' view of each auxiliary node. */
  readonly nodes: () => Record<string, string>;
  /** The membership this master routes by, as published (null: none yet). */
  readonly published: () => PublishedMembership | null;
  /** The way to the peers (default: HTTP). */
  readonly link?: PeerLink;
}

interface Peer {
  readonly address: MemberAddress;
  /** Consecutive polls without an answer. */
  missed: number;
  state: PeerState | null;
}

export class BuiltinCoordination extends EventEmitter<CoordinationEvents> implements Coordination {
  readonly kind = "builtin";
  readonly options: BuiltinOptions;
  private readonly deps: BuiltinDeps;
  private readonly peers: Peer[];
  leader: string;
  /** Counts the leaders this master has seen take over: a later tenure has a greater term. */
  term = 0;
  leaderChanges = 0;
  lastPropagationMs = 0;
  pushes = 0;
  pushFailures = 0;
  /** The generation being published (a push of an older one gives up). */
  private publishing: PublishedMembership | null = null;
  private readonly scheduler: Scheduler;
  private readonly link: PeerLink;
  private running = false;
  private polling = false;

  constructor(options: BuiltinOptions, deps: BuiltinDeps) {
    super();
    this.options = options;
    this.deps = deps;
    this.scheduler = options.scheduler ?? REAL_TIME;
    this.link = deps.link ?? new HttpPeerLink(options.intervalMs, options.secret);
    // Peers count as live until they miss K polls, so the lowest id leads from the start.
    this.peers = options.peers.map((address) => ({ address, missed: 0, state: null }));
    this.leader = this.electLeader();
  }

  async start(): Promise<void> {
    if (this.peers.length === 0) {
      this.assess();
      return;
    }
    this.running = true;
    // The first round of polls ends with the first assessment (see poll()).
    const first = this.poll();
    this.scheduler.schedule(this.options.intervalMs, this.tick);
    await first;
  }

  stop(): void {
    this.running = false;
  }

  /** Polls every interval, until stopped. */
  private readonly tick = (): void => {
    if (!this.running) return;
    void this.poll();
    this.scheduler.schedule(this.options.intervalMs, this.tick);
  };

  /** What this master answers to a peer's poll. */
  state(): PeerState {
    return peerState(this.options.id, this.leader, this.deps);
  }

  /** A membership a peer pushed (POST /v1/internal/membership). */
  deliver(m: PublishedMembership): void {
    this.emit("membership", m);
  }

  leaderMembership(): PublishedMembership | null {
    return this.peers.find((p) => p.address.id === this.leader)?.state?.membership ?? null;
  }

  livePeers(): string[] {
    return this.peers.filter((p) => this.live(p)).map((p) => p.address.id);
  }

  peerViews(): PeerView[] {
    const out: PeerView[] = [];
    for (const p of this.peers) {
      if (p.state === null || !this.live(p)) continue;
      for (const [node, state] of Object.entries(p.state.nodes)) {
        out.push({ peer: p.address.id, node, state });
      }
    }
    return out;
  }

  askLeader(node: string): void {
    const leader = this.peers.find((p) => p.address.id === this.leader);
    askLeaderAt(this, this.options, this.link, leader?.address, node);
  }

  /** A peer asks this master, as leader, to decide on a node (POST /v1/internal/suspect). */
  suspected(node: string, from: string): void {
    if (this.leader === this.options.id) this.emit("suspect", node, from);
  }

  async publish(m: PublishedMembership): Promise<void> {
    this.publishing = m;
    const peers = this.peers.filter((p) => this.live(p));
    if (peers.length === 0) return;
    const started = this.scheduler.now();
    const body = JSON.stringify(m);
    await Promise.all(peers.map((p) => this.push(p, m, body)));
    this.pushes++;
    this.lastPropagationMs = this.scheduler.now() - started;
  }

  /**
   * Pushes a generation to one peer, again after a failure: a live peer that missed it would
   * route writes by the old ring while the move copies data, and a write landing on a holder
   * after its range was copied would stay behind there. Gives up when the peer stops counting
   * as live, a newer generation replaces this one, this master stops leading, or after the time
   * a dead peer takes to be given up (K polls), with a warning: the next poll hands the peer
   * the generation anyway.
   */
  private async push(p: Peer, m: PublishedMembership, body: string): Promise<void> {
    const { intervalMs, failures } = this.options;
    const deadline = this.scheduler.now() + intervalMs * (failures + 1);
    for (;;) {
      try {
        await this.link.push(p.address, body);
        return;
      } catch (err) {
        this.pushFailures++;
        if (!this.live(p) || this.publishing !== m || this.leader !== this.options.id) return;
        if (this.scheduler.now() >= deadline) {
          this.options.logger.warn(
            { peer: p.address.id, err: (err as Error).message },
            "a live master did not take the new ring; moving data anyway",
          );
          return;
        }
      }
      await sleepOn(this.scheduler, Math.max(20, intervalMs / 4));
    }
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
            const state = await this.link.state(p.address);
            p.missed = 0;
            p.state = state;
            this.deps.clock.observe(state.clock);
            if (state.membership !== null) this.deliver(state.membership);
          } catch {
            p.missed++;
          }
        }),
      );
      this.assess();
    } finally {
      this.polling = false;
    }
  }

  private assess(): void {
    const leader = this.electLeader();
    if (leader !== this.leader) {
      this.leaderChanges++;
      this.term++;
      this.options.logger.info({ from: this.leader, to: leader }, "leader changed");
      this.leader = leader;
    }
    this.emit("leadership", leader);
  }
}

/**
 * Coordination.askLeader for a master that reaches its leader over a PeerLink: the leader is
 * told at `leader` (its address, if known), or this master's own listeners when it leads.
 */
export function askLeaderAt(
  coordination: Coordination,
  self: { readonly id: string; readonly logger: Logger },
  link: PeerLink,
  leader: MemberAddress | undefined,
  node: string,
): void {
  if (coordination.leader === self.id) {
    coordination.emit("suspect", node, self.id);
    return;
  }
  if (leader === undefined) return;
  link.suspect(leader, node, self.id).catch((err: unknown) => {
    self.logger.debug(
      { leader: coordination.leader, node, err: (err as Error).message },
      "cannot ask the leader about a node",
    );
  });
}

/**
 * The peers' HTTP API (src/master/http.ts, "/v1/internal/*"), with the cluster secret.
 *
 * A peer named by a host name is found again when it moves: fetch pools connections by origin
 * (the name, not an address), every new connection resolves the name, and a request that times
 * out destroys its connection, so a pooled connection to an address the peer left is gone after
 * the first poll it leaves unanswered.
 */
export class HttpPeerLink implements PeerLink {
  private readonly timeoutMs: number;
  private readonly secret: string | undefined;

  constructor(intervalMs: number, secret: string | undefined) {
    // A poll must end before the next one is due.
    this.timeoutMs = Math.max(200, intervalMs);
    this.secret = secret;
  }

  async state(to: MemberAddress): Promise<PeerState> {
    return (await this.call(to, "/v1/internal/state")) as PeerState;
  }

  async push(to: MemberAddress, body: string): Promise<void> {
    await this.call(to, "/v1/internal/membership", body);
  }

  async suspect(to: MemberAddress, node: string, from: string): Promise<void> {
    await this.call(to, "/v1/internal/suspect", JSON.stringify({ node, from }));
  }

  private async call(to: MemberAddress, path: string, body?: string): Promise<unknown> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.secret !== undefined) headers["authorization"] = `Bearer ${this.secret}`;
    const res = await httpCall(`http://${formatAddress(to.host, to.port)}${path}`, {
      method: body === undefined ? "GET" : "POST",
      headers,
      ...(body === undefined ? {} : { body }),
      timeoutMs: this.timeoutMs,
    });
    if (res.status < 200 || res.status > 299) throw new Error(`${path} answered ${res.status}`);
    return JSON.parse(res.body) as unknown;
  }
}

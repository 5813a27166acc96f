// Which auxiliary nodes exist (configured or registered) and which of them are up, as this
// master's own probes and requests see them. It holds nodes and their health only: the ring a
// master routes by is the Topology's (topology.ts), which follows the "members" event.
//
//   config ──┐                        probes ──► onProbeResult ──┐
//   register ┴─► add() ─► pool + checker        pool evidence ──► onNodeTrouble ─┴─► HealthState
//                                        state change, leaving, quarantined ─► "members" event
//
// What must stay true:
// - A node counts toward the ring this master would decide only after a successful probe
//   (configured and registered alike), and stops counting as soon as it is down.
// - Requests for a down node fail fast (its client stops accepting).
import { EventEmitter } from "node:events";
import type { Logger } from "../log.js";
import type { HealthChecker } from "./health.js";
import { HealthState, type NodeState, type ProbeResult } from "./health.js";
import type { NodePool } from "./pool.js";
import { type NodeClient, type PoolListener, type TroubleKind } from "./pool.js";

export type NodeSource = "config" | "registered";

export interface NodeAddress {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly httpPort?: number | undefined;
}

export interface MemberNode {
  readonly id: string;
  host: string;
  port: number;
  httpPort: number | undefined;
  readonly source: NodeSource;
  readonly health: HealthState;
  readonly client: NodeClient;
  /** Last registration (Unix ms); 0 for configured nodes that never registered. */
  lastRegistration: number;
  /** Ignore request evidence until then (one counted failure per window). */
  evidenceQuietUntil: number;
}

export interface MembershipOptions {
  readonly healthFailures: number;
  readonly healthIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  /** Wall-clock Unix ms (default Date.now; a simulation passes its clock's). */
  readonly now?: () => number;
}

export interface MembershipEvents {
  /** A node changed state. */
  state: [id: string, from: NodeState, to: NodeState, reason: string];
  /** The set of nodes this master would put in its ring may have changed (see decidedNodes). */
  members: [];
}

export class Membership extends EventEmitter<MembershipEvents> implements PoolListener {
  readonly options: MembershipOptions;
  private readonly nodes = new Map<string, MemberNode>();
  private pool: NodePool | null = null;
  private checker: HealthChecker | null = null;
  private readonly now: () => number;
  /** Probe results and evidence are counted at most once per this window per node. */
  private readonly evidenceWindowMs: number;
  /** Nodes that announced a graceful shutdown: kept out of the ring this master decides. */
  readonly leaving = new Set<string>();
  /** Nodes back up but not admitted yet (their snapshot is being vetted by the leader). */
  readonly quarantined = new Set<string>();

  constructor(options: MembershipOptions) {
    super();
    this.options = options;
    this.now = options.now ?? Date.now;
    this.evidenceWindowMs = Math.min(options.healthIntervalMs, options.requestTimeoutMs);
  }

  /** Wires the pool and the checker (they are built with this object as their listener). */
  attach(pool: NodePool, checker: HealthChecker): void {
    this.pool = pool;
    this.checker = checker;
  }

  get(id: string): MemberNode | undefined {
    return this.nodes.get(id);
  }

  all(): MemberNode[] {
    return [...this.nodes.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Adds a node (or updates the address of a known one). It joins the ring after its first
   * successful probe, which starts at once.
   */
  add(address: NodeAddress, source: NodeSource): MemberNode {
    const pool = this.requirePool();
    const checker = this.requireChecker();
    const now = this.now();
    const known = this.nodes.get(address.id);
    if (known !== undefined) {
      if (source === "registered") known.lastRegistration = now;
      if (address.httpPort !== undefined) known.httpPort = address.httpPort;
      if (known.host !== address.host || known.port !== address.port) {
        this.options.logger.info(
          {
            node: address.id,
            from: `${known.host}:${known.port}`,
            to: `${address.host}:${address.port}`,
          },
          "auxiliary node moved to a new address",
        );
        known.host = address.host;
        known.port = address.port;
        known.client.setAddress(address.host, address.port);
        checker.add(address.id, address.host, address.port);
        void checker.probeNow(address.id);
      }
      return known;
    }
    const client = pool.add(address.id, address.host, address.port);
    const node: MemberNode = {
      id: address.id,
      host: address.host,
      port: address.port,
      httpPort: address.httpPort,
      source,
      health: new HealthState(this.options.healthFailures, now),
      client,
      lastRegistration: source === "registered" ? now : 0,
      evidenceQuietUntil: 0,
    };
    this.nodes.set(address.id, node);
    checker.add(address.id, address.host, address.port);
    this.options.logger.info(
      { node: address.id, address: `${address.host}:${address.port}`, source },
      "auxiliary node added",
    );
    void checker.probeNow(address.id);
    return node;
  }

  // --- health inputs ---------------------------------------------------------------------------

  onProbeResult(id: string, result: ProbeResult): void {
    const node = this.nodes.get(id);
    if (node === undefined) return;
    const now = this.now();
    if (result.ok) {
      node.client.dropStalled();
      const from = node.health.success(now);
      if (from !== undefined) this.changed(node, from, "probe answered");
      return;
    }
    const from = node.health.failure(now, result.reason, result.refused);
    if (from !== undefined) this.changed(node, from, result.reason);
  }

  /** Evidence from a failed request: counts as a failure (rate-limited) and triggers a probe. */
  onNodeTrouble(client: NodeClient, kind: TroubleKind): void {
    const node = this.nodes.get(client.id);
    if (node === undefined || node.client !== client) return;
    const now = this.now();
    if (kind === "refused") {
      if (node.health.state === "down") return;
      const from = node.health.failure(now, "connection refused", true);
      if (from !== undefined) this.changed(node, from, "connection refused");
      return;
    }
    if (now < node.evidenceQuietUntil || node.health.state === "down") return;
    node.evidenceQuietUntil = now + this.evidenceWindowMs;
    const reason = kind === "timeout" ? "request timed out" : "connection lost mid-request";
    const from = node.health.failure(now, reason);
    if (from !== undefined) this.changed(node, from, reason);
    void this.checker?.probeNow(node.id);
  }

  // --- internals -------------------------------------------------------------------------------

  private changed(node: MemberNode, from: NodeState, reason: string): void {
    const to = node.health.state;
    const log = this.options.logger;
    if (to === "down") log.warn({ node: node.id, from, reason }, "auxiliary node is down");
    else if (to === "up") log.info({ node: node.id, from }, "auxiliary node is up");
    else log.warn({ node: node.id, from, reason }, `auxiliary node is ${to}`);
    node.client.accepting = to !== "down";
    // A node that left and is gone may come back later as a member.
    if (to === "down") {
      this.leaving.delete(node.id);
      this.quarantined.delete(node.id);
    }
    if (to === "up" && from === "down") node.client.reconnectNow();
    this.emit("state", node.id, from, to, reason);
    const wasInRing = from === "up" || from === "suspect";
    if (wasInRing !== node.health.inRing) this.emit("members");
  }

  /**
   * The leader saw these nodes up. A node that just came back may still be down to this
   * master's own probes (one interval behind), and requests to a down node fail at once: a
   * write would then be acknowledged by its other owners only, and the returned node (possibly
   * the key's first owner) would serve the older value it holds. Send to it now; the next probe
   * confirms it (or the requests fail as they would for a dead node).
   */
  expectUp(ids: readonly string[]): void {
    for (const id of ids) {
      const node = this.nodes.get(id);
      if (node === undefined || node.client.accepting) continue;
      node.client.accepting = true;
      node.client.reconnectNow();
      void this.checker?.probeNow(id);
    }
  }

  /** Probes a node now, out of turn (a peer cannot reach it). */
  probeNow(id: string): void {
    if (this.nodes.has(id)) void this.checker?.probeNow(id);
  }

  /** Marks a node as leaving (or back): it leaves the ring this master decides. */
  setLeaving(id: string, leaving: boolean): void {
    if (leaving === this.leaving.has(id)) return;
    if (leaving) this.leaving.add(id);
    else this.leaving.delete(id);
    this.emit("members");
  }

  /** Holds a node out of the ring this master decides (or admits it). */
  setQuarantined(id: string, quarantined: boolean): void {
    if (quarantined === this.quarantined.has(id)) return;
    if (quarantined) this.quarantined.add(id);
    else this.quarantined.delete(id);
    this.emit("members");
  }

  /** The nodes of the ring this master would decide from its own probes. */
  decidedNodes(): MemberNode[] {
    const out: MemberNode[] = [];
    for (const n of this.nodes.values()) {
      if (n.health.inRing && !this.leaving.has(n.id) && !this.quarantined.has(n.id)) out.push(n);
    }
    return out;
  }

  /** The known nodes among these ids (in their order). */
  known(ids: readonly string[]): MemberNode[] {
    const out: MemberNode[] = [];
    for (const id of ids) {
      const n = this.nodes.get(id);
      if (n !== undefined) out.push(n);
    }
    return out;
  }

  private requirePool(): NodePool {
    if (this.pool === null) throw new Error("membership used before attach()");
    return this.pool;
  }

  private requireChecker(): HealthChecker {
    if (this.checker === null) throw new Error("membership used before attach()");
    return this.checker;
  }
}

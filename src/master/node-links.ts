// The connections a move (or a vetting, or a backup replay) uses to reach each auxiliary node,
// apart from the request pool's, and how many page bytes each node accepts in one bulk.
import { encodeStats, readStatsReply, type NodeStats } from "../protocol/internal/index.js";
import { NodeLink } from "./link.js";
import type { Membership } from "./membership.js";
import type { Transport } from "./transport/transport.js";

export interface NodeLinksOptions {
  readonly secret?: string | undefined;
  /** A request with no reply for this long fails its link. */
  readonly timeoutMs: number;
  readonly transport: Transport;
  /** The most page bytes one command carries, whatever a node accepts. */
  readonly maxChunk: number;
  /** The term a move's steps carry (see RebalancerDeps.term). */
  readonly term?: () => number;
}

export class NodeLinks {
  private readonly membership: Membership;
  private readonly options: NodeLinksOptions;
  private readonly links = new Map<string, NodeLink>();
  /** Each node's bulk limit (RC.STATS), learnt when a move starts. */
  private readonly maxBulk = new Map<string, number>();

  constructor(membership: Membership, options: NodeLinksOptions) {
    this.membership = membership;
    this.options = options;
  }

  /** The link to a node, made again when the node moved to a new address. */
  get(id: string): NodeLink {
    const node = this.membership.get(id);
    if (node === undefined) throw new Error(`unknown auxiliary node ${id}`);
    let link = this.links.get(id);
    if (
      link !== undefined &&
      (link.options.host !== node.host || link.options.port !== node.port)
    ) {
      link.close();
      link = undefined;
    }
    if (link === undefined) {
      link = new NodeLink({
        host: node.host,
        port: node.port,
        secret: this.options.secret,
        timeoutMs: this.options.timeoutMs,
        transport: this.options.transport,
      });
      this.links.set(id, link);
    }
    return link;
  }

  /**
   * The most page bytes one RC.PUTPAGE or RC.CDELPAGE to `id` carries: the chunk, or less when
   * the node accepts smaller bulks (learnt from RC.STATS).
   */
  pageLimit(id: string): number {
    const max = this.maxBulk.get(id);
    const chunk = this.options.maxChunk;
    return max === undefined || max <= 0 ? chunk : Math.min(chunk, max);
  }

  noteLimit(id: string, stats: NodeStats): void {
    if (typeof stats.maxBulk === "number") this.maxBulk.set(id, stats.maxBulk);
  }

  /** Learns (again) the bulk limit of every node a move may write to. */
  async learnLimits(ids: Iterable<string>): Promise<void> {
    this.maxBulk.clear();
    await Promise.all(
      [...ids].map(async (id) => {
        if (this.membership.get(id)?.health.inRing !== true) return;
        try {
          const term = this.options.term?.() ?? 0;
          const stats = await this.get(id).request((w) => encodeStats(w, term), readStatsReply);
          this.noteLimit(id, stats);
        } catch {
          // down or unreachable: its writes fail and the move retries
        }
      }),
    );
  }

  close(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }
}

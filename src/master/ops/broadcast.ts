// Whole-cluster commands: the same request to every node in the ring.
//
//   FLUSHALL ─► RC.FLUSH (one version) to every node ─► OK when every node applied it
//   DBSIZE   ─► RC.STATS to every node ─► the sum of their entries / R (approximate)
import { performance } from "node:perf_hooks";
import type { RingcacheError } from "../../errors.js";
import { encodeFlush, encodeStats, readStatsReply, unwrap } from "../../protocol/internal/index.js";
import type { RespValue } from "../../protocol/resp/index.js";
import type { NodeClient, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import { noOwners, type OpSink } from "./op.js";

export type BroadcastKind = "flush" | "stats";

export class BroadcastOp<C> implements ReplyTarget {
  readonly router: Router;
  readonly kind: BroadcastKind;
  readonly sink: OpSink<BroadcastOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  error: RingcacheError | null = null;
  /** Nodes that answered. */
  answered = 0;
  /** STATS: the sum of the nodes' live entries. */
  entries = 0;
  /** Copies of each key, to turn the sum of entries into a number of keys. */
  readonly replicas: number;
  private pending = 0;
  private failure: RingcacheError | null = null;

  constructor(router: Router, kind: BroadcastKind, sink: OpSink<BroadcastOp<C>>, ctx: C) {
    this.router = router;
    this.kind = kind;
    this.sink = sink;
    this.ctx = ctx;
    this.replicas = router.topology.replicas;
    this.startedAt = performance.now();
  }

  start(): this {
    const router = this.router;
    const kind = this.kind;
    const clients = router.ringClients();
    const version = kind === "flush" ? router.clock.next() : 0;
    this.pending = 1;
    for (let i = 0; i < clients.length; i++) {
      const client = clients[i] as NodeClient;
      const conn = client.connection(router.affinity);
      if (conn === null) {
        // FLUSHALL must reach every node; DBSIZE is approximate and counts who answers.
        if (kind === "flush") this.error ??= client.downError;
        continue;
      }
      if (kind === "flush") encodeFlush(conn.writer(), version);
      else encodeStats(conn.writer());
      conn.expect(this, i);
      this.pending++;
    }
    if (clients.length === 0) this.error = noOwners(router.topology);
    this.done();
    return this;
  }

  /** Approximate number of keys: the sum of every node's entries divided by R. */
  get keys(): number {
    return this.replicas === 0 ? 0 : Math.round(this.entries / this.replicas);
  }

  onNodeReply(_token: number, reply: RespValue): void {
    try {
      if (this.kind === "stats") this.entries += readStatsReply(reply).entries;
      else unwrap(reply);
      this.answered++;
    } catch (err) {
      this.failure = err as RingcacheError;
    }
    this.done();
  }

  onNodeError(_token: number, error: RingcacheError): void {
    this.failure = error;
    this.done();
  }

  private done(): void {
    if (--this.pending !== 0) return;
    if (this.failure !== null && (this.kind === "flush" || this.answered === 0)) {
      this.error ??= this.failure;
    }
    this.sink.opDone(this);
  }
}

// A client of the simulated cluster, as the checker's workload sees one (KvClient): each
// request crosses the network to a master (its own, or the next live one, as NGINX would send
// it), runs there as the master's own read or write operation, and its answer crosses back.
import { RingcacheError } from "../../src/errors.js";
import type { OpSink } from "../../src/master/ops/op.js";
import { ReadOp } from "../../src/master/ops/read.js";
import { ScanOp } from "../../src/master/ops/scan.js";
import { formatScanCursor, parseScanCursor } from "../../src/redis/scan.js";
import { WriteOp } from "../../src/master/ops/write.js";
import type { KvClient } from "../helpers/checker.js";
import type { SimCluster, SimMaster } from "./cluster.js";

interface Pending<T> {
  readonly registry: SimClients;
  readonly master: SimMaster;
  settled: boolean;
  resolve(value: T): void;
  reject(err: Error): void;
}

/** Most time a client waits before sending a request (ms). */
const THINK_MS = 10;

const LOST = new RingcacheError("UNAVAILABLE", "connection to the master lost");

/** Clients' requests in flight, by master, so that a master's death fails them (see lost()). */
export class SimClients {
  readonly cluster: SimCluster;
  private readonly inFlight = new Set<Pending<unknown>>();

  constructor(cluster: SimCluster) {
    this.cluster = cluster;
  }

  /** One client per master, each request to any live master (as through NGINX). */
  all(): SimClient[] {
    return this.cluster.masters.map((_, i) => new SimClient(this, -1, i));
  }

  /** One client per master, sticking to it while it lives (for verification through each). */
  each(): SimClient[] {
    return this.cluster.masters.map((_, i) => new SimClient(this, i, i));
  }

  /** The master died: its requests in flight are lost (maybe applied, maybe not). */
  lost(master: string): void {
    for (const p of [...this.inFlight]) if (p.master.id === master) this.end(p, LOST, null);
  }

  /** Sends `start` to a live master; the op's sink settles through end(). */
  submit<T>(
    preferred: number,
    affinity: number,
    start: (m: SimMaster, p: Pending<T>) => void,
  ): Promise<T> {
    const cluster = this.cluster;
    const live = cluster.masters.filter((m) => m.alive && m.ready);
    // NGINX spreads requests over the masters: any master may serve any key, so a key written
    // through one is read through another. A client sticks to one master only when asked to.
    const master =
      (preferred >= 0 ? live.find((m) => m.id === cluster.masters[preferred]?.id) : undefined) ??
      live[Math.floor(cluster.base.random() * live.length)];
    return new Promise<T>((resolve, reject) => {
      if (master === undefined) {
        cluster.base.schedule(5, () => reject(new RingcacheError("UNAVAILABLE", "no master")));
        return;
      }
      const p: Pending<T> = { registry: this, master, settled: false, resolve, reject };
      this.inFlight.add(p);
      // A client thinks a little between requests, so a run's load is a few hundred a second.
      master.sched.schedule(cluster.delay() + THINK_MS * cluster.base.random(), () => {
        master.core.router.affinity = affinity;
        start(master, p);
      });
    });
  }

  /** The answer crosses back to the client. */
  end<T>(p: Pending<T>, error: Error | null, value: T): void {
    if (p.settled) return;
    p.settled = true;
    this.inFlight.delete(p);
    this.cluster.base.schedule(this.cluster.delay(), () => {
      if (error === null) p.resolve(value);
      else p.reject(error);
    });
  }
}

const VALUE_SINK: OpSink<ReadOp<Pending<Buffer | null>>> = {
  opDone(op) {
    const p = op.ctx;
    // The value is a view valid during this call only.
    p.registry.end(p, op.error, op.value === null ? null : Buffer.from(op.value));
  },
};

const WRITE_SINK: OpSink<WriteOp<Pending<number>>> = {
  opDone(op) {
    const p = op.ctx;
    p.registry.end(p, op.error, op.existed ? 1 : 0);
  },
};

/** One SCAN call's answer: the next cursor ("0" at the end) and the keys. */
export interface ScanPage {
  readonly cursor: string;
  readonly keys: string[];
}

const SCAN_SINK: OpSink<ScanOp<Pending<ScanPage>>> = {
  opDone(op) {
    const p = op.ctx;
    const keys: string[] = [];
    // The op's body holds the keys as RESP bulks: $n, the key, CRLF.
    const body = op.body.take();
    for (let at = 0; at < body.length;) {
      const eol = body.indexOf("\r\n", at);
      const n = Number(body.subarray(at + 1, eol).toString("latin1"));
      keys.push(body.subarray(eol + 2, eol + 2 + n).toString("latin1"));
      at = eol + 2 + n + 2;
    }
    p.registry.end(p, op.error, { cursor: formatScanCursor(op.at, op.hint), keys });
  },
};

export class SimClient implements KvClient {
  private readonly registry: SimClients;
  /** The master it sticks to (-1: any live one, per request). */
  private readonly preferred: number;
  /** Which of a node's connections its requests take (see Router.affinity). */
  private readonly affinity: number;

  constructor(registry: SimClients, preferred: number, affinity: number) {
    this.registry = registry;
    this.preferred = preferred;
    this.affinity = affinity;
  }

  set(key: string, value: Buffer): Promise<void> {
    return this.registry
      .submit<number>(this.preferred, this.affinity, (m, p) => {
        new WriteOp(m.core.router, "put", Buffer.from(key), value, 0, WRITE_SINK, p).start();
      })
      .then(() => undefined);
  }

  get(key: string): Promise<Buffer | null> {
    return this.registry.submit<Buffer | null>(this.preferred, this.affinity, (m, p) => {
      new ReadOp(m.core.router, Buffer.from(key), "value", VALUE_SINK, p).start();
    });
  }

  /** SCAN cursor COUNT count, through a live master as NGINX would pick it. */
  scan(cursor: string, count: number): Promise<ScanPage> {
    const c = parseScanCursor(Buffer.from(cursor));
    const window = c.hint === 0 ? 0 : 2 ** (c.hint - 1);
    return this.registry.submit<ScanPage>(this.preferred, this.affinity, (m, p) => {
      new ScanOp(m.core.router, "scan", c.bucket, window, count, null, null, SCAN_SINK, p).start();
    });
  }

  del(key: string): Promise<number> {
    return this.registry.submit<number>(this.preferred, this.affinity, (m, p) => {
      new WriteOp(m.core.router, "del", Buffer.from(key), null, 0, WRITE_SINK, p).start();
    });
  }
}

/**
 * How the checker counts a failed request: only answers that say nothing was sent are
 * "failed"; anything else (a timeout, a lost connection, an owner that could not be reached
 * after some were written) may have been applied.
 */
export function classify(err: unknown): "failed" | "indeterminate" {
  const message = err instanceof Error ? err.message : String(err);
  if (/no auxiliary node is up|waiting for the leading master's ring|^no master$/.test(message)) {
    return "failed";
  }
  return "indeterminate";
}

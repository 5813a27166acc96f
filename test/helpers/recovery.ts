// Helpers of the recovery fault tests: preloading keys, reading the nodes' counters, waiting
// for the leader's rebalance to finish, a reader that measures misses of keys that exist, and
// reading a master's backup (its files, or its stream over HTTP).
import { readFileSync, readdirSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { BackupRecord } from "../../src/master/backup.js";
import type { AuxiliaryHandle } from "./auxiliary.js";
import { decodeRecords } from "./backup-format.js";
import type { MasterHandle } from "./cluster.js";
import { waitFor } from "./wait.js";

/** Keys preloaded by the tests: 20k by default, 100k with RINGCACHE_SOAK=1. */
export const PRELOAD_KEYS = process.env["RINGCACHE_SOAK"] === "1" ? 100_000 : 20_000;

export interface RebalanceView {
  readonly running: boolean;
  readonly keysMovedThisMove: number;
  readonly keysMovedTotal: number;
  readonly movesCompleted: number;
  readonly restarts: number;
}

export interface RecoveryView {
  readonly epoch: string;
  readonly leader: string | null;
  /** inRing: up or suspect to this master's probes; share > 0: a member of its ring. */
  readonly nodes: readonly { id: string; state: string; inRing: boolean; share: number }[];
  readonly rebalance: RebalanceView | null;
  readonly coordination?: {
    readonly generation: number | null;
    /** The masters this one hears from (built-in: answered its recent polls). */
    readonly livePeers?: readonly string[];
    readonly sources: readonly (readonly string[])[];
    readonly lastPropagationMs: number;
    readonly kind?: string;
    /** etcd: whether the master reaches etcd (false: nobody leads, no ring changes). */
    readonly connected?: boolean;
    /** etcd: the leader's term, its election key's create revision. */
    readonly term?: number;
  };
}

export async function recoveryView(m: MasterHandle): Promise<RecoveryView> {
  const res = await fetch(m.url("/v1/cluster"), { signal: AbortSignal.timeout(2000) });
  return (await res.json()) as RecoveryView;
}

export function preloadValue(i: number): string {
  return `preloaded-value-${i}`;
}

/** SETs pre:0 … pre:(n-1) through one master, pipelined. */
export async function preload(port: number, n: number, secret?: string): Promise<void> {
  const redis = new Redis({ port, ...(secret !== undefined ? { password: secret } : {}) });
  try {
    for (let at = 0; at < n; at += 1000) {
      const p = redis.pipeline();
      for (let i = at; i < Math.min(n, at + 1000); i++) p.set(`pre:${i}`, preloadValue(i));
      const results = await p.exec();
      for (const [err] of results ?? []) if (err !== null) throw err;
    }
  } finally {
    redis.disconnect();
  }
}

/** Reads every preloaded key; returns how many are missing or wrong. */
export async function countMissing(port: number, n: number, secret?: string): Promise<number> {
  const redis = new Redis({ port, ...(secret !== undefined ? { password: secret } : {}) });
  let missing = 0;
  try {
    for (let at = 0; at < n; at += 500) {
      const keys = Array.from({ length: Math.min(500, n - at) }, (_, j) => `pre:${at + j}`);
      const values = await redis.mget(keys);
      values.forEach((v, j) => {
        if (v !== preloadValue(at + j)) missing++;
      });
    }
  } finally {
    redis.disconnect();
  }
  return missing;
}

export interface NodeCounts {
  readonly entries: number;
  readonly tombstones: number;
}

/** RC.STATS of one auxiliary node. */
export async function nodeCounts(aux: AuxiliaryHandle, secret?: string): Promise<NodeCounts> {
  const redis = new Redis({
    port: aux.port,
    maxRetriesPerRequest: 0,
    ...(secret !== undefined ? { password: secret } : {}),
  });
  try {
    const body = (await redis.call("RC.STATS")) as string;
    const stats = JSON.parse(body) as NodeCounts;
    return { entries: stats.entries, tombstones: stats.tombstones };
  } finally {
    redis.disconnect();
  }
}

/**
 * Waits until master `m` sees `ringSize` nodes in its ring and no move in progress, after at
 * least `moves` completed moves in total. Returns the view.
 */
export async function waitRebalanced(
  m: MasterHandle,
  ringSize: number,
  moves: number,
  timeoutMs = 60_000,
): Promise<RecoveryView> {
  let view: RecoveryView | undefined;
  await waitFor(
    `master ${m.id} to finish rebalancing onto ${ringSize} nodes`,
    async () => {
      view = await recoveryView(m);
      const r = view.rebalance;
      return (
        view.nodes.filter((n) => n.inRing).length === ringSize &&
        r !== null &&
        !r.running &&
        r.movesCompleted >= moves &&
        (view.coordination?.sources.length ?? 0) === 0
      );
    },
    { timeoutMs, intervalMs: 50 },
  );
  return view as RecoveryView;
}

/**
 * Reads preloaded keys (never written again) in a loop until stopped, counting misses: a
 * rebalance must cause none.
 */
export class HitReader {
  reads = 0;
  misses = 0;
  errors = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(port: number, n: number, secret?: string) {
    const redis = new Redis({
      port,
      maxRetriesPerRequest: 1,
      ...(secret !== undefined ? { password: secret } : {}),
    });
    this.done = (async () => {
      let i = 0;
      try {
        while (!this.stopped) {
          const keys = Array.from({ length: 50 }, () => `pre:${(i++ * 7919) % n}`);
          try {
            const values = await redis.mget(keys);
            this.reads += values.length;
            for (const v of values) if (v === null) this.misses++;
          } catch {
            this.errors++;
          }
        }
      } finally {
        redis.disconnect();
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** The newest record per key over every backup file in `dir` (a master's backup directory). */
export function backupFiles(dir: string): Map<string, BackupRecord> {
  const out = new Map<string, BackupRecord>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.filter((n) => n.endsWith(".rcbackup"))) {
    for (const r of decodeRecords(readFileSync(join(dir, name))).records) {
      const held = out.get(r.key.toString("latin1"));
      if (held === undefined || r.version > held.version) out.set(r.key.toString("latin1"), r);
    }
  }
  return out;
}

export interface BackupResponse {
  readonly status: number;
  readonly body: Buffer;
  /** The record count the stream ends with (undefined: none). */
  readonly records: string | undefined;
}

/** GET /v1/internal/backup of master `m`, read whole (with `authorization` when given). */
export function backupStream(
  m: MasterHandle,
  authorization?: string,
  query = "",
): Promise<BackupResponse> {
  return new Promise((resolve, reject) => {
    const headers = authorization === undefined ? {} : { authorization };
    const req = get(m.url(`/v1/internal/backup${query}`), { headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("error", reject);
      res.once("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          records: res.trailers["x-ringcache-records"],
        }),
      );
    });
    req.once("timeout", () => req.destroy(new Error("no answer in time")));
    req.once("error", reject);
  });
}

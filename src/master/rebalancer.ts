// The rebalancer (the leader only): on every ring change A -> B, moves exactly the entries whose
// owner set changed, from a holder in A to the owners in B that lacked them, then removes them
// from the holders that no longer own them.
//
//   plan(A, B, R) ─► per range: designated sender = a leaving node in A's owners, else the
//                    first one up ─► tasks grouped by sender (one RC.SCAN … RANGES per sender)
//   joiner J      ─► hand-off task: all J holds goes to its other owners in B (both ways: J's
//                    tombstones reach owners with older copies); dropped from J where not owned
//   each page     ─► RC.MPUT / RC.DEL (versioned) to owners in B not in A
//                 ─► RC.MCDEL on owners in A not in B (only if unchanged since copied)
//                 ─► appended to the master's backup
//   between pages ─► the ring changed? stop; the move restarts from the current ring, with
//                    every ring whose move did not finish kept as a source
//
// What must stay true:
// - Every step is idempotent and versioned, so a move that restarts, or two leaders moving at
//   once, only waste work: nothing acknowledged is lost or overwritten by an older version.
// - A holder is emptied (CDEL) only of entries every receiver applied or already held newer.
// - While sources remain, `membership.previous` is the oldest of them: reads of keys whose
//   owners changed ask its owners too (see ReadOp), so a move causes no spurious miss.
import { performance } from "node:perf_hooks";
import type { Logger } from "../log.js";
import {
  encodeDel,
  encodeMCDel,
  encodeMPut,
  encodeScan,
  encodeStats,
  prepareRanges,
  readMPutOutcomes,
  readScanReply,
  readStatsReply,
  readWriteOutcome,
  unwrap,
  type NodeStats,
  type PutEntry,
  type ScanPage,
  type ScannedEntry,
} from "../protocol/internal.js";
import { RespWriter, type RespValue } from "../protocol/resp/index.js";
import { hashKey } from "../ring/hash.js";
import { plan, type HashRange } from "../ring/plan.js";
import { Ring } from "../ring/ring.js";
import type { Backup, BackupRecord } from "./backup.js";
import { NodeLink } from "./link.js";
import type { Membership } from "./membership.js";

export interface RebalancerOptions {
  readonly replicas: number;
  readonly secret?: string | undefined;
  /** A recovery request with no reply for this long fails its link (and the move retries). */
  readonly linkTimeoutMs: number;
  /** Pause before retrying a move that failed (a node went away mid-way). */
  readonly retryDelayMs: number;
  /** Tombstone lifetime: a node back with a snapshot older than this drops the snapshot. */
  readonly tombstoneTtlMs: number;
  /** Store slots an RC.SCAN page visits. */
  readonly scanCount?: number;
  /**
   * Share of its time a sender's move may spend working, in (0, 1]: after each page it rests
   * for the time the page took times (1 / share - 1). Below 1 the move leaves the machine's
   * cores to client traffic, whose round trips need every process on their way (default 1).
   */
  readonly share?: number;
  readonly logger: Logger;
}

export interface RebalancerDeps {
  readonly membership: Membership;
  readonly backup: Backup | null;
  /** Publishes the ring and the move's sources to the peers; awaited before data moves. */
  readonly publish: () => Promise<void>;
  /** The newest version a clock issued at or before a Unix time in ms (snapshot age checks). */
  readonly versionAt: (unixMs: number) => number;
}

/** What /v1/cluster and `ringcache status` show of the rebalancer. */
export interface RebalanceStatus {
  readonly running: boolean;
  /** Epochs of the rings whose data is still being moved to the current ring. */
  readonly sources: readonly string[];
  readonly target: string | null;
  readonly tasksTotal: number;
  readonly tasksDone: number;
  /** Entries copied by the move in progress (or the last one). */
  readonly keysMovedThisMove: number;
  readonly keysMovedTotal: number;
  readonly keysRemovedTotal: number;
  readonly movesCompleted: number;
  readonly restarts: number;
  readonly failures: number;
  readonly lastDurationMs: number;
  readonly lastError: string | null;
}

interface Task {
  readonly sender: string;
  readonly ranges: HashRange[] | undefined;
  /**
   * move: to owners in B not in A, remove from owners in A not in B. handoff (a node in B not
   * in A): all the sender holds, to its other owners in B, then removed from the sender where
   * it is not an owner. drop: the sender's stale snapshot entries (at or below `floor`)
   * removed (see vet()).
   */
  readonly kind: "move" | "handoff" | "drop";
  readonly floor: number;
}

const NOTHING: readonly string[] = [];
/**
 * Store slots an RC.SCAN page visits by default. Small on purpose: every step of a move (the
 * node's scan, the master's parse and encode, the receiver's apply, the conditional delete)
 * runs in one turn of some event loop, and client requests wait behind it. Client traffic is
 * latency-bound (a few connections, a few commands in flight each), so a move must never hold
 * a loop for more than about a millisecond.
 */
const SCAN_COUNT = 512;
/** An RC.MPUT or RC.MCDEL carries at most this many entries and about this many bytes. */
const BATCH_ENTRIES = 128;
const BATCH_BYTES = 32 * 1024;

export class Rebalancer {
  readonly options: RebalancerOptions;
  private readonly deps: RebalancerDeps;
  /** Rings whose data has not been moved to the current ring yet, oldest first. */
  private sources: Ring[] = [];
  private running: Promise<void> | null = null;
  private active = false;
  private readonly links = new Map<string, NodeLink>();
  private readonly scratchFrom: string[] = [];
  private readonly scratchTo: string[] = [];
  // Status and counters.
  private target: string | null = null;
  private tasksTotal = 0;
  private tasksDone = 0;
  private movedThisMove = 0;
  keysMovedTotal = 0;
  keysRemovedTotal = 0;
  movesCompleted = 0;
  restarts = 0;
  failures = 0;
  private lastDurationMs = 0;
  private lastError: string | null = null;

  constructor(options: RebalancerOptions, deps: RebalancerDeps) {
    this.options = options;
    this.deps = deps;
  }

  /** Whether a move is in progress (or waiting to retry). */
  get busy(): boolean {
    return this.sources.length > 0;
  }

  /** Epochs of the sources, oldest first. */
  get sourceMembers(): string[][] {
    return this.sources.map((r) => r.members.map((m) => m.id));
  }

  status(): RebalanceStatus {
    return {
      running: this.sources.length > 0,
      sources: this.sources.map((r) => r.epoch),
      target: this.target,
      tasksTotal: this.tasksTotal,
      tasksDone: this.tasksDone,
      keysMovedThisMove: this.movedThisMove,
      keysMovedTotal: this.keysMovedTotal,
      keysRemovedTotal: this.keysRemovedTotal,
      movesCompleted: this.movesCompleted,
      restarts: this.restarts,
      failures: this.failures,
      lastDurationMs: this.lastDurationMs,
      lastError: this.lastError,
    };
  }

  /**
   * Leads (moves data) or not. A master that stops leading stops between two pages and forgets
   * its sources (the new leader resumes the ones it published).
   */
  setActive(active: boolean): void {
    if (this.active === active) return;
    this.active = active;
    if (active) this.kick();
    else {
      this.sources = [];
      this.deps.membership.previous = null;
    }
  }

  /**
   * The ring changed from `from` to the membership's current ring. Ignored unless leading:
   * a master that takes over resumes the sources the previous leader published.
   */
  ringChanged(from: Ring): void {
    if (!this.active) return;
    if (from.size > 0 && !this.sources.some((s) => s.epoch === from.epoch)) {
      this.sources.push(from);
    }
    this.deps.membership.previous = this.sources[0] ?? null;
    this.kick();
  }

  /** Takes over the sources of a move another leader did not finish. */
  resume(members: readonly (readonly string[])[], vnodes: number): void {
    for (const ids of members) {
      this.ringChanged(
        Ring.of(
          ids.map((id) => ({ id })),
          { vnodes },
        ),
      );
    }
  }

  close(): void {
    this.active = false;
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  private kick(): void {
    if (!this.active || this.running !== null || this.sources.length === 0) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      // A change that arrived as the loop ended.
      if (this.active && this.sources.length > 0) this.kick();
    });
  }

  private async loop(): Promise<void> {
    const log = this.options.logger;
    const membership = this.deps.membership;
    while (this.active && this.sources.length > 0) {
      const to = membership.ring;
      const startedAt = performance.now();
      this.target = to.epoch;
      this.movedThisMove = 0;
      let complete = true;
      try {
        await this.deps.publish();
        log.info({ from: this.sources.map((s) => s.epoch), to: to.epoch }, "rebalance started");
        for (const from of [...this.sources]) {
          if (!(await this.move(from, to))) {
            complete = false;
            break;
          }
        }
      } catch (err) {
        complete = false;
        this.failures++;
        this.lastError = (err as Error).message;
        log.warn({ err: this.lastError }, "rebalance step failed; retrying");
        await delay(this.options.retryDelayMs);
      }
      if (complete && membership.ring === to && this.active) {
        this.sources = [];
        membership.previous = null;
        this.movesCompleted++;
        this.lastDurationMs = performance.now() - startedAt;
        this.lastError = null;
        log.info(
          { epoch: to.epoch, keysMoved: this.movedThisMove, ms: Math.round(this.lastDurationMs) },
          "rebalance done",
        );
        await this.deps.publish().catch(() => undefined);
      } else if (membership.ring !== to) {
        this.restarts++;
        log.info(
          { from: to.epoch, to: membership.ring.epoch },
          "ring changed mid-move; restarting",
        );
      }
    }
  }

  /** Moves the data of `from` to `to`; false when the ring changed (or leadership was lost). */
  private async move(from: Ring, to: Ring): Promise<boolean> {
    const tasks = this.tasksFor(from, to);
    this.tasksTotal = tasks.length;
    this.tasksDone = 0;
    const results = await Promise.all(tasks.map((t) => this.runTask(t, from, to)));
    return results.every((ok) => ok);
  }

  private tasksFor(from: Ring, to: Ring): Task[] {
    const r = this.options.replicas;
    const membership = this.deps.membership;
    const up = (id: string): boolean => membership.get(id)?.health.inRing === true;
    const bySender = new Map<string, HashRange[]>();
    for (const m of plan(from, to, r)) {
      const holders = m.before.filter(up);
      const sender = holders.find((id) => membership.leaving.has(id)) ?? holders[0];
      if (sender === undefined) continue; // nobody up holds the range: nothing to copy
      let ranges = bySender.get(sender);
      if (ranges === undefined) bySender.set(sender, (ranges = []));
      ranges.push({ start: m.start, end: m.end });
    }
    const tasks: Task[] = [];
    for (const [sender, ranges] of bySender) {
      tasks.push({ sender, ranges, kind: "move", floor: 0 });
    }
    // A node that joins or returns (vetted first, see vet()) sends everything it holds, entries
    // and tombstones, to their other owners in B, and drops what it does not own. The senders
    // above copy only one way (A's holders to B's new owners), so without this a returning
    // node's tombstone would never reach an owner holding an older live copy: at a whole-system
    // restart the rings form one node at a time, and the first owner of a two-node ring may be
    // the one that kept a copy deleted elsewhere. Both directions together leave every owner of
    // a changed range with the newest version any holder had.
    for (const m of to.members) {
      if (from.members.some((f) => f.id === m.id) || !up(m.id)) continue;
      tasks.push({ sender: m.id, ranges: undefined, kind: "handoff", floor: 0 });
    }
    return tasks;
  }

  /**
   * Vets a node that comes back while others are in the ring, before it is admitted: when the
   * cluster ran without it for longer than the tombstone lifetime (a member has been up since
   * before the node's snapshot was written, and that is longer ago than the lifetime), its
   * restored entries are dropped, since deletes made meanwhile may have left no tombstone. A
   * whole-system restart keeps them: every member started after the node's snapshot. Not by
   * RC.FLUSH: its floor would also refuse the copies of older live entries the move brings.
   * Resolves with the number of entries dropped.
   */
  async vet(id: string, members: readonly string[]): Promise<number> {
    const stats: NodeStats = await this.link(id).request(encodeStats, readStatsReply);
    const snapshotAt = stats.restoredSnapshotAt;
    if (snapshotAt <= 0) return 0;
    const now = Date.now();
    const others = await Promise.all(
      members
        .filter((m) => m !== id)
        .map((m) =>
          this.link(m)
            .request(encodeStats, readStatsReply)
            .catch(() => null),
        ),
    );
    const liveWithout = Math.max(
      0,
      ...others.map((o) => (o === null ? 0 : now - Math.max(snapshotAt, o.startedAt))),
    );
    if (liveWithout <= this.options.tombstoneTtlMs) return 0;
    this.options.logger.warn(
      { node: id, snapshotAt: new Date(snapshotAt).toISOString(), liveWithoutMs: liveWithout },
      "node returned with a snapshot older than the tombstone lifetime; dropping its entries",
    );
    const task: Task = {
      sender: id,
      ranges: undefined,
      kind: "drop",
      floor: this.deps.versionAt(snapshotAt),
    };
    let dropped = 0;
    const link = this.link(id);
    let cursor = 0;
    do {
      const page: ScanPage = await link.request(
        (w) => encodeScan(w, cursor, this.options.scanCount ?? SCAN_COUNT),
        copyScanPage,
      );
      dropped += await this.dropPage(task, page.entries);
      cursor = page.cursor;
    } while (cursor !== 0);
    return dropped;
  }

  private async runTask(task: Task, from: Ring, to: Ring): Promise<boolean> {
    const link = this.link(task.sender);
    const count = this.options.scanCount ?? SCAN_COUNT;
    const ranges =
      task.ranges === undefined ? undefined : prepareRanges(task.ranges, new RespWriter());
    const scan = (cursor: number): Promise<ScanPage> =>
      link.request((w) => encodeScan(w, cursor, count, ranges), copyScanPage);
    // One page is copied while the next is scanned. (More pages copied at once moved no faster
    // on two cores and only lengthened the queues client requests wait behind.)
    const share = this.options.share ?? 1;
    let since = performance.now();
    let next: Promise<ScanPage> | null = scan(0);
    try {
      while (next !== null) {
        const page: ScanPage = await next;
        next = page.cursor === 0 ? null : scan(page.cursor);
        if (!this.active || this.deps.membership.ring !== to) return false;
        await this.copyPage(task, page.entries, from, to);
        if (share < 1) {
          await delay((performance.now() - since) * (1 / share - 1));
          since = performance.now();
        }
      }
    } finally {
      next?.catch(() => undefined);
    }
    this.tasksDone++;
    return true;
  }

  private async dropPage(task: Task, entries: readonly ScannedEntry[]): Promise<number> {
    const stale = entries.filter((e) => e.version <= task.floor);
    if (stale.length === 0) return 0;
    const link = this.link(task.sender);
    await Promise.all(
      batches(stale).map((list) => link.request((w) => encodeMCDel(w, list), readCount)),
    );
    return stale.length;
  }

  private async copyPage(
    task: Task,
    entries: readonly ScannedEntry[],
    from: Ring,
    to: Ring,
  ): Promise<void> {
    const r = this.options.replicas;
    const membership = this.deps.membership;
    const now = Date.now();
    const puts = new Map<string, PutEntry[]>();
    const dels = new Map<string, ScannedEntry[]>();
    /** Per entry: where it goes, and who drops it once every receiver has it. */
    const plans: { entry: ScannedEntry; droppers: readonly string[]; ok: boolean }[] = [];
    const byKey = new Map<ScannedEntry, number>();
    const fromIds = this.scratchFrom;
    const toIds = this.scratchTo;
    for (const e of entries) {
      if (!e.tombstone && e.expiresAt !== 0 && e.expiresAt <= now) continue;
      const hash = hashKey(e.key);
      const nf = task.kind === "move" ? from.ownerIdsInto(hash, r, fromIds) : 0;
      const nt = to.ownerIdsInto(hash, r, toIds);
      const receivers: string[] = [];
      for (let i = 0; i < nt; i++) {
        const id = toIds[i] as string;
        if (id === task.sender || includes(fromIds, nf, id)) continue;
        if (membership.get(id)?.health.inRing !== true) continue;
        receivers.push(id);
      }
      let droppers: readonly string[] = NOTHING;
      if (task.kind === "handoff" && !includes(toIds, nt, task.sender)) droppers = [task.sender];
      for (let i = 0; i < nf; i++) {
        const id = fromIds[i] as string;
        if (!includes(toIds, nt, id) && membership.get(id)?.health.inRing === true) {
          if (droppers === NOTHING) droppers = [];
          (droppers as string[]).push(id);
        }
      }
      byKey.set(e, plans.length);
      plans.push({ entry: e, droppers, ok: true });
      for (const id of receivers) {
        if (e.tombstone) pushTo(dels, id, e);
        else pushTo(puts, id, e);
      }
    }
    const sent: Promise<void>[] = [];
    const fail = (e: ScannedEntry): void => {
      const i = byKey.get(e);
      if (i !== undefined) (plans[i] as { ok: boolean }).ok = false;
    };
    for (const [id, list] of puts) {
      const link = this.link(id);
      for (const chunk of batches(list)) {
        sent.push(
          link
            .request((w) => encodeMPut(w, chunk), readMPutOutcomes)
            .then(
              () => undefined, // applied, or the receiver already holds a newer version
              () => chunk.forEach((e) => fail(e as ScannedEntry)),
            ),
        );
      }
    }
    for (const [id, list] of dels) {
      const link = this.link(id);
      for (const e of list) {
        sent.push(
          link
            .request((w) => encodeDel(w, e.key, e.version), readWriteOutcome)
            .then(
              () => undefined,
              () => fail(e),
            ),
        );
      }
    }
    await Promise.all(sent);
    let moved = 0;
    for (const list of puts.values()) moved += list.length;
    for (const list of dels.values()) moved += list.length;
    this.movedThisMove += moved;
    this.keysMovedTotal += moved;
    if (this.deps.backup !== null && plans.length > 0) {
      const records: BackupRecord[] = [];
      for (const p of plans) records.push(p.entry);
      this.deps.backup.append(records);
    }
    // One RC.MCDEL per holder and page.
    const drops = new Map<string, ScannedEntry[]>();
    for (const p of plans) {
      if (!p.ok) continue;
      for (const id of p.droppers) pushTo(drops, id, p.entry);
    }
    const removed: Promise<unknown>[] = [];
    for (const [id, all] of drops) {
      for (const list of batches(all)) {
        removed.push(
          this.link(id)
            .request((w) => encodeMCDel(w, list), readCount)
            .then(
              (n) => {
                this.keysRemovedTotal += n;
              },
              () => undefined, // a holder gone meanwhile keeps a copy: harmless, versioned
            ),
        );
      }
    }
    await Promise.all(removed);
    if (plans.some((p) => !p.ok)) {
      throw new Error("some entries could not be copied to their new owners");
    }
  }

  private link(id: string): NodeLink {
    const node = this.deps.membership.get(id);
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
        timeoutMs: this.options.linkTimeoutMs,
      });
      this.links.set(id, link);
    }
    return link;
  }

  /** Applies records (a backup replay) to their owners in the current ring; returns how many. */
  async replay(records: readonly BackupRecord[]): Promise<number> {
    const ring = this.deps.membership.ring;
    const r = this.options.replicas;
    const ids = this.scratchTo;
    const puts = new Map<string, PutEntry[]>();
    const dels = new Map<string, BackupRecord[]>();
    for (const rec of records) {
      const n = ring.ownerIdsInto(hashKey(rec.key), r, ids);
      for (let i = 0; i < n; i++) {
        if (rec.tombstone) pushTo(dels, ids[i] as string, rec);
        else pushTo(puts, ids[i] as string, rec);
      }
    }
    const sent: Promise<unknown>[] = [];
    for (const [id, list] of puts) {
      for (let at = 0; at < list.length; at += 256) {
        const chunk = list.slice(at, at + 256);
        sent.push(this.link(id).request((w) => encodeMPut(w, chunk), readMPutOutcomes));
      }
    }
    for (const [id, list] of dels) {
      for (const rec of list) {
        sent.push(
          this.link(id).request((w) => encodeDel(w, rec.key, rec.version), readWriteOutcome),
        );
      }
    }
    await Promise.all(sent);
    return records.length;
  }
}

function readCount(reply: RespValue): number {
  const n = unwrap(reply);
  if (typeof n !== "number") throw new Error("unexpected reply to RC.MCDEL");
  return n;
}

/** RC.SCAN's page with its bulks copied (the decoder's views are valid only in the callback). */
function copyScanPage(reply: RespValue): ScanPage {
  const page = readScanReply(reply);
  for (const e of page.entries) {
    (e as { key: Buffer }).key = Buffer.from(e.key);
    (e as { value: Buffer }).value = Buffer.from(e.value);
  }
  return page;
}

/** `list` cut into RC.MPUT / RC.MCDEL batches bounded in entries and in bytes. */
function batches<T extends { readonly key: Uint8Array; readonly value?: Uint8Array | null }>(
  list: T[],
): T[][] {
  const out: T[][] = [];
  let at = 0;
  while (at < list.length) {
    let end = at;
    let bytes = 0;
    while (end < list.length && end - at < BATCH_ENTRIES && bytes < BATCH_BYTES) {
      const e = list[end] as T;
      bytes += e.key.length + (e.value?.length ?? 0) + 32;
      end++;
    }
    out.push(at === 0 && end === list.length ? list : list.slice(at, end));
    at = end;
  }
  return out;
}

function includes(list: readonly string[], n: number, id: string): boolean {
  for (let i = 0; i < n; i++) if (list[i] === id) return true;
  return false;
}

function pushTo<T>(map: Map<string, T[]>, id: string, item: T): void {
  let list = map.get(id);
  if (list === undefined) map.set(id, (list = []));
  list.push(item);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

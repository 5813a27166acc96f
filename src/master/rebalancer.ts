// The rebalancer (the leader only): on every ring change A -> B, moves exactly the entries whose
// owner set changed, from a holder in A to the owners in B that lacked them, then removes them
// from the holders that no longer own them.
//
//   plan(A, B, R) ─► per range: designated sender = a leaving node in A's owners, else the
//                    first one up ─► tasks grouped by sender (one RC.SCANPAGE … RANGES each)
//   joiner J      ─► hand-off task: all J holds goes to its other owners in B (both ways: J's
//                    tombstones reach owners with older copies); dropped from J where not owned
//   each page     ─► walked once (each entry's key routed; nothing decoded into objects)
//                 ─► its slices, as they are, in RC.PUTPAGE (versioned) to owners in B not in A
//                 ─► appended to the master's backup, as it is
//                 ─► its keys and versions in RC.CDELPAGE to owners in A not in B (only if
//                    unchanged since copied), once every receiver has the page
//   between pages ─► the ring changed? stop; the move restarts from the current ring, with
//                    every ring whose move did not finish kept as a source
//
// What must stay true:
// - Every step is idempotent and versioned, so a move that restarts, or two leaders moving at
//   once, only waste work: nothing acknowledged is lost or overwritten by an older version.
// - A holder is emptied (CDEL) only of entries every receiver applied or already held newer:
//   when any receiver failed a page, no holder drops anything of it and the move retries.
// - While sources remain, `topology.previous` is the oldest of them: reads of keys whose
//   owners changed ask its owners too (see ReadOp), so a move causes no spurious miss.
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  encodeCDel,
  encodeCDelPageHead,
  encodeDel,
  encodeMPut,
  encodePut,
  encodePutPageHead,
  encodeScanPage,
  encodeStats,
  prepareRanges,
  readCount,
  readMPutOutcomes,
  readScanPageReply,
  readStatsReply,
  readWriteOutcome,
  type NodeStats,
  type PutEntry,
  type ScannedPage,
} from "../protocol/internal/index.js";
import { PageReader } from "../protocol/page.js";
import { RespWriter } from "../protocol/resp/index.js";
import { hashKey, hashKeyAt } from "../ring/hash.js";
import { plan, type HashRange } from "../ring/plan.js";
import type { Ring } from "../ring/ring.js";
import type { Backup, BackupRecord } from "./backup.js";
import type { Membership } from "./membership.js";
import { KeyPages, Slices } from "./move-pages.js";
import { NodeLinks } from "./node-links.js";
import type { Topology } from "./topology.js";
import { sleepOn, type Scheduler } from "./transport/scheduler.js";
import { TCP } from "./transport/tcp.js";
import type { Transport } from "./transport/transport.js";

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
  /** How links reach the nodes, and the clock of retries and pacing (default: TCP). */
  readonly transport?: Transport;
}

export interface RebalancerDeps {
  readonly membership: Membership;
  /** The ring routed by, and the move sources (kept there: reads during a move follow them). */
  readonly topology: Topology;
  readonly backup: Backup | null;
  /**
   * Publishes the ring and the move's sources to the peers, and waits for the writes routed by
   * older rings (this master's and the peers') to end; awaited before data moves.
   */
  readonly publish: () => Promise<void>;
  /** The newest version a clock issued at or before a Unix time in ms (snapshot age checks). */
  readonly versionAt: (unixMs: number) => number;
  /**
   * The term of this master's tenure as leader, which every move step carries so that a node
   * refuses the steps of a leader whose term is over (0: none, never refused; default).
   */
  readonly term?: () => number;
}

/** What /v1/cluster and `ringcache status` show of the rebalancer. */
export interface RebalanceStatus {
  readonly running: boolean;
  /** Epochs of the rings whose data is still being moved to the current ring. */
  readonly sources: readonly string[];
  readonly target: string | null;
  readonly tasksTotal: number;
  readonly tasksDone: number;
  /** Hash ranges the senders of this pass copy, and those whose sender finished. */
  readonly rangesTotal: number;
  readonly rangesDone: number;
  /** When the move in progress began (ISO time; kept across restarts and retries), or null. */
  readonly startedAt: string | null;
  /** Entries copied by the move in progress (or the last one). */
  readonly keysMovedThisMove: number;
  readonly keysMovedTotal: number;
  readonly bytesMovedTotal: number;
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
   * it is not an owner.
   */
  readonly kind: "move" | "handoff";
}

/**
 * Store slots an RC.SCANPAGE page visits by default. Every step of a move (the sender's scan,
 * the receiver's apply, the holder's conditional delete) runs in one turn of some event loop,
 * and client requests wait behind it: client traffic is latency-bound (a few connections, a
 * few commands in flight each), so no step may hold a loop for long. At 1024 slots (about 256
 * moved entries when a 4th node joins 3) each stays well under a millisecond. Measured with
 * bench/rebalance: 2048 slots moved faster (216-243k entries/s against 193-214k) but left
 * clients half the throughput (0.06-0.07x against 0.10-0.12x); 512 the reverse (136-152k/s,
 * 0.14-0.16x).
 */
const SCAN_COUNT = 1024;
/**
 * An RC.PUTPAGE or RC.CDELPAGE carries at most this many bytes of a page (a scanned page is
 * about RC.SCANPAGE's SCAN_PAGE_BYTES, so it is usually forwarded whole). An entry larger than
 * a receiver's limit goes alone, as RC.PUT, RC.DEL or RC.CDEL.
 */
const PAGE_CHUNK = 512 * 1024;

export class Rebalancer {
  readonly options: RebalancerOptions;
  private readonly deps: RebalancerDeps;
  private running: Promise<void> | null = null;
  private active = false;
  /** The move's own connections to the nodes, and what each node accepts in one bulk. */
  private readonly links: NodeLinks;
  private readonly scratchFrom: string[] = [];
  private readonly scratchTo: string[] = [];
  // Status and counters.
  private target: string | null = null;
  private tasksTotal = 0;
  private tasksDone = 0;
  rangesTotal = 0;
  rangesDone = 0;
  /**
   * Unix ms at which the move in progress began, 0 when none runs here: set when the loop
   * starts with sources, kept while it restarts or retries, cleared when the move completes or
   * this master stops leading. So "stuck" is a move whose start is long past.
   */
  moveStartedAt = 0;
  private movedThisMove = 0;
  keysMovedTotal = 0;
  /** Bytes of entries (as encoded in pages) copied to new owners. */
  bytesMovedTotal = 0;
  keysRemovedTotal = 0;
  movesCompleted = 0;
  restarts = 0;
  failures = 0;
  private lastDurationMs = 0;
  private lastError: string | null = null;

  private readonly transport: Transport;
  private readonly scheduler: Scheduler;
  /** This master's term as leader, carried by every move step (see RebalancerDeps.term). */
  private readonly term: () => number;

  constructor(options: RebalancerOptions, deps: RebalancerDeps) {
    this.options = options;
    this.deps = deps;
    this.transport = options.transport ?? TCP;
    this.scheduler = this.transport.scheduler;
    this.term = deps.term ?? (() => 0);
    this.links = new NodeLinks(deps.membership, {
      secret: options.secret,
      timeoutMs: options.linkTimeoutMs,
      transport: this.transport,
      maxChunk: PAGE_CHUNK,
      term: this.term,
    });
  }

  /** Whether a move is in progress (or waiting to retry). */
  get busy(): boolean {
    return this.deps.topology.moveSources.length > 0;
  }

  /** Epochs of the sources, oldest first. */
  get sourceMembers(): string[][] {
    return this.deps.topology.moveSources.map((r) => r.members.map((m) => m.id));
  }

  status(): RebalanceStatus {
    return {
      running: this.busy,
      sources: this.deps.topology.moveSources.map((r) => r.epoch),
      target: this.target,
      tasksTotal: this.tasksTotal,
      tasksDone: this.tasksDone,
      rangesTotal: this.rangesTotal,
      rangesDone: this.rangesDone,
      startedAt: this.moveStartedAt === 0 ? null : new Date(this.moveStartedAt).toISOString(),
      keysMovedThisMove: this.movedThisMove,
      keysMovedTotal: this.keysMovedTotal,
      bytesMovedTotal: this.bytesMovedTotal,
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
      this.deps.topology.setSources([]);
      this.moveStartedAt = 0;
    }
  }

  /**
   * The ring changed from `from` to the topology's current ring. Ignored unless leading:
   * a master that takes over resumes the sources the previous leader published.
   */
  ringChanged(from: Ring): void {
    if (!this.active) return;
    const topology = this.deps.topology;
    const sources = topology.moveSources;
    if (from.size > 0 && !sources.some((s) => s.epoch === from.epoch)) {
      topology.setSources([...sources, from]);
    }
    this.kick();
  }

  /** Takes over the sources of a move another leader did not finish. */
  resume(members: readonly (readonly string[])[]): void {
    for (const ids of members) this.ringChanged(this.deps.topology.ringOf(ids));
  }

  close(): void {
    this.active = false;
    this.links.close();
  }

  private kick(): void {
    if (!this.active || this.running !== null || !this.busy) return;
    this.running = this.loop().finally(() => {
      this.running = null;
      // A change that arrived as the loop ended.
      if (this.active && this.busy) this.kick();
    });
  }

  private async loop(): Promise<void> {
    const log = this.options.logger;
    const topology = this.deps.topology;
    while (this.active && this.busy) {
      const to = topology.ring;
      const startedAt = this.scheduler.now();
      if (this.moveStartedAt === 0) this.moveStartedAt = this.scheduler.wallNow();
      this.target = to.epoch;
      this.movedThisMove = 0;
      let complete = true;
      try {
        await this.deps.publish();
        const sources = topology.moveSources;
        log.info({ from: sources.map((s) => s.epoch), to: to.epoch }, "rebalance started");
        for (const from of sources) {
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
        await sleepOn(this.scheduler, this.options.retryDelayMs);
      }
      if (complete && topology.ring === to && this.active) {
        topology.setSources([]);
        this.moveStartedAt = 0;
        this.movesCompleted++;
        this.lastDurationMs = this.scheduler.now() - startedAt;
        this.lastError = null;
        log.info(
          { epoch: to.epoch, keysMoved: this.movedThisMove, ms: Math.round(this.lastDurationMs) },
          "rebalance done",
        );
        await this.deps.publish().catch(() => undefined);
      } else if (topology.ring !== to) {
        this.restarts++;
        log.info({ from: to.epoch, to: topology.ring.epoch }, "ring changed mid-move; restarting");
      }
    }
  }

  /** Moves the data of `from` to `to`; false when the ring changed (or leadership was lost). */
  private async move(from: Ring, to: Ring): Promise<boolean> {
    const tasks = this.tasksFor(from, to);
    await this.links.learnLimits(new Set([...from.members, ...to.members].map((m) => m.id)));
    this.tasksTotal = tasks.length;
    this.tasksDone = 0;
    this.rangesTotal = 0;
    this.rangesDone = 0;
    for (const t of tasks) this.rangesTotal += t.ranges?.length ?? 0;
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
      tasks.push({ sender, ranges, kind: "move" });
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
      tasks.push({ sender: m.id, ranges: undefined, kind: "handoff" });
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
    const term = this.term();
    const stats: NodeStats = await this.links
      .get(id)
      .request((w) => encodeStats(w, term), readStatsReply);
    const snapshotAt = stats.restoredSnapshotAt;
    if (snapshotAt <= 0) return 0;
    const now = this.scheduler.wallNow();
    const others = await Promise.all(
      members
        .filter((m) => m !== id)
        .map((m) =>
          this.links
            .get(m)
            .request((w) => encodeStats(w, term), readStatsReply)
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
    const floor = this.deps.versionAt(snapshotAt);
    this.links.noteLimit(id, stats);
    const limit = this.links.pageLimit(id);
    const link = this.links.get(id);
    const count = this.options.scanCount ?? SCAN_COUNT;
    let dropped = 0;
    let cursor = 0;
    do {
      const got: ScannedPage = await link.request(
        (w) => encodeScanPage(w, cursor, count, undefined, false, term),
        readScanPageReply,
      );
      const stale = new KeyPages(limit);
      const e = new PageReader().reset(got.page);
      while (e.next()) {
        if (e.version > floor) continue;
        stale.add(e);
        dropped++;
      }
      await this.conditionalDeletes(id, stale, got.page, true);
      cursor = got.cursor;
    } while (cursor !== 0);
    return dropped;
  }

  private async runTask(task: Task, from: Ring, to: Ring): Promise<boolean> {
    const link = this.links.get(task.sender);
    const term = this.term();
    const count = this.options.scanCount ?? SCAN_COUNT;
    const ranges =
      task.ranges === undefined ? undefined : prepareRanges(task.ranges, new RespWriter());
    // The first page sends the ranges in full; the sender keeps them, so later pages name them
    // (RANGESID). A sender that does not hold them (restarted, or older) refuses: that page
    // goes again in full, and so do the rest of the task's pages.
    let byId = false;
    let refusedId = false;
    const scan = async (cursor: number): Promise<ScannedPage> => {
      if (byId) {
        try {
          return await link.request(
            (w) => encodeScanPage(w, cursor, count, ranges, true, term),
            readScanPageReply,
          );
        } catch (err) {
          // Only the node's refusal (an error reply) sends the page again in full; a failed
          // link fails the task, as for any page.
          if (!(err instanceof RingcacheError) || err.code !== "INTERNAL") throw err;
          byId = false;
          refusedId = true;
          this.options.logger.info({ node: task.sender }, "scan by ranges id refused; in full");
        }
      }
      const page = await link.request(
        (w) => encodeScanPage(w, cursor, count, ranges, false, term),
        readScanPageReply,
      );
      byId = ranges !== undefined && !refusedId;
      return page;
    };
    // One page is copied while the next is scanned. (More pages copied at once moved no faster
    // on two cores and only lengthened the queues client requests wait behind.)
    const share = this.options.share ?? 1;
    let since = this.scheduler.now();
    let next: Promise<ScannedPage> | null = scan(0);
    try {
      while (next !== null) {
        const got: ScannedPage = await next;
        const page = got.page;
        next = got.cursor === 0 ? null : scan(got.cursor);
        if (!this.active || this.deps.topology.ring !== to) return false;
        if (page.length > 0) await this.copyPage(task, page, from, to);
        if (share < 1) {
          await sleepOn(this.scheduler, (this.scheduler.now() - since) * (1 / share - 1));
          since = this.scheduler.now();
        }
      }
    } finally {
      next?.catch(() => undefined);
    }
    this.tasksDone++;
    this.rangesDone += task.ranges?.length ?? 0;
    return true;
  }

  /**
   * Copies one page from its sender to the owners in `to` that lacked its entries, then removes
   * them from the holders that no longer own them. The page is never decoded into objects: it is
   * walked once to route each entry, and every receiver gets the slices of it that it needs, as
   * one RC.PUTPAGE (or a few, within the receiver's bulk limit).
   */
  private async copyPage(task: Task, page: Buffer, from: Ring, to: Ring): Promise<void> {
    const r = this.options.replicas;
    const membership = this.deps.membership;
    const now = this.scheduler.wallNow();
    const fromIds = this.scratchFrom;
    const toIds = this.scratchTo;
    const inRing = new Map<string, boolean>();
    const up = (id: string): boolean => {
      let ok = inRing.get(id);
      if (ok === undefined) inRing.set(id, (ok = membership.get(id)?.health.inRing === true));
      return ok;
    };
    const puts = new Map<string, Slices>();
    const drops = new Map<string, KeyPages>();
    const putsTo = (id: string): Slices => {
      let box = puts.get(id);
      if (box === undefined) puts.set(id, (box = new Slices(this.links.pageLimit(id))));
      return box;
    };
    const dropsFrom = (id: string): KeyPages => {
      let box = drops.get(id);
      if (box === undefined) drops.set(id, (box = new KeyPages(this.links.pageLimit(id))));
      return box;
    };
    /** The entries copied, as slices of the page: what the backup records. */
    const kept = new Slices(Infinity);
    let moved = 0;
    let movedBytes = 0;
    const e = new PageReader().reset(page);
    while (e.next()) {
      if (!e.tombstone && e.expiresAt !== 0 && e.expiresAt <= now) continue;
      const hash = hashKeyAt(page, e.keyStart, e.keyLength);
      const nf = task.kind === "move" ? from.ownerIdsInto(hash, r, fromIds) : 0;
      const nt = to.ownerIdsInto(hash, r, toIds);
      kept.add(e);
      for (let i = 0; i < nt; i++) {
        const id = toIds[i] as string;
        if (id === task.sender || includes(fromIds, nf, id) || !up(id)) continue;
        putsTo(id).add(e);
        moved++;
        movedBytes += e.end - e.start;
      }
      if (task.kind === "handoff" && !includes(toIds, nt, task.sender)) {
        dropsFrom(task.sender).add(e);
      }
      for (let i = 0; i < nf; i++) {
        const id = fromIds[i] as string;
        if (!includes(toIds, nt, id) && up(id)) dropsFrom(id).add(e);
      }
    }
    let failed = 0;
    const term = this.term();
    const putPageHead = (w: RespWriter): void => encodePutPageHead(w, term);
    const sent: Promise<unknown>[] = [];
    for (const [id, box] of puts) {
      // applied, or the receiver already holds a newer version: either way it has the entry
      const link = this.links.get(id);
      for (const spans of box.chunks) {
        const parts: Buffer[] = [];
        for (let i = 0; i < spans.length; i += 2) parts.push(page.subarray(spans[i], spans[i + 1]));
        sent.push(link.requestWithBulk(putPageHead, parts, readCount).catch(() => failed++));
      }
      for (const at of box.single) {
        e.reset(page).end = at;
        e.next();
        const { version, expiresAt } = e;
        const key = e.key();
        const value = e.value();
        const request = e.tombstone
          ? link.request((w) => encodeDel(w, key, version), readWriteOutcome)
          : link.request((w) => encodePut(w, key, value, version, expiresAt), readWriteOutcome);
        sent.push(request.catch(() => failed++));
      }
    }
    await Promise.all(sent);
    this.movedThisMove += moved;
    this.keysMovedTotal += moved;
    this.bytesMovedTotal += movedBytes;
    if (this.deps.backup !== null && kept.entries > 0) {
      this.deps.backup.appendPage(page, kept.chunks[0] as number[], kept.entries);
    }
    if (failed > 0) {
      throw new Error("some entries could not be copied to their new owners");
    }
    // Every receiver has the page: its holders outside `to` may drop it (if unchanged since).
    // A holder gone meanwhile keeps a copy: harmless, versioned.
    const removed = await Promise.all(
      [...drops].map(([id, keys]) => this.conditionalDeletes(id, keys, page, false)),
    );
    for (const n of removed) this.keysRemovedTotal += n;
  }

  /**
   * Sends a holder the conditional deletes of `keys` (entries of `page`) and resolves with the
   * number it removed. When not `strict`, a failed request counts as nothing removed.
   */
  private async conditionalDeletes(
    id: string,
    keys: KeyPages,
    page: Buffer,
    strict: boolean,
  ): Promise<number> {
    const link = this.links.get(id);
    const term = this.term();
    const head = (w: RespWriter): void => encodeCDelPageHead(w, term);
    const sent: Promise<number>[] = [];
    for (const chunk of keys.chunks) {
      sent.push(link.requestWithBulk(head, [chunk.view()], readCount));
    }
    const e = new PageReader();
    for (const at of keys.single) {
      e.reset(page).end = at;
      e.next();
      const key = e.key();
      const version = e.version;
      sent.push(link.request((w) => encodeCDel(w, key, version, term), readCount));
    }
    const counts = await Promise.all(strict ? sent : sent.map((p) => p.catch(() => 0)));
    let removed = 0;
    for (const n of counts) removed += n;
    return removed;
  }

  /** Applies records (a backup replay) to their owners in the current ring; returns how many. */
  async replay(records: readonly BackupRecord[]): Promise<number> {
    const ring = this.deps.topology.ring;
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
        sent.push(this.links.get(id).request((w) => encodeMPut(w, chunk), readMPutOutcomes));
      }
    }
    for (const [id, list] of dels) {
      for (const rec of list) {
        sent.push(
          this.links.get(id).request((w) => encodeDel(w, rec.key, rec.version), readWriteOutcome),
        );
      }
    }
    await Promise.all(sent);
    return records.length;
  }
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

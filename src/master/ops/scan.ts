// SCAN, KEYS and RANDOMKEY: a walk of the cluster's keys in ring-hash order
// (docs/design.md, "SCAN, KEYS and RANDOMKEY").
//
// The walk goes through the 65536 scan buckets (a key's bucket: the top 16 bits of hashKey) in
// order, a window of buckets per round. A round splits its window at the ring's points into
// arcs, asks the owners of each arc for the keys of the window's buckets in that arc
// (RC.KEYSCAN with the arcs as RANGES), and keeps the buckets every node answered whole: the
// round ends at the smallest `next` any node answered.
//
//   window [at, to) ─► arcs ─► per node: RC.KEYSCAN at to count RANGES … ─► next_i, keys
//   round end = min(next_i); keys of buckets < end kept; at = end; the next round, or reply
//
// Which owners a round asks:
//   no move under way  one phase: one owner of each arc that is up (the one chosen for the arc
//                      before it when it owns this one too); on an error or a timeout its arcs
//                      go to another owner (as a read fails over)
//   during a move      one phase per source ring, oldest first, then the current ring: every
//                      owner of each arc that is up, with tombstones; the keys merge by
//                      version (a tombstone hides an older live copy). A key a move takes from
//                      one ring's owners was copied to the next ring's owners first, and those
//                      are asked after, so a key present throughout is found.
// A round counts as a write in flight of its ring generation (Topology.writeStarted), so a move
// does not start under a round planned by an older ring.
//
// A key's bucket does not depend on the ring, so keys are never counted twice across rounds or
// calls; within a round each arc is answered by one node, or merged by key.
import { performance } from "node:perf_hooks";
import { RingcacheError } from "../../errors.js";
import {
  encodeKeyScan,
  KEYSCAN_MAX_COUNT,
  readKeyScanReply,
  type KeyScanOptions,
  type KeyScanReply,
} from "../../protocol/internal/index.js";
import { RespWriter, type RespValue } from "../../protocol/resp/index.js";
import { hashKey } from "../../ring/hash.js";
import type { Ring } from "../../ring/ring.js";
import type { NodeClient, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import { noOwners, unreachable, type OpSink } from "./op.js";

export type ScanKind = "scan" | "keys" | "random";

/** Scan buckets of the walk; a key's bucket is hashKey(key) >>> 16. */
export const WALK_BUCKETS = 0x10000;
const BUCKET_SHIFT = 16;
const BUCKET_SPAN = 0x10000;
/** The widest window of one round: its arcs (about 0.2 per bucket and member) stay few. */
export const MAX_WINDOW = 4096;
/**
 * What a master learnt of the keys per scan bucket from its last rounds: it sizes the first
 * window of a walk whose cursor carries no hint (a fresh walk, or SCAN from a cursor a client
 * made up). Only a guess: a wrong one costs another round, never a key.
 */
export class WalkEstimate {
  /** Entries per bucket across the cluster, smoothed; 0 until a round has seen some. */
  perBucket = 0;

  /** Takes in a round's entries per bucket. */
  note(perBucket: number): void {
    this.perBucket = this.perBucket === 0 ? perBucket : 0.8 * this.perBucket + 0.2 * perBucket;
  }

  /** A window likely to hold about `want` entries. */
  window(want: number): number {
    return this.perBucket > 0 ? windowOf(want / this.perBucket) : 1;
  }
}
/** Entries each node looks at per round for KEYS, and for RANDOMKEY. */
const KEYS_COUNT = 4096;
const RANDOM_COUNT = 32;

/** One arc of a phase: hashes [start, end), its owners in that phase's ring. */
interface Arc {
  readonly start: number;
  readonly end: number;
  readonly owners: readonly NodeClient[];
  /** "first": the owner asked now (index into owners). */
  asked: number;
  /** Some ask covering it succeeded. */
  answered: boolean;
}

/** One RC.KEYSCAN of a round. */
interface Ask {
  readonly client: NodeClient;
  /** Indexes into the phase's arcs. */
  readonly arcs: number[];
  done: boolean;
  failed: boolean;
  next: number;
  /** Entries the node looked at. */
  examined: number;
  /** Its keys went straight into the reply (the round's only ask, see onNodeReply). */
  direct: boolean;
  /** The keys answered (copies) and their versions (negative: tombstones). */
  readonly keys: Buffer[];
  readonly versions: number[];
}

export class ScanOp<C> implements ReplyTarget {
  readonly router: Router;
  readonly kind: ScanKind;
  readonly sink: OpSink<ScanOp<C>>;
  readonly ctx: C;
  readonly startedAt: number;
  readonly affinity: number;
  /**
   * SCAN's COUNT: the call ends once the nodes looked at this many entries (whole buckets, so
   * maybe more), as Redis's COUNT counts work; with MATCH fewer keys come back.
   */
  readonly count: number;
  /** Entries the nodes looked at in this call's rounds. */
  examined = 0;
  options: KeyScanOptions;
  error: RingcacheError | null = null;
  /** The keys found, as RESP bulks (SCAN, KEYS). */
  readonly body = new RespWriter(1024);
  keys = 0;
  /** Where the walk goes on from; WALK_BUCKETS once it is done. */
  at: number;
  /** The window hint for the next call (redis/scan.ts, the cursor). */
  hint = 0;
  /** RANDOMKEY's key, or null for none. */
  chosen: Buffer | null = null;

  private window: number;
  /** The bucket this stretch of the walk ends at (RANDOMKEY wraps around once). */
  private limit = WALK_BUCKETS;
  private readonly randomStart: number;
  private wrapped = false;
  // The round under way.
  private roundEnd = 0;
  /** A round is under way: it counts as a write in flight of `generation`. */
  private inRound = false;
  private generation = 0;
  private phases: Ring[] = [];
  private phase = 0;
  private merge = false;
  private arcs: Arc[] = [];
  private asks: Ask[] = [];
  private pending = 0;
  private lastError: RingcacheError | null = null;
  private allTimeouts = true;
  /** During a move: each key's highest version so far in the round (negative: tombstone). */
  private merged: Map<string, number> | null = null;

  /**
   * `from` is the bucket to start at, `window` the first round's width (a cursor's hint), and
   * for RANDOMKEY the walk's random start; `match` and `type` are copies the op may keep.
   */
  constructor(
    router: Router,
    kind: ScanKind,
    from: number,
    window: number,
    count: number,
    match: Buffer | null,
    type: Buffer | null,
    sink: OpSink<ScanOp<C>>,
    ctx: C,
  ) {
    this.router = router;
    this.kind = kind;
    this.sink = sink;
    this.ctx = ctx;
    this.at = from;
    this.randomStart = from;
    this.window =
      window > 0
        ? windowOf(window)
        : router.walks.window(kind === "scan" ? count : kind === "keys" ? KEYS_COUNT : 16);
    this.count = count;
    this.options = { tombs: false, type, match };
    this.startedAt = performance.now();
    this.affinity = router.affinity;
  }

  start(): this {
    this.startRound();
    return this;
  }

  // --- rounds ---------------------------------------------------------------------------------

  private startRound(): void {
    const t = this.router.topology;
    if (t.ring.size === 0) return this.fail(noOwners(t));
    const to = Math.min(this.at + this.window, this.limit);
    this.roundEnd = to;
    this.generation = t.writeStarted();
    this.inRound = true;
    const sources = t.moveSources;
    this.merge = sources.length > 0;
    this.phases = this.merge ? [...sources, t.ring] : [t.ring];
    this.phase = 0;
    this.merged = null;
    this.lastError = null;
    this.allTimeouts = true;
    this.startPhase();
  }

  /** Plans and sends the current phase: its arcs of [at, roundEnd), grouped per node. */
  private startPhase(): void {
    const t = this.router.topology;
    const ring = this.phases[this.phase] as Ring;
    const current = ring === t.ring;
    const r = Math.min(t.options.replicas, ring.size);
    const start = this.at * BUCKET_SPAN;
    const end = this.roundEnd * BUCKET_SPAN;
    const bounds = BOUNDS;
    const n = ring.boundariesIn(start, end, bounds);
    const arcs: Arc[] = [];
    for (let i = 0; i <= n; i++) {
      const s = i === 0 ? start : (bounds[i - 1] as number);
      const e = i === n ? end : (bounds[i] as number);
      const count = ring.ownerIdsInto(s, r, IDS);
      const owners: NodeClient[] = [];
      for (let j = 0; j < count; j++) {
        const id = IDS[j] as string;
        const client = current ? t.clients.get(id) : t.membership.get(id)?.client;
        if (client !== undefined) owners.push(client);
      }
      arcs.push({ start: s, end: e, owners, asked: -1, answered: false });
    }
    this.arcs = arcs;
    this.asks = [];
    this.pending = 0;
    const all: number[] = [];
    for (let i = 0; i < arcs.length; i++) all.push(i);
    if (this.options.tombs !== this.merge) {
      this.options = { tombs: this.merge, type: this.options.type, match: this.options.match };
    }
    if (this.merge) this.askEvery(all);
    else this.askNext(all, null);
  }

  /**
   * "First" policy: asks one owner of each arc that is up and has not failed this round. Any
   * owner will do without a move (every owner that is up applied every acknowledged write):
   * an arc goes to the owner chosen for the arc before it when that one owns it too, else to
   * its first usable owner, so a small window costs one request, not one per arc.
   */
  private askNext(arcIndexes: readonly number[], failed: NodeClient | null): void {
    const groups: Group[] = [];
    let previous: NodeClient | null = null;
    for (const i of arcIndexes) {
      const arc = this.arcs[i] as Arc;
      const owners = arc.owners;
      let k = -1;
      if (previous !== null) k = owners.indexOf(previous);
      if (k < 0) {
        k = 0;
        while (k < owners.length && !usable(owners[k] as NodeClient, failed, this.asks)) k++;
      }
      if (k >= owners.length) {
        this.fail(unreachable(this.lastError, this.allTimeouts && this.lastError !== null));
        return;
      }
      arc.asked = k;
      previous = owners[k] as NodeClient;
      addTo(groups, previous, i);
    }
    this.send(groups);
  }

  /** "All" policy (during a move): asks every owner of every arc that is up. */
  private askEvery(arcIndexes: readonly number[]): void {
    const groups: Group[] = [];
    for (const i of arcIndexes) {
      for (const client of (this.arcs[i] as Arc).owners) {
        if (client.accepting) addTo(groups, client, i);
      }
    }
    if (groups.length === 0) return this.endPhase();
    this.send(groups);
  }

  private send(groups: readonly Group[]): void {
    const count =
      this.kind === "keys"
        ? KEYS_COUNT
        : this.kind === "random"
          ? RANDOM_COUNT
          : Math.min(KEYSCAN_MAX_COUNT, Math.max(1, this.count - this.examined));
    const unsent: Ask[] = [];
    for (const { client, arcs: arcIndexes } of groups) {
      const ask: Ask = {
        client,
        arcs: arcIndexes,
        done: false,
        failed: false,
        next: 0,
        examined: 0,
        direct: false,
        keys: [],
        versions: [],
      };
      const token = this.asks.length;
      this.asks.push(ask);
      this.pending++;
      const conn = client.connection(this.affinity);
      if (conn === null) {
        unsent.push(ask);
        continue;
      }
      const flat = FLAT;
      let pairs = 0;
      for (const i of arcIndexes) {
        const arc = this.arcs[i] as Arc;
        // Adjacent arcs of one node go as one range.
        if (pairs > 0 && flat[2 * pairs - 1] === arc.start) flat[2 * pairs - 1] = arc.end;
        else {
          flat[2 * pairs] = arc.start;
          flat[2 * pairs + 1] = arc.end;
          pairs++;
        }
      }
      // One range that is the whole window: no RANGES (the node keeps to [at, roundEnd) anyway).
      const whole =
        pairs === 1 && flat[0] === this.at * BUCKET_SPAN && flat[1] === this.roundEnd * BUCKET_SPAN;
      encodeKeyScan(
        conn.writer(),
        this.at,
        this.roundEnd,
        count,
        this.options,
        flat,
        whole ? -1 : pairs,
      );
      conn.expect(this, token);
    }
    for (const ask of unsent) this.onAskFailed(ask, ask.client.downError);
  }

  onNodeReply(token: number, reply: RespValue): void {
    const ask = this.asks[token];
    if (ask === undefined || ask.done) return;
    let next: number;
    let answer: KeyScanReply;
    try {
      answer = readKeyScanReply(reply, this.merge);
      next = answer.next;
      if (!(next > this.at && next <= this.roundEnd)) {
        throw new RingcacheError("INTERNAL", "unexpected reply from an auxiliary node");
      }
      const flat = answer.flat;
      if (!this.merge && this.asks.length === 1) {
        // The round's only ask: the round ends at its `next`, so every key it answered is
        // kept, and goes into the reply uncopied (the bulks are views valid during this call).
        ask.direct = true;
        if (this.kind !== "random") {
          for (let i = 0; i < flat.length; i++) this.emit(flat[i] as Buffer);
        } else if (flat.length > 0) {
          ask.keys.push(Buffer.from(flat[Math.floor(Math.random() * flat.length)] as Buffer));
        }
      } else if (this.merge) {
        for (let i = 0; i < flat.length; i += 2) {
          // The reply's bulks are valid only during this call.
          ask.keys.push(Buffer.from(flat[i] as Buffer));
          ask.versions.push(flat[i + 1] as number);
        }
      } else {
        for (let i = 0; i < flat.length; i++) ask.keys.push(Buffer.from(flat[i] as Buffer));
      }
    } catch (err) {
      this.onAskFailed(ask, err as RingcacheError, false);
      return;
    }
    ask.done = true;
    ask.next = next;
    ask.examined = answer.examined;
    for (const i of ask.arcs) (this.arcs[i] as Arc).answered = true;
    if (--this.pending === 0) this.endPhase();
  }

  onNodeError(token: number, error: RingcacheError): void {
    const ask = this.asks[token];
    if (ask === undefined || ask.done) return;
    this.onAskFailed(ask, error);
  }

  private onAskFailed(ask: Ask, error: RingcacheError, transport = true): void {
    ask.done = true;
    ask.failed = true;
    this.lastError = error;
    if (!transport || error.code !== "TIMEOUT") this.allTimeouts = false;
    this.pending--;
    if (this.error !== null) return;
    if (!this.merge) {
      // Its arcs go to their next owners; the phase ends when those answer.
      this.askNext(ask.arcs, ask.client);
      if (this.error !== null) return;
    }
    if (this.pending === 0) this.endPhase();
  }

  private endPhase(): void {
    if (this.error !== null) return;
    if (this.merge) {
      const ring = this.router.topology.ring;
      for (const arc of this.arcs) {
        // An arc nobody answered is fine only when none of its owners may hold anything.
        if (!arc.answered && arc.owners.some((c) => mayHold(c, ring))) {
          return this.fail(
            unreachable(this.lastError, this.allTimeouts && this.lastError !== null),
          );
        }
      }
    }
    for (const ask of this.asks) {
      if (ask.failed) continue;
      if (ask.next < this.roundEnd) this.roundEnd = ask.next;
      if (this.merge) {
        const merged = (this.merged ??= new Map<string, number>());
        for (let i = 0; i < ask.keys.length; i++) {
          const name = (ask.keys[i] as Buffer).toString("latin1");
          const v = ask.versions[i] as number;
          const held = merged.get(name);
          // The higher version wins; at equal versions a tombstone (an eviction's) hides.
          if (held === undefined || Math.abs(v) > Math.abs(held) || (v < 0 && -v === held)) {
            merged.set(name, v);
          }
        }
      }
    }
    if (++this.phase < this.phases.length) {
      this.startPhase();
      return;
    }
    this.endRound();
  }

  private endRound(): void {
    this.inRound = false;
    this.router.topology.writeEnded(this.generation);
    const end = this.roundEnd;
    const covered = end - this.at;
    const random = this.kind === "random";
    const candidates: Buffer[] = [];
    /** Entries per bucket the round saw across the cluster (its arcs partition the window). */
    let density = 0;
    let examined = 0;
    if (this.merge) {
      for (const [name, v] of this.merged ?? []) {
        const key = Buffer.from(name, "latin1");
        if (hashKey(key) >>> BUCKET_SHIFT >= end) continue;
        examined++;
        if (v <= 0) continue;
        if (random) candidates.push(key);
        else this.emit(key);
      }
      this.merged = null;
      density = examined / covered;
    } else {
      for (const ask of this.asks) {
        if (ask.failed) continue;
        examined += ask.examined;
        density += ask.examined / (ask.next - this.at);
        let n = ask.keys.length;
        // Keys come in bucket order: those past the round's end are at the tail.
        if (ask.next > end && !ask.direct) {
          while (n > 0 && hashKey(ask.keys[n - 1] as Buffer) >>> BUCKET_SHIFT >= end) n--;
        }
        for (let i = 0; i < n; i++) {
          if (random) candidates.push(ask.keys[i] as Buffer);
          else this.emit(ask.keys[i] as Buffer);
        }
      }
      this.router.walks.note(density);
    }
    this.asks = [];
    this.arcs = [];
    this.examined += examined;
    this.at = end;
    // The next window, from this one's density: about `want` entries.
    const want =
      this.kind === "scan"
        ? Math.max(1, this.count - this.examined)
        : this.kind === "keys"
          ? KEYS_COUNT
          : 16;
    this.window = windowOf(density > 0 ? want / density : covered * 32);
    // The next call's hint: a window of about COUNT entries, as a power of two.
    this.hint = Math.log2(clampWindow(density > 0 ? this.count / density : covered * 32)) + 1;
    if (random) {
      if (candidates.length > 0) {
        this.chosen = candidates[Math.floor(Math.random() * candidates.length)] as Buffer;
        return this.done();
      }
      if (this.at >= this.limit) {
        if (this.wrapped || this.randomStart === 0) return this.done();
        this.wrapped = true;
        this.at = 0;
        this.limit = this.randomStart;
      }
      return this.startRound();
    }
    if (this.at >= WALK_BUCKETS) return this.done();
    // COUNT is a hint, as in Redis: a call ends once half of it was looked at, so that a window
    // sized for about COUNT rarely needs a second round.
    if (this.kind === "scan" && this.examined * 2 >= this.count) return this.done();
    this.startRound();
  }

  /** Adds a key to the reply. */
  private emit(key: Buffer): void {
    this.body.bulk(key);
    this.keys++;
  }

  private fail(error: RingcacheError): void {
    if (this.error !== null) return;
    this.error = error;
    if (this.inRound) this.router.topology.writeEnded(this.generation);
    this.inRound = false;
    this.phases = [];
    this.sink.opDone(this);
  }

  private done(): void {
    this.phases = [];
    this.sink.opDone(this);
  }
}

/** The arcs one node is asked for. */
interface Group {
  readonly client: NodeClient;
  readonly arcs: number[];
}

function addTo(groups: Group[], client: NodeClient, arc: number): void {
  for (const g of groups) {
    if (g.client === client) {
      g.arcs.push(arc);
      return;
    }
  }
  groups.push({ client, arcs: [arc] });
}

/** Scratch of one synchronous call (planning a phase, encoding its asks). */
const IDS: string[] = [];
const BOUNDS: number[] = [];
const FLAT: number[] = [];

/** A window width: whole buckets in [1, MAX_WINDOW]. */
function windowOf(buckets: number): number {
  if (!(buckets > 1)) return 1;
  return Math.min(MAX_WINDOW, Math.ceil(buckets));
}

/** A window width: a power of two in [1, MAX_WINDOW]. */
function clampWindow(buckets: number): number {
  if (!(buckets > 1)) return 1;
  const pow = 2 ** Math.ceil(Math.log2(buckets));
  return Math.min(MAX_WINDOW, pow);
}

/** Whether an arc's owner can be asked in this round: up, and not failed in it already. */
function usable(client: NodeClient, failed: NodeClient | null, asks: readonly Ask[]): boolean {
  if (!client.accepting || client === failed) return false;
  for (const ask of asks) if (ask.failed && ask.client === client) return false;
  return true;
}

/**
 * Whether an owner that could not answer may hold keys no other answer has, as MoveRead judges
 * it (ops/read.ts): not when this master knows it is down, nor when the ring no longer has it
 * and this master has no connection to it.
 */
function mayHold(client: NodeClient, ring: Ring): boolean {
  if (!client.accepting) return false;
  return client.connected || ring.members.some((m) => m.id === client.id);
}

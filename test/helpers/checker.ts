// A Jepsen-style checker for ringcache's invariants
// (docs/design.md, "Invariants the tests hold").
//
// Writers own disjoint keys and write increasing sequence numbers to each, so the history of a
// key is a simple line: seq 1, 2, 3 … and maybe a final delete. Every value carries its key,
// its sequence number and a checksum, so a read can be judged on its own:
//
//   value = "<key>|<seq>|<crc32 of key|seq|padding>|<padding>"
//
// Each operation is recorded as ok, failed (a clear error reply: not applied) or
// indeterminate (timeout, lost connection or TRYAGAIN: maybe applied). The verdicts:
//   stale read      a read returned seq s while a write of seq > s had been acknowledged
//                   before the read began, or a value after an acknowledged delete
//   phantom         a value whose checksum fails, or a seq never attempted
//   lost write      after the fault heals, a key reads back below its last acknowledged seq
//                   (or missing) — evictions are configured off, so a loss is a loss
//   resurrected     a key whose delete was acknowledged reads back with a value
import { crc32 } from "node:zlib";

export interface KvClient {
  set(key: string, value: Buffer): Promise<void>;
  get(key: string): Promise<Buffer | null>;
  del(key: string): Promise<number>;
}

type Outcome = "ok" | "failed" | "indeterminate";

interface KeyState {
  /** Highest seq whose write was acknowledged. */
  acked: number;
  /** Highest seq ever sent. */
  attempted: number;
  deleteAcked: boolean;
  deleteAttempted: boolean;
  /**
   * Seqs whose write ended indeterminate (timeout, lost connection). Such a write never
   * completed, so it may take effect at any later moment — even after a later write was
   * acknowledged — and reading it back is not a violation.
   */
  uncertain: Set<number> | undefined;
}

export interface CheckerReport {
  readonly writes: Record<Outcome, number>;
  readonly reads: Record<Outcome, number>;
  readonly deletes: Record<Outcome, number>;
  readonly staleReads: number;
  readonly phantoms: number;
  readonly checksumFailures: number;
  readonly lostWrites: number;
  readonly resurrected: number;
  /**
   * Keys that read back below their last acknowledged seq but at or above a checkpoint's (see
   * verify): writes acknowledged after the checkpoint and lost, which is allowed there.
   */
  readonly rolledBack: number;
  readonly examples: string[];
}

/** What was acknowledged at one moment: each key's acknowledged seq and delete. */
export type Checkpoint = ReadonlyMap<string, { readonly acked: number; readonly deleted: boolean }>;

export interface WorkloadOptions {
  readonly writers: number;
  readonly keysPerWriter: number;
  /** Fraction of operations that are reads (the rest are writes, some deletes). */
  readonly readRatio: number;
  /** Fraction of writes that are deletes (only of keys written at least once). */
  readonly deleteRatio: number;
  readonly valueBytes: number;
  /** Classifies an error thrown by the client: "failed" (not applied) or "indeterminate". */
  readonly classify?: (err: unknown) => Outcome;
  /** The clock of run()'s deadline (default Date.now; a simulation passes its own). */
  readonly now?: () => number;
  /** Where the workload draws keys and operations (default Math.random; a simulation seeds it). */
  readonly random?: () => number;
}

const counts = (): Record<Outcome, number> => ({ ok: 0, failed: 0, indeterminate: 0 });

export function encodeValue(key: string, seq: number, padding: number): Buffer {
  const pad = "x".repeat(Math.max(0, padding));
  const body = `${key}|${seq}|`;
  const sum = crc32(Buffer.from(body + pad));
  return Buffer.from(`${body}${sum}|${pad}`);
}

export function decodeValue(
  key: string,
  value: Buffer,
): { seq: number } | { error: "checksum" | "foreign" } {
  const text = value.toString("latin1");
  const parts = text.split("|");
  if (parts.length !== 4) return { error: "checksum" };
  const [k, seqText, sumText, pad] = parts as [string, string, string, string];
  if (k !== key) return { error: "foreign" };
  const sum = crc32(Buffer.from(`${k}|${seqText}|${pad}`));
  if (String(sum) !== sumText) return { error: "checksum" };
  return { seq: Number(seqText) };
}

function defaultClassify(err: unknown): Outcome {
  const message = err instanceof Error ? err.message : String(err);
  // A timeout, a dropped connection or a write answered TRYAGAIN (some owners may hold it) may
  // or may not have been applied.
  if (
    /timeout|timed out|ECONNRESET|EPIPE|closed|Connection is closed|ECONNREFUSED|socket|TRYAGAIN/i.test(
      message,
    )
  ) {
    return "indeterminate";
  }
  return "failed";
}

export class Checker {
  readonly options: WorkloadOptions;
  private readonly keys = new Map<string, KeyState>();
  private readonly writes = counts();
  private readonly reads = counts();
  private readonly deletes = counts();
  private staleReads = 0;
  private phantoms = 0;
  private checksumFailures = 0;
  private lostWrites = 0;
  private resurrected = 0;
  private rolledBack = 0;
  private readonly examples: string[] = [];
  private stopRequested = false;
  /** Per writer, the generation of the key in each slot (see keyName). */
  private readonly generations = new Map<number, number[]>();

  constructor(options: WorkloadOptions) {
    this.options = options;
  }

  /**
   * The key in slot i of a writer. A deleted key is never written again, so its slot moves on
   * to a fresh key (the next generation): every writer keeps keysPerWriter live keys however
   * long it runs.
   */
  keyName(writer: number, i: number): string {
    const generation = this.generations.get(writer)?.[i] ?? 0;
    return generation === 0 ? `ck:${writer}:${i}` : `ck:${writer}:${i}:${generation}`;
  }

  private nextGeneration(writer: number, i: number): void {
    let list = this.generations.get(writer);
    if (list === undefined) {
      list = new Array<number>(this.options.keysPerWriter).fill(0);
      this.generations.set(writer, list);
    }
    list[i] = (list[i] ?? 0) + 1;
  }

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (s === undefined) {
      s = {
        acked: 0,
        attempted: 0,
        deleteAcked: false,
        deleteAttempted: false,
        uncertain: undefined,
      };
      this.keys.set(key, s);
    }
    return s;
  }

  private note(message: string): void {
    if (this.examples.length < 20) this.examples.push(message);
  }

  private classify(err: unknown): Outcome {
    return (this.options.classify ?? defaultClassify)(err);
  }

  /** Judges one read against what was acknowledged before it began. */
  private judgeRead(
    key: string,
    value: Buffer | null,
    ackedAtStart: number,
    deletedAtStart: boolean,
  ): void {
    const s = this.state(key);
    if (value === null) {
      if (ackedAtStart > 0 && !deletedAtStart && !s.deleteAttempted) {
        this.staleReads++;
        this.note(`read of ${key} missed after seq ${ackedAtStart} was acknowledged`);
      }
      return;
    }
    const decoded = decodeValue(key, value);
    if ("error" in decoded) {
      this.checksumFailures++;
      this.note(`read of ${key} returned a corrupt value (${decoded.error})`);
      return;
    }
    if (decoded.seq > s.attempted || decoded.seq < 1) {
      this.phantoms++;
      this.note(`read of ${key} returned seq ${decoded.seq}, never written (max ${s.attempted})`);
    } else if (s.uncertain?.has(decoded.seq) === true) {
      // An indeterminate write landing late: allowed (see KeyState.uncertain).
    } else if (deletedAtStart) {
      this.staleReads++;
      this.note(`read of ${key} returned seq ${decoded.seq} after its delete was acknowledged`);
    } else if (decoded.seq < ackedAtStart) {
      this.staleReads++;
      this.note(
        `read of ${key} returned seq ${decoded.seq} after seq ${ackedAtStart} was acknowledged`,
      );
    }
  }

  /** One writer's loop: runs until stop() or the deadline. */
  async runWriter(
    client: KvClient,
    writer: number,
    deadline: number,
    random = this.options.random ?? Math.random,
  ): Promise<void> {
    const o = this.options;
    const now = o.now ?? Date.now;
    while (!this.stopRequested && now() < deadline) {
      const slot = Math.floor(random() * o.keysPerWriter);
      const key = this.keyName(writer, slot);
      const s = this.state(key);
      const roll = random();
      if (roll < o.readRatio) {
        const ackedAtStart = s.acked;
        const deletedAtStart = s.deleteAcked;
        try {
          const value = await client.get(key);
          this.reads.ok++;
          this.judgeRead(key, value, ackedAtStart, deletedAtStart);
        } catch (err) {
          this.reads[this.classify(err)]++;
        }
      } else if (s.acked > 0 && random() < o.deleteRatio) {
        s.deleteAttempted = true;
        this.nextGeneration(writer, slot);
        try {
          await client.del(key);
          s.deleteAcked = true;
          this.deletes.ok++;
        } catch (err) {
          this.deletes[this.classify(err)]++;
        }
      } else {
        const seq = ++s.attempted;
        try {
          await client.set(key, encodeValue(key, seq, o.valueBytes));
          if (seq > s.acked) s.acked = seq;
          this.writes.ok++;
        } catch (err) {
          const outcome = this.classify(err);
          this.writes[outcome]++;
          if (outcome === "indeterminate") (s.uncertain ??= new Set()).add(seq);
        }
      }
    }
  }

  /** Runs every writer concurrently for `durationMs` (clients[i % clients.length] for writer i). */
  async run(clients: readonly KvClient[], durationMs: number): Promise<void> {
    const deadline = (this.options.now ?? Date.now)() + durationMs;
    this.stopRequested = false;
    await Promise.all(
      Array.from({ length: this.options.writers }, (_, w) =>
        this.runWriter(clients[w % clients.length] as KvClient, w, deadline),
      ),
    );
  }

  stop(): void {
    this.stopRequested = true;
  }

  /** Keys the load has sent a request for so far. */
  get keyCount(): number {
    return this.keys.size;
  }

  /** What has been acknowledged so far, for verify() after a fault that may lose later writes. */
  checkpoint(): Checkpoint {
    const out = new Map<string, { acked: number; deleted: boolean }>();
    for (const [key, s] of this.keys) out.set(key, { acked: s.acked, deleted: s.deleteAcked });
    return out;
  }

  /**
   * After the fault has healed: every key reads back at its last acknowledged seq or later
   * (through every client given, e.g. one per master), deleted keys stay deleted.
   *
   * With a checkpoint (a whole-cluster crash: what was acknowledged after the last snapshot may
   * be gone), a key must read back at its seq of the checkpoint or later, a key deleted by then
   * must stay deleted, and a later acknowledged write or delete that did not survive is
   * counted as rolled back, not lost.
   */
  async verify(clients: readonly KvClient[], since?: Checkpoint): Promise<void> {
    for (const client of clients) {
      const entries = [...this.keys.entries()];
      for (let i = 0; i < entries.length; i += 64) {
        await Promise.all(
          entries.slice(i, i + 64).map(async ([key, s]) => {
            const value = await client.get(key);
            // Without a checkpoint, what must survive is everything acknowledged.
            const must =
              since === undefined ? { acked: s.acked, deleted: s.deleteAcked } : since.get(key);
            const mustAcked = must?.acked ?? 0;
            const mustDeleted = must?.deleted === true;
            if (mustDeleted) {
              if (value !== null) {
                this.resurrected++;
                this.note(`${key} came back after its delete was acknowledged`);
              }
              return;
            }
            if (value === null) {
              if (s.deleteAttempted) return;
              if (mustAcked > 0) {
                this.lostWrites++;
                this.note(`${key} lost: seq ${mustAcked} was acknowledged, now missing`);
              } else if (s.acked > 0) {
                this.rolledBack++;
              }
              return;
            }
            const decoded = decodeValue(key, value);
            if ("error" in decoded) {
              this.checksumFailures++;
              this.note(`${key} reads back corrupt (${decoded.error})`);
              return;
            }
            const seq = decoded.seq;
            const late = s.uncertain?.has(seq) === true;
            if (seq > s.attempted) {
              this.phantoms++;
              this.note(`${key} reads seq ${seq}, never written`);
            } else if (seq < mustAcked && !s.deleteAttempted && !late) {
              this.lostWrites++;
              this.note(`${key} lost: reads seq ${seq}, seq ${mustAcked} was acknowledged`);
            } else if (since !== undefined && (s.deleteAcked || (seq < s.acked && !late))) {
              this.rolledBack++;
            }
          }),
        );
      }
    }
  }

  report(): CheckerReport {
    return {
      writes: { ...this.writes },
      reads: { ...this.reads },
      deletes: { ...this.deletes },
      staleReads: this.staleReads,
      phantoms: this.phantoms,
      checksumFailures: this.checksumFailures,
      lostWrites: this.lostWrites,
      resurrected: this.resurrected,
      rolledBack: this.rolledBack,
      examples: [...this.examples],
    };
  }

  /** Number of keys with an acknowledged, undeleted value. */
  get liveKeys(): number {
    let n = 0;
    for (const s of this.keys.values()) if (s.acked > 0 && !s.deleteAttempted) n++;
    return n;
  }
}

/** Human-readable one-line summary for test output and docs. */
export function summarize(r: CheckerReport): string {
  const c = (x: Record<Outcome, number>) =>
    `${x.ok} ok/${x.failed} failed/${x.indeterminate} indeterminate`;
  return (
    `writes ${c(r.writes)}; reads ${c(r.reads)}; deletes ${c(r.deletes)}; ` +
    `stale ${r.staleReads}, phantom ${r.phantoms}, checksum ${r.checksumFailures}, ` +
    `lost ${r.lostWrites}, resurrected ${r.resurrected}`
  );
}

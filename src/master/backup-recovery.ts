// Replaying the masters' backups after a whole-system restart, with no directory shared between
// masters: each master reads only its own files, and peers' backups come over HTTP.
//
//   first lead:    own files ─► replay ──► then, for each live peer (Coordination.livePeers):
//                  GET /v1/internal/backup of peerAddress(id) ─► replay, batch by batch
//                  (unreachable, or broken off: again, a few times, then skipped with a warning)
//   first follow:  own files ─► replay, unless a leader has already read them in full
//   replay:        Rebalancer.replay: versioned puts and deletes to each key's owners in the
//                  ring routed by now
//
// What must stay true:
// - Every source is replayed with versioned writes, so replaying it twice (a follower's own
//   backup read by the leader too) or at any time changes nothing newer.
// - A master's backup is replayed by someone as long as the master itself comes back: a peer
//   the leader could not read replays its own once it follows the leader's ring.
// - Memory stays bounded: a peer's stream is applied a batch at a time (backup-stream.ts), and
//   the own files are merged in a worker (backup.ts).
// See docs/design.md, "Backup and recovery".
import { setTimeout as sleep } from "node:timers/promises";
import type { MemberAddress } from "../config/fields.js";
import type { Logger } from "../log.js";
import type { Backup, BackupRecord } from "./backup.js";
import { fetchBackup } from "./backup-stream.js";

/** Attempts at one source before it is skipped. */
const ATTEMPTS = 3;
const BATCH = 1024;
const BATCH_BYTES = 8 * 1024 * 1024;

export interface BackupRecoveryOptions {
  readonly id: string;
  readonly secret?: string | undefined;
  readonly logger: Logger;
  /** Pause before another attempt at a source (times the attempts made). */
  readonly retryDelayMs: number;
  /** Until a peer's answer starts, and the longest pause of its stream while it is read. */
  readonly timeoutMs: number;
  /** The largest record a peer's stream may hold (a larger one is malformed). */
  readonly maxRecordBytes: number;
}

export interface BackupRecoveryDeps {
  readonly backup: Backup;
  /** Records at or above this version are replayed (younger than the tombstone lifetime). */
  readonly minVersion: () => number;
  /** Sends records to their owners in the ring routed by now (Rebalancer.replay). */
  readonly replay: (records: readonly BackupRecord[]) => Promise<unknown>;
  /** Ids of the peer masters that are live now. */
  readonly livePeers: () => readonly string[];
  /** Where a peer master's HTTP API is (undefined: not known). */
  readonly peerAddress: (id: string) => MemberAddress | undefined;
}

/** One source's replay as counted: records replayed, attempts that failed. */
export interface SourceCount {
  records: number;
  failures: number;
}

export class BackupRecovery {
  readonly options: BackupRecoveryOptions;
  private readonly deps: BackupRecoveryDeps;
  /** Per source (a master's id, this one's for its own files): what its replays did. */
  readonly sources = new Map<string, SourceCount>();
  /** Records of this master's backup sent to peers that read it to the end. */
  streamed = 0;
  /** A leader has read this master's backup in full since it started. */
  private readInFull = false;
  /** The replay of the own files under way, if any. */
  private own: Promise<boolean> | null = null;
  /** The own files were replayed (once is enough). */
  private ownDone = false;
  private stopped = false;

  constructor(options: BackupRecoveryOptions, deps: BackupRecoveryDeps) {
    this.options = options;
    this.deps = deps;
  }

  /**
   * This master leads for the first time (with nodes in its ring): replays its own backup,
   * then every live peer's, one source at a time, each from `minVersion` on.
   */
  async lead(minVersion = this.deps.minVersion()): Promise<void> {
    const replayed: string[] = [];
    const skipped: string[] = [];
    ((await this.replayOwn(minVersion)) ? replayed : skipped).push(this.options.id);
    // Taken after the own replay (which may take seconds): the peers live by then. One that
    // is not replays its own backup when it follows this master's ring.
    for (const peer of this.deps.livePeers()) {
      if (this.stopped) return;
      ((await this.replayPeer(peer, minVersion)) ? replayed : skipped).push(peer);
    }
    this.options.logger.info({ replayed, skipped }, "backups replayed on taking the lead");
  }

  /**
   * This master routes by the leader's ring, with nodes in it: it replays its own backup, once,
   * unless a leader has already read it in full. A leader that took over while this master
   * was away replayed what it could reach; this master's own files are replayed here
   * (versioned: safe even when the leader reads them too). Called at every ring change while
   * following: a replay that gave up is tried again at the next one.
   */
  follow(): void {
    if (this.ownDone || this.own !== null || this.stopped) return;
    if (this.readInFull) {
      this.ownDone = true;
      this.options.logger.info("a leader has read this master's backup; not replaying it here");
      return;
    }
    void this.replayOwn(this.deps.minVersion());
  }

  /**
   * A peer read this master's backup to the end from `minVersion` on (GET
   * /v1/internal/backup): in full when that takes in all this master would replay itself.
   */
  served(records: number, minVersion: number): void {
    this.streamed += records;
    if (minVersion <= this.deps.minVersion()) this.readInFull = true;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Replays the own files unless done (a replay under way is joined); true once they are. */
  private replayOwn(minVersion: number): Promise<boolean> {
    if (this.ownDone) return Promise.resolve(true);
    this.own ??= this.attempts(this.options.id, (apply) =>
      this.deps.backup.replayOwn(minVersion, apply),
    ).then((ok) => {
      this.ownDone = ok;
      this.own = null;
      return ok;
    });
    return this.own;
  }

  private replayPeer(id: string, minVersion: number): Promise<boolean> {
    return this.attempts(id, async (apply) => {
      const address = this.deps.peerAddress(id);
      if (address === undefined) throw new Error("its address is not known");
      const { records, bad } = await fetchBackup(
        address,
        {
          minVersion,
          secret: this.options.secret,
          timeoutMs: this.options.timeoutMs,
          batch: BATCH,
          batchBytes: BATCH_BYTES,
          maxRecordBytes: this.options.maxRecordBytes,
        },
        apply,
      );
      if (bad !== null) {
        this.options.logger.warn(
          { source: id, records, reason: bad },
          "a peer's backup stream is malformed; replayed up to the bad record",
        );
      }
      return records;
    });
  }

  /**
   * Runs one source's replay, again after a failure (a peer not answering, a stream broken
   * off, an owner not reachable), up to ATTEMPTS times; counts and logs what it did. `run`
   * hands its batches to the apply it is given.
   */
  private async attempts(
    source: string,
    run: (apply: (records: BackupRecord[]) => Promise<void>) => Promise<number>,
  ): Promise<boolean> {
    let count = this.sources.get(source);
    if (count === undefined) this.sources.set(source, (count = { records: 0, failures: 0 }));
    const counted = count;
    const apply = async (records: BackupRecord[]): Promise<void> => {
      await this.deps.replay(records);
      counted.records += records.length;
    };
    const log = this.options.logger;
    for (let attempt = 1; attempt <= ATTEMPTS && !this.stopped; attempt++) {
      const startedAt = Date.now();
      try {
        const records = await run(apply);
        log.info({ source, records, ms: Date.now() - startedAt, attempt }, "backup replayed");
        return true;
      } catch (err) {
        counted.failures++;
        const fields = { source, attempt, err: (err as Error).message };
        if (attempt === ATTEMPTS) {
          log.warn(fields, "backup not replayed: giving up on this source");
          return false;
        }
        log.warn(fields, "backup replay failed; trying again");
        await sleep(this.options.retryDelayMs * attempt);
      }
    }
    return false;
  }
}

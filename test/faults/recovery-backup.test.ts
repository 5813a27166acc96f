// The masters' backups with no directory shared between masters: each keeps its own in its data
// directory and serves it over GET /v1/internal/backup. Both masters redistribute data (each
// leads a move), then the whole system restarts with every auxiliary node's data directory
// emptied, so that only the backups can bring the data back: the leader replays its own and
// reads its peer's over the network. A master down at that restart is skipped, and replays its
// own backup when it returns.
import assert from "node:assert/strict";
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { BackupRecord } from "../../src/master/backup.js";
import { decodeRecords } from "../helpers/backup-format.js";
import { TestCluster, type MasterHandle } from "../helpers/cluster.js";
import {
  PRELOAD_KEYS,
  backupFiles,
  backupStream,
  preload,
  recoveryView,
  waitRebalanced,
} from "../helpers/recovery.js";
import { waitFor } from "../helpers/wait.js";

const SECRET = "backup-stream-secret";
const TIMING = { healthInterval: "200ms", requestTimeout: "1s" } as const;
const LATE_KEYS = 5000;

/** The log lines of the master's current process whose msg is `msg`, for one source. */
function replayLines(m: MasterHandle, msg: string, source: string): Record<string, unknown>[] {
  return m.process
    .logEvents(msg)
    .filter((e) => e["pid"] === m.process.pid && e["source"] === source);
}

/** Waits for the master's current process to log a replay of `source`: records, time taken. */
async function replayed(m: MasterHandle, source: string): Promise<{ records: number; ms: number }> {
  const line = await waitFor(
    `${m.id} to replay the backup of ${source}`,
    () => replayLines(m, "backup replayed", source)[0],
    { timeoutMs: 60_000, intervalMs: 50 },
  );
  return { records: line["records"] as number, ms: line["ms"] as number };
}

/** Reads each key; returns the keys whose value is not the backup's newest record's. */
async function wrongKeys(port: number, expected: Map<string, BackupRecord>): Promise<string[]> {
  const redis = new Redis({ port, password: SECRET, maxRetriesPerRequest: 1 });
  const wrong: string[] = [];
  try {
    const keys = [...expected.keys()];
    for (let at = 0; at < keys.length; at += 500) {
      const slice = keys.slice(at, at + 500);
      const values = await redis.mgetBuffer(slice);
      values.forEach((v, i) => {
        const r = expected.get(slice[i] as string) as BackupRecord;
        const ok = r.tombstone ? v === null : v !== null && v.equals(r.value);
        if (!ok) wrong.push(slice[i] as string);
      });
    }
  } finally {
    redis.disconnect();
  }
  return wrong;
}

/** The newest record per key over both maps. */
function union(...maps: Map<string, BackupRecord>[]): Map<string, BackupRecord> {
  const out = new Map<string, BackupRecord>();
  for (const m of maps) {
    for (const [k, r] of m) {
      const held = out.get(k);
      if (held === undefined || r.version > held.version) out.set(k, r);
    }
  }
  return out;
}

describe("masters' backups with no shared directory (2 masters, R=2)", () => {
  let cluster: TestCluster;
  let m1: MasterHandle;
  let m2: MasterHandle;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      secret: SECRET,
      ...TIMING,
    });
    m1 = cluster.master(0);
    m2 = cluster.master(1);
    await preload(m1.port, PRELOAD_KEYS, SECRET);
  });
  after(async () => {
    await cluster.stop();
  });

  const backupDir = (m: MasterHandle): string => join(cluster.masterDir(m.id), "backup");

  /** Stops every node, empties every auxiliary node's data directory and starts them again. */
  async function emptyNodes(): Promise<void> {
    await Promise.all(cluster.masters.map((m) => m.terminate()));
    await Promise.all(cluster.auxiliaries.map((a) => a.kill9()));
    for (const a of cluster.auxiliaries) rmSync(a.dataDir, { recursive: true, force: true });
    await Promise.all(cluster.auxiliaries.map((a) => a.restart()));
  }

  it("keeps each master's backup in its own data directory, moved while each master led", async () => {
    // m1 leads: a node dies and comes back, and m1 moves its data.
    let moves = (await recoveryView(m1)).rebalance?.movesCompleted ?? 0;
    await cluster.aux(2).kill9();
    await waitRebalanced(m1, 2, ++moves);
    await cluster.aux(2).restart();
    await waitRebalanced(m1, 3, moves + 1);
    // m1 is lost: m2 leads, and moves data written since when another node dies.
    await m1.kill9();
    await waitFor("m2 to lead", async () => (await recoveryView(m2)).leader === "m2", {
      timeoutMs: 20_000,
    });
    const redis = new Redis({ port: m2.port, password: SECRET });
    try {
      const p = redis.pipeline();
      for (let i = 0; i < LATE_KEYS; i++) p.set(`late:${i}`, `late-value-${i}`);
      for (const [err] of (await p.exec()) ?? []) assert.equal(err, null);
    } finally {
      redis.disconnect();
    }
    moves = (await recoveryView(m2)).rebalance?.movesCompleted ?? 0;
    await cluster.aux(0).kill9();
    await waitRebalanced(m2, 2, ++moves);
    await cluster.aux(0).restart();
    await waitRebalanced(m2, 3, moves + 1);
    await m1.restart();
    await waitFor("m1 to lead again", async () => (await recoveryView(m2)).leader === "m1", {
      timeoutMs: 20_000,
    });

    // Nothing is shared: no backup file outside a master's own data directory.
    assert.deepEqual(
      readdirSync(cluster.dir).filter((n) => n.endsWith(".rcbackup")),
      [],
    );
    const own1 = backupFiles(backupDir(m1));
    const own2 = backupFiles(backupDir(m2));
    const late = (b: Map<string, BackupRecord>): number =>
      [...b.keys()].filter((k) => k.startsWith("late:")).length;
    console.log(
      `  backups: m1 holds ${own1.size} keys (${late(own1)} late), m2 ${own2.size} (${late(own2)} late)`,
    );
    assert.ok(own1.size > PRELOAD_KEYS / 2 && late(own1) === 0, "m1 moved the first keys only");
    assert.ok(late(own2) > LATE_KEYS / 2, "m2 moved the keys written while it led");
  });

  it("streams a master's backup only with the cluster secret, its records counted", async () => {
    const none = await backupStream(m2);
    assert.equal(none.status, 401);
    const wrong = await backupStream(m2, "Bearer not-the-secret");
    assert.equal(wrong.status, 401);
    const bad = await backupStream(m2, `Bearer ${SECRET}`, "?min-version=-1");
    assert.equal(bad.status, 400);
    const started = Date.now();
    const res = await backupStream(m2, `Bearer ${SECRET}`);
    const ms = Date.now() - started;
    assert.equal(res.status, 200);
    const { records, corrupt } = decodeRecords(res.body);
    assert.equal(corrupt, false);
    assert.equal(res.records, String(records.length));
    // More than one batch (1024 records) and many chunks (64 KB) of the stream.
    assert.ok(
      records.length > 1024 && res.body.length > 4 * 64 * 1024,
      `${records.length} records`,
    );
    const newest = new Map<string, number>();
    for (const r of records) {
      const k = r.key.toString("latin1");
      newest.set(k, Math.max(newest.get(k) ?? 0, r.version));
    }
    const files = backupFiles(backupDir(m2));
    assert.equal(newest.size, files.size);
    for (const [k, r] of files) assert.equal(newest.get(k), r.version, k);
    console.log(`  stream of m2: ${records.length} records, ${res.body.length} bytes in ${ms} ms`);
    const later = await backupStream(m2, `Bearer ${SECRET}`, `?min-version=${2 ** 53 - 1}`);
    assert.deepEqual([later.status, later.body.length, later.records], [200, 0, "0"]);
  });

  it("brings back every key the backups hold after a whole-system restart from empty nodes", async () => {
    const expected = union(backupFiles(backupDir(m1)), backupFiles(backupDir(m2)));
    const started = Date.now();
    await emptyNodes();
    // m2 first: it leads once m1 missed its polls and replays its own backup. Then m1, which
    // takes the lead (the lowest id), replays its own backup and reads m2's over the network.
    await m2.restart();
    await replayed(m2, "m2");
    await m1.restart();
    const fromM1 = await replayed(m1, "m1");
    const fromM2 = await replayed(m1, "m2");
    const ms = Date.now() - started;
    const wrong = await wrongKeys(m2.port, expected);
    console.log(
      `  whole restart from empty nodes: m1 replayed ${fromM1.records} records of its own in ` +
        `${fromM1.ms} ms and ${fromM2.records} read from m2 in ${fromM2.ms} ms (${ms} ms after ` +
        `the stop); ${expected.size} keys held by the backups, ${wrong.length} missing or wrong`,
    );
    assert.ok(fromM1.records > 0 && fromM2.records > 0);
    assert.deepEqual(wrong.slice(0, 10), []);
  });

  it("skips a master that is down at the restart; it replays its own backup when it returns", async () => {
    const own1 = backupFiles(backupDir(m1));
    const expected = union(own1, backupFiles(backupDir(m2)));
    const onlyInM2 = new Map([...expected].filter(([k]) => !own1.has(k)));
    assert.ok(onlyInM2.size > 0);
    await emptyNodes();
    await m1.restart();
    // m1 leads alone: it replays its own backup, and m2's is not read (m2 is not live by
    // then, or cannot be reached and is skipped).
    const done = await waitFor(
      "m1 to finish replaying on taking the lead",
      () =>
        m1.process
          .logEvents("backups replayed on taking the lead")
          .find((e) => e["pid"] === m1.process.pid),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    assert.deepEqual(done["replayed"], ["m1"]);
    const missing = (await wrongKeys(m1.port, onlyInM2)).length;
    assert.equal(missing, onlyInM2.size, "keys only m2's backup holds are not back yet");
    await m2.restart();
    const fromM2 = await replayed(m2, "m2");
    const wrong = await wrongKeys(m1.port, expected);
    console.log(
      `  m2 down at the restart: ${onlyInM2.size} keys only in its backup were missing; back ` +
        `with m2, which replayed ${fromM2.records} records of its own in ${fromM2.ms} ms; ` +
        `${wrong.length} missing or wrong`,
    );
    assert.equal(replayLines(m1, "backup replayed", "m2").length, 0);
    assert.deepEqual(wrong.slice(0, 10), []);
  });
});

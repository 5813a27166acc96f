// Who replays which backup: the leader its own and then each live peer's over HTTP (a peer it
// cannot read is tried again, then skipped), a follower its own unless a leader read it in full;
// counted per source.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { MemberAddress } from "../../src/config/fields.js";
import { createLogger } from "../../src/log.js";
import { Backup, type BackupRecord } from "../../src/master/backup.js";
import { BackupRecovery } from "../../src/master/backup-recovery.js";
import { sendBackup } from "../../src/master/backup-stream.js";
import { waitFor } from "../helpers/wait.js";

const logger = createLogger({ level: "silent", node: "m1", role: "master" });
const dirs: string[] = [];
const servers: Server[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const s of servers) s.close();
});

/** A master's backup in a directory of its own, holding `n` keys named after it. */
function backupOf(id: string, n: number): Backup {
  const dir = mkdtempSync(join(tmpdir(), `ringcache-recovery-${id}-`));
  dirs.push(dir);
  const backup = new Backup({ dir, id, maxBytes: 1 << 30, minVersion: () => 0, logger });
  backup.open();
  const records: BackupRecord[] = Array.from({ length: n }, (_, i) => ({
    key: Buffer.from(`${id}:${i}`),
    value: Buffer.from(`v${i}`),
    version: i + 1,
    expiresAt: 0,
    tombstone: false,
  }));
  backup.append(records);
  return backup;
}

/** Serves a backup as GET /v1/internal/backup does; returns its address. */
async function serve(id: string, backup: Backup): Promise<MemberAddress> {
  const server = createServer((req, res) => {
    req.resume();
    void sendBackup(res, backup.reader(0)).catch(() => {});
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { id, host: "127.0.0.1", port: (server.address() as AddressInfo).port };
}

/** An address nothing listens on. */
async function closedAddress(id: string): Promise<MemberAddress> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { id, host: "127.0.0.1", port };
}

function recovery(
  backup: Backup,
  peers: readonly MemberAddress[],
  replayed: string[],
): BackupRecovery {
  return new BackupRecovery(
    { id: "m1", logger, retryDelayMs: 5, timeoutMs: 2000, maxRecordBytes: 1 << 20 },
    {
      backup,
      minVersion: () => 0,
      replay: (records) => {
        for (const r of records) replayed.push(r.key.toString());
        return Promise.resolve();
      },
      livePeers: () => peers.map((p) => p.id),
      peerAddress: (id) => peers.find((p) => p.id === id),
    },
  );
}

describe("backup recovery", () => {
  it("as leader replays its own backup, then each live peer's; skips one it cannot reach", async () => {
    const own = backupOf("m1", 50);
    const m2 = await serve("m2", backupOf("m2", 3000));
    const m3 = await closedAddress("m3");
    const m4 = await serve("m4", backupOf("m4", 10));
    const replayed: string[] = [];
    const r = recovery(own, [m2, m3, m4], replayed);
    await r.lead();
    const sources = replayed.map((k) => k.split(":")[0]);
    // One source after the other, the own first.
    assert.deepEqual(
      sources.filter((s, i) => s !== sources[i - 1]),
      ["m1", "m2", "m4"],
    );
    assert.deepEqual(Object.fromEntries(r.sources), {
      m1: { records: 50, failures: 0 },
      m2: { records: 3000, failures: 0 },
      m3: { records: 0, failures: 3 },
      m4: { records: 10, failures: 0 },
    });
    // The own backup is not replayed again when this master later follows.
    r.follow();
    assert.equal(replayed.length, 3060);
  });

  it("tries a source again when its replay fails, counting the records each try applied", async () => {
    const m2 = await serve("m2", backupOf("m2", 3000));
    const replayed: string[] = [];
    let failuresLeft = 1;
    let beforeFailure = 0;
    const r = new BackupRecovery(
      { id: "m1", logger, retryDelayMs: 5, timeoutMs: 2000, maxRecordBytes: 1 << 20 },
      {
        backup: backupOf("m1", 0),
        minVersion: () => 0,
        replay: (records) => {
          // An owner unreachable for the second batch of the first try.
          if (replayed.length > 0 && failuresLeft-- > 0) {
            beforeFailure = replayed.length;
            return Promise.reject(new Error("owner unreachable"));
          }
          for (const rec of records) replayed.push(rec.key.toString());
          return Promise.resolve();
        },
        livePeers: () => ["m2"],
        peerAddress: () => m2,
      },
    );
    await r.lead();
    assert.ok(beforeFailure > 0 && beforeFailure < 3000);
    assert.deepEqual(r.sources.get("m2"), { records: beforeFailure + 3000, failures: 1 });
    assert.equal(new Set(replayed).size, 3000);
  });

  it("as follower replays its own backup once, unless a leader read it in full", async () => {
    const replayed: string[] = [];
    const r = recovery(backupOf("m1", 20), [], replayed);
    r.follow();
    r.follow();
    await waitFor("the own replay", () => r.sources.get("m1")?.records === 20);
    r.follow();
    assert.equal(replayed.length, 20);
    assert.deepEqual(r.sources.get("m1"), { records: 20, failures: 0 });

    // A replay starts (and counts its source) at once, or never.
    const read = recovery(backupOf("m1", 20), [], []);
    read.served(20, 0);
    read.follow();
    assert.equal(read.sources.size, 0);
    assert.equal(read.streamed, 20);
  });
});

// The masters' backup under load: what its compaction and its replay cost the master's event
// loop and memory.
//
//   node dist/bench/backup.js [--entries 4000000] [--bound 256mb-in-bytes] [--replay 1000000]
//                             [--stream 2000000]
//
// Compaction: a move's pages (256 entries of 100-byte values, keys over a space of 1.5M) are
// appended until `--entries` went in, which passes the bound (default 256 MB, the master's
// default --backup-max-bytes) a few times; reported: the longest single append (the event
// loop's wait; a compaction on the event loop would show here), the compactions, the time.
// Replay: `--replay` entries in one master's file, replayed in batches of 1024 with a turn of
// the event loop after each (as the leader's requests would); reported: the event loop's
// longest delay (perf_hooks' monitorEventLoopDelay) and the time.
// Stream: `--stream` entries in one master's file, served by GET /v1/internal/backup's sender on
// loopback and read back by the leader's reader (backup-stream.ts) in batches of 1024, a turn of
// the event loop after each; both ends in this process. Reported: the time, the event loop's
// longest delay, and the RSS sampled every 20 ms during the stream against the file's size
// (memory stays bounded: neither end holds the backup whole). Then each step alone, timed: the
// sender's BackupReader.next() (read and encode one chunk) and the reader's RecordParser.push()
// of 64 KB, the synchronous work of one turn of the event loop at either end.
// Peak RSS of the whole run comes last (from the process's resource usage).
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createLogger } from "../src/log.js";
import { Backup } from "../src/master/backup.js";
import { RecordParser, fetchBackup, sendBackup } from "../src/master/backup-stream.js";
import type { BackupRecord } from "../src/master/backup.js";
import { PageWriter } from "../src/protocol/page.js";

interface Options {
  entries: number;
  bound: number;
  replay: number;
  stream: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    entries: 4_000_000,
    bound: 256 * 1024 * 1024,
    replay: 1_000_000,
    stream: 2_000_000,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--entries") o.entries = Number(argv[++i]);
    else if (a === "--bound") o.bound = Number(argv[++i]);
    else if (a === "--replay") o.replay = Number(argv[++i]);
    else if (a === "--stream") o.stream = Number(argv[++i]);
    else {
      console.error(
        `unknown argument ${a}; usage: backup [--entries N] [--bound BYTES] [--replay N] [--stream N]`,
      );
      process.exit(2);
    }
  }
  return o;
}

const logger = createLogger({ level: "silent", node: "bench", role: "master" });
const VALUE = Buffer.alloc(100, 120);

function appendPages(backup: Backup, entries: number, keySpace: number): number {
  const page = new PageWriter();
  let slowest = 0;
  for (let n = 0; n < entries;) {
    page.reset();
    for (let i = 0; i < 256 && n < entries; i++, n++) {
      page.add(Buffer.from(`key:${n % keySpace}`), VALUE, n + 1, 0, false);
    }
    const bytes = Buffer.from(page.view());
    const t = performance.now();
    backup.appendPage(bytes, [0, bytes.length], page.count);
    slowest = Math.max(slowest, performance.now() - t);
  }
  return slowest;
}

const o = parseArgs(process.argv.slice(2));
const dir = mkdtempSync(join(tmpdir(), "ringcache-bench-backup-"));
try {
  {
    const backup = new Backup({
      dir: join(dir, "compaction"),
      id: "m1",
      maxBytes: o.bound,
      minVersion: () => 0,
      logger,
    });
    backup.open();
    const t = performance.now();
    const slowest = appendPages(backup, o.entries, 1_500_000);
    await backup.settled();
    const seconds = (performance.now() - t) / 1000;
    backup.close();
    console.log(
      `compaction: ${o.entries} entries appended, bound ${o.bound} bytes: ` +
        `${backup.compactions} compaction(s), longest append ${slowest.toFixed(1)} ms, ` +
        `${seconds.toFixed(1)} s in all`,
    );
  }
  {
    const replayDir = join(dir, "replay");
    const backup = new Backup({
      dir: replayDir,
      id: "m1",
      maxBytes: Number.MAX_SAFE_INTEGER,
      minVersion: () => 0,
      logger,
    });
    backup.open();
    appendPages(backup, o.replay, o.replay);
    backup.close();
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const t = performance.now();
    const n = await Backup.replay(replayDir, 0, () => new Promise((r) => setImmediate(r)));
    const seconds = (performance.now() - t) / 1000;
    delay.disable();
    console.log(
      `replay: ${n} records in ${seconds.toFixed(2)} s, ` +
        `longest event-loop delay ${(delay.max / 1e6).toFixed(1)} ms`,
    );
  }
  if (o.stream > 0) await streamPhase(join(dir, "stream"), o.stream);
  console.log(`peak RSS of the run: ${Math.round(process.resourceUsage().maxRSS / 1024)} MB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

async function streamPhase(streamDir: string, entries: number): Promise<void> {
  const backup = new Backup({
    dir: streamDir,
    id: "m2",
    maxBytes: Number.MAX_SAFE_INTEGER,
    minVersion: () => 0,
    logger,
  });
  backup.open();
  appendPages(backup, entries, entries);
  backup.close();
  const fileBytes = statSync(backup.path).size;
  const server = createServer((req, res) => {
    req.resume();
    void sendBackup(res, backup.reader(0));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssMax = rssBefore;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }, 20);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const t = performance.now();
  const { records } = await fetchBackup(
    { id: "m2", host: "127.0.0.1", port },
    {
      minVersion: 0,
      timeoutMs: 10_000,
      batch: 1024,
      batchBytes: 8 * 1024 * 1024,
      maxRecordBytes: 64 * 1024 * 1024,
    },
    () => new Promise((r) => setImmediate(r)),
  );
  const seconds = (performance.now() - t) / 1000;
  delay.disable();
  clearInterval(sampler);
  server.close();
  const mb = (n: number): string => `${Math.round(n / 1024 / 1024)} MB`;
  console.log(
    `stream: ${records} records (file ${mb(fileBytes)}) in ${seconds.toFixed(2)} s ` +
      `(${Math.round(records / seconds)} records/s), longest event-loop delay ` +
      `${(delay.max / 1e6).toFixed(1)} ms (p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms); RSS ${mb(rssBefore)} before, at most ${mb(rssMax)} ` +
      `during (+${mb(rssMax - rssBefore)})`,
  );
  const reader = backup.reader(0);
  const parser = new RecordParser(64 * 1024 * 1024);
  const next = { n: 0, sum: 0, max: 0 };
  const push = { n: 0, sum: 0, max: 0 };
  const time = (s: typeof next, ms: number): void => {
    s.n++;
    s.sum += ms;
    s.max = Math.max(s.max, ms);
  };
  for (;;) {
    let at = performance.now();
    const chunk = reader.next();
    time(next, performance.now() - at);
    if (chunk === null) break;
    for (let i = 0; i < chunk.length; i += 64 * 1024) {
      const out: BackupRecord[] = [];
      at = performance.now();
      parser.push(chunk.subarray(i, i + 64 * 1024), out);
      time(push, performance.now() - at);
    }
  }
  reader.close();
  const avg = (s: typeof next): string =>
    `${(s.sum / s.n).toFixed(2)} ms on average, ${s.max.toFixed(1)} ms at most`;
  console.log(`stream steps: sender's chunk ${avg(next)}; reader's 64 KB ${avg(push)}`);
}

// Throughput of the RESP codec: commands decoded per second from a pipelined stream fed in
// 64 KiB chunks (as socket reads deliver it), replies decoded per second, and replies written
// per second. Run: `npm run bench:resp` (or `node dist/bench/resp.js` after a build).
//
// Each case runs ROUNDS times after a warm-up and the median is reported. node-redis's RESP
// decoder, when installed, decodes the same bytes in the same run as a peer: the command
// stream is valid RESP2 replies too (arrays of bulks), so it can read both streams.
import { performance } from "node:perf_hooks";
import {
  CommandDecoder,
  type CommandHandler,
  ReplyDecoder,
  type ReplyHandler,
  type RespProtocolError,
  type RespValue,
  RespWriter,
  encodeCommand,
} from "../src/protocol/resp/index.js";

const ROUNDS = Number(process.env.RESP_BENCH_ROUNDS ?? 7);
const COMMANDS = 200_000;
const CHUNK = 64 * 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Runs `fn` (which performs `ops` operations) once to warm up, then ROUNDS times: ops/s. */
function measure(ops: number, fn: () => void): number {
  fn();
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    fn();
    rates.push(ops / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

function chunks(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  // Copies, not views: each socket read is a Buffer of its own.
  for (let i = 0; i < stream.length; i += CHUNK)
    out.push(Buffer.from(stream.subarray(i, i + CHUNK)));
  return out;
}

// A pipeline of SET key value (16-byte keys, 100-byte values) and GET key, alternating.
const value = Buffer.alloc(100, 0x61);
const parts: Buffer[] = [];
for (let i = 0; i < COMMANDS; i++) {
  const key = `key:${String(i >> 1).padStart(12, "0")}`;
  parts.push(i % 2 === 0 ? encodeCommand(["SET", key, value]) : encodeCommand(["GET", key]));
}
const commandChunks = chunks(Buffer.concat(parts));

// The replies a server sends back: +OK for SET, a 100-byte bulk for GET.
const replyWriter = new RespWriter();
for (let i = 0; i < COMMANDS; i++) {
  if (i % 2 === 0) replyWriter.simple("OK");
  else replyWriter.bulk(value);
}
const replyChunks = chunks(replyWriter.take());

class CountingCommands implements CommandHandler {
  count = 0;
  bytes = 0;
  onCommand(args: Buffer[]): void {
    this.count++;
    this.bytes += args[args.length - 1]!.length;
  }
  onProtocolError(err: RespProtocolError): void {
    throw err;
  }
}

class CountingReplies implements ReplyHandler {
  count = 0;
  onReply(_value: RespValue): void {
    this.count++;
  }
  onProtocolError(err: RespProtocolError): void {
    throw err;
  }
}

function decodeCommands(): void {
  const handler = new CountingCommands();
  const decoder = new CommandDecoder(handler);
  for (const chunk of commandChunks) decoder.feed(chunk);
  if (handler.count !== COMMANDS) throw new Error(`decoded ${handler.count} commands`);
}

function decodeReplies(source: Buffer[]): () => void {
  return () => {
    const handler = new CountingReplies();
    const decoder = new ReplyDecoder(handler);
    for (const chunk of source) decoder.feed(chunk);
    if (handler.count !== COMMANDS) throw new Error(`decoded ${handler.count} replies`);
  };
}

interface PeerDecoder {
  write(chunk: Buffer): void;
}
type PeerFactory = (onReply: () => void) => PeerDecoder;

/** node-redis's decoder (RESP3-capable, reading RESP2 here), if the package is installed. */
async function loadPeer(): Promise<PeerFactory | null> {
  try {
    const mod = (await import("@redis/client/dist/lib/RESP/decoder.js")) as {
      Decoder: new (config: {
        onReply: () => void;
        onErrorReply: () => void;
        onPush: () => void;
        getTypeMapping: () => object;
      }) => PeerDecoder;
    };
    const mapping = { 36: Buffer }; // bulks as Buffers, like ours
    return (onReply) =>
      new mod.Decoder({
        onReply,
        onErrorReply: () => undefined,
        onPush: () => undefined,
        getTypeMapping: () => mapping,
      });
  } catch {
    return null;
  }
}

function peerDecode(factory: PeerFactory, source: Buffer[]): () => void {
  return () => {
    let count = 0;
    const decoder = factory(() => count++);
    for (const chunk of source) decoder.write(chunk);
    if (count !== COMMANDS) throw new Error(`peer decoded ${count}`);
  };
}

/** Writes `n` replies per flush (a pipeline of 16 per event-loop turn), then takes the batch. */
function writeBatches(write: (w: RespWriter) => void): () => void {
  const writer = new RespWriter();
  return () => {
    let bytes = 0;
    for (let i = 0; i < COMMANDS; i += 16) {
      for (let j = 0; j < 16; j++) write(writer);
      bytes += writer.take().length;
    }
    if (bytes === 0) throw new Error("nothing written");
  };
}

const peer = await loadPeer();
const rows: [string, number, number | null][] = [];

const commandRate = measure(COMMANDS, decodeCommands);
rows.push([
  "CommandDecoder: SET/GET pipeline, 64 KiB chunks",
  commandRate,
  peer ? measure(COMMANDS, peerDecode(peer, commandChunks)) : null,
]);
rows.push([
  "ReplyDecoder: +OK / 100-byte bulk, 64 KiB chunks",
  measure(COMMANDS, decodeReplies(replyChunks)),
  peer ? measure(COMMANDS, peerDecode(peer, replyChunks)) : null,
]);
rows.push([
  "RespWriter: 100-byte bulk, take() per 16",
  measure(
    COMMANDS,
    writeBatches((w) => w.bulk(value)),
  ),
  null,
]);
rows.push([
  "RespWriter: +OK, take() per 16",
  measure(
    COMMANDS,
    writeBatches((w) => w.simple("OK")),
  ),
  null,
]);
rows.push([
  "encodeCommand: SET 16-byte key, 100-byte value",
  measure(COMMANDS, () => {
    for (let i = 0; i < COMMANDS; i++) encodeCommand(["SET", "key:000000000001", value]);
  }),
  null,
]);

const fmt = (n: number): string => `${(n / 1e6).toFixed(2)} M/s`;
console.log(`median of ${ROUNDS} rounds of ${COMMANDS} operations, node ${process.version}`);
console.log(`| case | ringcache | node-redis decoder | ratio |`);
console.log(`| --- | ---: | ---: | ---: |`);
for (const [name, ours, theirs] of rows) {
  const peerCell = theirs === null ? "–" : fmt(theirs);
  const ratio = theirs === null ? "–" : `${(ours / theirs).toFixed(2)}×`;
  console.log(`| ${name} | ${fmt(ours)} | ${peerCell} | ${ratio} |`);
}

// Shared by the RESP codec tests (not a test file itself): handlers that record what the
// decoders emit, copying bytes as the contract requires, and ways to split a stream.
import {
  CommandDecoder,
  type CommandHandler,
  ReplyDecoder,
  type ReplyHandler,
  type Resp3Value,
  type RespLimits,
  RespMap,
  type RespProtocolError,
  RespSet,
  type RespValue,
  RespVerbatim,
} from "../../src/protocol/resp/index.js";

/** Records commands (copied: args are only valid during onCommand) and protocol errors. */
export class CommandLog implements CommandHandler {
  readonly commands: Buffer[][] = [];
  readonly errors: string[] = [];
  onCommand(args: Buffer[]): void {
    this.commands.push(args.map((a) => Buffer.from(a)));
  }
  onProtocolError(err: RespProtocolError): void {
    this.errors.push(err.message);
  }
  /** Commands as latin1 strings, for readable assertions. */
  get text(): string[][] {
    return this.commands.map((args) => args.map((a) => a.toString("latin1")));
  }
}

/** Deep-copies a decoded value so that no view of a fed chunk survives the callback. */
export function copyValue<V extends Resp3Value>(v: V): V;
export function copyValue(v: Resp3Value): Resp3Value {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(copyValue);
  if (v instanceof RespMap) return new RespMap(v.entries.map(copyValue));
  if (v instanceof RespSet) return new RespSet(v.items.map(copyValue));
  if (v instanceof RespVerbatim) return new RespVerbatim(v.format, Buffer.from(v.text));
  return v;
}

export class ReplyLog<V extends Resp3Value = RespValue> implements ReplyHandler<V> {
  readonly replies: V[] = [];
  readonly errors: string[] = [];
  onReply(value: V): void {
    this.replies.push(copyValue(value));
  }
  onProtocolError(err: RespProtocolError): void {
    this.errors.push(err.message);
  }
}

/** The stream cut before each of the given positions (sorted, deduplicated, in range). */
export function splitAt(stream: Buffer, positions: Iterable<number>): Buffer[] {
  const cuts = [...new Set(positions)].filter((p) => p > 0 && p < stream.length);
  cuts.sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    out.push(Buffer.from(stream.subarray(start, cut))); // own memory, like a socket read
    start = cut;
  }
  out.push(Buffer.from(stream.subarray(start)));
  return out;
}

export function byteByByte(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) out.push(Buffer.from([stream[i]!]));
  return out;
}

export function decodeCommands(chunks: Buffer[], limits?: Partial<RespLimits>): CommandLog {
  const log = new CommandLog();
  const decoder = new CommandDecoder(log, limits);
  for (const chunk of chunks) decoder.feed(chunk);
  return log;
}

export function decodeReplies(chunks: Buffer[], limits?: Partial<RespLimits>): ReplyLog {
  const log = new ReplyLog();
  const decoder = new ReplyDecoder(log, limits);
  for (const chunk of chunks) decoder.feed(chunk);
  return log;
}

/** The same with a decoder that reads RESP3 (a client after HELLO 3). */
export function decodeResp3Replies(
  chunks: Buffer[],
  limits?: Partial<RespLimits>,
): ReplyLog<Resp3Value> {
  const log = new ReplyLog<Resp3Value>();
  const decoder = new ReplyDecoder<Resp3Value>(log, limits, { resp3: true });
  for (const chunk of chunks) decoder.feed(chunk);
  return log;
}

/** A small deterministic PRNG (mulberry32), for splits that must be reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts the stream at `count` random positions. */
export function randomSplits(stream: Buffer, count: number, random: () => number): Buffer[] {
  const positions: number[] = [];
  for (let i = 0; i < count; i++) positions.push(1 + Math.floor(random() * (stream.length - 1)));
  return splitAt(stream, positions);
}

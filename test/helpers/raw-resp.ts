// Raw RESP exchanges for reference comparisons: the bytes a server sent back, exactly as they
// came off the wire, so ringcache's replies can be compared byte for byte with redis-server's.
// Replies are counted with a decoder that reads RESP3 too, so a script may say HELLO 3.
import { connect } from "node:net";
import {
  ReplyDecoder,
  type Resp3Value,
  RespMap,
  RespWriter,
  encodeCommand,
} from "../../src/protocol/resp/index.js";

/** A decoder that only counts whole replies, RESP2 or RESP3 (push frames never come). */
function counter(onReply: () => void, onError: (err: Error) => void): ReplyDecoder<Resp3Value> {
  return new ReplyDecoder<Resp3Value>({ onReply, onProtocolError: onError }, undefined, {
    resp3: true,
  });
}

/**
 * Sends commands one at a time and returns each raw reply. The first command is the
 * connection's first, so a script that starts with `HELLO 3` runs in RESP3 from there on.
 */
export async function rawReplies(port: number, commands: readonly string[][]): Promise<Buffer[]> {
  const socket = connect({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let received = Buffer.alloc(0);
  let count = 0;
  let wake: (() => void) | undefined;
  const decoder = counter(
    () => count++,
    (err) => socket.destroy(err),
  );
  socket.on("data", (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    decoder.feed(chunk);
    wake?.();
  });
  const out: Buffer[] = [];
  try {
    for (const args of commands) {
      const before = received.length;
      const want = count + 1;
      socket.write(encodeCommand(args));
      while (count < want) {
        await new Promise<void>((resolve, reject) => {
          wake = resolve;
          setTimeout(() => reject(new Error(`no reply to ${args.join(" ")}`)), 5000).unref();
        });
      }
      out.push(received.subarray(before));
    }
  } finally {
    socket.destroy();
  }
  return out;
}

/** Sends every command in one write and returns all the reply bytes. */
export async function pipelined(port: number, commands: readonly string[][]): Promise<Buffer> {
  const socket = connect({ port, host: "127.0.0.1" });
  const chunks: Buffer[] = [];
  let count = 0;
  const decoder = counter(
    () => count++,
    (err) => socket.destroy(err),
  );
  return new Promise((resolve, reject) => {
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      decoder.feed(chunk);
      if (count === commands.length) {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.write(Buffer.concat(commands.map((c) => encodeCommand(c))));
  });
}

/**
 * The commands of `script` whose replies differ, each with both replies, for an assertion
 * message that shows what to fix: `assert.deepEqual(diffReplies(...), [])`.
 */
export function diffReplies(
  script: readonly string[][],
  expected: readonly Buffer[],
  actual: readonly Buffer[],
): string[] {
  const diffs: string[] = [];
  script.forEach((cmd, i) => {
    const e = expected[i] as Buffer;
    const a = actual[i] as Buffer;
    if (!e.equals(a)) {
      diffs.push(
        `${cmd.join(" ")}\n    redis:     ${JSON.stringify(e.toString("latin1"))}\n    ringcache: ${JSON.stringify(a.toString("latin1"))}`,
      );
    }
  });
  return diffs;
}

/** A stream of whole replies (what `pipelined` returns) cut into one Buffer per reply. */
export function splitReplies(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let at = 0;
  const decoder = counter(
    () => {
      out.push(stream.subarray(start, at + 1));
      start = at + 1;
    },
    (err) => {
      throw err;
    },
  );
  // Byte by byte, so each reply's end is the byte that completed it.
  for (at = 0; at < stream.length; at++) decoder.feed(stream.subarray(at, at + 1));
  if (start !== stream.length) throw new Error("the stream ends inside a reply");
  return out;
}

/**
 * HELLO's reply with the fields that differ between any two servers (`id`, `version`) masked,
 * written again in its own protocol (a map in RESP3, a flat array in RESP2): everything else,
 * types, order and lengths included, still compares byte for byte. Errors pass unchanged.
 */
export function maskHello(reply: Buffer): Buffer {
  if (reply[0] !== 0x25 && reply[0] !== 0x2a) return reply; // '%' or '*'
  let value: Resp3Value | undefined;
  const decoder = new ReplyDecoder<Resp3Value>(
    {
      onReply: (v) => (value = v),
      onProtocolError: (err) => {
        throw err;
      },
    },
    undefined,
    { resp3: true },
  );
  decoder.feed(reply);
  const map = value instanceof RespMap;
  const entries = map ? (value as RespMap).entries : (value as Resp3Value[]);
  const masked = entries.map((v, i) => {
    const name = entries[i - 1];
    const key = i % 2 === 1 && Buffer.isBuffer(name) ? name.toString("latin1") : "";
    if (key === "id") return 0;
    if (key === "version") return Buffer.from("x.y.z");
    return v;
  });
  return new RespWriter(64, map ? 3 : 2).value(map ? new RespMap(masked) : masked).take();
}

/** The replies of `script` with HELLO's masked (maskHello), for a byte comparison. */
export function maskHelloReplies(
  script: readonly string[][],
  replies: readonly Buffer[],
): Buffer[] {
  return replies.map((reply, i) =>
    script[i]?.[0]?.toLowerCase() === "hello" ? maskHello(reply) : reply,
  );
}

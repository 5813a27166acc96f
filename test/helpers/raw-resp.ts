// Raw RESP exchanges for reference comparisons: the bytes a server sent back, exactly as they
// came off the wire, so ringcache's replies can be compared byte for byte with redis-server's.
import { connect } from "node:net";
import { ReplyDecoder, encodeCommand } from "../../src/protocol/resp/index.js";

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
  const decoder = new ReplyDecoder({
    onReply: () => count++,
    onProtocolError: (err) => socket.destroy(err),
  });
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
  const decoder = new ReplyDecoder({
    onReply: () => count++,
    onProtocolError: (err) => socket.destroy(err),
  });
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

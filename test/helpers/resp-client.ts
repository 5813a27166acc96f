// A minimal pipelined RESP client over the project's own codec, for tests that need the raw
// reply values (RespReplyError, numbers, nested arrays) that the internal-command readers take.
import { connect, type Socket } from "node:net";
import {
  ReplyDecoder,
  RespWriter,
  type RespProtocolError,
  type RespValue,
} from "../../src/protocol/resp/index.js";

function own(value: RespValue): RespValue {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(own);
  return value;
}

export class RespTestClient {
  readonly socket: Socket;
  private readonly decoder: ReplyDecoder;
  private readonly waiting: { resolve: (v: RespValue) => void; reject: (e: Error) => void }[] = [];
  private failure: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.decoder = new ReplyDecoder({
      onReply: (value) => this.waiting.shift()?.resolve(own(value)),
      onProtocolError: (err: RespProtocolError) => this.fail(err),
    });
    socket.on("data", (chunk: Buffer) => this.decoder.feed(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("connection closed")));
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RespTestClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new RespTestClient(socket);
  }

  /** Sends one command; resolves with its reply (errors are RespReplyError values). */
  async call(...args: (string | Uint8Array | number)[]): Promise<RespValue> {
    const [reply] = await this.pipeline([args]);
    return reply as RespValue;
  }

  /** Sends pre-encoded bytes holding `replies` commands; resolves with their replies. */
  async send(bytes: Buffer, replies: number): Promise<RespValue[]> {
    if (this.failure !== undefined) throw this.failure;
    const promises: Promise<RespValue>[] = [];
    for (let i = 0; i < replies; i++) {
      promises.push(new Promise((resolve, reject) => this.waiting.push({ resolve, reject })));
    }
    this.socket.write(bytes);
    return Promise.all(promises);
  }

  /** Sends every command in one write; resolves with the replies in order. */
  async pipeline(commands: (string | Uint8Array | number)[][]): Promise<RespValue[]> {
    const w = new RespWriter();
    for (const args of commands)
      w.command(args.map((a) => (typeof a === "number" ? String(a) : a)));
    return this.send(w.take(), commands.length);
  }

  /** An encoder whose output is sent with send(bytes, n). */
  static writer(): RespWriter {
    return new RespWriter();
  }

  close(): void {
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}

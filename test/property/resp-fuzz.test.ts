// Hostile input: valid frames mutated (bit flips, truncations, insertions, deletions) and pure
// garbage, fed with random splits. Whatever arrives, no exception escapes feed(); the outcome
// does not depend on how the stream was cut; a decoder reports at most one protocol error and
// then stays dead; and it never holds more bytes than it was fed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  CommandDecoder,
  type Resp3Value,
  RespDouble,
  type RespLimits,
  RespMap,
  RespSet,
  type RespValue,
  RespReplyError,
  RespVerbatim,
  ReplyDecoder,
  RespWriter,
  encodeCommand,
} from "../../src/protocol/resp/index.js";
import { CommandLog, ReplyLog, splitAt } from "../unit/resp-support.js";

/** Bytes that matter to the grammar, so that garbage often looks almost right. */
const PROTOCOL_BYTES = [..."*$:+-\r\n0123456789 \t\"'\\x"].map((c) => c.charCodeAt(0));
const garbageByte = fc.oneof(fc.constantFrom(...PROTOCOL_BYTES), fc.integer({ min: 0, max: 255 }));
const garbage = fc.array(garbageByte, { maxLength: 40 }).map((a) => Buffer.from(a));

type Mutation =
  | { kind: "none" }
  | { kind: "flip"; at: number; bit: number }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: Buffer }
  | { kind: "delete"; at: number; count: number }
  | { kind: "replace"; bytes: Buffer };

const position = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: "none" }),
  fc.record({
    kind: fc.constant("flip" as const),
    at: position,
    bit: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), at: position }),
  fc.record({ kind: fc.constant("insert" as const), at: position, bytes: garbage }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: position,
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant("replace" as const), bytes: garbage }),
);

function mutate(frame: Buffer, mutations: Mutation[]): Buffer {
  let out: Buffer = Buffer.from(frame);
  for (const m of mutations) {
    const at = m.kind === "none" || m.kind === "replace" ? 0 : Math.floor(m.at * out.length);
    switch (m.kind) {
      case "none":
        break;
      case "flip":
        if (out.length > 0) out[at] = out[at]! ^ (1 << m.bit);
        break;
      case "truncate":
        out = out.subarray(0, at);
        break;
      case "insert":
        out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
        break;
      case "delete":
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
        break;
      case "replace":
        out = m.bytes;
        break;
    }
  }
  return out;
}

const cutFractions = fc.array(position, { maxLength: 8 });
function cut(stream: Buffer, fractions: number[]): Buffer[] {
  return splitAt(
    stream,
    fractions.map((f) => Math.floor(f * stream.length)),
  );
}

// Small limits half of the time, so that every limit is crossed by short frames too.
const SMALL_LIMITS: Partial<RespLimits> = {
  maxBulkLength: 24,
  maxArrayLength: 6,
  maxInlineLength: 24,
  maxNestingDepth: 3,
};
const limits = fc.constantFrom<Partial<RespLimits> | undefined>(undefined, SMALL_LIMITS);

/** Feeds chunks; asserts the invariants that must hold after every chunk. */
function run<L extends CommandLog | ReplyLog<Resp3Value>>(
  log: L,
  decoder: { feed(chunk: Buffer): void; readonly bufferedBytes: number },
  chunks: Buffer[],
): L {
  let fed = 0;
  for (const chunk of chunks) {
    decoder.feed(chunk); // any exception fails the property
    fed += chunk.length;
    assert.ok(decoder.bufferedBytes <= fed, "holds no more than it was fed");
    assert.ok(log.errors.length <= 1, "at most one protocol error");
  }
  return log;
}

const commandArg = fc.oneof(
  fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
  fc.constantFrom("GET", "SET", "k", "", "\r\n"),
);
const inlineLine = fc
  .array(fc.oneof(fc.constantFrom("SET", "k", '"a b"', "'c\\'d'", '"\\x41"', "\t"), fc.string()), {
    maxLength: 5,
  })
  .map((words) => Buffer.from(words.join(" ") + "\r\n", "latin1"));
const commandFrame = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .array(commandArg, { minLength: 1, maxLength: 5 })
      .map((args) => encodeCommand(args)),
  },
  { weight: 1, arbitrary: inlineLine },
  { weight: 1, arbitrary: fc.constantFrom("*0\r\n", "*-1\r\n", "\r\n").map((s) => Buffer.from(s)) },
);

const PING = encodeCommand(["PING"]);

interface FuzzCase {
  frame: Buffer;
  mutations: Mutation[];
  cuts: number[];
  limits: Partial<RespLimits> | undefined;
}

function fuzzCase(frame: fc.Arbitrary<Buffer>): fc.Arbitrary<FuzzCase> {
  return fc.record({
    frame,
    mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
    cuts: cutFractions,
    limits,
  });
}

describe("fuzzing the decoders with mutated frames and garbage", () => {
  it("CommandDecoder: 100,000 hostile frames, randomly split", () => {
    let errors = 0;
    let commands = 0;
    fc.assert(
      fc.property(fc.array(fuzzCase(commandFrame), { minLength: 100, maxLength: 100 }), (cases) => {
        for (const c of cases) {
          // A valid command before and after the mutated frame: decoding must resume correctly.
          const stream = Buffer.concat([PING, mutate(c.frame, c.mutations), PING]);
          const whole = new CommandLog();
          const wholeDecoder = new CommandDecoder(whole, c.limits);
          run(whole, wholeDecoder, [stream]);
          const split = new CommandLog();
          run(split, new CommandDecoder(split, c.limits), cut(stream, c.cuts));
          assert.deepEqual(split.commands, whole.commands, "the split does not matter");
          assert.deepEqual(split.errors, whole.errors, "the split does not matter");
          assert.deepEqual(whole.commands[0], [Buffer.from("PING")]);
          if (whole.errors.length === 1) {
            const seen = whole.commands.length;
            wholeDecoder.feed(PING); // dead until reset()
            assert.equal(whole.commands.length, seen);
            assert.equal(wholeDecoder.bufferedBytes, 0);
            errors++;
          }
          commands += whole.commands.length;
        }
      }),
      { numRuns: 1000 },
    );
    // The generator must really produce both outcomes, or the property says little.
    assert.ok(errors > 10_000, `${errors} protocol errors`);
    assert.ok(commands > 100_000, `${commands} commands`);
  });

  it("ReplyDecoder: 30,000 hostile frames, randomly split", () => {
    const { value } = fc.letrec<{ value: RespValue }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom("OK", "PONG", "x y"),
        fc.constant(new RespReplyError("ERR bad")),
        fc.integer(),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
        fc.constant(null),
        fc.array(tie("value"), { maxLength: 4 }),
      ),
    }));
    const replyFrame = value.map((v) => new RespWriter(64).value(v).take());
    const OK = Buffer.from("+OK\r\n");
    let errors = 0;
    fc.assert(
      fc.property(fc.array(fuzzCase(replyFrame), { minLength: 100, maxLength: 100 }), (cases) => {
        for (const c of cases) {
          const stream = Buffer.concat([OK, mutate(c.frame, c.mutations), OK]);
          const whole = new ReplyLog();
          const wholeDecoder = new ReplyDecoder(whole, c.limits);
          run(whole, wholeDecoder, [stream]);
          const split = new ReplyLog();
          run(split, new ReplyDecoder(split, c.limits), cut(stream, c.cuts));
          assert.deepEqual(split.replies, whole.replies, "the split does not matter");
          assert.deepEqual(split.errors, whole.errors, "the split does not matter");
          assert.equal(whole.replies[0], "OK");
          if (whole.errors.length === 1) {
            const seen = whole.replies.length;
            wholeDecoder.feed(OK);
            assert.equal(whole.replies.length, seen);
            errors++;
          }
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(errors > 3000, `${errors} protocol errors`);
  });

  it("ReplyDecoder with RESP3: 30,000 hostile frames, randomly split", () => {
    const { value } = fc.letrec<{ value: Resp3Value }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom("OK", "x y"),
        fc.constant(new RespReplyError("ERR bad")),
        fc.integer(),
        fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
        fc.constant(null),
        fc.boolean(),
        fc.double().map((x) => new RespDouble(x)),
        fc.uint8Array({ maxLength: 20 }).map((a) => new RespVerbatim("txt", Buffer.from(a))),
        fc.array(tie("value"), { maxLength: 4 }),
        fc.array(tie("value"), { maxLength: 4 }).map((items) => new RespSet(items)),
        fc
          .array(fc.tuple(tie("value"), tie("value")), { maxLength: 2 })
          .map((pairs) => new RespMap(pairs.flat())),
      ),
    }));
    const replyFrame = value.map((v) => new RespWriter(64, 3).value(v).take());
    const OK = Buffer.from("+OK\r\n");
    const resp3 = { resp3: true };
    let errors = 0;
    fc.assert(
      fc.property(fc.array(fuzzCase(replyFrame), { minLength: 100, maxLength: 100 }), (cases) => {
        for (const c of cases) {
          const stream = Buffer.concat([OK, mutate(c.frame, c.mutations), OK]);
          const whole = new ReplyLog<Resp3Value>();
          const wholeDecoder = new ReplyDecoder<Resp3Value>(whole, c.limits, resp3);
          run(whole, wholeDecoder, [stream]);
          const split = new ReplyLog<Resp3Value>();
          run(split, new ReplyDecoder<Resp3Value>(split, c.limits, resp3), cut(stream, c.cuts));
          assert.deepEqual(split.replies, whole.replies, "the split does not matter");
          assert.deepEqual(split.errors, whole.errors, "the split does not matter");
          assert.equal(whole.replies[0], "OK");
          if (whole.errors.length === 1) {
            const seen = whole.replies.length;
            wholeDecoder.feed(OK);
            assert.equal(whole.replies.length, seen);
            errors++;
          }
        }
      }),
      { numRuns: 300 },
    );
    assert.ok(errors > 3000, `${errors} protocol errors`);
  });
});

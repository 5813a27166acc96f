// Round trips through the codec with the stream cut anywhere: what the writer encodes, the
// decoders give back exactly, whatever the chunking.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  CommandDecoder,
  type Resp3Value,
  RespDouble,
  RespMap,
  RespReplyError,
  RespSet,
  type RespValue,
  RespVerbatim,
  RespWriter,
  encodeCommand,
  formatDouble,
  replyIn,
} from "../../src/protocol/resp/index.js";
import {
  byteByByte,
  decodeCommands,
  decodeReplies,
  decodeResp3Replies,
  prng,
  randomSplits,
  splitAt,
} from "../unit/resp-support.js";

const arg = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom("\r\n", "*1\r\n$1\r\n", "$-1\r\n", "\0\xff") },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 3000 }) },
);
const command = fc.array(arg, { minLength: 1, maxLength: 8 });
/** Cut positions as fractions of the stream, so they fit any length. */
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

function cutStream(stream: Buffer, fractions: number[]): Buffer[] {
  return splitAt(
    stream,
    fractions.map((f) => Math.floor(f * stream.length)),
  );
}

const asBuffer = (a: Uint8Array | string): Buffer =>
  typeof a === "string" ? Buffer.from(a, "utf8") : Buffer.from(a);

describe("RESP round trips (fast-check)", () => {
  it("commands encoded by encodeCommand or RespWriter.command decode back, any split", () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 10 }),
        cuts,
        fc.boolean(),
        (commands, fractions, viaWriter) => {
          let stream: Buffer;
          if (viaWriter) {
            const w = new RespWriter(64);
            for (const c of commands) w.command(c);
            stream = w.take();
          } else {
            stream = Buffer.concat(commands.map((c) => encodeCommand(c)));
          }
          const log = decodeCommands(cutStream(stream, fractions));
          assert.deepEqual(log.errors, []);
          assert.deepEqual(
            log.commands,
            commands.map((c) => c.map(asBuffer)),
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it("a decoder paused after any commands, fed the rest later, gives the same commands", () => {
    fc.assert(
      fc.property(
        fc.array(command, { minLength: 1, maxLength: 10 }),
        cuts,
        fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
        (commands, fractions, pauseAfter) => {
          const stream = Buffer.concat(commands.map((c) => encodeCommand(c)));
          const got: Buffer[][] = [];
          const errors: string[] = [];
          const decoder: CommandDecoder = new CommandDecoder({
            onCommand(args) {
              got.push(args.map((a) => Buffer.from(a)));
              if (pauseAfter[got.length - 1] === true) decoder.pause();
            },
            onProtocolError(err) {
              errors.push(err.message);
            },
          });
          let feeds = 0;
          for (let chunk of cutStream(stream, fractions)) {
            // Like a server holding input back: feed what is left until all of it is consumed.
            for (;;) {
              const consumed = decoder.feed(chunk);
              feeds++;
              assert.ok(consumed >= 0 && consumed <= chunk.length);
              if (consumed === chunk.length) break;
              chunk = chunk.subarray(consumed);
            }
          }
          assert.deepEqual(errors, []);
          assert.deepEqual(
            got,
            commands.map((c) => c.map(asBuffer)),
          );
          assert.ok(feeds >= 1);
        },
      ),
      { numRuns: 400 },
    );
  });

  it("bulkDecimal writes what bulkString(String(n)) writes, for any number", () => {
    const numbers = fc.oneof(
      fc.nat(),
      fc.maxSafeNat(),
      fc.integer({ min: -1e6, max: -1 }),
      fc.double({ noNaN: false }),
      fc.constantFrom(0, 9, 10, 99, 100, 2 ** 32, 2 ** 53 - 1, 2 ** 53, -0, 1e21),
    );
    fc.assert(
      fc.property(fc.array(numbers, { maxLength: 20 }), (ns) => {
        const a = new RespWriter(64);
        const b = new RespWriter(64);
        for (const n of ns) {
          a.bulkDecimal(n);
          b.bulkString(String(n));
        }
        assert.deepEqual(a.take(), b.take());
      }),
      { numRuns: 500 },
    );
  });

  it("reply values written by RespWriter decode back, any split", () => {
    const line = fc
      .string({ unit: "grapheme", maxLength: 30 })
      .map((s) => s.replace(/[\r\n]/g, ""));
    const { value } = fc.letrec<{ value: RespValue }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        line,
        line.map((s) => new RespReplyError(`ERR ${s}`)),
        fc.maxSafeInteger(),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
        fc.constant(null),
        fc.array(tie("value"), { maxLength: 5 }),
      ),
    }));
    // What the decoder gives back: integers in the safe range as numbers.
    const normalise = (v: RespValue): RespValue => {
      if (typeof v === "bigint" && v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n) return Number(v);
      if (Array.isArray(v)) return v.map(normalise);
      return v;
    };
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 8 }), cuts, (values, fractions) => {
        const w = new RespWriter(64);
        for (const v of values) w.value(v);
        const log = decodeReplies(cutStream(w.take(), fractions));
        assert.deepEqual(log.errors, []);
        assert.deepEqual(log.replies, values.map(normalise));
      }),
      { numRuns: 400 },
    );
  });
});

// --- a pipeline of 10,000 commands cut at every kind of byte boundary ------------------------

/** What a byte is in a valid command stream, to cut the stream before every byte of a kind. */
type Role =
  | "star"
  | "count"
  | "countCR"
  | "countLF"
  | "dollar"
  | "length"
  | "lengthCR"
  | "lengthLF"
  | "dataFirst"
  | "dataInner"
  | "dataLast"
  | "dataCR"
  | "dataLF"
  | "inlineFirst"
  | "inlineInner"
  | "inlineCR"
  | "inlineLF";

/** Labels every byte of a valid stream, walking it by the grammar (independent of the decoder). */
function roles(stream: Buffer): Role[] {
  const out: Role[] = [];
  const header = (first: Role, digits: Role, cr: Role, lf: Role, at: number): [number, number] => {
    out[at] = first;
    const crAt = stream.indexOf(13, at);
    for (let i = at + 1; i < crAt; i++) out[i] = digits;
    out[crAt] = cr;
    out[crAt + 1] = lf;
    return [Number(stream.toString("latin1", at + 1, crAt)), crAt + 2];
  };
  let pos = 0;
  while (pos < stream.length) {
    if (stream[pos] !== 42) {
      const lfAt = stream.indexOf(10, pos);
      out[pos] = "inlineFirst";
      for (let i = pos + 1; i < lfAt - 1; i++) out[i] = "inlineInner";
      out[lfAt - 1] = "inlineCR";
      out[lfAt] = "inlineLF";
      pos = lfAt + 1;
      continue;
    }
    let argc: number;
    [argc, pos] = header("star", "count", "countCR", "countLF", pos);
    for (let a = 0; a < argc; a++) {
      let length: number;
      [length, pos] = header("dollar", "length", "lengthCR", "lengthLF", pos);
      for (let i = 0; i < length; i++) {
        out[pos + i] = i === 0 ? "dataFirst" : i === length - 1 ? "dataLast" : "dataInner";
      }
      pos += length;
      out[pos] = "dataCR";
      out[pos + 1] = "dataLF";
      pos += 2;
    }
  }
  return out;
}

describe("a pipeline of 10,000 commands", () => {
  const random = prng(0x5eed);
  const expected: Buffer[][] = [];
  const frames: Buffer[] = [];
  for (let i = 0; i < 10_000; i++) {
    const key = Buffer.from(`key:${i}`);
    const kind = random();
    if (kind < 0.4) {
      const value = Buffer.alloc(Math.floor(random() * 300), i & 0xff);
      expected.push([Buffer.from("SET"), key, value]);
    } else if (kind < 0.8) {
      expected.push([Buffer.from("GET"), key]);
    } else if (kind < 0.9) {
      expected.push([Buffer.from("MSET"), key, Buffer.from("\r\n"), key, Buffer.alloc(0)]);
    } else {
      frames.push(Buffer.from(`PING ${i}\r\n`)); // inline
      expected.push([Buffer.from("PING"), Buffer.from(String(i))]);
      continue;
    }
    frames.push(encodeCommand(expected[expected.length - 1]!));
  }
  const stream = Buffer.concat(frames);
  const labels = roles(stream);

  it("decodes unsplit to the commands sent", () => {
    const log = decodeCommands([stream]);
    assert.deepEqual(log.errors, []);
    assert.deepEqual(log.commands, expected);
  });

  it("decodes the same when cut before every byte of each kind", () => {
    const kinds = new Set(labels);
    assert.equal(kinds.size, 17, "every kind of byte occurs");
    for (const kind of kinds) {
      const positions: number[] = [];
      for (let i = 0; i < labels.length; i++) if (labels[i] === kind) positions.push(i);
      const log = decodeCommands(splitAt(stream, positions));
      assert.deepEqual(log.errors, [], kind);
      assert.equal(log.commands.length, expected.length, kind);
      assert.deepEqual(log.commands, expected, kind);
    }
  });

  it("decodes the same byte by byte and at random cuts", () => {
    // Byte by byte over the first 2,000 commands' bytes (the rest is the same grammar again).
    let end = 0;
    for (let i = 0; i < 2000; i++) end += frames[i]!.length;
    const log = decodeCommands(byteByByte(stream.subarray(0, end)));
    assert.deepEqual(log.commands, expected.slice(0, 2000));
    for (let round = 0; round < 5; round++) {
      const cut = decodeCommands(randomSplits(stream, 5000, random));
      assert.deepEqual(cut.commands, expected);
    }
  });
});

// --- RESP3: the forms a connection gets after HELLO 3 --------------------------------------

describe("RESP3 round trips (fast-check)", () => {
  const line = fc.string({ unit: "grapheme", maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, ""));
  const bytes = fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a));
  const { value } = fc.letrec<{ value: Resp3Value }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      line,
      line.map((s) => new RespReplyError(`ERR ${s}`)),
      fc.maxSafeInteger(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      bytes,
      fc.constant(null),
      fc.boolean(),
      fc.double().map((x) => new RespDouble(x)),
      fc
        .tuple(fc.constantFrom("txt", "mkd"), bytes)
        .map(([format, text]) => new RespVerbatim(format, text)),
      fc.array(tie("value"), { maxLength: 4 }),
      fc
        .array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 })
        .map((pairs) => new RespMap(pairs.flat())),
      fc.array(tie("value"), { maxLength: 4 }).map((items) => new RespSet(items)),
    ),
  }));

  /** What a RESP3 decoder gives back: safe integers as numbers, doubles as %.17g reads back. */
  const as3 = (v: Resp3Value): Resp3Value => {
    if (typeof v === "bigint" && v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n) return Number(v);
    if (v instanceof RespDouble) return new RespDouble(Number(formatDouble(v.value)));
    if (Array.isArray(v)) return v.map(as3);
    if (v instanceof RespMap) return new RespMap(v.entries.map(as3));
    if (v instanceof RespSet) return new RespSet(v.items.map(as3));
    return v;
  };
  /** What a RESP2 client reads of the same value written in RESP2, as Redis falls back. */
  const as2 = (v: Resp3Value): RespValue => {
    if (typeof v === "bigint" && v >= -(2n ** 53n - 1n) && v <= 2n ** 53n - 1n) return Number(v);
    if (typeof v === "boolean") return v ? 1 : 0;
    if (v instanceof RespDouble) return Buffer.from(formatDouble(v.value), "latin1");
    if (v instanceof RespVerbatim) return v.text;
    if (Array.isArray(v)) return v.map(as2);
    if (v instanceof RespMap) return v.entries.map(as2);
    if (v instanceof RespSet) return v.items.map(as2);
    return v;
  };

  it("values written in RESP3 decode back with a RESP3 decoder, any split and byte by byte", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), cuts, (values, fractions) => {
        const w = new RespWriter(64, 3);
        for (const v of values) w.value(v);
        const stream = w.take();
        const expected = values.map(as3);
        for (const chunks of [cutStream(stream, fractions), byteByByte(stream)]) {
          const log = decodeResp3Replies(chunks);
          assert.deepEqual(log.errors, []);
          assert.deepEqual(log.replies, expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("the same values written in RESP2 are what a RESP2 client reads, any split", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), cuts, (values, fractions) => {
        const w = new RespWriter(64, 2);
        for (const v of values) w.value(v);
        const log = decodeReplies(cutStream(w.take(), fractions));
        assert.deepEqual(log.errors, []);
        assert.deepEqual(log.replies, values.map(as2));
      }),
      { numRuns: 300 },
    );
  });

  it("a deferred RESP2 null becomes RESP3's only as a whole reply", () => {
    fc.assert(
      fc.property(value, (v) => {
        const w = new RespWriter(64, 2);
        const reply = w.value(v).take();
        const converted = replyIn(reply, 3);
        const whole = reply.equals(Buffer.from("$-1\r\n")) || reply.equals(Buffer.from("*-1\r\n"));
        assert.equal(converted.toString("latin1"), whole ? "_\r\n" : reply.toString("latin1"));
        assert.equal(replyIn(reply, 2), reply);
      }),
      { numRuns: 300 },
    );
  });

  it("doubles are written as C's %.17g: exact round trip, 17 digits, ties to even", () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = formatDouble(x);
        assert.equal(Number(text), x, text); // -0 prints "-0" and reads back as -0
        assert.match(text, /^-?\d(\.\d*[1-9])?e[+-]\d{2,3}$|^-?\d+(\.\d*[1-9])?$/);
        const digits = text.replace(/e.*$/, "").replace(/[-.]/g, "").replace(/^0+/, "");
        assert.ok(digits.length <= 17, text);
        const [, exp] = /e([+-]\d+)$/.exec(text) ?? [];
        const exponent = exp === undefined ? null : Number(exp);
        if (exponent !== null) assert.ok(exponent < -4 || exponent >= 17, text);
        // toPrecision(17) rounds an exact tie up; apart from ties the digits agree.
        const precise = Math.abs(x)
          .toPrecision(17)
          .replace(/e.*$/, "")
          .replace(".", "")
          .replace(/^0+/, "")
          .padEnd(17, "0");
        const ours = digits.padEnd(17, "0");
        if (x !== 0 && ours !== precise) {
          assert.equal(BigInt(precise) - BigInt(ours), 1n, `${text} vs ${precise}`);
          assert.equal(Number(ours.at(-1)) % 2, 0, `a tie goes to the even digit: ${text}`);
        }
      }),
      { numRuns: 3000 },
    );
    assert.equal(formatDouble(1125899906842624.25), "1125899906842624.2");
  });
});

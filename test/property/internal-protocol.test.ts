// The internal command contract: what a master encodes is what an auxiliary node parses, and
// what a node replies is what the master's readers return, for any keys, values and numbers.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  encodeCDel,
  encodeMCDel,
  encodeDel,
  encodeExpire,
  encodeFlush,
  encodeGet,
  encodeIncrBy,
  encodeModify,
  encodeMPut,
  encodePut,
  encodeScan,
  encodeScanPage,
  inRanges,
  prepareRanges,
  rangesId,
  parseExpire,
  parseFlush,
  parseGet,
  parseGetCommand,
  parseIncrBy,
  parseModify,
  parseKeyVersion,
  parseMCDelCount,
  parseMCDelEntry,
  parseMPutCount,
  parseMPutEntry,
  parsePut,
  parseScan,
  readGetReply,
  readModifyReply,
  readWriteOutcome,
  ScanParser,
  writeGetReply,
  writeModifyReply,
  writeStatus,
  type Modification,
  type PutArgs,
} from "../../src/protocol/internal/index.js";
import { RingcacheError } from "../../src/errors.js";
import {
  CommandDecoder,
  ReplyDecoder,
  RespWriter,
  type RespValue,
} from "../../src/protocol/resp/index.js";

/** A half-open range of ring hashes; it wraps when start > end. */
const range = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: 2 ** 32 }))
  .map(([start, end]) => ({ start, end }));

/** Encodes with `encode`, decodes as a server would, returns the args (copied). */
function roundTrip(encode: (w: RespWriter) => void): Buffer[] {
  const w = new RespWriter();
  encode(w);
  const got: Buffer[][] = [];
  const decoder = new CommandDecoder({
    onCommand: (args) => got.push(args.map((a) => Buffer.from(a))),
    onProtocolError: (err) => assert.fail(err.message),
  });
  decoder.feed(w.take());
  assert.equal(got.length, 1);
  return got[0] as Buffer[];
}

/** A deep copy owning its bytes (decoded Buffers are views valid only during onReply). */
function own(value: RespValue): RespValue {
  if (Buffer.isBuffer(value)) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(own);
  return value;
}

function reply(encode: (w: RespWriter) => void): RespValue {
  const w = new RespWriter();
  encode(w);
  const got: RespValue[] = [];
  const decoder = new ReplyDecoder({
    onReply: (v) => got.push(own(v)),
    onProtocolError: (err) => assert.fail(err.message),
  });
  decoder.feed(w.take());
  return got[0] ?? null;
}

const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const version = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const expiry = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const scratch: PutArgs = { key: Buffer.alloc(0), value: Buffer.alloc(0), version: 0, expiresAt: 0 };

describe("internal protocol", () => {
  it("RC.PUT, RC.MPUT, RC.GET, RC.DEL, RC.CDEL, RC.EXPIRE, RC.FLUSH round-trip", () => {
    fc.assert(
      fc.property(bytes, bytes, version, expiry, (key, value, v, e) => {
        const put = parsePut(
          roundTrip((w) => encodePut(w, key, value, v, e)),
          scratch,
        );
        assert.deepEqual([put.key, put.value, put.version, put.expiresAt], [key, value, v, e]);
        const mput = roundTrip((w) =>
          encodeMPut(w, [
            { key, value, version: v, expiresAt: e },
            { key: value, value: key, version: 1, expiresAt: 0 },
          ]),
        );
        assert.equal(parseMPutCount(mput), 2);
        const second = parseMPutEntry(mput, 1, scratch);
        assert.deepEqual([second.key, second.value, second.version], [value, key, 1]);
        assert.deepEqual(parseGet(roundTrip((w) => encodeGet(w, key))), key);
        assert.deepEqual(
          parseKeyVersion(
            roundTrip((w) => encodeDel(w, key, v)),
            "rc.del",
          ),
          {
            key,
            version: v,
          },
        );
        assert.deepEqual(
          parseKeyVersion(
            roundTrip((w) => encodeCDel(w, key, v)),
            "rc.cdel",
          ),
          {
            key,
            version: v,
          },
        );
        const many = roundTrip((w) =>
          encodeMCDel(w, [
            { key, version: v },
            { key: value, version: v },
          ]),
        );
        assert.equal(parseMCDelCount(many), 2);
        assert.deepEqual(parseMCDelEntry(many, 0), { key, version: v });
        assert.deepEqual(parseMCDelEntry(many, 1), { key: value, version: v });
        assert.deepEqual(parseExpire(roundTrip((w) => encodeExpire(w, key, e, v))), {
          key,
          expiresAt: e,
          version: v,
        });
        assert.equal(parseFlush(roundTrip((w) => encodeFlush(w, v))), v);
      }),
      { numRuns: 300 },
    );
  });

  it("RC.INCRBY and RC.SCAN round-trip, and ranges wrap", () => {
    fc.assert(
      fc.property(
        bytes,
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        version,
        fc.array(
          fc
            .tuple(fc.integer({ min: 0, max: 2 ** 32 }), fc.integer({ min: 0, max: 2 ** 32 }))
            .map(([start, end]) => ({ start, end })),
          { maxLength: 4 },
        ),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (key, delta, v, ranges, hash) => {
          assert.deepEqual(parseIncrBy(roundTrip((w) => encodeIncrBy(w, key, delta, v))), {
            key,
            delta,
            version: v,
          });
          const scan = parseScan(roundTrip((w) => encodeScan(w, 7, 100, ranges)));
          assert.deepEqual(scan, { cursor: 7, count: 100, ranges });
          const inside = ranges.some((r) =>
            r.start < r.end ? hash >= r.start && hash < r.end : hash >= r.start || hash < r.end,
          );
          assert.equal(inRanges(hash, ranges), inside);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a ScanParser answers every RC.SCAN of a sequence as a fresh parse would", () => {
    // Ranges repeat (as the pages of one move do) or change (the next move, another master).
    const rangeLists = fc.array(fc.array(range, { maxLength: 5 }), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(
        rangeLists,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1000 }), fc.boolean()), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 20 }),
        (lists, calls, hashes) => {
          const parser = new ScanParser();
          for (const [pick, count, whole] of calls) {
            const ranges = whole ? undefined : (lists[pick % lists.length] as (typeof lists)[0]);
            const args = roundTrip((w) => encodeScan(w, pick, count, ranges));
            const got = parser.parse(args);
            assert.equal(got.cursor, pick);
            assert.equal(got.count, count);
            if (ranges === undefined) {
              assert.equal(got.ranges, undefined);
              continue;
            }
            for (const h of hashes) {
              assert.equal(got.ranges?.has(h), inRanges(h, ranges), `hash ${h}`);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a ScanParser answers RANGESID for the last 8 lists it was sent in full, and refuses others", () => {
    const lists = fc.uniqueArray(fc.array(range, { minLength: 1, maxLength: 4 }), {
      minLength: 1,
      maxLength: 11,
      selector: (l) => rangesId(l),
    });
    // Nine lists in full, the first one again: the second is the oldest kept, then gone.
    const nine = Array.from({ length: 9 }, (_, i) =>
      prepareRanges([{ start: i, end: 9 }], new RespWriter()),
    );
    const parser = new ScanParser();
    const byId = (p: (typeof nine)[0]): Buffer[] =>
      roundTrip((w) => encodeScanPage(w, 0, 1, p, true));
    for (const p of nine) parser.parse(roundTrip((w) => encodeScanPage(w, 0, 1, p)));
    const [first, second] = nine as [(typeof nine)[0], (typeof nine)[0]];
    assert.throws(() => parser.parse(byId(first)), RingcacheError);
    assert.equal(parser.parse(byId(second)).ranges?.has(1), true);
    parser.parse(roundTrip((w) => encodeScanPage(w, 0, 1, first)));
    assert.throws(() => parser.parse(byId(second)), RingcacheError);
    assert.equal(parser.parse(byId(first)).ranges?.has(0), true);
    fc.assert(
      fc.property(
        lists,
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 10 }),
        (all, calls, hashes) => {
          const parser = new ScanParser();
          /** The model: ids of the lists sent in full, least recently sent first. */
          let kept: string[] = [];
          for (const [pick, full] of calls) {
            const ranges = all[pick % all.length] as (typeof all)[0];
            const prepared = prepareRanges(ranges, new RespWriter());
            const args = roundTrip((w) => encodeScanPage(w, 3, 100, prepared, !full));
            if (!full) {
              assert.equal(args.length, 5, "a RANGESID page names its ranges, not lists them");
            }
            if (!full && !kept.includes(prepared.id)) {
              assert.throws(
                () => parser.parse(args),
                (err: unknown) => err instanceof RingcacheError && err.code === "BAD_REQUEST",
              );
              continue;
            }
            if (full) kept = [...kept.filter((id) => id !== prepared.id), prepared.id].slice(-8);
            const got = parser.parse(args);
            assert.equal(got.cursor, 3);
            for (const h of hashes) {
              assert.equal(got.ranges?.has(h), inRanges(h, ranges), `hash ${h}`);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("write statuses and RC.GET replies read back as written", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        version,
        bytes,
        fc.integer({ min: -2, max: 1e9 }),
        (applied, existed, held, value, pttl) => {
          const outcome = readWriteOutcome(reply((w) => writeStatus(w, applied, existed, held)));
          assert.equal(outcome.applied, applied);
          if (applied) assert.equal(outcome.existed, existed);
          else assert.equal(outcome.heldVersion, held);
          const got = readGetReply(reply((w) => writeGetReply(w, value, held, pttl)));
          assert.deepEqual(got, { value, version: held, pttl });
          const tomb = readGetReply(reply((w) => writeGetReply(w, null, held, -2)));
          assert.deepEqual(tomb, { value: null, version: held, pttl: -2 });
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(readGetReply(reply((w) => w.nullArray())), undefined);
  });

  it("RC.MODIFY and RC.GET WITHEXPIRY round-trip, and so do their replies", () => {
    const modification: fc.Arbitrary<Modification> = fc.oneof(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((delta) => ({
        op: "INCRBY" as const,
        delta,
      })),
      bytes.map((incr) => ({ op: "INCRBYFLOAT" as const, incr })),
      fc.tuple(fc.constantFrom("APPEND" as const, "GETSET" as const), bytes).map(([op, value]) => ({
        op,
        value,
      })),
      fc
        .tuple(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), bytes)
        .map(([offset, value]) => ({ op: "SETRANGE" as const, offset, value })),
      fc.constant({ op: "GETDEL" as const }),
      expiry.map((expiresAt) => ({ op: "GETEX" as const, expiresAt })),
    );
    fc.assert(
      fc.property(bytes, version, expiry, modification, (key, v, limit, mod) => {
        const parsed = parseModify(roundTrip((w) => encodeModify(w, key, v, limit, mod)));
        assert.deepEqual(parsed, { key, version: v, limit, mod });
        assert.deepEqual(parseGetCommand(roundTrip((w) => encodeGet(w, key, true))), {
          key,
          withExpiry: true,
        });
      }),
      { numRuns: 500 },
    );
    const answer = fc.oneof(
      fc.constant(null),
      bytes,
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 2),
        bytes,
        expiry,
        answer,
        version,
        (effect, value, e, a, held) => {
          const got = readModifyReply(
            reply((w) => writeModifyReply(w, effect, effect === 1 ? value : null, e, a)),
          );
          assert.equal(got.effect, effect);
          assert.deepEqual(got.value, effect === 1 ? value : null);
          assert.equal(got.expiresAt, e);
          // Integers come back as numbers where they are safe, bigints beyond.
          const expected =
            typeof a === "bigint" && a >= -(2n ** 53n) + 1n && a <= 2n ** 53n - 1n ? Number(a) : a;
          assert.deepEqual(got.answer, expected);
          const withExpiry = readGetReply(reply((w) => writeGetReply(w, value, held, 5, e)));
          assert.deepEqual(withExpiry, { value, version: held, pttl: 5, expiresAt: e });
        },
      ),
      { numRuns: 300 },
    );
  });
});

// The wire basics every internal command shares: command names, numbers, and the write status
// reply. The commands themselves are in entries.ts and scan.ts; the contract is in index.ts.
import { RingcacheError } from "../../errors.js";
import { RespReplyError, type RespValue, type RespWriter } from "../resp/index.js";

export const CMD = {
  PUT: "rc.put",
  MPUT: "rc.mput",
  GET: "rc.get",
  DEL: "rc.del",
  CDEL: "rc.cdel",
  MCDEL: "rc.mcdel",
  EXPIRE: "rc.expire",
  INCRBY: "rc.incrby",
  SCAN: "rc.scan",
  STATS: "rc.stats",
  FLUSH: "rc.flush",
  SCANPAGE: "rc.scanpage",
  PUTPAGE: "rc.putpage",
  CDELPAGE: "rc.cdelpage",
} as const;

/** Each command name as a bulk, written once. */
export const B = {
  PUT: Buffer.from("RC.PUT"),
  MPUT: Buffer.from("RC.MPUT"),
  GET: Buffer.from("RC.GET"),
  DEL: Buffer.from("RC.DEL"),
  CDEL: Buffer.from("RC.CDEL"),
  MCDEL: Buffer.from("RC.MCDEL"),
  EXPIRE: Buffer.from("RC.EXPIRE"),
  INCRBY: Buffer.from("RC.INCRBY"),
  SCAN: Buffer.from("RC.SCAN"),
  STATS: Buffer.from("RC.STATS"),
  FLUSH: Buffer.from("RC.FLUSH"),
  RANGES: Buffer.from("RANGES"),
  SCANPAGE: Buffer.from("RC.SCANPAGE"),
  PUTPAGE: Buffer.from("RC.PUTPAGE"),
  RANGESID: Buffer.from("RANGESID"),
  CDELPAGE: Buffer.from("RC.CDELPAGE"),
  TERM: Buffer.from("TERM"),
};

// ---------------------------------------------------------------------------------------------
// The leader's term on a move step (docs/design.md, "Coordination through etcd")

/**
 * Writes `TERM t` for a move step taken under a leader's term; nothing for term 0 (no fencing:
 * built-in coordination), so such commands stay as they were.
 */
export function writeTerm(out: RespWriter, term: number): void {
  if (term <= 0) return;
  out.bulk(B.TERM);
  out.bulkDecimal(term);
}

/** The arguments `TERM t` take: 2 with a term, none without. */
export function termArgs(term: number): number {
  return term > 0 ? 2 : 0;
}

/** Whether args[at] is the TERM keyword (any case). */
export function isTermAt(args: Buffer[], at: number): boolean {
  const a = args[at];
  return a !== undefined && a.length === 4 && a.toString("latin1").toUpperCase() === "TERM";
}

/**
 * A move step's term and its other arguments: `TERM t` taken out of `args` at `at` when it is
 * there (term 0 when not).
 */
export function takeTerm(args: Buffer[], at: number): { term: number; args: Buffer[] } {
  if (!isTermAt(args, at)) return { term: 0, args };
  const term = parseUint(args[at + 1], "term");
  return { term, args: [...args.slice(0, at), ...args.slice(at + 2)] };
}

// ---------------------------------------------------------------------------------------------
// Numbers on the wire

/** Parses a non-negative decimal integer argument (a version, an expiry, a cursor). */
export function parseUint(arg: Buffer | undefined, what: string): number {
  if (arg === undefined || arg.length === 0 || arg.length > 16) {
    throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
  }
  let n = 0;
  for (let i = 0; i < arg.length; i++) {
    const d = (arg[i] as number) - 48;
    if (d < 0 || d > 9) throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
    n = n * 10 + d;
  }
  if (!Number.isSafeInteger(n)) throw new RingcacheError("BAD_REQUEST", `invalid ${what}`);
  return n;
}

/**
 * Parses a write's version: a positive integer. 0 is refused because a refusal is replied as
 * the negated held version (`:-V`), and `:-0` would read as `:0`.
 */
export function parseVersion(arg: Buffer | undefined): number {
  const version = parseUint(arg, "version");
  if (version === 0) throw new RingcacheError("BAD_REQUEST", "invalid version");
  return version;
}

export function arity(args: Buffer[], n: number, name: string): void {
  if (args.length !== n) {
    throw new RingcacheError("BAD_REQUEST", `wrong number of arguments for '${name}' command`);
  }
}

// ---------------------------------------------------------------------------------------------
// Write replies: a status integer shared by RC.PUT, RC.DEL and RC.EXPIRE

/** Outcome of a versioned write on one owner. */
export interface WriteOutcome {
  /** true when the write was applied. */
  readonly applied: boolean;
  /** RC.DEL: a live entry was removed. RC.EXPIRE: a live entry existed. */
  readonly existed: boolean;
  /** When not applied: the version the owner holds (>= the write's). */
  readonly heldVersion: number;
}

const APPLIED_EXISTED: WriteOutcome = { applied: true, existed: true, heldVersion: 0 };
const APPLIED_ABSENT: WriteOutcome = { applied: true, existed: false, heldVersion: 0 };

/** Reads a write status reply (`:1`, `:0`, `:-V`). Error replies are thrown as RingcacheError. */
export function readWriteOutcome(reply: RespValue): WriteOutcome {
  if (typeof reply === "number") {
    if (reply === 1) return APPLIED_EXISTED;
    if (reply === 0) return APPLIED_ABSENT;
    if (reply < 0) return { applied: false, existed: false, heldVersion: -reply };
  }
  throw unexpected(reply);
}

export function writeStatus(
  out: RespWriter,
  applied: boolean,
  existed: boolean,
  held: number,
): void {
  out.integer(applied ? (existed ? 1 : 0) : -held);
}

export function unexpected(reply: RespValue): RingcacheError {
  if (reply instanceof RespReplyError) {
    const m = reply.message;
    return new RingcacheError(
      m.startsWith("OOM") ? "OUT_OF_MEMORY" : m.startsWith("FENCED") ? "FENCED" : "INTERNAL",
      m.replace(/^[A-Z]+ /, ""),
    );
  }
  return new RingcacheError("INTERNAL", "unexpected reply from an auxiliary node");
}

/** Throws the reply's error when it is one; otherwise returns it. */
export function unwrap(reply: RespValue): RespValue {
  if (reply instanceof RespReplyError) throw unexpected(reply);
  return reply;
}

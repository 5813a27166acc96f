// The master's RESP command table: each client command is parsed exactly as Redis 7 parses it
// (same arity rules, same option grammar, same error texts), then handed to the router; the
// reply comes back through a sink and fills the command's reserved reply slot.
//
//   dispatch(conn, args) ─► parse ─► sync reply into conn.out           (PING, INFO, CONFIG …)
//                                 └► slot = conn.defer(); op.start()      (GET, SET, MGET …)
//                                      sink.opDone(op) ─► slot.complete(reply bytes)
//
// Arguments are views of the socket's chunk, valid during dispatch only: operations that
// outlive it get copies of the keys and values they need.
import { performance } from "node:perf_hooks";
import { RingcacheError, toRingcacheError } from "../errors.js";
import { RespWriter } from "../protocol/resp/index.js";
import {
  arityError,
  handleCommonCommand,
  unknownCommand,
  type CommonContext,
} from "../server/common-commands.js";
import { AuthLimiter } from "../server/auth-limiter.js";
import type { ClientConnection, CommandDispatcher, DeferredReply } from "../server/resp-server.js";
import type { MasterMetrics } from "./metrics.js";
import type { Router } from "./router.js";
import { BroadcastOp } from "./ops/broadcast.js";
import {
  EXPIRE_GT,
  EXPIRE_LT,
  EXPIRE_NX,
  EXPIRE_PERSIST,
  EXPIRE_XX,
  ExpireOp,
  SET_GET,
  SET_KEEPTTL,
  SET_NX,
  SET_XX,
  SetOp,
} from "./ops/conditional.js";
import { GatherOp } from "./ops/gather.js";
import { IncrOp } from "./ops/incr.js";
import type { OpSink } from "./ops/op.js";
import { ReadOp } from "./ops/read.js";
import { WriteOp } from "./ops/write.js";

/** Command names in id order (metrics labels). "other" counts unknown commands. */
export const COMMAND_NAMES = [
  "get",
  "set",
  "mget",
  "mset",
  "del",
  "exists",
  "incr",
  "decr",
  "incrby",
  "decrby",
  "expire",
  "pexpire",
  "expireat",
  "pexpireat",
  "ttl",
  "pttl",
  "persist",
  "dbsize",
  "flushall",
  "info",
  "config",
  "ping",
  "echo",
  "auth",
  "hello",
  "quit",
  "reset",
  "select",
  "client",
  "command",
  "other",
] as const;

const C = Object.fromEntries(COMMAND_NAMES.map((name, i) => [name, i])) as Record<
  (typeof COMMAND_NAMES)[number],
  number
>;
const COMMAND_IDS = new Map<string, number>(COMMAND_NAMES.map((name, i) => [name, i]));
COMMAND_IDS.delete("other");

const C_GET = C.get;
const C_SET = C.set;

/** 1 for the commands that reply later (they touch data, so they keep their order). */
const DEFERRED = new Uint8Array(COMMAND_NAMES.length);
for (const name of [
  "get",
  "set",
  "mget",
  "mset",
  "del",
  "exists",
  "incr",
  "decr",
  "incrby",
  "decrby",
  "expire",
  "pexpire",
  "expireat",
  "pexpireat",
  "ttl",
  "pttl",
  "persist",
  "dbsize",
  "flushall",
] as const) {
  DEFERRED[C[name]] = 1;
}

/** The command id of a command name (case-insensitive), or the id of "other". */
export function commandId(name: Buffer): number {
  if (name.length === 3) {
    // Fast path for the two commands that matter most: no string made.
    const c0 = (name[0] as number) | 0x20;
    const c1 = (name[1] as number) | 0x20;
    const c2 = (name[2] as number) | 0x20;
    if (c1 === 0x65 && c2 === 0x74) {
      if (c0 === 0x67) return C_GET;
      if (c0 === 0x73) return C_SET;
    }
  }
  return COMMAND_IDS.get(name.toString("latin1").toLowerCase()) ?? C.other;
}

// ---------------------------------------------------------------------------------------------
// Redis's argument rules

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * Parses a signed 64-bit decimal integer the way Redis's string2ll does: an optional '-',
 * no '+', no spaces, no leading zeros; null when it is not one.
 */
export function parseInt64(b: Uint8Array): bigint | null {
  const n = b.length;
  if (n === 0 || n > 20) return null;
  if (n === 1 && b[0] === 0x30) return 0n;
  let i = 0;
  const negative = b[0] === 0x2d;
  if (negative) {
    i = 1;
    if (n === 1) return null;
  }
  const first = b[i] as number;
  if (first < 0x31 || first > 0x39) return null;
  for (let j = i + 1; j < n; j++) {
    const d = b[j] as number;
    if (d < 0x30 || d > 0x39) return null;
  }
  const text = Buffer.from(b.buffer, b.byteOffset, n).toString("latin1");
  const value = BigInt(text);
  if (value > INT64_MAX || value < INT64_MIN) return null;
  return value;
}

const notInteger = (): RingcacheError =>
  new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
const syntaxError = (): RingcacheError => new RingcacheError("BAD_REQUEST", "syntax error");
const invalidExpire = (command: string): RingcacheError =>
  new RingcacheError("BAD_REQUEST", `invalid expire time in '${command}' command`);

function lower(b: Buffer): string {
  return b.toString("latin1").toLowerCase();
}

/** Absolute Unix ms as a JS number: past times stay past, far futures are capped. */
function toExpiryMs(when: bigint): number {
  if (when <= 0n) return 0;
  if (when > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  return Number(when);
}

const UNIT_EX = 1;
const UNIT_PX = 2;
const UNIT_EXAT = 3;
const UNIT_PXAT = 4;
const EXPIRY_UNITS = new Map([
  ["ex", UNIT_EX],
  ["px", UNIT_PX],
  ["exat", UNIT_EXAT],
  ["pxat", UNIT_PXAT],
]);

/** SET's options, parsed as Redis 7's parseExtendedStringArgumentsOrReply does. */
export interface SetOptions {
  flags: number;
  /** Absolute expiry in Unix ms; 0 for none. */
  expiresAt: number;
}

export function parseSetOptions(args: readonly Buffer[], now: number): SetOptions {
  let flags = 0;
  let unit = 0;
  let expire: Buffer | undefined;
  for (let j = 3; j < args.length; j++) {
    const opt = lower(args[j] as Buffer);
    const next = args[j + 1];
    const optUnit = EXPIRY_UNITS.get(opt) ?? 0;
    if (opt === "nx" && (flags & SET_XX) === 0) flags |= SET_NX;
    else if (opt === "xx" && (flags & SET_NX) === 0) flags |= SET_XX;
    else if (opt === "get") flags |= SET_GET;
    else if (opt === "keepttl" && unit === 0) flags |= SET_KEEPTTL;
    else if (
      optUnit !== 0 &&
      (flags & SET_KEEPTTL) === 0 &&
      (unit === 0 || unit === optUnit) &&
      next !== undefined
    ) {
      unit = optUnit;
      expire = next;
      j++;
    } else {
      throw syntaxError();
    }
  }
  if (expire === undefined) return { flags, expiresAt: 0 };
  const value = parseInt64(expire);
  if (value === null) throw notInteger();
  const seconds = unit === UNIT_EX || unit === UNIT_EXAT;
  if (value <= 0n || (seconds && value > INT64_MAX / 1000n)) throw invalidExpire("set");
  let ms = seconds ? value * 1000n : value;
  if (unit === UNIT_EX || unit === UNIT_PX) ms += BigInt(now);
  if (ms > INT64_MAX) throw invalidExpire("set");
  return { flags, expiresAt: toExpiryMs(ms) };
}

/** EXPIRE-family options (NX | XX | GT | LT), checked as Redis 7 does. */
export function parseExpireFlags(args: readonly Buffer[]): number {
  let flags = 0;
  for (let j = 3; j < args.length; j++) {
    const raw = args[j] as Buffer;
    const opt = lower(raw);
    if (opt === "nx") flags |= EXPIRE_NX;
    else if (opt === "xx") flags |= EXPIRE_XX;
    else if (opt === "gt") flags |= EXPIRE_GT;
    else if (opt === "lt") flags |= EXPIRE_LT;
    else throw new RingcacheError("BAD_REQUEST", `Unsupported option ${raw.toString("latin1")}`);
  }
  if ((flags & EXPIRE_NX) !== 0 && (flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT)) !== 0) {
    throw new RingcacheError(
      "BAD_REQUEST",
      "NX and XX, GT or LT options at the same time are not compatible",
    );
  }
  if ((flags & EXPIRE_GT) !== 0 && (flags & EXPIRE_LT) !== 0) {
    throw new RingcacheError(
      "BAD_REQUEST",
      "GT and LT options at the same time are not compatible",
    );
  }
  return flags;
}

/**
 * The absolute expiry (Unix ms) an EXPIRE-family command asks for, with Redis's overflow
 * checks. `basetime` is now for EXPIRE/PEXPIRE and 0 for the *AT forms.
 */
export function parseExpireTime(
  arg: Buffer,
  seconds: boolean,
  basetime: number,
  command: string,
): number {
  let when = parseInt64(arg);
  if (when === null) throw notInteger();
  if (seconds) {
    if (when > INT64_MAX / 1000n || when < INT64_MIN / 1000n) throw invalidExpire(command);
    when *= 1000n;
  }
  if (when > INT64_MAX - BigInt(basetime)) throw invalidExpire(command);
  return toExpiryMs(when + BigInt(basetime));
}

/** Redis-style glob match (`*`, `?`, `[...]`), case-insensitive, as CONFIG GET uses. */
export function globMatch(pattern: string, text: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body.startsWith("^")) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) {
      re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  try {
    return new RegExp(`${re}$`, "is").test(text);
  } catch {
    return false;
  }
}

/**
 * The few settings CONFIG GET answers (what redis-benchmark and friends ask for), in the order
 * Redis 7.0 lists them.
 */
const CONFIG_FIELDS: readonly (readonly [string, string])[] = [
  ["appendonly", "no"],
  ["save", ""],
];

// ---------------------------------------------------------------------------------------------
// The dispatcher

/** What INFO reports about this master. */
export interface MasterInfo {
  readonly id: string;
  readonly version: string;
  readonly port: () => number;
  readonly startedAt: number;
  clients(): { open: number; total: number; rejected: number };
  ring(): { epoch: string; up: number; known: number; replicas: number };
}

export interface CommandsOptions {
  readonly maxKeySize: number;
  readonly maxValueSize: number;
  readonly secret?: string | undefined;
  /** Shared with the HTTP API, so a guesser switching ports keeps its delay. */
  readonly authLimiter?: AuthLimiter | undefined;
}

const OK = Buffer.from("+OK\r\n");
const NIL = Buffer.from("$-1\r\n");
const ZERO = Buffer.from(":0\r\n");
const ONE = Buffer.from(":1\r\n");

export class MasterCommands implements CommandDispatcher {
  private readonly router: Router;
  private readonly metrics: MasterMetrics | null;
  private readonly options: CommandsOptions;
  private readonly info: MasterInfo;
  private readonly common: CommonContext;
  /** Scratch encoder for deferred replies: filled and taken within one call. */
  private readonly w = new RespWriter();
  /** Connections held by a multi-step command, and how many there are. */
  private readonly holds = new WeakMap<ClientConnection, Hold>();
  private holding = 0;
  /** While a held command runs: the reply slot reserved for it when it arrived. */
  private replaySlot: DeferredReply | null = null;
  commandsProcessed = 0;

  constructor(
    router: Router,
    metrics: MasterMetrics | null,
    options: CommandsOptions,
    info: MasterInfo,
  ) {
    this.router = router;
    this.metrics = metrics;
    this.options = options;
    this.info = info;
    this.common = {
      secret: options.secret,
      version: info.version,
      commandCount: COMMAND_NAMES.length - 1,
      authLimiter: options.authLimiter ?? new AuthLimiter(),
    };
  }

  dispatch(conn: ClientConnection, args: Buffer[]): void {
    const id = commandId(args[0] as Buffer);
    this.commandsProcessed++;
    if (this.holding > 0 && DEFERRED[id] === 1) {
      const hold = this.holds.get(conn);
      if (hold !== undefined) {
        this.enqueue(conn, hold, id, args);
        return;
      }
    }
    this.router.affinity = conn.id;
    // Commands that reply later are timed by their operation, from its creation.
    const startedAt = DEFERRED[id] === 1 ? 0 : performance.now();
    try {
      if (this.run(conn, id, args)) this.record(id, true, startedAt);
    } catch (err) {
      this.record(id, false, startedAt === 0 ? performance.now() : startedAt);
      throw err;
    }
  }

  onClose(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    hold.queue.length = 0;
    this.holds.delete(conn);
    this.holding--;
  }

  // --- ordering of a client's commands around multi-step ones ----------------------------------
  //
  // A command whose operation takes two steps (read, then write: SET NX/XX/GET/KEEPTTL,
  // EXPIRE NX/XX/GT/LT, PERSIST) holds its connection: the client's later data commands wait
  // (copied, with their reply slots reserved in order) until it is done, so that a pipeline
  // runs as if one command at a time, as Redis runs it. One-step commands need no hold: a
  // client's requests to a node share one node connection, which keeps their order.

  private hold(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold !== undefined) {
      hold.active = true;
      return;
    }
    this.holds.set(conn, { active: true, queue: [] });
    this.holding++;
  }

  private enqueue(conn: ClientConnection, hold: Hold, id: number, args: Buffer[]): void {
    if (hold.queue.length >= MAX_HELD_COMMANDS) {
      conn.destroy();
      return;
    }
    hold.queue.push({ id, args: args.map(copy), slot: conn.defer() });
  }

  /** The multi-step command of `conn` is done: run what waited behind it, in order. */
  private release(conn: ClientConnection): void {
    const hold = this.holds.get(conn);
    if (hold === undefined) return;
    hold.active = false;
    while (hold.queue.length > 0) {
      const next = hold.queue.shift() as HeldCommand;
      this.replaySlot = next.slot;
      this.router.affinity = conn.id;
      const startedAt = performance.now();
      try {
        this.run(conn, next.id, next.args);
      } catch (err) {
        if (this.replaySlot === next.slot)
          this.fail(next.slot, next.id, startedAt, toRingcacheError(err));
      } finally {
        this.replaySlot = null;
      }
      // The command just run holds the connection again (or a nested release finished the queue).
      if (hold.active || this.holds.get(conn) !== hold) return;
    }
    this.holds.delete(conn);
    this.holding--;
  }

  /** The reply slot for the command being run: reserved now, or earlier when it waited. */
  private slot(conn: ClientConnection): DeferredReply {
    const reserved = this.replaySlot;
    if (reserved !== null) {
      this.replaySlot = null;
      return reserved;
    }
    return conn.defer();
  }

  /** Runs one command; returns true when it replied synchronously. */
  private run(conn: ClientConnection, id: number, args: Buffer[]): boolean {
    const router = this.router;
    const argc = args.length;
    switch (id) {
      case C_GET: {
        if (argc !== 2) throw arityError("get");
        new ReadOp(router, copy(args[1] as Buffer), "value", this.getSink, this.slot(conn)).start();
        return false;
      }
      case C_SET: {
        if (argc < 3) throw arityError("set");
        const key = args[1] as Buffer;
        const value = args[2] as Buffer;
        const opts = argc === 3 ? PLAIN_SET : parseSetOptions(args, Date.now());
        this.checkKey(key);
        this.checkValue(value);
        if (opts.flags === 0) {
          new WriteOp(
            router,
            "put",
            copy(key),
            copy(value),
            opts.expiresAt,
            this.setSink,
            this.slot(conn),
          ).start();
        } else {
          const ctx: Pending = { slot: this.slot(conn), id, conn };
          this.hold(conn);
          new SetOp(
            router,
            copy(key),
            copy(value),
            opts.expiresAt,
            opts.flags,
            this.setCondSink,
            ctx,
          ).start();
        }
        return false;
      }
      case C.mget:
        if (argc < 2) throw arityError("mget");
        new GatherOp(router, "mget", args.slice(1), null, null, this.gatherSink, {
          slot: this.slot(conn),
          id,
        }).start();
        return false;
      case C.mset: {
        if (argc < 3 || argc % 2 === 0) throw arityError("mset");
        const keys: Buffer[] = [];
        const values: Buffer[] = [];
        for (let i = 1; i < argc; i += 2) {
          this.checkKey(args[i] as Buffer);
          this.checkValue(args[i + 1] as Buffer);
          keys.push(args[i] as Buffer);
          values.push(args[i + 1] as Buffer);
        }
        new GatherOp(router, "mset", keys, values, null, this.gatherSink, {
          slot: this.slot(conn),
          id,
        }).start();
        return false;
      }
      case C.del:
      case C.exists: {
        const name = id === C.del ? "del" : "exists";
        if (argc < 2) throw arityError(name);
        const kind = id === C.del ? "del" : "exists";
        new GatherOp(router, kind, args.slice(1), null, null, this.gatherSink, {
          slot: this.slot(conn),
          id,
        }).start();
        return false;
      }
      case C.incr:
      case C.decr: {
        if (argc !== 2) throw arityError(id === C.incr ? "incr" : "decr");
        this.incr(conn, id, args[1] as Buffer, id === C.incr ? 1n : -1n);
        return false;
      }
      case C.incrby:
      case C.decrby: {
        if (argc !== 3) throw arityError(id === C.incrby ? "incrby" : "decrby");
        const delta = parseInt64(args[2] as Buffer);
        if (delta === null) throw notInteger();
        if (id === C.decrby && delta === INT64_MIN) {
          throw new RingcacheError("BAD_REQUEST", "decrement would overflow");
        }
        this.incr(conn, id, args[1] as Buffer, id === C.incrby ? delta : -delta);
        return false;
      }
      case C.expire:
      case C.pexpire:
      case C.expireat:
      case C.pexpireat: {
        const name = COMMAND_NAMES[id] as string;
        if (argc < 3) throw arityError(name);
        const flags = parseExpireFlags(args);
        const seconds = id === C.expire || id === C.expireat;
        const base = id === C.expire || id === C.pexpire ? Date.now() : 0;
        const when = parseExpireTime(args[2] as Buffer, seconds, base, name);
        const ctx: Pending = { slot: this.slot(conn), id, conn: flags === 0 ? null : conn };
        if (flags !== 0) this.hold(conn);
        new ExpireOp(router, copy(args[1] as Buffer), when, flags, this.expireSink, ctx).start();
        return false;
      }
      case C.persist: {
        if (argc !== 2) throw arityError("persist");
        const ctx: Pending = { slot: this.slot(conn), id, conn };
        this.hold(conn);
        new ExpireOp(
          router,
          copy(args[1] as Buffer),
          0,
          EXPIRE_PERSIST,
          this.expireSink,
          ctx,
        ).start();
        return false;
      }
      case C.ttl:
      case C.pttl:
        if (argc !== 2) throw arityError(id === C.ttl ? "ttl" : "pttl");
        new ReadOp(router, copy(args[1] as Buffer), "versioned", this.ttlSink, {
          slot: this.slot(conn),
          id,
        }).start();
        return false;
      case C.dbsize:
        if (argc !== 1) throw arityError("dbsize");
        new BroadcastOp(router, "stats", this.broadcastSink, { slot: this.slot(conn), id }).start();
        return false;
      case C.flushall: {
        if (argc > 2) throw syntaxError();
        if (argc === 2) {
          const mode = lower(args[1] as Buffer);
          if (mode !== "async" && mode !== "sync") throw syntaxError();
        }
        new BroadcastOp(router, "flush", this.broadcastSink, { slot: this.slot(conn), id }).start();
        return false;
      }
      case C.info:
        conn.out.bulkString(this.infoText(args.slice(1).map(lower)));
        return true;
      case C.config:
        this.config(conn, args);
        return true;
      case C.other:
        throw unknownCommand(args);
      default:
        // Connection-level commands, answered like Redis by the shared implementation.
        if (!handleCommonCommand(conn, this.common, COMMAND_NAMES[id] as string, args)) {
          throw unknownCommand(args);
        }
        return true;
    }
  }

  private incr(conn: ClientConnection, id: number, key: Buffer, delta: bigint): void {
    this.checkKey(key);
    new IncrOp(this.router, copy(key), delta, this.incrSink, { slot: this.slot(conn), id }).start();
  }

  private checkKey(key: Buffer): void {
    if (key.length > this.options.maxKeySize) {
      throw new RingcacheError(
        "KEY_TOO_LARGE",
        `key is longer than max-key-size (${this.options.maxKeySize} bytes)`,
      );
    }
  }

  private checkValue(value: Buffer): void {
    if (value.length > this.options.maxValueSize) {
      throw new RingcacheError(
        "VALUE_TOO_LARGE",
        `value is larger than max-value-size (${this.options.maxValueSize} bytes)`,
      );
    }
  }

  private config(conn: ClientConnection, args: Buffer[]): void {
    if (args.length < 2) throw arityError("config");
    const sub = lower(args[1] as Buffer);
    if (sub === "get") {
      if (args.length < 3) throw arityError("config|get");
      const patterns = args.slice(2).map((a) => a.toString("latin1"));
      const matched = CONFIG_FIELDS.filter(([name]) => patterns.some((p) => globMatch(p, name)));
      conn.out.arrayHeader(matched.length * 2);
      for (const [name, value] of matched) {
        conn.out.bulkString(name);
        conn.out.bulkString(value);
      }
      return;
    }
    if (sub === "set") {
      if (args.length < 4) throw arityError("config|set");
      throw new RingcacheError(
        "BAD_REQUEST",
        `Unknown option or number of arguments for CONFIG SET - '${(args[2] as Buffer).toString("latin1")}'`,
      );
    }
    if (sub === "resetstat") {
      if (args.length !== 2) throw arityError("config|resetstat");
      conn.out.simple("OK");
      return;
    }
    throw new RingcacheError(
      "BAD_REQUEST",
      `unknown subcommand '${(args[1] as Buffer).toString("latin1").slice(0, 128)}'. Try CONFIG HELP.`,
    );
  }

  /** INFO in Redis's format; sections: server, clients, persistence, stats, replication, cluster. */
  infoText(sections: readonly string[]): string {
    const all = sections.length === 0 || sections.some((s) => /^(all|default|everything)$/.test(s));
    const want = (name: string): boolean => all || sections.includes(name);
    const info = this.info;
    const parts: string[] = [];
    const now = Date.now();
    const uptime = Math.floor((now - info.startedAt) / 1000);
    if (want("server")) {
      parts.push(
        [
          "# Server",
          `redis_version:${info.version}`,
          "ringcache_role:master",
          `ringcache_id:${info.id}`,
          "redis_mode:standalone",
          `os:${process.platform} ${process.arch}`,
          "arch_bits:64",
          `process_id:${process.pid}`,
          `tcp_port:${info.port()}`,
          `uptime_in_seconds:${uptime}`,
          `uptime_in_days:${Math.floor(uptime / 86400)}`,
        ].join("\r\n"),
      );
    }
    const clients = info.clients();
    if (want("clients")) {
      parts.push(["# Clients", `connected_clients:${clients.open}`].join("\r\n"));
    }
    if (want("memory")) {
      const mem = process.memoryUsage();
      parts.push(
        ["# Memory", `used_memory:${mem.heapUsed}`, `used_memory_rss:${mem.rss}`].join("\r\n"),
      );
    }
    if (want("persistence")) {
      // ioredis's ready check waits for loading:0.
      parts.push(["# Persistence", "loading:0"].join("\r\n"));
    }
    if (want("stats")) {
      parts.push(
        [
          "# Stats",
          `total_connections_received:${clients.total}`,
          `total_commands_processed:${this.commandsProcessed}`,
          `rejected_connections:${clients.rejected}`,
        ].join("\r\n"),
      );
    }
    if (want("replication")) {
      parts.push(["# Replication", "role:master", "connected_slaves:0"].join("\r\n"));
    }
    if (want("cluster")) {
      const ring = info.ring();
      parts.push(
        [
          "# Cluster",
          "cluster_enabled:0",
          `ringcache_ring_epoch:${ring.epoch}`,
          `ringcache_nodes_up:${ring.up}`,
          `ringcache_nodes_known:${ring.known}`,
          `ringcache_replicas:${ring.replicas}`,
        ].join("\r\n"),
      );
    }
    return parts.length === 0 ? "" : `${parts.join("\r\n\r\n")}\r\n`;
  }

  // --- replies -------------------------------------------------------------------------------

  private record(id: number, ok: boolean, startedAt: number): void {
    this.metrics?.command(id, ok, (performance.now() - startedAt) / 1000);
  }

  private complete(slot: DeferredReply, id: number, startedAt: number, bytes: Buffer): void {
    this.record(id, true, startedAt);
    slot.complete(bytes);
  }

  private fail(slot: DeferredReply, id: number, startedAt: number, err: RingcacheError): void {
    this.record(id, false, startedAt);
    this.w.error(err.respLine);
    slot.complete(this.w.take());
  }

  private readonly getSink: OpSink<ReadOp<DeferredReply>> = {
    opDone: (op) => {
      const slot = op.ctx;
      if (op.error !== null) return this.fail(slot, C_GET, op.startedAt, op.error);
      if (op.value === null) return this.complete(slot, C_GET, op.startedAt, NIL);
      this.w.bulk(op.value);
      this.complete(slot, C_GET, op.startedAt, this.w.take());
    },
  };

  private readonly setSink: OpSink<WriteOp<DeferredReply>> = {
    opDone: (op) => {
      const slot = op.ctx;
      if (op.error !== null) this.fail(slot, C_SET, op.startedAt, op.error);
      else this.complete(slot, C_SET, op.startedAt, OK);
    },
  };

  private readonly setCondSink: OpSink<SetOp<Pending>> = {
    opDone: (op) => {
      const { slot, conn } = op.ctx;
      if (op.error !== null) this.fail(slot, C_SET, op.startedAt, op.error);
      else if ((op.flags & SET_GET) === 0) {
        this.complete(slot, C_SET, op.startedAt, op.written ? OK : NIL);
      } else if (op.old === null) this.complete(slot, C_SET, op.startedAt, NIL);
      else {
        this.w.bulk(op.old);
        this.complete(slot, C_SET, op.startedAt, this.w.take());
      }
      if (conn !== undefined && conn !== null) this.release(conn);
    },
  };

  private readonly gatherSink: OpSink<GatherOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      if (id === C.mset) return this.complete(slot, id, op.startedAt, OK);
      if (id === C.mget) {
        const w = this.w;
        w.arrayHeader(op.values.length);
        for (const v of op.values) w.bulk(v);
        return this.complete(slot, id, op.startedAt, w.take());
      }
      this.w.integer(op.count);
      this.complete(slot, id, op.startedAt, this.w.take());
    },
  };

  private readonly incrSink: OpSink<IncrOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      this.w.integer(op.result);
      this.complete(slot, id, op.startedAt, this.w.take());
    },
  };

  private readonly expireSink: OpSink<ExpireOp<Pending>> = {
    opDone: (op) => {
      const { slot, id, conn } = op.ctx;
      if (op.error !== null) this.fail(slot, id, op.startedAt, op.error);
      else this.complete(slot, id, op.startedAt, op.result === 1 ? ONE : ZERO);
      if (conn !== undefined && conn !== null) this.release(conn);
    },
  };

  private readonly ttlSink: OpSink<ReadOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      const held = op.versioned;
      let pttl: number;
      if (held === undefined || held.value === null) pttl = -2;
      else pttl = held.pttl < 0 ? -1 : held.pttl;
      const reply = pttl < 0 || id === C.pttl ? pttl : Math.floor((pttl + 500) / 1000);
      this.w.integer(reply);
      this.complete(slot, id, op.startedAt, this.w.take());
    },
  };

  private readonly broadcastSink: OpSink<BroadcastOp<Pending>> = {
    opDone: (op) => {
      const { slot, id } = op.ctx;
      if (op.error !== null) return this.fail(slot, id, op.startedAt, op.error);
      if (id === C.flushall) return this.complete(slot, id, op.startedAt, OK);
      this.w.integer(op.keys);
      this.complete(slot, id, op.startedAt, this.w.take());
    },
  };
}

/** The reply slot of a command and its id (for the less frequent commands' sinks). */
interface Pending {
  readonly slot: DeferredReply;
  readonly id: number;
  /** Set when the command holds its connection (released when it is done). */
  readonly conn?: ClientConnection | null;
}

/** A client's command waiting behind a multi-step one. */
interface HeldCommand {
  readonly id: number;
  /** Copies: the socket's views are gone by the time it runs. */
  readonly args: Buffer[];
  readonly slot: DeferredReply;
}

interface Hold {
  /** A multi-step command of this connection is in flight. */
  active: boolean;
  readonly queue: HeldCommand[];
}

/** A client that piles up more commands than this behind a multi-step one is disconnected. */
const MAX_HELD_COMMANDS = 100_000;

const PLAIN_SET: SetOptions = { flags: 0, expiresAt: 0 };

function copy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  b.copy(out);
  return out;
}

// Connection-level commands every RESP port answers the way Redis 7 does, so that redis-cli,
// redis-benchmark, ioredis and node-redis complete their handshakes against any ringcache node:
// PING, ECHO, AUTH, HELLO, QUIT, SELECT, CLIENT, COMMAND, RESET. They are one family of a
// node's command registry (docs/design.md, "Client interfaces"), added by connectionCommands.
// HELLO 3 switches a connection to RESP3 and RESET back to RESP2; every reply then takes that
// protocol's form through the connection's writer.
import { timingSafeEqual } from "node:crypto";
import { RingcacheError, respErrorReply } from "../errors.js";
import type { RespProtocol } from "../protocol/resp/index.js";
import { arityError, pushUnsupported } from "../redis/errors.js";
import { parseInt64 } from "../redis/integers.js";
import type { CommandRegistry } from "../redis/registry.js";
import { DROP, type AuthLimiter } from "./auth-limiter.js";
import type { ClientConnection } from "./resp-server.js";

export interface CommonContext {
  /** The shared secret clients must AUTH with, if any. */
  readonly secret: string | undefined;
  /** Version reported by HELLO (Redis-compatible clients read it). */
  readonly version: string;
  /** Number of commands this node implements, for COMMAND COUNT. */
  readonly commandCount: number;
  /** Spaces out wrong-secret answers per client address (one per node process). */
  readonly authLimiter: AuthLimiter;
}

/** A node's command handler: `node` is the node's dispatcher state, `id` the command's id. */
export type CommandFn<N> = (node: N, conn: ClientConnection, args: Buffer[], id: number) => void;

/** What the connection commands need of a node. */
export interface ConnectionNode {
  readonly common: CommonContext;
}

function secretMatches(secret: string, given: Buffer): boolean {
  const expected = Buffer.from(secret);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function authenticate(
  conn: ClientConnection,
  ctx: CommonContext,
  user: Buffer | undefined,
  pass: Buffer,
): void {
  if (ctx.secret === undefined) {
    if (user === undefined) {
      throw new RingcacheError(
        "BAD_REQUEST",
        "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
      );
    }
    if (user.toString("latin1") === "default") {
      conn.authenticated = true;
      return;
    }
    throw new RingcacheError("WRONG_PASS", "invalid username-password pair or user is disabled.");
  }
  const userOk = user === undefined || user.toString("latin1") === "default";
  if (userOk && secretMatches(ctx.secret, pass)) {
    conn.authenticated = true;
    return;
  }
  throw new RingcacheError("WRONG_PASS", "invalid username-password pair or user is disabled.");
}

function auth(conn: ClientConnection, ctx: CommonContext, args: Buffer[]): void {
  if (args.length !== 2 && args.length !== 3) throw arityError("auth");
  const user = args.length === 3 ? args[1] : undefined;
  const pass = args[args.length - 1] as Buffer;
  try {
    authenticate(conn, ctx, user, pass);
    conn.out.simple("OK");
  } catch (err) {
    refuse(conn, ctx, err);
  }
}

/**
 * Answers a wrong secret late, as the client's address's limiter says (rate-limits guessing);
 * past its backlog the connection is closed without an answer. Other errors are rethrown.
 */
function refuse(conn: ClientConnection, ctx: CommonContext, err: unknown): void {
  if (!(err instanceof RingcacheError) || err.code !== "WRONG_PASS" || ctx.secret === undefined) {
    throw err;
  }
  const delay = ctx.authLimiter.failure(conn.socket.remoteAddress ?? "");
  if (delay === DROP) {
    conn.destroy();
    return;
  }
  const slot = conn.defer();
  const line = respErrorReply(err);
  setTimeout(() => slot.complete(line), delay);
}

/**
 * HELLO [protover [AUTH username password] [SETNAME clientname]], parsed as Redis 7.0 does:
 * the options in order, each taking effect where it stands (AUTH authenticates, SETNAME names
 * the connection, even when a later option fails or the client is not authenticated); then
 * NOAUTH if still not authenticated; then the protocol changes and the reply is a map in it.
 * No version: the current protocol.
 */
function hello(conn: ClientConnection, ctx: CommonContext, args: Buffer[]): void {
  let protocol: RespProtocol = conn.protocol;
  let i = 1;
  if (args.length > 1) {
    const version = parseInt64(args[1] as Buffer);
    if (version === null) {
      throw new RingcacheError("BAD_REQUEST", "Protocol version is not an integer or out of range");
    }
    if (version !== 2n && version !== 3n) {
      throw new RingcacheError("NO_PROTO", "unsupported protocol version");
    }
    protocol = version === 3n ? 3 : 2;
    i = 2;
  }
  for (; i < args.length; i++) {
    const opt = (args[i] as Buffer).toString("latin1");
    const more = args.length - 1 - i;
    const lowered = opt.toLowerCase();
    if (lowered === "auth" && more >= 2) {
      try {
        authenticate(conn, ctx, args[i + 1], args[i + 2] as Buffer);
      } catch (err) {
        refuse(conn, ctx, err);
        return;
      }
      i += 2;
    } else if (lowered === "setname" && more >= 1) {
      conn.name = clientName(args[++i] as Buffer);
    } else {
      throw new RingcacheError("BAD_REQUEST", `Syntax error in HELLO option '${opt}'`);
    }
  }
  if (!conn.authenticated) {
    throw new RingcacheError(
      "NO_AUTH",
      "HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
    );
  }
  conn.protocol = protocol;
  const out = conn.out;
  out.mapHeader(7);
  out.bulkString("server");
  out.bulkString("redis");
  out.bulkString("version");
  out.bulkString(ctx.version);
  out.bulkString("proto");
  out.integer(protocol);
  out.bulkString("id");
  out.integer(conn.id);
  out.bulkString("mode");
  out.bulkString("standalone");
  out.bulkString("role");
  out.bulkString("master");
  out.bulkString("modules");
  out.arrayHeader(0);
}

/** A client name as Redis accepts one: printable ASCII without spaces ("" clears the name). */
function clientName(arg: Buffer): string {
  for (const c of arg) {
    if (c < 0x21 || c > 0x7e) {
      throw new RingcacheError(
        "BAD_REQUEST",
        "Client names cannot contain spaces, newlines or special characters.",
      );
    }
  }
  return arg.toString("latin1");
}

/**
 * A connection as CLIENT INFO and CLIENT LIST describe it, with the fields of Redis's line that
 * ringcache keeps (no fd, buffers or last command), ending in the protocol (`resp=`).
 */
function describeClient(conn: ClientConnection, now: number): string {
  const socket = conn.socket;
  const age = Math.floor((now - conn.createdAt) / 1000);
  const idle = Math.floor((now - conn.lastActiveAt) / 1000);
  return (
    `id=${conn.id} addr=${conn.remote} laddr=${socket.localAddress ?? "?"}:${socket.localPort ?? 0}` +
    ` name=${conn.name} age=${age} idle=${idle} flags=N db=0 sub=0 psub=0 ssub=0 multi=-1` +
    ` omem=${conn.pendingOutput} user=default resp=${conn.protocol}\n`
  );
}

/** CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]: every client is "normal". */
function clientList(conn: ClientConnection, args: Buffer[]): string {
  let ids: Set<bigint> | null = null;
  let none = false;
  if (args.length > 2) {
    const opt = (args[2] as Buffer).toString("latin1").toLowerCase();
    if (opt === "type" && args.length === 4) {
      const type = (args[3] as Buffer).toString("latin1").toLowerCase();
      if (type === "master" || type === "replica" || type === "slave" || type === "pubsub") {
        none = true;
      } else if (type !== "normal") {
        throw new RingcacheError(
          "BAD_REQUEST",
          `Unknown client type '${(args[3] as Buffer).toString("latin1")}'`,
        );
      }
    } else if (opt === "id" && args.length > 3) {
      ids = new Set();
      for (let i = 3; i < args.length; i++) {
        const id = parseInt64(args[i] as Buffer);
        if (id === null) throw new RingcacheError("BAD_REQUEST", "Invalid client ID");
        ids.add(id);
      }
    } else {
      throw new RingcacheError("BAD_REQUEST", "syntax error");
    }
  }
  let text = "";
  if (none) return text;
  const now = performance.now();
  for (const peer of conn.peers) {
    if (peer.closed || (ids !== null && !ids.has(BigInt(peer.id)))) continue;
    text += describeClient(peer, now);
  }
  return text;
}

function client(conn: ClientConnection, args: Buffer[]): void {
  const sub = (args[1] ?? Buffer.alloc(0)).toString("latin1").toLowerCase();
  switch (sub) {
    case "setname":
      if (args.length !== 3) throw arityError("client|setname");
      conn.name = clientName(args[2] as Buffer);
      conn.out.simple("OK");
      return;
    case "getname":
      if (args.length !== 2) throw arityError("client|getname");
      if (conn.name === "") conn.out.nullBulk();
      else conn.out.bulkString(conn.name);
      return;
    case "setinfo":
      if (args.length !== 4) throw arityError("client|setinfo");
      conn.out.simple("OK");
      return;
    case "id":
      if (args.length !== 2) throw arityError("client|id");
      conn.out.integer(conn.id);
      return;
    case "info":
      if (args.length !== 2) throw arityError("client|info");
      conn.out.verbatim(describeClient(conn, performance.now()));
      return;
    case "list":
      conn.out.verbatim(clientList(conn, args));
      return;
    case "tracking":
    case "trackinginfo":
    case "getredir":
    case "caching":
      throw pushUnsupported(`CLIENT ${(args[1] as Buffer).toString("latin1").toUpperCase()}`);
    default:
      if (args.length < 2) throw arityError("client");
      throw new RingcacheError(
        "BAD_REQUEST",
        `unknown subcommand '${(args[1] as Buffer).toString("latin1").slice(0, 128)}'. Try CLIENT HELP.`,
      );
  }
}

function command(conn: ClientConnection, ctx: CommonContext, args: Buffer[]): void {
  const sub = args.length > 1 ? (args[1] as Buffer).toString("latin1").toLowerCase() : "";
  if (sub === "count") conn.out.integer(ctx.commandCount);
  // Clients only need the command table for hints; an empty one is a valid answer.
  else if (sub === "" || sub === "info" || sub === "list") conn.out.arrayHeader(0);
  else if (sub === "docs") conn.out.mapHeader(0);
  else {
    throw new RingcacheError(
      "BAD_REQUEST",
      `unknown subcommand '${(args[1] as Buffer).toString("latin1").slice(0, 128)}'. Try COMMAND HELP.`,
    );
  }
}

function ping(_node: ConnectionNode, conn: ClientConnection, args: Buffer[]): void {
  if (args.length === 1) conn.out.simple("PONG");
  else if (args.length === 2) conn.out.bulk(args[1] as Buffer);
  else throw arityError("ping");
}

function echo(_node: ConnectionNode, conn: ClientConnection, args: Buffer[]): void {
  conn.out.bulk(args[1] as Buffer);
}

function quit(_node: ConnectionNode, conn: ClientConnection): void {
  conn.out.simple("OK");
  conn.closeWhenFlushed();
}

function reset(node: ConnectionNode, conn: ClientConnection): void {
  conn.name = "";
  conn.protocol = 2;
  if (node.common.secret !== undefined) conn.authenticated = false;
  conn.out.simple("RESET");
}

function select(_node: ConnectionNode, conn: ClientConnection, args: Buffer[]): void {
  const db = (args[1] as Buffer).toString("latin1");
  if (!/^-?\d+$/.test(db))
    throw new RingcacheError("NOT_INTEGER", "value is not an integer or out of range");
  if (db !== "0") throw new RingcacheError("BAD_REQUEST", "DB index is out of range");
  conn.out.simple("OK");
}

/**
 * The connection commands as a family of a node's registry. Arity 0 or -1 leaves the checks
 * to the handler where Redis's own checks come later or read differently.
 */
export function connectionCommands<N extends ConnectionNode>(
  registry: CommandRegistry<CommandFn<N>>,
): void {
  const add = (name: string, arity: number, handler: CommandFn<N>): void => {
    registry.add({ name, arity, flags: 0, handler });
  };
  add("ping", -1, ping);
  add("echo", 2, echo);
  add("auth", -2, (node, conn, args) => auth(conn, node.common, args));
  add("hello", -1, (node, conn, args) => hello(conn, node.common, args));
  add("quit", 0, quit);
  add("reset", 0, reset);
  add("select", 2, select);
  add("client", -2, (_node, conn, args) => client(conn, args));
  add("command", -1, (node, conn, args) => command(conn, node.common, args));
}

// The master's server commands (docs/design.md, "Client interfaces"): DBSIZE and FLUSHALL,
// which every node of the ring answers, and INFO and CONFIG, which the master answers itself.
// INFO is a verbatim string and CONFIG GET a map on a RESP3 connection, as in Redis.
import { RingcacheError } from "../../errors.js";
import { arityError, lower } from "../../redis/errors.js";
import { checkFlushAllArgs } from "../../redis/flushall.js";
import { globMatch } from "../../redis/glob.js";
import { formatInfo, infoSections } from "../../redis/info.js";
import { REPLIES_LATER, WRITES, type CommandRegistry } from "../../redis/registry.js";
import { BroadcastOp } from "../ops/broadcast.js";
import type { MasterContext, MasterHandler } from "./context.js";

const dbsize: MasterHandler = (m, conn, _args, id) => {
  new BroadcastOp(m.router, "stats", m.sinks.keys, { slot: m.slot(conn), id }).start();
};

const flushall: MasterHandler = (m, conn, args, id) => {
  checkFlushAllArgs(args);
  new BroadcastOp(m.router, "flush", m.sinks.ok, { slot: m.slot(conn), id }).start();
};

const info: MasterHandler = (m, conn, args) => {
  conn.out.verbatim(masterInfo(m, infoSections(args, INFO_SECTIONS)));
};

/**
 * The few settings CONFIG GET answers (what redis-benchmark and friends ask for), in the order
 * Redis 7.0 lists them.
 */
const CONFIG_FIELDS: readonly (readonly [string, string])[] = [
  ["appendonly", "no"],
  ["save", ""],
];

const config: MasterHandler = (_m, conn, args) => {
  const sub = lower(args[1] as Buffer);
  if (sub === "get") {
    if (args.length < 3) throw arityError("config|get");
    const patterns = args.slice(2).map((a) => a.toString("latin1"));
    const matched = CONFIG_FIELDS.filter(([name]) => patterns.some((p) => globMatch(p, name)));
    conn.out.mapHeader(matched.length);
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
};

const INFO_SECTIONS = [
  "server",
  "clients",
  "memory",
  "persistence",
  "stats",
  "replication",
  "cluster",
] as const;
type InfoSection = (typeof INFO_SECTIONS)[number];

/** INFO's text for this master, the sections in Redis's order. */
export function masterInfo(m: MasterContext, sections: readonly InfoSection[]): string {
  return formatInfo(sections.map((section) => infoSection(m, section)));
}

function infoSection(m: MasterContext, section: InfoSection): string[] {
  const info = m.info;
  switch (section) {
    case "server": {
      const uptime = Math.floor((Date.now() - info.startedAt) / 1000);
      return [
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
      ];
    }
    case "clients":
      return ["# Clients", `connected_clients:${info.clients().open}`];
    case "memory": {
      const mem = process.memoryUsage();
      return ["# Memory", `used_memory:${mem.heapUsed}`, `used_memory_rss:${mem.rss}`];
    }
    case "persistence":
      // ioredis's ready check waits for loading:0.
      return ["# Persistence", "loading:0"];
    case "stats": {
      const clients = info.clients();
      return [
        "# Stats",
        `total_connections_received:${clients.total}`,
        `total_commands_processed:${m.commandsProcessed}`,
        `rejected_connections:${clients.rejected}`,
      ];
    }
    case "replication":
      return ["# Replication", "role:master", "connected_slaves:0"];
    case "cluster": {
      const ring = info.ring();
      return [
        "# Cluster",
        "cluster_enabled:0",
        `ringcache_ring_epoch:${ring.epoch}`,
        `ringcache_nodes_up:${ring.up}`,
        `ringcache_nodes_known:${ring.known}`,
        `ringcache_replicas:${ring.replicas}`,
      ];
    }
  }
}

/** The server family of the master's registry. */
export function serverCommands(registry: CommandRegistry<MasterHandler>): void {
  registry.add({ name: "dbsize", arity: 1, flags: REPLIES_LATER, handler: dbsize });
  registry.add({ name: "flushall", arity: -1, flags: REPLIES_LATER | WRITES, handler: flushall });
  registry.add({ name: "info", arity: -1, flags: 0, handler: info });
  registry.add({ name: "config", arity: -2, flags: 0, handler: config });
}

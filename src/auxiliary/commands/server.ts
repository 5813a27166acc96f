// An auxiliary node's server commands (docs/design.md, "Master ↔ auxiliary protocol"): DBSIZE,
// INFO, FLUSHALL, BGSAVE and LASTSAVE as Redis 7 answers them. FLUSHALL takes a version from
// the node's clock and raises the flush floor to it, as RC.FLUSH does with the master's.
import { RingcacheError } from "../../errors.js";
import { syntaxError } from "../../redis/errors.js";
import { checkFlushAllArgs } from "../../redis/flushall.js";
import { formatInfo, humanBytes, infoSections } from "../../redis/info.js";
import { WRITES, type CommandRegistry } from "../../redis/registry.js";
import { RINGCACHE_VERSION } from "../../redis/version.js";
import type { AuxiliaryCommands, AuxiliaryHandler } from "./dispatcher.js";

const INFO_SECTIONS = ["server", "clients", "memory", "persistence", "stats", "keyspace"] as const;
type InfoSection = (typeof INFO_SECTIONS)[number];

const dbsize: AuxiliaryHandler = (a, conn) => {
  conn.out.integer(a.store.stats.entries);
};

const info: AuxiliaryHandler = (a, conn, args) => {
  const sections = infoSections(args, INFO_SECTIONS);
  conn.out.verbatim(formatInfo(sections.map((section) => infoSection(a, section))));
};

const flushall: AuxiliaryHandler = (a, conn, args) => {
  checkFlushAllArgs(args);
  a.flush(a.clock.next());
  conn.out.simple("OK");
};

const bgsave: AuxiliaryHandler = (a, conn, args) => {
  if (args.length > 2) throw syntaxError();
  if (!a.info.startSnapshot()) {
    throw new RingcacheError("BAD_REQUEST", "Background save already in progress");
  }
  conn.out.simple("Background saving started");
};

const lastsave: AuxiliaryHandler = (a, conn) => {
  conn.out.integer(Math.floor(a.info.snapshot().lastSuccessAt / 1000));
};

/** The server family of an auxiliary node's registry. */
export function serverCommands(registry: CommandRegistry<AuxiliaryHandler>): void {
  registry.add({ name: "dbsize", arity: 1, flags: 0, handler: dbsize });
  registry.add({ name: "info", arity: -1, flags: 0, handler: info });
  registry.add({ name: "flushall", arity: -1, flags: WRITES, handler: flushall });
  registry.add({ name: "bgsave", arity: -1, flags: 0, handler: bgsave });
  registry.add({ name: "lastsave", arity: 1, flags: 0, handler: lastsave });
}

function infoSection(a: AuxiliaryCommands, section: InfoSection): string[] {
  const lines: string[] = [];
  const stats = a.store.stats;
  const conns = a.info.connections();
  const now = a.now();
  switch (section) {
    case "server": {
      const uptime = Math.floor((now - a.info.startedAt) / 1000);
      lines.push(
        "# Server",
        `redis_version:${a.common.version}`,
        `ringcache_version:${RINGCACHE_VERSION}`,
        "ringcache_role:auxiliary",
        `ringcache_node_id:${a.info.id}`,
        "redis_mode:standalone",
        `os:${process.platform} ${process.arch}`,
        "arch_bits:64",
        `process_id:${process.pid}`,
        `tcp_port:${a.info.port()}`,
        `uptime_in_seconds:${uptime}`,
        `uptime_in_days:${Math.floor(uptime / 86400)}`,
        `node_version:${process.versions.node}`,
      );
      break;
    }
    case "clients":
      lines.push("# Clients", `connected_clients:${conns.open}`, `maxclients:${a.info.maxClients}`);
      break;
    case "memory": {
      const rss = process.memoryUsage.rss();
      const max = a.store.maxBytes;
      lines.push(
        "# Memory",
        `used_memory:${stats.bytes}`,
        `used_memory_human:${humanBytes(stats.bytes)}`,
        `used_memory_rss:${rss}`,
        `used_memory_rss_human:${humanBytes(rss)}`,
        `used_memory_dataset:${stats.bytes}`,
        `ringcache_store_allocated:${a.store.memoryBytes()}`,
        `ringcache_tombstone_memory:${stats.tombstoneBytes}`,
        `maxmemory:${max}`,
        `maxmemory_human:${humanBytes(max)}`,
        `maxmemory_policy:${a.store.eviction === "lru" ? "allkeys-lru" : "noeviction"}`,
      );
      break;
    }
    case "persistence": {
      const snap = a.info.snapshot();
      lines.push(
        "# Persistence",
        "loading:0",
        `rdb_changes_since_last_save:${a.changes - a.changesAtLastSnapshot}`,
        `rdb_bgsave_in_progress:${snap.running ? 1 : 0}`,
        `rdb_last_save_time:${Math.floor(snap.lastSuccessAt / 1000)}`,
        `rdb_last_bgsave_status:${snap.lastFailed ? "err" : "ok"}`,
        `rdb_last_bgsave_time_sec:${snap.lastSuccessAt === 0 ? -1 : Math.round(snap.lastDurationMs / 1000)}`,
        `ringcache_snapshot_duration_ms:${Math.round(snap.lastDurationMs)}`,
        `ringcache_snapshot_failures:${snap.failures}`,
        `ringcache_restored_snapshot_time:${Math.floor(a.info.restoredSnapshotAt() / 1000)}`,
        `ringcache_restored_keys:${a.info.restoredEntries()}`,
        `ringcache_flush_floor:${a.flushFloor}`,
      );
      break;
    }
    case "stats":
      lines.push(
        "# Stats",
        `total_connections_received:${conns.total}`,
        `total_commands_processed:${conns.commands}`,
        `rejected_connections:${conns.rejected}`,
        `expired_keys:${stats.expirations}`,
        `evicted_keys:${stats.evictions}`,
        `keyspace_hits:${stats.hits}`,
        `keyspace_misses:${stats.misses}`,
        `ringcache_tombstones:${stats.tombstones}`,
      );
      break;
    case "keyspace":
      lines.push("# Keyspace");
      if (stats.entries > 0) {
        lines.push(`db0:keys=${stats.entries},expires=${countExpiring(a)},avg_ttl=0`);
      }
      break;
  }
  return lines;
}

/** Live entries with an expiry. O(n): only INFO asks, as redis-cli does by hand. */
function countExpiring(a: AuxiliaryCommands): number {
  let n = 0;
  let cursor = 0;
  do {
    cursor = a.store.scan(cursor, 65536, (_k, _v, _version, expiresAt, tombstone) => {
      if (!tombstone && expiresAt !== 0) n++;
    });
  } while (cursor !== 0);
  return n;
}

// The settings of each kind of node. Each table is the single source for flags, environment
// variables, YAML keys, validation and docs/configuration.md.
import { accessSync, constants } from "node:fs";
import type { Address, FieldSpec, MemberAddress } from "./fields.js";
import { ConfigError, resolveConfig, type ConfigLayers } from "./load.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const PORT = { kind: "int", min: 0, max: 65535 } as const;

/** Settings every node has. */
const COMMON_FIELDS: readonly FieldSpec[] = [
  { name: "config", kind: "string", description: "path of a YAML config file" },
  { name: "id", kind: "string", required: true, description: "unique id of this node" },
  {
    name: "host",
    kind: "host",
    default: "127.0.0.1",
    description: "address to bind (a non-loopback address requires --secret)",
  },
  {
    name: "data-dir",
    kind: "string",
    required: true,
    description: "directory for this node's files",
  },
  {
    name: "secret",
    kind: "string",
    secret: true,
    description: "shared secret: clients and internal links must AUTH with it",
  },
  {
    name: "max-clients",
    kind: "int",
    default: 10000,
    min: 1,
    max: 1_000_000,
    description: "maximum client connections",
  },
  {
    name: "idle-timeout",
    kind: "duration",
    default: 0,
    description: "close client connections idle this long (0: never)",
  },
  {
    name: "max-bulk",
    kind: "size",
    default: "16mb",
    min: 1024,
    max: 512 * 1024 * 1024,
    description: "largest RESP bulk string (key or value) accepted",
  },
  {
    name: "max-output-buffer",
    kind: "size",
    default: "64mb",
    min: 64 * 1024,
    description: "a client whose unread replies exceed this is disconnected",
  },
  {
    name: "log-level",
    kind: "enum",
    values: LOG_LEVELS,
    default: "info",
    description: "log level",
  },
];

/**
 * How masters agree (docs/design.md, "Coordination through etcd"): settings both kinds of node
 * have, since auxiliary nodes register in etcd too.
 */
const COORDINATION_FIELDS: readonly FieldSpec[] = [
  {
    name: "coordination",
    kind: "enum",
    values: ["builtin", "etcd"],
    default: "builtin",
    description:
      "how masters agree on the leader and the ring: builtin (masters poll each other; one host) or etcd (several hosts)",
  },
  {
    name: "etcd-endpoints",
    kind: "addresses",
    default: [],
    description: "etcd's client endpoints, host:port,... (required with --coordination etcd)",
  },
  {
    name: "etcd-prefix",
    kind: "string",
    default: "/ringcache/default",
    description: "prefix of this cluster's keys in etcd, /ringcache/<cluster>",
  },
  { name: "etcd-username", kind: "string", description: "etcd user (with --etcd-password)" },
  {
    name: "etcd-password",
    kind: "string",
    secret: true,
    description: "password of the etcd user",
  },
  {
    name: "etcd-ca-file",
    kind: "string",
    description: "CA certificate (PEM) that etcd's certificate is checked against: TLS to etcd",
  },
  {
    name: "etcd-cert-file",
    kind: "string",
    description: "client certificate (PEM) for etcd's mutual TLS (with --etcd-key-file)",
  },
  {
    name: "etcd-key-file",
    kind: "string",
    description: "private key (PEM) of --etcd-cert-file",
  },
  {
    name: "etcd-lease-ttl",
    kind: "duration",
    default: "3s",
    min: 2000,
    max: 3_600_000,
    description:
      "lifetime of this node's etcd lease (whole seconds) without keepalives: a leader that cannot renew it steps down within half of it",
  },
];

export const AUXILIARY_FIELDS: readonly FieldSpec[] = [
  ...COMMON_FIELDS,
  { name: "port", ...PORT, default: 7001, description: "RESP port (0: any free port)" },
  {
    name: "http-port",
    ...PORT,
    default: 9101,
    description: "HTTP port for /metrics and /healthz (0: any free port)",
  },
  {
    name: "max-memory",
    kind: "size",
    default: "256mb",
    min: 1024 * 1024,
    // The store's own limit (STORE_MAX_BYTES): checked here so a node refuses it at start.
    max: 16 * 1024 ** 3,
    description: "memory budget of the store (keys, values and per-entry overhead)",
  },
  {
    name: "max-entries",
    kind: "int",
    default: 0,
    min: 0,
    description: "maximum live entries (0: bounded by memory only)",
  },
  {
    name: "eviction",
    kind: "enum",
    values: ["lru", "noeviction"],
    default: "lru",
    description: "what to do when full: evict least recently used, or refuse writes",
  },
  {
    name: "snapshot-interval",
    kind: "duration",
    default: "10s",
    min: 100,
    description: "snapshot period when changed (also on shutdown)",
  },
  {
    name: "tombstone-ttl",
    kind: "duration",
    default: "1h",
    min: 1000,
    description:
      "how long a delete's tombstone lives (longest absence after which a node's snapshot still merges)",
  },
  {
    name: "max-tombstones",
    kind: "int",
    default: 1_000_000,
    min: 1,
    description: "maximum tombstones kept",
  },
  {
    name: "expiry-sweep-interval",
    kind: "duration",
    default: "100ms",
    min: 1,
    description: "period of the active expiry sweep",
  },
  {
    name: "expiry-sweep-checks",
    kind: "int",
    default: 200,
    min: 1,
    description: "entries sampled per expiry sweep",
  },
  {
    name: "masters",
    kind: "addresses",
    default: [],
    description: "masters' HTTP addresses to register with (host:port,...)",
  },
  {
    name: "advertise",
    kind: "string",
    description:
      "host:port the masters dial to reach this node, e.g. its DNS or service name, resolved again at every connection (default: --host and --port)",
  },
  ...COORDINATION_FIELDS,
];

export const MASTER_FIELDS: readonly FieldSpec[] = [
  ...COMMON_FIELDS,
  { name: "port", ...PORT, default: 6380, description: "client RESP port (0: any free port)" },
  { name: "http-port", ...PORT, default: 8080, description: "client HTTP port (0: any free port)" },
  {
    name: "tag",
    kind: "int",
    min: 0,
    max: 15,
    description: "clock tag 0..15, unique per master (default: from the id)",
  },
  {
    name: "auxiliary",
    kind: "members",
    default: [],
    description: "auxiliary nodes: id=host:port,...",
  },
  {
    name: "peers",
    kind: "members",
    default: [],
    description: "other masters: id=host:http-port,...",
  },
  {
    name: "replicas",
    kind: "int",
    default: 2,
    min: 1,
    max: 16,
    description: "copies of each key (capped at the number of nodes)",
  },
  {
    name: "vnodes",
    kind: "int",
    // 4096, not 160: with 160 random points a node's share varies by ~8% and the busiest of
    // 20 nodes carries ~1.14x the mean; 4096 keeps it under 1.06x (docs/benchmarks.md, Ring).
    default: 4096,
    min: 1,
    max: 16384,
    description: "virtual nodes per auxiliary node (per unit of weight)",
  },
  {
    name: "health-interval",
    kind: "duration",
    default: "1s",
    min: 10,
    description: "period of health checks",
  },
  {
    name: "health-failures",
    kind: "int",
    default: 3,
    min: 1,
    max: 100,
    description: "consecutive failed checks before a node is down",
  },
  {
    name: "request-timeout",
    kind: "duration",
    default: "500ms",
    min: 1,
    description: "deadline of a request to an auxiliary node",
  },
  {
    name: "backup-dir",
    kind: "string",
    description:
      "this master's own directory for its backup of redistributed data, read by no other master (default: <data-dir>/backup)",
  },
  {
    name: "backup-max-bytes",
    kind: "size",
    default: "256mb",
    min: 4096,
    description: "bound of this master's backup files (compacted in the background past it)",
  },
  {
    name: "tombstone-ttl",
    kind: "duration",
    default: "1h",
    min: 1000,
    description:
      "tombstone lifetime of the auxiliary nodes: older backup records are not replayed, older snapshots are dropped on rejoin",
  },
  {
    name: "rebalance-share",
    kind: "int",
    // 100: a move runs as fast as it can. Lower leaves client traffic its round trips while
    // data moves, at the move's expense (docs/benchmarks.md, Rebalancing).
    default: 100,
    min: 1,
    max: 100,
    description: "percent of the time each sender's data move may work (it rests the rest)",
  },
  {
    name: "connections-per-node",
    kind: "int",
    // One: every request of an event-loop turn leaves in one write, and every client's
    // requests keep their order. More spread large values over several sockets.
    default: 1,
    min: 1,
    max: 64,
    description: "pipelined connections to each auxiliary node",
  },
  {
    name: "max-key-size",
    kind: "size",
    default: "64kb",
    min: 1,
    description: "largest key accepted from clients",
  },
  {
    name: "max-value-size",
    kind: "size",
    default: "8mb",
    min: 1,
    description: "largest value accepted from clients (also the largest HTTP request body)",
  },
  {
    name: "max-batch-keys",
    kind: "int",
    default: 1000,
    min: 1,
    max: 1_000_000,
    description: "most keys in one HTTP batch request",
  },
  ...COORDINATION_FIELDS,
  {
    name: "advertise-host",
    kind: "host",
    description:
      "host the other masters and the auxiliary nodes use to reach this master, as registered in etcd (default: --host)",
  },
];

/** How a node reaches etcd (see COORDINATION_FIELDS). */
export interface CoordinationConfig {
  readonly coordination: "builtin" | "etcd";
  readonly etcdEndpoints: readonly Address[];
  readonly etcdPrefix: string;
  readonly etcdUsername?: string;
  readonly etcdPassword?: string;
  readonly etcdCaFile?: string;
  readonly etcdCertFile?: string;
  readonly etcdKeyFile?: string;
  readonly etcdLeaseTtl: number;
}

interface CommonConfig extends CoordinationConfig {
  readonly config?: string;
  readonly id: string;
  readonly host: string;
  readonly dataDir: string;
  readonly secret?: string;
  readonly maxClients: number;
  readonly idleTimeout: number;
  readonly maxBulk: number;
  readonly maxOutputBuffer: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly port: number;
  readonly httpPort: number;
}

export interface AuxiliaryConfig extends CommonConfig {
  readonly maxMemory: number;
  readonly maxEntries: number;
  readonly eviction: "lru" | "noeviction";
  readonly snapshotInterval: number;
  readonly tombstoneTtl: number;
  readonly maxTombstones: number;
  readonly expirySweepInterval: number;
  readonly expirySweepChecks: number;
  readonly masters: readonly Address[];
  readonly advertise?: string;
}

export interface MasterConfig extends CommonConfig {
  readonly tag?: number;
  readonly auxiliary: readonly MemberAddress[];
  readonly peers: readonly MemberAddress[];
  readonly replicas: number;
  readonly vnodes: number;
  readonly healthInterval: number;
  readonly healthFailures: number;
  readonly requestTimeout: number;
  readonly connectionsPerNode: number;
  readonly backupDir?: string;
  readonly backupMaxBytes: number;
  readonly tombstoneTtl: number;
  readonly rebalanceShare: number;
  readonly maxKeySize: number;
  readonly maxValueSize: number;
  readonly maxBatchKeys: number;
  readonly advertiseHost?: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1)$/;

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

function checkCommon(config: CommonConfig): void {
  if (!isLoopback(config.host) && config.secret === undefined) {
    throw new ConfigError(
      `refusing to bind ${config.host} (not loopback) without --secret (RINGCACHE_SECRET): set a shared secret or bind 127.0.0.1`,
    );
  }
  if (config.port !== 0 && config.port === config.httpPort) {
    throw new ConfigError(`--port and --http-port must differ (both are ${config.port})`);
  }
}

/**
 * The etcd settings hang together: endpoints with etcd, a password with a user, a key with a
 * certificate, and every file readable (a missing one stops the node now, not at its first TLS
 * handshake). Whether etcd answers is checked when the node starts.
 */
function checkCoordination(config: CoordinationConfig): void {
  if (config.coordination !== "etcd") return;
  if (config.etcdEndpoints.length === 0) {
    throw new ConfigError(
      "--coordination etcd needs --etcd-endpoints (RINGCACHE_ETCD_ENDPOINTS): etcd's client addresses, host:port,...",
    );
  }
  if (!/^\/[\x21-\x7e]*$/.test(config.etcdPrefix) || config.etcdPrefix.endsWith("/")) {
    throw new ConfigError(
      `invalid --etcd-prefix (RINGCACHE_ETCD_PREFIX): expected a path such as /ringcache/<cluster>, starting with / and not ending with one, got ${JSON.stringify(config.etcdPrefix)}`,
    );
  }
  if ((config.etcdUsername === undefined) !== (config.etcdPassword === undefined)) {
    throw new ConfigError("--etcd-username and --etcd-password go together: set both or neither");
  }
  if ((config.etcdCertFile === undefined) !== (config.etcdKeyFile === undefined)) {
    throw new ConfigError("--etcd-cert-file and --etcd-key-file go together: set both or neither");
  }
  if (config.etcdCertFile !== undefined && config.etcdCaFile === undefined) {
    throw new ConfigError("--etcd-cert-file needs --etcd-ca-file (TLS to etcd)");
  }
  const files: [string, string | undefined][] = [
    ["--etcd-ca-file", config.etcdCaFile],
    ["--etcd-cert-file", config.etcdCertFile],
    ["--etcd-key-file", config.etcdKeyFile],
  ];
  for (const [flag, path] of files) {
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
    } catch (err) {
      throw new ConfigError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
    }
  }
}

export function loadAuxiliaryConfig(layers: ConfigLayers): AuxiliaryConfig {
  const config = resolveConfig(AUXILIARY_FIELDS, layers) as unknown as AuxiliaryConfig;
  checkCommon(config);
  checkCoordination(config);
  return config;
}

export function loadMasterConfig(layers: ConfigLayers): MasterConfig {
  const config = resolveConfig(MASTER_FIELDS, layers) as unknown as MasterConfig;
  checkCommon(config);
  checkCoordination(config);
  const ids = new Set<string>();
  for (const member of config.auxiliary) {
    if (ids.has(member.id)) {
      throw new ConfigError(`--auxiliary names node "${member.id}" twice`);
    }
    ids.add(member.id);
  }
  if (config.peers.some((p) => p.id === config.id)) {
    throw new ConfigError(`--peers must not name this master's own id "${config.id}"`);
  }
  return config;
}

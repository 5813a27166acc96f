// The settings of `ringcache balancer` (NGINX in front of the masters, reloaded when their names
// resolve to new addresses): one table, like the nodes' in schema.ts, for flags, RINGCACHE_*
// variables, YAML keys, validation and docs/configuration.md.
import type { Address, FieldSpec } from "./fields.js";
import { ConfigError, resolveConfig, type ConfigLayers } from "./load.js";

const PORT = { kind: "int", min: 1, max: 65535 } as const;

export const BALANCER_FIELDS: readonly FieldSpec[] = [
  { name: "config", kind: "string", description: "path of a YAML config file" },
  {
    name: "resp",
    kind: "addresses",
    required: true,
    description: "the masters' RESP addresses (names are resolved again every --resolve-interval)",
  },
  {
    name: "http",
    kind: "addresses",
    required: true,
    description: "the masters' HTTP addresses (names are resolved again every --resolve-interval)",
  },
  {
    name: "listen-host",
    kind: "host",
    default: "127.0.0.1",
    description: "address NGINX listens on for clients (0.0.0.0: every interface)",
  },
  { name: "resp-port", ...PORT, default: 6379, description: "RESP port for clients" },
  { name: "http-port", ...PORT, default: 8088, description: "HTTP port for clients" },
  {
    name: "resolve-interval",
    kind: "duration",
    default: "5s",
    min: 100,
    max: 3_600_000,
    description:
      "how often every master's name is resolved; NGINX is reloaded when any name's addresses changed",
  },
  {
    name: "nginx",
    kind: "string",
    default: "nginx",
    description: "the nginx program: a path, or a name looked up on PATH and in /usr/sbin",
  },
  {
    name: "nginx-stream-module",
    kind: "string",
    default: "/usr/lib/nginx/modules/ngx_stream_module.so",
    description:
      "the stream module NGINX loads for RESP (Debian's libnginx-mod-stream); none: built in",
  },
  {
    name: "run-dir",
    kind: "string",
    default: "/tmp/ringcache-balancer",
    description: "directory for NGINX's configuration, pid and temporary files (one per balancer)",
  },
  {
    name: "max-body-size",
    kind: "size",
    default: "8mb",
    min: 1,
    description:
      "largest HTTP request body passed on; keep it equal to the masters' --max-value-size",
  },
  {
    name: "log-level",
    kind: "enum",
    values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"],
    default: "info",
    description: "log level",
  },
];

export interface BalancerConfig {
  readonly config?: string;
  readonly resp: readonly Address[];
  readonly http: readonly Address[];
  readonly listenHost: string;
  readonly respPort: number;
  readonly httpPort: number;
  readonly resolveInterval: number;
  readonly nginx: string;
  readonly nginxStreamModule: string;
  readonly runDir: string;
  readonly maxBodySize: number;
  readonly logLevel: string;
}

export function loadBalancerConfig(layers: ConfigLayers): BalancerConfig {
  const config = resolveConfig(BALANCER_FIELDS, layers) as unknown as BalancerConfig;
  if (config.resp.length === 0 || config.http.length === 0) {
    throw new ConfigError("--resp and --http each need at least one master's host:port");
  }
  if (config.respPort === config.httpPort) {
    throw new ConfigError(`--resp-port and --http-port must differ (both are ${config.respPort})`);
  }
  return config;
}

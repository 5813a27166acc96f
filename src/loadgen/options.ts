// The settings of `ringcache bench`, one FieldSpec each, so that every setting is a flag, a
// RINGCACHE_* variable and a key of a YAML config file like every other ringcache setting, and
// a bad value stops the run with one message that names the flag and what it allows.
import { randomInt } from "node:crypto";
import { parseAddress, type FieldSpec } from "../config/fields.js";
import { ConfigError, resolveConfig, type ConfigLayers } from "../config/load.js";
import { isLoopback } from "../config/schema.js";
import { parseDuration, parseSize } from "../config/units.js";

export type Protocol = "resp" | "http";
export type Distribution = "uniform" | "zipf";

/** The local cluster's load balancer (NGINX): stream port for RESP, http port for HTTP. */
export const DEFAULT_TARGETS: Readonly<Record<Protocol, string>> = {
  resp: "127.0.0.1:6379",
  http: "127.0.0.1:8088",
};
export const DEFAULT_DURATION_MS = 30_000;
/** With --requests and no --duration, the run still stops after this long. */
export const DEFAULT_REQUESTS_TIME_LIMIT_MS = 600_000;
export const DEFAULT_ZIPF_SKEW = 0.99;
/** Keys are `<prefix><12 decimal digits>`, like redis-benchmark's key:__rand_int__. */
export const KEY_DIGITS = 12;
export const MAX_KEYSPACE = 10 ** KEY_DIGITS;
export const MAX_VALUE_SIZE = 64 * 1024 * 1024;
const MAX_TTL_SECONDS = 2_147_483_647;
// Characters that need no escaping in a RESP bulk, an HTTP path segment or a shell.
const KEY_PREFIX = /^[A-Za-z0-9:_.-]{1,64}$/;

export const BENCH_FIELDS: readonly FieldSpec[] = [
  { name: "config", kind: "string", description: "path of a YAML config file" },
  {
    name: "protocol",
    kind: "enum",
    values: ["resp", "http"],
    default: "resp",
    description: "client protocol: RESP (the Redis protocol) or HTTP (GET/PUT /v1/keys/{key})",
  },
  {
    name: "target",
    kind: "string",
    description: `host:port to load (default: the local load balancer, ${DEFAULT_TARGETS.resp} for resp, ${DEFAULT_TARGETS.http} for http); the only address the run connects to`,
  },
  {
    name: "duration",
    kind: "duration",
    min: 100,
    max: 86_400_000,
    description: `length of the measured run (default: 30s; with --requests, an upper bound, default 10m)`,
  },
  {
    name: "requests",
    kind: "int",
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    description: "stop after this many requests instead of after --duration",
  },
  {
    name: "connections",
    kind: "int",
    default: 50,
    min: 1,
    max: 10_000,
    description: "client connections",
  },
  {
    name: "pipeline",
    kind: "int",
    default: 1,
    min: 1,
    max: 1024,
    description: "requests in flight per connection",
  },
  {
    name: "keyspace",
    kind: "int",
    default: 100_000,
    min: 1,
    max: MAX_KEYSPACE,
    description: "number of distinct keys",
  },
  {
    name: "key-prefix",
    kind: "string",
    default: "key:",
    description: "prefix of every key (1 to 64 letters, digits or : _ . -)",
  },
  {
    name: "distribution",
    kind: "enum",
    values: ["uniform", "zipf"],
    default: "uniform",
    description: "how keys are picked",
  },
  {
    name: "zipf-skew",
    kind: "string",
    description: `Zipf exponent, a number above 0 and at most 10 (default: ${DEFAULT_ZIPF_SKEW}; only with --distribution zipf)`,
  },
  {
    name: "read-ratio",
    kind: "string",
    default: "0.9",
    description:
      "share of reads (GET); the rest are writes (SET/PUT): a number from 0 to 1 or a percentage",
  },
  {
    name: "value-size",
    kind: "string",
    default: "100",
    description:
      "bytes per written value: fixed (100) or a uniform range (64-512); units allowed (1kb-4kb)",
  },
  {
    name: "ttl",
    kind: "string",
    default: "0",
    description: "TTL of written keys in seconds, or a duration such as 10m (0: none)",
  },
  {
    name: "warmup",
    kind: "bool",
    default: true,
    description: "preload every key before measuring, so reads hit (--no-warmup to skip)",
  },
  {
    name: "warmup-timeout",
    kind: "duration",
    default: "60s",
    min: 100,
    max: 86_400_000,
    description: "longest warm-up; the run then measures with the keys loaded so far",
  },
  {
    name: "timeout",
    kind: "duration",
    default: "5s",
    min: 10,
    max: 600_000,
    description: "a request unanswered this long fails, and its connection is reopened",
  },
  {
    name: "seed",
    kind: "int",
    min: 0,
    max: 4_294_967_295,
    description: "seed of the key and operation sequence (default: random; the report shows it)",
  },
  {
    name: "json",
    kind: "bool",
    default: false,
    description: "print the report as JSON (every figure) instead of text",
  },
  {
    name: "html",
    kind: "string",
    description: "also write a self-contained HTML report (charts) to this file",
  },
  {
    name: "progress",
    kind: "bool",
    default: true,
    description: "live progress line on a terminal (--no-progress to hide)",
  },
];

export interface Target {
  readonly host: string;
  readonly port: number;
  /** 127.0.0.0/8, ::1 or localhost. */
  readonly loopback: boolean;
}

export interface BenchOptions {
  readonly protocol: Protocol;
  readonly target: Target;
  /** The run stops after this long, whatever else happens. */
  readonly durationMs: number;
  /** If set, the run stops after this many requests (or durationMs, whichever comes first). */
  readonly requests?: number;
  readonly connections: number;
  readonly pipeline: number;
  readonly keyspace: number;
  readonly keyPrefix: string;
  readonly distribution: Distribution;
  /** Only meaningful for zipf. */
  readonly zipfSkew: number;
  /** In [0, 1]. */
  readonly readRatio: number;
  readonly valueSizeMin: number;
  readonly valueSizeMax: number;
  /** 0: writes carry no TTL. */
  readonly ttlSeconds: number;
  readonly warmup: boolean;
  readonly warmupTimeoutMs: number;
  readonly timeoutMs: number;
  readonly seed: number;
  readonly json: boolean;
  readonly html?: string;
  readonly progress: boolean;
}

function where(name: string): string {
  const env = `RINGCACHE_${name.toUpperCase().replace(/-/g, "_")}`;
  return `--${name} (${env}, "${name}" in the config file)`;
}

function invalid(name: string, allowed: string, got: unknown): ConfigError {
  return new ConfigError(`invalid ${where(name)}: expected ${allowed}, got ${JSON.stringify(got)}`);
}

/** "100" or "64-512" (units allowed): the inclusive range of value sizes in bytes. */
export function parseValueSize(input: string): { min: number; max: number } | undefined {
  const parts = input.split("-");
  if (parts.length > 2) return undefined;
  const min = parseSize(parts[0] ?? "");
  const max = parts.length === 2 ? parseSize(parts[1] ?? "") : min;
  if (min === undefined || max === undefined || min > max || max > MAX_VALUE_SIZE) return undefined;
  return { min, max };
}

/** "0.9", "1", "90%": a ratio in [0, 1]. */
export function parseRatio(input: string): number | undefined {
  const s = input.trim();
  const percent = s.endsWith("%");
  const body = percent ? s.slice(0, -1).trim() : s;
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(body)) return undefined;
  const value = Number(body) / (percent ? 100 : 1);
  return value >= 0 && value <= 1 ? value : undefined;
}

/** Seconds from "60" (plain numbers are seconds) or a duration with a unit ("10m"). */
export function parseTtlSeconds(input: string): number | undefined {
  const s = input.trim();
  let seconds: number | undefined;
  if (/^\d+$/.test(s)) seconds = Number(s);
  else if (/[a-z]\s*$/i.test(s)) {
    const ms = parseDuration(s);
    seconds = ms === undefined ? undefined : Math.ceil(ms / 1000);
  }
  if (seconds === undefined || !Number.isSafeInteger(seconds) || seconds > MAX_TTL_SECONDS)
    return undefined;
  return seconds;
}

export function parseTarget(input: string): Target | undefined {
  const address = parseAddress(input.trim());
  if (address === undefined) return undefined;
  return { host: address.host, port: address.port, loopback: isLoopback(address.host) };
}

interface RawBench {
  config?: string;
  protocol: Protocol;
  target?: string;
  duration?: number;
  requests?: number;
  connections: number;
  pipeline: number;
  keyspace: number;
  keyPrefix: string;
  distribution: Distribution;
  zipfSkew?: string;
  readRatio: string;
  valueSize: string;
  ttl: string;
  warmup: boolean;
  warmupTimeout: number;
  timeout: number;
  seed?: number;
  json: boolean;
  html?: string;
  progress: boolean;
}

/**
 * Resolves and validates the bench settings from flags, RINGCACHE_* variables and a config
 * file. Throws ConfigError (exit code 2 at the CLI) naming the first bad setting.
 */
export function loadBenchOptions(layers: ConfigLayers): BenchOptions {
  const raw = resolveConfig(BENCH_FIELDS, layers) as unknown as RawBench;

  const targetText = raw.target ?? DEFAULT_TARGETS[raw.protocol];
  const target = parseTarget(targetText);
  if (target === undefined) {
    throw invalid("target", "host:port (a port from 1 to 65535; [::1]:6379 for IPv6)", targetText);
  }

  if (!KEY_PREFIX.test(raw.keyPrefix)) {
    throw invalid("key-prefix", "1 to 64 letters, digits or : _ . -", raw.keyPrefix);
  }

  let zipfSkew = DEFAULT_ZIPF_SKEW;
  if (raw.zipfSkew !== undefined) {
    if (raw.distribution !== "zipf") {
      throw new ConfigError(
        `${where("zipf-skew")} only applies with --distribution zipf (the distribution is ${raw.distribution})`,
      );
    }
    const s = raw.zipfSkew.trim();
    const value = /^(\d+(\.\d*)?|\.\d+)$/.test(s) ? Number(s) : NaN;
    if (!(value > 0 && value <= 10)) {
      throw invalid("zipf-skew", "a number above 0 and at most 10, such as 0.99", raw.zipfSkew);
    }
    zipfSkew = value;
  }

  const readRatio = parseRatio(raw.readRatio);
  if (readRatio === undefined) {
    throw invalid("read-ratio", "a number from 0 to 1 (0.9) or a percentage (90%)", raw.readRatio);
  }

  const valueSize = parseValueSize(raw.valueSize);
  if (valueSize === undefined) {
    throw invalid(
      "value-size",
      "a size in bytes such as 100 or a range such as 64-512 (min <= max, at most 64mb)",
      raw.valueSize,
    );
  }

  const ttlSeconds = parseTtlSeconds(raw.ttl);
  if (ttlSeconds === undefined) {
    throw invalid(
      "ttl",
      "whole seconds such as 60, or a duration such as 10m (0: no TTL)",
      raw.ttl,
    );
  }

  const durationMs =
    raw.duration ??
    (raw.requests !== undefined ? DEFAULT_REQUESTS_TIME_LIMIT_MS : DEFAULT_DURATION_MS);

  return {
    protocol: raw.protocol,
    target,
    durationMs,
    ...(raw.requests !== undefined ? { requests: raw.requests } : {}),
    connections: raw.connections,
    pipeline: raw.pipeline,
    keyspace: raw.keyspace,
    keyPrefix: raw.keyPrefix,
    distribution: raw.distribution,
    zipfSkew,
    readRatio,
    valueSizeMin: valueSize.min,
    valueSizeMax: valueSize.max,
    ttlSeconds,
    warmup: raw.warmup,
    warmupTimeoutMs: raw.warmupTimeout,
    timeoutMs: raw.timeout,
    seed: raw.seed ?? randomInt(4_294_967_296),
    json: raw.json,
    ...(raw.html !== undefined ? { html: raw.html } : {}),
    progress: raw.progress,
  };
}

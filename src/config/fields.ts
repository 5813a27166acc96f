// Configuration fields and how each is read. Every setting of every node is one FieldSpec:
// the same name is a flag (--max-memory), an environment variable (RINGCACHE_MAX_MEMORY) and
// a key of the YAML config file (max-memory: 256mb). The field tables in schema.ts are the
// single source for parsing, validation, `--help` and docs/configuration.md.
import { isIP, isIPv6 } from "node:net";
import { z } from "zod";
import { formatDuration, formatSize, parseDuration, parseSize } from "./units.js";

export type FieldKind =
  "string" | "int" | "size" | "duration" | "bool" | "enum" | "host" | "addresses" | "members";

export interface Address {
  readonly host: string;
  readonly port: number;
}

export interface MemberAddress extends Address {
  readonly id: string;
}

export type RawValue = string | number | boolean | readonly unknown[] | Record<string, unknown>;

export interface FieldSpec {
  /** kebab-case name: flag `--name`, env `RINGCACHE_NAME`, YAML key `name`. */
  readonly name: string;
  readonly kind: FieldKind;
  readonly description: string;
  /** Used when no layer sets the field; parsed like any input. */
  readonly default?: RawValue;
  readonly required?: boolean;
  /** For "enum". */
  readonly values?: readonly string[];
  /** Inclusive bounds for "int", "size" and "duration" (in bytes / milliseconds). */
  readonly min?: number;
  readonly max?: number;
  /** Never printed: not in logs, not in error messages. */
  readonly secret?: boolean;
}

/** camelCase key of a field in the parsed configuration object. */
export function fieldKey(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function envName(name: string): string {
  return `RINGCACHE_${name.toUpperCase().replace(/-/g, "_")}`;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function splitList(input: unknown): unknown[] | undefined {
  if (Array.isArray(input)) return input as unknown[];
  if (typeof input === "string") {
    return input
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  return undefined;
}

/** A DNS label: letters, digits, hyphens inside, and underscores (container names have them). */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * A host as given: a name (resolved again whenever a connection is made), an IPv4 address, or an
 * IPv6 address with or without brackets. Returns it without brackets, or undefined.
 */
export function parseHost(input: unknown): string | undefined {
  if (typeof input !== "string") return undefined;
  const bracketed = /^\[(.*)\]$/.exec(input);
  if (bracketed !== null) return isIPv6(bracketed[1] as string) ? bracketed[1] : undefined;
  if (isIP(input) !== 0 || HOST_NAME.test(input)) return input;
  return undefined;
}

/**
 * `host:port`, where host is a name or an IPv4 address, or `[IPv6]:port`: an IPv6 address
 * needs its brackets here, else its last group would read as the port.
 */
export function parseAddress(input: unknown): Address | undefined {
  if (typeof input !== "string") return undefined;
  const at = input.lastIndexOf(":");
  if (at <= 0) return undefined;
  const hostText = input.slice(0, at);
  if (!hostText.startsWith("[") && hostText.includes(":")) return undefined;
  const host = parseHost(hostText);
  const portText = input.slice(at + 1);
  const port = Number(portText);
  if (host === undefined || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
    return undefined;
  }
  return { host, port };
}

/** `host:port` as a URL or a config file takes it: an IPv6 address in brackets. */
export function formatAddress(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function parseMember(input: unknown): MemberAddress | undefined {
  if (typeof input !== "string") return undefined;
  const eq = input.indexOf("=");
  if (eq <= 0) return undefined;
  const id = input.slice(0, eq);
  const address = parseAddress(input.slice(eq + 1));
  if (!ID.test(id) || address === undefined) return undefined;
  return { id, ...address };
}

function describeBounds(spec: FieldSpec, format: (n: number) => string): string {
  if (spec.min !== undefined && spec.max !== undefined)
    return ` from ${format(spec.min)} to ${format(spec.max)}`;
  if (spec.min !== undefined) return ` of at least ${format(spec.min)}`;
  if (spec.max !== undefined) return ` of at most ${format(spec.max)}`;
  return "";
}

/** What a field accepts, in words, for error messages and docs. */
export function describeAllowed(spec: FieldSpec): string {
  switch (spec.kind) {
    case "string":
      return "a non-empty string";
    case "int":
      return `an integer${describeBounds(spec, String)}`;
    case "size":
      return `a size such as 256mb, 64kb or a number of bytes${describeBounds(spec, formatSize)}`;
    case "duration":
      return `a duration such as 10s, 500ms or 2m${describeBounds(spec, formatDuration)}`;
    case "bool":
      return "true or false";
    case "enum":
      return `one of ${(spec.values ?? []).join(", ")}`;
    case "host":
      return "a host name or an IP address";
    case "addresses":
      return "a comma-separated list of host:port (a host name, an IPv4 address or [an IPv6 address])";
    case "members":
      return "a comma-separated list of id=host:port (ids: letters, digits, _ . -; IPv6 in brackets)";
  }
}

function bounded(spec: FieldSpec, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (spec.min !== undefined && value < spec.min) return undefined;
  if (spec.max !== undefined && value > spec.max) return undefined;
  return value;
}

function parseBool(input: unknown): boolean | undefined {
  if (typeof input === "boolean") return input;
  if (typeof input !== "string") return undefined;
  const s = input.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(s)) return true;
  if (["false", "0", "no", "off"].includes(s)) return false;
  return undefined;
}

function parseInt10(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isSafeInteger(input) ? input : undefined;
  if (typeof input !== "string" || !/^\s*-?\d+\s*$/.test(input)) return undefined;
  const n = Number(input);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseList<T>(input: unknown, item: (x: unknown) => T | undefined): T[] | undefined {
  // YAML maps of id: host:port are accepted for members.
  const list =
    input !== null && typeof input === "object" && !Array.isArray(input)
      ? Object.entries(input).map(([k, v]) => `${k}=${String(v)}`)
      : splitList(input);
  if (list === undefined) return undefined;
  const out: T[] = [];
  for (const x of list) {
    const parsed = item(x);
    if (parsed === undefined) return undefined;
    out.push(parsed);
  }
  return out;
}

/** Reads one raw value (flag string, env string or YAML value) as the field's type. */
function readField(spec: FieldSpec, input: unknown): unknown {
  switch (spec.kind) {
    case "string":
      return typeof input === "string" && input.length > 0
        ? input
        : typeof input === "number"
          ? String(input)
          : undefined;
    case "int":
      return bounded(spec, parseInt10(input));
    case "size":
      return typeof input === "string" || typeof input === "number"
        ? bounded(spec, parseSize(input))
        : undefined;
    case "duration":
      return typeof input === "string" || typeof input === "number"
        ? bounded(spec, parseDuration(input))
        : undefined;
    case "bool":
      return parseBool(input);
    case "enum":
      return typeof input === "string" && (spec.values ?? []).includes(input) ? input : undefined;
    case "host":
      return parseHost(input);
    case "addresses":
      return parseList(input, parseAddress);
    case "members":
      return parseList(input, parseMember);
  }
}

/** A zod schema for one field: reads the raw value and says what is allowed when it cannot. */
export function fieldSchema(spec: FieldSpec): z.ZodType<unknown> {
  return z.unknown().transform((input, ctx) => {
    const value = readField(spec, input);
    if (value === undefined) {
      const shown = spec.secret === true ? "" : `, got ${JSON.stringify(input)}`;
      ctx.addIssue({ code: "custom", message: `expected ${describeAllowed(spec)}${shown}` });
      return z.NEVER;
    }
    return value;
  });
}

// Layered configuration: defaults < YAML file < RINGCACHE_* environment < flags. The first
// field that cannot be read stops the start with one message that names the field (as flag,
// variable and YAML key) and what it allows; the CLI exits with code 2.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { RingcacheError } from "../errors.js";
import { describeAllowed, envName, fieldKey, fieldSchema, type FieldSpec } from "./fields.js";

export class ConfigError extends RingcacheError {
  constructor(message: string) {
    super("CONFIG", message);
    this.name = "ConfigError";
  }
}

export interface ConfigLayers {
  /** Parsed YAML document (see readConfigFile), keys in kebab-case or camelCase. */
  readonly file?: Readonly<Record<string, unknown>>;
  readonly fileName?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flag values keyed by camelCase field key (commander's style). */
  readonly flags?: Readonly<Record<string, unknown>>;
}

function where(spec: FieldSpec): string {
  return `--${spec.name} (${envName(spec.name)}, "${spec.name}" in the config file)`;
}

/** Reads a YAML config file into a plain object; a missing or malformed file is a ConfigError. */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigError(`config file ${path} must be a mapping of setting: value`);
  }
  return doc as Record<string, unknown>;
}

/**
 * Resolves every field from the layers and validates it. Returns an object keyed by camelCase
 * field keys; fields that are unset and have no default are absent.
 */
export function resolveConfig(
  fields: readonly FieldSpec[],
  layers: ConfigLayers,
): Record<string, unknown> {
  const byFileKey = new Map<string, FieldSpec>();
  for (const spec of fields) {
    byFileKey.set(spec.name, spec);
    byFileKey.set(fieldKey(spec.name), spec);
  }
  const fromFile = new Map<FieldSpec, unknown>();
  for (const [key, value] of Object.entries(layers.file ?? {})) {
    const spec = byFileKey.get(key);
    if (spec === undefined) {
      const known = fields.map((f) => f.name).join(", ");
      throw new ConfigError(
        `unknown setting "${key}" in config file ${layers.fileName ?? ""}; known settings: ${known}`,
      );
    }
    fromFile.set(spec, value);
  }

  const out: Record<string, unknown> = {};
  for (const spec of fields) {
    const key = fieldKey(spec.name);
    const flag = layers.flags?.[key];
    const env = layers.env?.[envName(spec.name)];
    const raw =
      flag !== undefined
        ? flag
        : env !== undefined && env !== ""
          ? env
          : fromFile.has(spec)
            ? fromFile.get(spec)
            : spec.default;
    if (raw === undefined) {
      if (spec.required === true) {
        throw new ConfigError(`missing required setting ${where(spec)}: ${describeAllowed(spec)}`);
      }
      continue;
    }
    const result = fieldSchema(spec).safeParse(raw);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(
        `invalid ${where(spec)}: ${issue?.message ?? z.prettifyError(result.error)}`,
      );
    }
    out[key] = result.data;
  }
  return out;
}

/** A copy of a resolved configuration that is safe to log: secret fields are masked. */
export function redactConfig(
  fields: readonly FieldSpec[],
  config: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const spec of fields) {
    const key = fieldKey(spec.name);
    if (spec.secret === true && out[key] !== undefined) out[key] = "[redacted]";
  }
  return out;
}

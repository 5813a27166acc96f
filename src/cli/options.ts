// Turns a field table into commander options, and commander's parsed options into the flag
// layer of the configuration, so every setting is a flag with the same name and help text.
import type { Command } from "commander";
import {
  describeAllowed,
  envName,
  fieldKey,
  type FieldSpec,
  type RawValue,
} from "../config/fields.js";
import { readConfigFile, type ConfigLayers } from "../config/load.js";

function showDefault(value: RawValue): string {
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.map(String).join(",");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function addFieldOptions(command: Command, fields: readonly FieldSpec[]): Command {
  for (const spec of fields) {
    const flag = spec.kind === "bool" ? `--${spec.name} [bool]` : `--${spec.name} <value>`;
    const dflt =
      spec.default === undefined || spec.secret === true
        ? ""
        : ` (default: ${showDefault(spec.default)})`;
    command.option(
      flag,
      `${spec.description}; ${describeAllowed(spec)}${dflt} [${envName(spec.name)}]`,
    );
  }
  return command;
}

/** The configuration layers for a parsed command: its flags, the environment and --config. */
export function layersFrom(
  command: Command,
  fields: readonly FieldSpec[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): ConfigLayers {
  const opts = command.opts<Record<string, unknown>>();
  const flags: Record<string, unknown> = {};
  for (const spec of fields) {
    const key = fieldKey(spec.name);
    const value = opts[key];
    if (value !== undefined) flags[key] = value === true && spec.kind === "bool" ? "true" : value;
  }
  const configPath = typeof flags["config"] === "string" ? flags["config"] : env[envName("config")];
  if (configPath === undefined || configPath === "") return { flags, env };
  return { flags, env, file: readConfigFile(configPath), fileName: configPath };
}

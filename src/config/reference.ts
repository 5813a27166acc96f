// docs/configuration.md, generated from the field tables so the reference cannot drift from
// what the nodes accept. `npm run gen:docs` rewrites it; a test checks it is current.
import { formatDuration, formatSize } from "./units.js";
import { describeAllowed, envName, type FieldSpec, type RawValue } from "./fields.js";
import { BALANCER_FIELDS } from "./balancer.js";
import { AUXILIARY_FIELDS, MASTER_FIELDS } from "./schema.js";

function showDefault(spec: FieldSpec, value: RawValue | undefined): string {
  if (value === undefined) return spec.required === true ? "(required)" : "";
  if (spec.secret === true) return "";
  if (Array.isArray(value)) return value.length === 0 ? "(none)" : value.map(String).join(",");
  if (typeof value === "number" && spec.kind === "size") return formatSize(value);
  if (typeof value === "number" && spec.kind === "duration") return formatDuration(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function table(fields: readonly FieldSpec[]): string {
  const rows = fields.map(
    (f) =>
      `| \`--${f.name}\` | \`${envName(f.name)}\` | ${showDefault(f, f.default)} | ${f.description}; ${describeAllowed(f)} |`,
  );
  return [
    "| flag / YAML key | environment | default | meaning |",
    "| --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}

export function renderConfigReference(): string {
  return `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run gen:docs\`; edit the schema, not this file. -->

Every setting of every node (and of the balancer) can be given three ways, and the first that is set wins:

1. a flag: \`ringcache auxiliary --max-memory 512mb\`
2. an environment variable: \`RINGCACHE_MAX_MEMORY=512mb\`
3. a key in the YAML file named by \`--config\` (or \`RINGCACHE_CONFIG\`): \`max-memory: 512mb\`

and otherwise the default applies. Sizes take \`b\`, \`kb\`, \`mb\`, \`gb\` (binary multiples);
durations take \`ms\`, \`s\`, \`m\`, \`h\`, \`d\`. Lists of nodes are \`id=host:port,...\` on the
command line and either that string, a YAML list of such strings, or a YAML map \`id: host:port\`
in a file.

A bad value stops the node at start with one message naming the setting and what it allows,
and exit code 2. A node refuses to bind a non-loopback address without \`--secret\`.

Secrets are never printed: not in logs, not in error messages.

Wrong secrets (RESP \`AUTH\`, \`HELLO ... AUTH\`, the master's HTTP \`Bearer\` token) are answered
later each time, per client address (reconnecting keeps the delay): the n-th wrong secret of an
address within a minute is answered n x 100 ms after the previous one (at most 2 s apart).

## Auxiliary node (\`ringcache auxiliary\`)

${table(AUXILIARY_FIELDS)}

## Master (\`ringcache master\`)

${table(MASTER_FIELDS)}

## Balancer (\`ringcache balancer\`)

NGINX in front of the masters. It resolves every master's name each \`--resolve-interval\` and
reloads NGINX (SIGHUP: same process, new workers) when a name's addresses changed, so NGINX
follows masters that move whatever its version (docs/design.md, "Names, not addresses").

${table(BALANCER_FIELDS)}

## Example

\`\`\`yaml
# auxiliary.yaml — ringcache auxiliary --config auxiliary.yaml
id: a1
port: 7001
http-port: 9101
data-dir: /var/lib/ringcache/a1
max-memory: 1gb
eviction: lru
snapshot-interval: 10s
masters: 10.0.0.10:8080,10.0.0.11:8080
\`\`\`
`;
}

// INFO's grammar and format as Redis 7 writes them (docs/design.md, "Client interfaces"):
// `INFO [section ...]`, where all, default and everything name every section, unknown names
// are ignored, and the reply is the sections' "# Title" and "field:value" lines, CRLF
// terminated, a blank line between sections.

/** The sections `INFO [section ...]` asks for, among `known`, in `known`'s order. */
export function infoSections<S extends string>(args: readonly Buffer[], known: readonly S[]): S[] {
  if (args.length <= 1) return known.slice();
  const asked = new Set<string>();
  for (let i = 1; i < args.length; i++) {
    asked.add((args[i] as Buffer).toString("latin1").toLowerCase());
  }
  if (asked.has("all") || asked.has("default") || asked.has("everything")) return known.slice();
  return known.filter((s) => asked.has(s));
}

/** INFO's text of sections given as lines ("# Title" first). */
export function formatInfo(sections: readonly (readonly string[])[]): string {
  return sections.map((lines) => `${lines.join("\r\n")}\r\n`).join("\r\n");
}

/** Redis's bytesToHuman: B, K, M, G with two decimals. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(2)}K`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(2)}M`;
  return `${(n / 1024 ** 3).toFixed(2)}G`;
}

// Redis's glob patterns (stringmatch: `*`, `?`, `[...]`, `\` escapes), case-insensitive, as
// CONFIG GET matches setting names (docs/design.md, "Client interfaces").

/** Whether `text` matches the Redis-style glob `pattern`, ignoring case. */
export function globMatch(pattern: string, text: string): boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body.startsWith("^")) body = `^${body.slice(1)}`;
        re += `[${body}]`;
        i = end;
      }
    } else if (ch === "\\" && i + 1 < pattern.length) {
      re += (pattern[++i] as string).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    } else re += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  try {
    return new RegExp(`${re}$`, "is").test(text);
  } catch {
    return false;
  }
}

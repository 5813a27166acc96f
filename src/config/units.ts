// Human units in configuration: sizes ("256mb", "1.5gb", "4096") and durations ("10s",
// "500ms", "2m"). Pure functions; they return undefined on anything they cannot read, and the
// caller names the field in its error.

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const QUANTITY = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

function parseQuantity(
  input: string | number,
  units: Readonly<Record<string, number>>,
): number | undefined {
  if (typeof input === "number") {
    return Number.isFinite(input) && input >= 0 ? Math.floor(input) : undefined;
  }
  const match = QUANTITY.exec(input);
  if (match === null) return undefined;
  const factor = units[(match[2] ?? "").toLowerCase()];
  if (factor === undefined) return undefined;
  const value = Math.floor(Number(match[1]) * factor);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** Bytes from "256mb", "64 KiB", "1.5g" or a plain number of bytes (binary multiples). */
export function parseSize(input: string | number): number | undefined {
  return parseQuantity(input, SIZE_UNITS);
}

/** Milliseconds from "10s", "500ms", "2m", "1h", "1d" or a plain number of milliseconds. */
export function parseDuration(input: string | number): number | undefined {
  return parseQuantity(input, DURATION_UNITS);
}

/** "256mb"-style rendering for help texts and docs. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [
    ["gb", 1024 ** 3],
    ["mb", 1024 ** 2],
    ["kb", 1024],
  ] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}b`;
}

/** "10s"-style rendering for help texts and docs. */
export function formatDuration(ms: number): string {
  for (const [unit, factor] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    if (ms >= factor && ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

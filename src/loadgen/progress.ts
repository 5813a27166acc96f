// The live progress line: one line on a terminal, rewritten in place with "\r" and an ANSI
// erase, never written when the stream is not a TTY (pipes and files get only the report).
import { formatCount } from "./report.js";
import type { ProgressInfo } from "./runner.js";

const ERASE_LINE = "\r\x1b[2K";

export function formatProgress(info: ProgressInfo): string {
  const elapsed = `${(info.elapsedMs / 1000).toFixed(1)}s`;
  const errors = `${formatCount(info.errors)} errors`;
  const rate = formatCount(info.opsPerSec);
  if (info.phase === "warmup") {
    const pct = info.keyspace > 0 ? Math.floor((info.loaded * 100) / info.keyspace) : 100;
    return `warm-up ${pct}%  ${formatCount(info.loaded)}/${formatCount(info.keyspace)} keys  ${rate} SET/s  ${errors}  ${elapsed}`;
  }
  const limit =
    info.requestsLimit !== null
      ? `${formatCount(info.requests)}/${formatCount(info.requestsLimit)} requests`
      : `${formatCount(info.requests)} requests`;
  const of = info.requestsLimit !== null ? "" : `/${Math.round(info.limitMs / 1000)}s`;
  return `run ${elapsed}${of}  ${rate} ops/s  ${limit}  ${errors}`;
}

export class ProgressLine {
  private readonly stream: NodeJS.WriteStream;
  private shown = false;

  private constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
  }

  /** A progress line on `stream` if it is a terminal, else undefined. */
  static on(stream: NodeJS.WriteStream): ProgressLine | undefined {
    return stream.isTTY ? new ProgressLine(stream) : undefined;
  }

  update(info: ProgressInfo): void {
    const width = Math.max((this.stream.columns || 80) - 1, 20);
    this.stream.write(ERASE_LINE + formatProgress(info).slice(0, width));
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write(ERASE_LINE);
    this.shown = false;
  }
}

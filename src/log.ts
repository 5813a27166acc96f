// Structured logs (pino, JSON lines). Secrets never reach a log line: fields named like a
// secret are redacted, and configuration is logged through redactConfig.
import { pino, type Logger } from "pino";

export type { Logger };

export interface LoggerOptions {
  readonly level?: string;
  /** Node identity stamped on every line. */
  readonly node: string;
  readonly role: "master" | "auxiliary" | "balancer" | "cli";
  /** A file descriptor or path; default stdout. */
  readonly destination?: number | string;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = pino.destination({
    dest: options.destination ?? 1,
    sync: false,
    mkdir: typeof options.destination === "string",
  });
  return pino(
    {
      level: options.level ?? process.env["RINGCACHE_LOG_LEVEL"] ?? "info",
      base: { node: options.node, role: options.role, pid: process.pid },
      redact: {
        paths: ["secret", "*.secret", "password", "*.password", "auth", "*.auth"],
        censor: "[redacted]",
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/** Flushes pino's asynchronous destination before the process exits. */
export function flushLogger(logger: Logger): void {
  try {
    logger.flush();
  } catch {
    // A closed destination has nothing left to flush.
  }
}

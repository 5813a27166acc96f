// Runs a node in the foreground: start it, stop it gracefully on SIGTERM/SIGINT within a
// deadline, and exit only once the asynchronous logs are written. Shared by every server role.
import { RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";

export interface ServedNode {
  start(): Promise<void>;
  stop(reason: string): Promise<void>;
}

/** Serves until a signal stops the node; the process exits from here (never returns normally). */
export async function serveUntilSignal(
  node: ServedNode,
  logger: Logger,
  stopDeadlineMs: number,
): Promise<never> {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const deadline = setTimeout(() => {
      logger.error({ signal }, "graceful stop took too long; exiting");
      exitAfterLogs(logger, 1);
    }, stopDeadlineMs);
    deadline.unref();
    node.stop(signal).then(
      () => exitAfterLogs(logger, 0),
      (err: unknown) => {
        logger.error({ err }, "stop failed");
        exitAfterLogs(logger, 1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  try {
    await node.start();
  } catch (err) {
    // A setting found wrong only at start (etcd unreachable, credentials refused) is a bad
    // configuration like any other: one message, exit code 2.
    if (err instanceof RingcacheError && err.code === "CONFIG") {
      logger.fatal({ err: err.message }, "cannot start: bad configuration");
      console.error(`ringcache: ${err.message}`);
      exitAfterLogs(logger, 2);
    } else {
      logger.fatal({ err }, "cannot start");
      exitAfterLogs(logger, 1);
    }
  }
  // Serve until a signal stops the node (stop() exits the process).
  return new Promise<never>(() => {});
}

/** Exits once the asynchronous log destination has written what it holds. */
function exitAfterLogs(logger: Logger, code: number): void {
  const exit = (): never => process.exit(code);
  setTimeout(exit, 1000).unref();
  try {
    logger.flush(() => exit());
  } catch {
    exit();
  }
}

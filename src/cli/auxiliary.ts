// `ringcache auxiliary`: one data node. Every setting is a flag, a RINGCACHE_* variable and a
// YAML key (config/schema.ts); bad configuration stops it with one message and exit code 2.
// The node's code is loaded only when this command runs.
import { Command } from "commander";
import { AUXILIARY_FIELDS, loadAuxiliaryConfig } from "../config/schema.js";
import { redactConfig } from "../config/load.js";
import { createLogger, type Logger } from "../log.js";
import { addFieldOptions, layersFrom } from "./options.js";

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 60_000;

export function auxiliaryCommand(): Command {
  const command = new Command("auxiliary").description(
    "run an auxiliary (data) node: an LRU store served over RESP, snapshotted to --data-dir",
  );
  addFieldOptions(command, AUXILIARY_FIELDS);
  command.action(async () => {
    const config = loadAuxiliaryConfig(layersFrom(command, AUXILIARY_FIELDS));
    const logger = createLogger({ node: config.id, role: "auxiliary", level: config.logLevel });
    logger.info(
      { config: redactConfig(AUXILIARY_FIELDS, config as unknown as Record<string, unknown>) },
      "starting",
    );
    const { AuxiliaryNode } = await import("../auxiliary/node.js");
    const node = new AuxiliaryNode({ config, logger });
    let stopped: Promise<void> | undefined;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopped !== undefined) return;
      const deadline = setTimeout(() => {
        logger.error({ signal }, "graceful stop took too long; exiting");
        exitAfterLogs(logger, 1);
      }, STOP_DEADLINE_MS);
      deadline.unref();
      stopped = node.stop(signal).then(
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
      logger.fatal({ err }, "cannot start");
      exitAfterLogs(logger, 1);
      return;
    }
    // Serve until a signal stops the node (stop() exits the process).
    await new Promise<never>(() => {});
  });
  return command;
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

// `ringcache master`: one router node. Every setting is a flag, a RINGCACHE_* variable and a
// YAML key (config/schema.ts); bad configuration stops it with one message and exit code 2.
// The master's code is loaded only when this command runs.
import { Command } from "commander";
import { redactConfig } from "../config/load.js";
import { MASTER_FIELDS, loadMasterConfig } from "../config/schema.js";
import { createLogger, type Logger } from "../log.js";
import { addFieldOptions, layersFrom } from "./options.js";

/** Longest a graceful stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 15_000;

export function masterCommand(): Command {
  const command = new Command("master").description(
    "run a master (router) node: RESP and HTTP for clients, keys routed over the ring of auxiliary nodes",
  );
  addFieldOptions(command, MASTER_FIELDS);
  command.action(async () => {
    const config = loadMasterConfig(layersFrom(command, MASTER_FIELDS));
    const logger = createLogger({ node: config.id, role: "master", level: config.logLevel });
    logger.info(
      { config: redactConfig(MASTER_FIELDS, config as unknown as Record<string, unknown>) },
      "starting",
    );
    const { MasterNode } = await import("../master/node.js");
    const node = new MasterNode({ config, logger });
    let stopped = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopped) return;
      stopped = true;
      const deadline = setTimeout(() => {
        logger.error({ signal }, "graceful stop took too long; exiting");
        exitAfterLogs(logger, 1);
      }, STOP_DEADLINE_MS);
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

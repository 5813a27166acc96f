// `ringcache master`: one router node. Every setting is a flag, a RINGCACHE_* variable and a
// YAML key (config/schema.ts); bad configuration stops it with one message and exit code 2.
// The master's code is loaded only when this command runs.
import { Command } from "commander";
import { redactConfig } from "../config/load.js";
import { MASTER_FIELDS, loadMasterConfig } from "../config/schema.js";
import { createLogger } from "../log.js";
import { addFieldOptions, layersFrom } from "./options.js";
import { serveUntilSignal } from "./serve.js";

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
    await serveUntilSignal(node, logger, STOP_DEADLINE_MS);
  });
  return command;
}

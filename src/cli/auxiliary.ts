// `ringcache auxiliary`: one data node. Every setting is a flag, a RINGCACHE_* variable and a
// YAML key (config/schema.ts); bad configuration stops it with one message and exit code 2.
// The node's code is loaded only when this command runs.
import { Command } from "commander";
import { AUXILIARY_FIELDS, loadAuxiliaryConfig } from "../config/schema.js";
import { redactConfig } from "../config/load.js";
import { createLogger } from "../log.js";
import { addFieldOptions, layersFrom } from "./options.js";
import { serveUntilSignal } from "./serve.js";

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
    await serveUntilSignal(node, logger, STOP_DEADLINE_MS);
  });
  return command;
}

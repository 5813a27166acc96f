// An auxiliary node's command registry: one line per family
// (docs/design.md, "Master ↔ auxiliary protocol"). A new family is a file that adds its
// commands and one `include` here.
import { unknownCommand } from "../../redis/errors.js";
import { CommandRegistry } from "../../redis/registry.js";
import { connectionCommands } from "../../server/common-commands.js";
import type { AuxiliaryCommands, AuxiliaryHandler } from "./dispatcher.js";
import { internalCommands } from "./internal.js";
import { keyScanCommands } from "./keyscan.js";
import { keyspaceCommands } from "./keyspace.js";
import { serverCommands } from "./server.js";
import { stringCommands } from "./strings.js";

/** Unknown commands count under "unknown" in the metrics. */
const unknown: AuxiliaryHandler = (_a, _conn, args) => {
  throw unknownCommand(args);
};

/** Every command an auxiliary node answers, ids in registration order. */
export function auxiliaryRegistry(): CommandRegistry<AuxiliaryHandler> {
  return new CommandRegistry<AuxiliaryHandler>("unknown", unknown)
    .include(connectionCommands<AuxiliaryCommands>)
    .include(stringCommands)
    .include(keyspaceCommands)
    .include(serverCommands)
    .include(internalCommands)
    .include(keyScanCommands);
}

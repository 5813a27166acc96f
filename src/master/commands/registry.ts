// The master's command registry: one line per family (docs/design.md, "Client interfaces").
// A new family is a file that adds its commands and one `include` here.
import { unknownCommand } from "../../redis/errors.js";
import { CommandRegistry } from "../../redis/registry.js";
import { connectionCommands } from "../../server/common-commands.js";
import type { MasterContext, MasterHandler } from "./context.js";
import { keysCommands } from "./keys.js";
import { keyspaceCommands } from "./keyspace.js";
import { serverCommands } from "./server.js";
import { stringCommands } from "./strings.js";

/** Unknown commands count under "other" in the metrics. */
const unknown: MasterHandler = (_m, _conn, args) => {
  throw unknownCommand(args);
};

/** Every command a master answers, ids in registration order. */
export function masterRegistry(): CommandRegistry<MasterHandler> {
  return new CommandRegistry<MasterHandler>("other", unknown)
    .include(stringCommands)
    .include(keyspaceCommands)
    .include(serverCommands)
    .include(keysCommands)
    .include(connectionCommands<MasterContext>);
}

// FLUSHALL's one optional argument, ASYNC or SYNC (docs/design.md, "Client interfaces"). Both
// flush the same way here; anything else is Redis's syntax error.
import { lower, syntaxError } from "./errors.js";

/** Checks `FLUSHALL [ASYNC|SYNC]`; throws Redis's syntax error otherwise. */
export function checkFlushAllArgs(args: readonly Buffer[]): void {
  if (args.length > 2) throw syntaxError();
  if (args.length === 2) {
    const mode = lower(args[1] as Buffer);
    if (mode !== "async" && mode !== "sync") throw syntaxError();
  }
}

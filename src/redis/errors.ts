// The error texts Redis 7 answers for any command (docs/design.md, "Client interfaces"): wrong
// arity, unknown command, syntax error. Each command's own texts live with its grammar.
import { RingcacheError } from "../errors.js";

/** Redis's wrong-arity error; `name` is the lower-cased command (or "command|sub"). */
export function arityError(name: string): RingcacheError {
  return new RingcacheError("BAD_REQUEST", `wrong number of arguments for '${name}' command`);
}

/**
 * Commands that make a server send messages nobody asked for (RESP3 push frames, or RESP2's
 * subscribed mode): ringcache sends none, so these answer pushUnsupported at once instead of
 * leaving a client waiting for messages. docs/design.md, "Client interfaces" lists them.
 */
const PUSH_COMMANDS = new Set([
  "subscribe",
  "unsubscribe",
  "psubscribe",
  "punsubscribe",
  "ssubscribe",
  "sunsubscribe",
  "publish",
  "spublish",
  "pubsub",
  "monitor",
]);

/** The error of a push feature (pub/sub, MONITOR, CLIENT TRACKING …): `what` as the client said it. */
export function pushUnsupported(what: string): RingcacheError {
  return new RingcacheError(
    "UNKNOWN_COMMAND",
    `${what.slice(0, 128)} is not supported: ringcache sends no push messages (no pub/sub, MONITOR or client tracking)`,
  );
}

/**
 * Redis's unknown-command error, quoting the name and the first arguments as Redis does; a
 * push command (SUBSCRIBE, MONITOR …) gets pushUnsupported instead.
 */
export function unknownCommand(args: readonly Buffer[]): RingcacheError {
  const name = (args[0] ?? Buffer.alloc(0)).toString("latin1").slice(0, 128);
  if (PUSH_COMMANDS.has(name.toLowerCase())) return pushUnsupported(name.toUpperCase());
  let tail = "";
  for (let i = 1; i < args.length && tail.length < 128; i++) {
    tail += `'${(args[i] as Buffer).toString("latin1").slice(0, 128)}' `;
  }
  return new RingcacheError(
    "UNKNOWN_COMMAND",
    `unknown command '${name}', with args beginning with: ${tail}`,
  );
}

/** Redis's "syntax error". */
export function syntaxError(): RingcacheError {
  return new RingcacheError("BAD_REQUEST", "syntax error");
}

/** An argument as Redis quotes it in errors: lower-cased latin1 text. */
export function lower(b: Buffer): string {
  return b.toString("latin1").toLowerCase();
}

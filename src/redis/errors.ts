// The error texts Redis 7 answers for any command (docs/design.md, "Client interfaces"): wrong
// arity, unknown command, syntax error. Each command's own texts live with its grammar.
import { RingcacheError } from "../errors.js";

/** Redis's wrong-arity error; `name` is the lower-cased command (or "command|sub"). */
export function arityError(name: string): RingcacheError {
  return new RingcacheError("BAD_REQUEST", `wrong number of arguments for '${name}' command`);
}

/** Redis's unknown-command error, quoting the name and the first arguments as Redis does. */
export function unknownCommand(args: readonly Buffer[]): RingcacheError {
  const name = (args[0] ?? Buffer.alloc(0)).toString("latin1").slice(0, 128);
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

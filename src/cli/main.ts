// Entry point of the `ringcache` binary. Subcommands that start servers load their modules
// only when run, so `ringcache --help` stays fast.
import { Command, CommanderError } from "commander";
import { RingcacheError } from "../errors.js";
import { RINGCACHE_VERSION } from "../redis/version.js";
import { auxiliaryCommand } from "./auxiliary.js";
import { balancerCommand } from "./balancer.js";
import { masterCommand } from "./master.js";
import { statusCommand } from "./status.js";
import { upCommand } from "./up.js";

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("ringcache")
    .description(
      "A distributed, fault-tolerant cache: masters route keys over a consistent-hash ring to auxiliary LRU nodes.",
    )
    .version(RINGCACHE_VERSION)
    .exitOverride()
    .showHelpAfterError();

  program.addCommand(auxiliaryCommand());
  program.addCommand(masterCommand());
  program.addCommand(upCommand());
  program.addCommand(statusCommand());
  program.addCommand(balancerCommand());
  let exitCode = 0;
  // The bench command parses its own flags (and --help) in its module, loaded only when used.
  program
    .command("bench")
    .description("load-test a cluster (RESP or HTTP)")
    .usage("[options]")
    .addHelpText("after", "\nEvery option: ringcache bench --help")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (_options: unknown, command: Command) => {
      const { runBenchCommand } = await import("./bench.js");
      exitCode = await runBenchCommand(command.args);
    });
  for (const command of program.commands) command.exitOverride();

  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof RingcacheError && err.code === "CONFIG") {
      console.error(`ringcache: ${err.message}`);
      return 2;
    }
    if (err instanceof RingcacheError) {
      console.error(`ringcache: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

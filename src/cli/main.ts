// Entry point of the `ringcache` binary. Each subcommand lives in its own module and is
// loaded only when used, so `ringcache --help` stays fast.
import { Command, CommanderError } from "commander";

const VERSION = "0.1.0";

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command("ringcache")
    .description(
      "A distributed, fault-tolerant cache: masters route keys over a consistent-hash ring to auxiliary LRU nodes.",
    )
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError();

  program.command("auxiliary").description("run an auxiliary (data) node").allowUnknownOption();
  program.command("master").description("run a master (router) node").allowUnknownOption();
  program
    .command("up")
    .description("start a local cluster of masters and auxiliary nodes")
    .allowUnknownOption();
  program.command("status").description("show the cluster view of a master").allowUnknownOption();
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

  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
}

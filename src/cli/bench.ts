// `ringcache bench`: flags → validated options → a run → the report on stdout (text or
// JSON), an optional HTML file, and the progress line on stderr when it is a terminal.
// Exit codes: 0 done, 1 the target could not be loaded (unreachable, nothing succeeded),
// 2 bad flags or settings.
import { Command, CommanderError } from "commander";
import { accessSync, constants, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { renderHtml } from "../loadgen/html.js";
import {
  BENCH_FIELDS,
  DEFAULT_TARGETS,
  loadBenchOptions,
  type BenchOptions,
} from "../loadgen/options.js";
import { ProgressLine } from "../loadgen/progress.js";
import { formatText } from "../loadgen/report.js";
import { BenchRun } from "../loadgen/runner.js";
import { describeAllowed, envName, type RawValue } from "../config/fields.js";
import { ConfigError } from "../config/load.js";
import { RingcacheError } from "../errors.js";
import { layersFrom } from "./options.js";

export interface BenchIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WriteStream;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const EXAMPLES = `
Examples:
  ringcache bench                                   # RESP, local load balancer ${DEFAULT_TARGETS.resp}, 30s
  ringcache bench --protocol http --duration 10s    # HTTP, local load balancer ${DEFAULT_TARGETS.http}
  ringcache bench --target 127.0.0.1:6380 --pipeline 16 --distribution zipf --zipf-skew 1.1
  ringcache bench --requests 1000000 --value-size 64-512 --read-ratio 0.5 --json > run.json
  ringcache bench --duration 60s --html report.html

Only the target is ever contacted: the default is loopback, anything else must be named.
Latencies are measured from the write of a request to the arrival of its reply; with
--pipeline N each connection keeps N requests in flight.`;

function showDefault(value: RawValue): string {
  if (Array.isArray(value)) return value.map(String).join(",");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function createCommand(io: BenchIo): Command {
  const command = new Command("ringcache bench")
    .description("Load-test a ringcache cluster (or any RESP / HTTP key-value server).")
    .exitOverride()
    .allowExcessArguments(false)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .showHelpAfterError("(run ringcache bench --help for the flags)");
  for (const spec of BENCH_FIELDS) {
    const flag = spec.kind === "bool" ? `--${spec.name} [bool]` : `--${spec.name} <value>`;
    // String settings with their own syntax say so in their description.
    const allowed = spec.kind === "string" ? "" : `; ${describeAllowed(spec)}`;
    const dflt = spec.default === undefined ? "" : ` (default: ${showDefault(spec.default)})`;
    command.option(flag, `${spec.description}${allowed}${dflt} [${envName(spec.name)}]`);
  }
  command.option("--no-warmup", "skip the warm-up");
  command.option("--no-progress", "no progress line");
  command.addHelpText("after", EXAMPLES);
  return command;
}

/** The HTML report's directory must exist and be writable before a run spends its time. */
function checkHtmlPath(path: string): void {
  const dir = dirname(resolve(path));
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new ConfigError(
      `invalid --html (RINGCACHE_HTML, "html" in the config file): cannot write into ${dir}: ${(err as Error).message}`,
    );
  }
}

/** A reader that went away (`ringcache bench --json | head`) is no error worth a stack trace. */
function ignoreClosedPipe(stream: NodeJS.WritableStream): void {
  if (stream.listenerCount("error") > 0) return;
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}

export async function runBenchCommand(
  args: readonly string[],
  io: BenchIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  ignoreClosedPipe(io.stdout);
  const command = createCommand(io);
  try {
    command.parse([...args], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }

  let options: BenchOptions;
  try {
    options = loadBenchOptions(layersFrom(command, BENCH_FIELDS, io.env));
    if (options.html !== undefined) checkHtmlPath(options.html);
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`ringcache bench: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  if (!options.target.loopback) {
    io.stderr.write(
      `ringcache bench: loading ${options.target.host}:${options.target.port}, which is not a loopback address (named by --target)\n`,
    );
  }

  const progress = options.progress ? ProgressLine.on(io.stderr) : undefined;
  const run = new BenchRun(
    options,
    progress !== undefined ? { onProgress: (info) => progress.update(info) } : {},
  );
  // The first Ctrl-C ends the run and still prints the report; a second one exits at once.
  let interrupts = 0;
  const interrupt = (): void => {
    if (++interrupts > 1) process.exit(130);
    run.stop("interrupted");
  };
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  let report;
  try {
    report = await run.run();
  } catch (err) {
    progress?.clear();
    if (err instanceof RingcacheError && err.code === "UNAVAILABLE") {
      io.stderr.write(`ringcache bench: ${err.message}\n`);
      return 1;
    }
    throw err;
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
  progress?.clear();

  io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatText(report));
  if (options.html !== undefined) {
    writeFileSync(options.html, renderHtml(report));
    io.stderr.write(`ringcache bench: wrote the HTML report to ${options.html}\n`);
  }
  if (report.totals.ok === 0) {
    io.stderr.write("ringcache bench: no request succeeded\n");
    return 1;
  }
  return 0;
}

// Real node processes for integration and fault tests: `ringcache <role> ...` started with
// `node bin/ringcache.js`, its output kept in a log file, and the signals a fault test needs
// (kill -9, SIGSTOP/SIGCONT, SIGTERM) plus restart with the same arguments.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dirname, "..", "..", "..");
export const BIN = join(REPO_ROOT, "bin", "ringcache.js");
/**
 * Extra flags for every node started here, e.g. `RINGCACHE_NODE_FLAGS="--cpu-prof
 * --cpu-prof-dir=/tmp/prof"` to profile a benchmark's nodes (Node refuses --cpu-prof in
 * NODE_OPTIONS).
 */
const NODE_FLAGS = (process.env["RINGCACHE_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "");

/** A fresh temporary directory for one test's data. */
export function tempDir(prefix = "ringcache-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * How a process is launched. `prefix` is a command that runs the rest in place (`ip netns exec
 * <ns>` sets the namespace and execs), so the child's pid stays the program's own: signals
 * reach the program, not a wrapper. `program` replaces `node bin/ringcache.js` (e.g. etcd).
 */
export interface LaunchOptions {
  readonly prefix?: readonly string[];
  readonly program?: readonly string[];
}

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class NodeProcess {
  readonly name: string;
  readonly args: readonly string[];
  readonly logPath: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly argv: readonly string[];
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<ExitInfo> | undefined;

  constructor(
    name: string,
    args: readonly string[],
    logDir: string,
    env: NodeJS.ProcessEnv = {},
    launch: LaunchOptions = {},
  ) {
    this.name = name;
    this.args = args;
    this.logPath = join(logDir, `${name}.log`);
    this.env = env;
    this.argv = [
      ...(launch.prefix ?? []),
      ...(launch.program ?? [process.execPath, ...NODE_FLAGS, BIN]),
      ...args,
    ];
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  start(): this {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.log = createWriteStream(this.logPath, { flags: "a" });
    const [file, ...rest] = this.argv as [string, ...string[]];
    const child = spawn(file, rest, {
      cwd: REPO_ROOT,
      env: { ...process.env, RINGCACHE_LOG_LEVEL: "info", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exited = new Promise((resolveExit) => {
      child.once("exit", (code, signal) => resolveExit({ code, signal }));
    });
    this.child = child;
    return this;
  }

  /** Sends a signal; resolves with the exit for terminating signals. */
  signal(sig: NodeJS.Signals): void {
    if (this.child?.pid !== undefined && this.running) process.kill(this.child.pid, sig);
  }

  async kill9(): Promise<ExitInfo> {
    this.signal("SIGKILL");
    return this.waitExit();
  }

  async terminate(timeoutMs = 15_000): Promise<ExitInfo> {
    this.signal("SIGCONT");
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), timeoutMs);
    try {
      return await this.waitExit();
    } finally {
      clearTimeout(timer);
    }
  }

  pause(): void {
    this.signal("SIGSTOP");
  }

  resume(): void {
    this.signal("SIGCONT");
  }

  async waitExit(): Promise<ExitInfo> {
    if (this.exited === undefined) return { code: null, signal: null };
    const info = await this.exited;
    this.log?.end();
    return info;
  }

  async restart(): Promise<this> {
    if (this.running) await this.terminate();
    return this.start();
  }

  /**
   * The JSON lines of the log whose msg is `msg`, in the order the node wrote them. A line can
   * reach the file a moment after the node acted on it: wait for it rather than read once.
   */
  logEvents(msg: string): (Record<string, unknown> & { time: string })[] {
    const out: (Record<string, unknown> & { time: string })[] = [];
    for (const line of this.logText().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const entry = JSON.parse(line) as Record<string, unknown> & { time: string };
        if (entry["msg"] === msg) out.push(entry);
      } catch {
        // The last line, still being written (or cut by kill -9).
      }
    }
    return out;
  }

  logText(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }
}

/** Runs `ringcache ...args` to completion and returns its exit code and output. */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("exit", (code) => resolveRun({ code, stdout, stderr }));
  });
}

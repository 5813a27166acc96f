// `ringcache up` run as a user runs it: its own process group, its output kept, ready once it
// prints its table of endpoints, stopped by a Ctrl-C to the whole group.
import { spawn, type ChildProcess } from "node:child_process";
import { BIN, REPO_ROOT } from "./process.js";
import { waitFor } from "./wait.js";

export class Up {
  readonly child: ChildProcess;
  output = "";
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** `bin`: the `ringcache` launcher to run (default: this repository's). */
  constructor(args: readonly string[], bin = BIN, cwd = REPO_ROOT) {
    this.child = spawn(process.execPath, [bin, "up", ...args], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group, like a shell job: interrupt() signals the whole group, as a
      // Ctrl-C in a terminal does.
      detached: true,
    });
    this.child.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve({ code, signal })),
    );
  }

  async ready(): Promise<void> {
    await waitFor(
      "`ringcache up` to print its endpoints",
      () => {
        if (this.child.exitCode !== null) throw new Error(`exited early:\n${this.output}`);
        // The whole table: its last line ("Logs: ...") may arrive in a later chunk.
        return this.output.includes("ringcache is up") && this.output.includes("Stop: Ctrl-C");
      },
      { timeoutMs: 40_000, intervalMs: 50 },
    );
  }

  async interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    process.kill(-(this.child.pid as number), "SIGINT");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

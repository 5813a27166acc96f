// A real, single-member etcd for tests of coordination through etcd: /usr/bin/etcd (Debian's
// etcd-server) on free 127.0.0.1 ports with a temporary data directory, which can be stopped
// (kill -9 or SIGTERM), frozen and started again on the same ports and data. Tests that need it
// skip with `skip: skipUnless("etcd")` where it is not installed.
//
//   const etcd = await EtcdServer.start();
//   ["--coordination", "etcd", "--etcd-endpoints", etcd.endpoint]
//   await etcd.kill();  await etcd.restart();  await etcd.destroy();
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync, rmSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { freePorts } from "./ports.js";
import { tempDir } from "./process.js";
import { which } from "./tools.js";
import { waitFor } from "./wait.js";

/** Every etcd this process started, ended when it exits (a failed test must not leave one). */
const started = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of started) child.kill("SIGKILL");
});

export class EtcdServer {
  readonly dir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  private child: ChildProcess | null = null;
  private log: WriteStream | null = null;

  private constructor(dir: string, clientPort: number, peerPort: number) {
    this.dir = dir;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
  }

  /** Starts a fresh etcd and waits until it answers. */
  static async start(): Promise<EtcdServer> {
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
      const server = new EtcdServer(tempDir("ringcache-etcd-"), clientPort, peerPort);
      try {
        await server.launch();
        return server;
      } catch (err) {
        await server.destroy();
        // A probed port taken by another process before etcd bound it: fresh ports.
        if (attempt < 4 && server.logText().includes("address already in use")) continue;
        throw err;
      }
    }
  }

  /** host:port of the client endpoint, as --etcd-endpoints takes it. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The flags a ringcache node needs to coordinate through this etcd. */
  flags(prefix = "/ringcache/test"): string[] {
    return ["--coordination", "etcd", "--etcd-endpoints", this.endpoint, "--etcd-prefix", prefix];
  }

  /** kill -9: etcd stops at once (its data directory keeps what it committed). */
  async kill(): Promise<void> {
    await this.signalAndWait("SIGKILL");
  }

  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** Starts etcd again on the same ports and data, and waits until it answers. */
  async restart(): Promise<void> {
    if (this.running) await this.signalAndWait("SIGTERM");
    await this.launch();
  }

  /** Stops etcd and removes its data. */
  async destroy(): Promise<void> {
    if (this.running) await this.signalAndWait("SIGKILL");
    this.log?.end();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logText(): string {
    try {
      return readFileSync(join(this.dir, "etcd.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Whether etcd answers its health endpoint now. */
  async healthy(): Promise<boolean> {
    try {
      const res = await fetch(`http://${this.endpoint}/health`, {
        signal: AbortSignal.timeout(1000),
      });
      const body = (await res.json()) as { health?: string };
      return res.ok && body.health === "true";
    } catch {
      return false;
    }
  }

  private async launch(): Promise<void> {
    const etcd = which("etcd");
    if (etcd === undefined) throw new Error("etcd is not installed (apt-get install etcd-server)");
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.log ??= createWriteStream(join(this.dir, "etcd.log"), { flags: "a" });
    const child = spawn(
      etcd,
      [
        ...["--name", "test", "--data-dir", join(this.dir, "data")],
        ...["--listen-client-urls", client, "--advertise-client-urls", client],
        ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
        ...["--initial-cluster", `test=${peer}`, "--log-level", "warn", "--logger", "zap"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    started.add(child);
    child.once("exit", () => started.delete(child));
    this.child = child;
    await waitFor(
      `etcd on ${this.endpoint} to answer`,
      async () => {
        if (!this.running) throw new Error(`etcd exited; log:\n${this.logText()}`);
        return this.healthy();
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT");
    child.kill(signal);
    await exited;
  }
}

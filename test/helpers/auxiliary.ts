// Starts a real auxiliary node (`ringcache auxiliary`) on free 127.0.0.1 ports and waits until
// it is ready (/readyz answers 200). Independent of any cluster: master and fault tests reuse
// it to stand up data nodes.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { freePorts } from "./ports.js";
import { NodeProcess, tempDir } from "./process.js";
import { waitFor } from "./wait.js";

export interface AuxiliaryOptions {
  readonly id?: string;
  /** Kept across restarts; a fresh temporary directory by default. */
  readonly dataDir?: string;
  /** Where the node's log file goes; default: the data directory's parent. */
  readonly logDir?: string;
  readonly secret?: string;
  /** Extra flags, e.g. ["--snapshot-interval", "200ms", "--max-memory", "8mb"]. */
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly readyTimeoutMs?: number;
}

export class AuxiliaryHandle {
  readonly id: string;
  readonly port: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly process: NodeProcess;
  /** A temporary directory this helper made (data and log), removed by destroy(). */
  readonly ownedDir: string | undefined;

  constructor(
    id: string,
    port: number,
    httpPort: number,
    dataDir: string,
    proc: NodeProcess,
    ownedDir?: string,
  ) {
    this.id = id;
    this.port = port;
    this.httpPort = httpPort;
    this.dataDir = dataDir;
    this.process = proc;
    this.ownedDir = ownedDir;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.httpPort}${path}`;
  }

  /** Resolves once /readyz answers 200. */
  async waitReady(timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `auxiliary ${this.id} to be ready`,
      async () => {
        if (!this.process.running) {
          throw new Error(`auxiliary ${this.id} exited; log:\n${this.process.logText()}`);
        }
        const res = await fetch(this.url("/readyz"));
        await res.arrayBuffer();
        return res.status === 200;
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  /** SIGTERM (graceful: final snapshot) and wait for the exit. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.process.terminate();
  }

  /** Stops the node (SIGTERM) and removes the temporary directory the helper made for it. */
  async destroy(): Promise<void> {
    await this.process.terminate();
    if (this.ownedDir !== undefined) rmSync(this.ownedDir, { recursive: true, force: true });
  }

  async kill9(): Promise<void> {
    await this.process.kill9();
  }

  /** Starts the same node again (same ports, data dir and flags) and waits until ready. */
  async restart(timeoutMs?: number): Promise<void> {
    if (this.process.running) await this.process.terminate();
    this.process.start();
    await this.waitReady(timeoutMs);
  }

  /** The node's log, parsed (JSON lines; other lines skipped). */
  logEntries(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.process.logText().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        out.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // A line cut by kill -9.
      }
    }
    return out;
  }
}

/** Starts an auxiliary node on free ports and waits until it is ready. */
export async function startAuxiliary(options: AuxiliaryOptions = {}): Promise<AuxiliaryHandle> {
  const id = options.id ?? "a1";
  const ownedDir = options.dataDir === undefined ? tempDir("ringcache-aux-") : undefined;
  const dataDir = options.dataDir ?? join(ownedDir as string, id);
  const logDir = options.logDir ?? join(dataDir, "..");
  // A free port can be taken by another process (a client's ephemeral port) between the
  // probe and the node's listen: on EADDRINUSE, start again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    const [port, httpPort] = (await freePorts(2)) as [number, number];
    const args = [
      "auxiliary",
      ...["--id", id, "--host", "127.0.0.1"],
      ...["--port", String(port), "--http-port", String(httpPort), "--data-dir", dataDir],
      ...(options.secret !== undefined ? ["--secret", options.secret] : []),
      ...(options.args ?? []),
    ];
    const proc = new NodeProcess(`auxiliary-${id}`, args, logDir, options.env ?? {});
    const handle = new AuxiliaryHandle(id, port, httpPort, dataDir, proc, ownedDir);
    proc.start();
    try {
      await handle.waitReady(options.readyTimeoutMs);
      return handle;
    } catch (err) {
      await proc.kill9();
      if (attempt < 4 && proc.logText().includes("EADDRINUSE")) continue;
      throw err;
    }
  }
}

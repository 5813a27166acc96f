// NGINX in front of a test cluster's masters, configured by the product's own generator
// (src/local/nginx.ts) on free loopback ports. Tests that use it skip with
// skipUnless("nginx") when NGINX is not installed.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNginxConfig } from "../../src/local/nginx.js";
import type { MasterHandle } from "./cluster.js";
import { freePorts } from "./ports.js";
import { which } from "./tools.js";
import { waitForPort } from "./wait.js";

const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

export interface Balancer {
  readonly respPort: number;
  readonly httpPort: number;
  readonly process: ChildProcess;
  errorLog(): string;
  stop(): Promise<void>;
}

export async function startBalancer(
  masters: readonly MasterHandle[],
  dir: string,
  options: { maxBodyBytes?: number; failTimeoutSeconds?: number } = {},
): Promise<Balancer> {
  const bin = which("nginx");
  if (bin === undefined) throw new Error("nginx is not installed");
  const [respPort, httpPort] = (await freePorts(2)) as [number, number];
  const prefix = join(dir, "nginx");
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    renderNginxConfig({
      resp: masters.map((m) => ({ host: "127.0.0.1", port: m.port })),
      http: masters.map((m) => ({ host: "127.0.0.1", port: m.httpPort })),
      listenHost: "127.0.0.1",
      respPort,
      httpPort,
      maxBodyBytes: options.maxBodyBytes ?? 8 * 1024 * 1024,
      prefix,
      foreground: true,
      ...(options.failTimeoutSeconds !== undefined
        ? { failTimeoutSeconds: options.failTimeoutSeconds }
        : {}),
      ...(existsSync(STREAM_MODULE) ? { streamModule: STREAM_MODULE } : {}),
      ...(process.getuid?.() === 0 ? { user: "root" } : {}),
    }),
  );
  const errorLog = join(prefix, "error.log");
  const child = spawn(bin, ["-p", prefix, "-c", conf, "-e", errorLog], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await Promise.all([waitForPort(respPort), waitForPort(httpPort)]);
  return {
    respPort,
    httpPort,
    process: child,
    errorLog: () => (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : ""),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// `ringcache up`: the local cluster (see local/cluster.ts), with a table of endpoints, logs in
// files, and a clean stop on Ctrl-C.
import { Command, Option } from "commander";
import { resolve } from "node:path";
import { DEFAULT_PORTS, LocalCluster, type BasePorts } from "../local/cluster.js";
import { findTool } from "../local/tools.js";
import { ConfigError } from "../config/load.js";
import { LOG_LEVELS } from "../config/schema.js";

function int(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(
      `invalid --${name}: expected an integer from ${min} to ${max}, got "${value}"`,
    );
  }
  return n;
}

export function upCommand(): Command {
  return new Command("up")
    .description(
      "start a local cluster: masters and auxiliary nodes on 127.0.0.1, NGINX in front when installed",
    )
    .option("--masters <n>", "number of masters", "2")
    .option("--auxiliary <n>", "number of auxiliary nodes", "3")
    .option("--replicas <n>", "copies of each key", "2")
    .option("--data-dir <dir>", "directory for the nodes' data and logs", "data")
    .option(
      "--port-offset <n>",
      "add this to every default port (to run beside other services)",
      "0",
    )
    .option("--no-nginx", "do not start NGINX even when installed")
    .option("--monitoring", "also start Prometheus (when installed) scraping every node")
    .option("--secret <secret>", "shared secret for clients and internal links [RINGCACHE_SECRET]")
    .addOption(
      new Option("--log-level <level>", "nodes' log level").choices(LOG_LEVELS).default("info"),
    )
    .option(
      "--coordination <mode>",
      "how the masters agree: builtin (one host) or etcd (starts a local etcd, as across hosts)",
      "builtin",
    )
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const offset = int("port-offset", String(opts["portOffset"]), 0, 50_000);
      const ports = Object.fromEntries(
        Object.entries(DEFAULT_PORTS).map(([k, v]) => [k, v + offset]),
      ) as unknown as BasePorts;
      const masters = int("masters", String(opts["masters"]), 1, 15);
      const auxiliary = int("auxiliary", String(opts["auxiliary"]), 1, 64);
      const replicas = int("replicas", String(opts["replicas"]), 1, 16);
      const coordination = String(opts["coordination"]);
      if (coordination !== "builtin" && coordination !== "etcd") {
        throw new ConfigError(
          `invalid --coordination: expected builtin or etcd, got "${coordination}"`,
        );
      }
      const etcd = coordination === "etcd" ? findTool("etcd") : undefined;
      if (coordination === "etcd" && etcd === undefined) {
        throw new ConfigError(
          "--coordination etcd runs a local etcd, which is not installed: apt-get install -y etcd-server (or run with --coordination builtin)",
        );
      }
      const nginx = opts["nginx"] === false ? undefined : findTool("nginx");
      const prometheus = opts["monitoring"] === true ? findTool("prometheus") : undefined;
      const secret =
        typeof opts["secret"] === "string" ? opts["secret"] : process.env["RINGCACHE_SECRET"];
      const cluster = new LocalCluster({
        masters,
        auxiliary,
        replicas,
        dataDir: resolve(String(opts["dataDir"])),
        host: "127.0.0.1",
        ports,
        nginx,
        prometheus,
        etcd,
        secret,
        logLevel: String(opts["logLevel"]),
        respawn: true,
        onEvent: (message) => console.log(`[ringcache up] ${message}`),
      });
      console.log(
        `Starting ${etcd !== undefined ? "etcd, " : ""}${masters} master(s) and ${auxiliary} auxiliary node(s), R=${replicas}, data in ${resolve(String(opts["dataDir"]))} ...`,
      );
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        console.log(
          `\n${signal}: stopping the cluster (auxiliary nodes take a final snapshot) ...`,
        );
        cluster.stop().then(
          () => {
            console.log("Stopped.");
            process.exit(0);
          },
          (err: unknown) => {
            console.error(err);
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
      // A closed terminal: the nodes run in their own process groups and would outlive it.
      process.on("SIGHUP", () => stop("SIGHUP"));
      try {
        await cluster.start();
      } catch (err) {
        await cluster.stop(5000);
        throw err;
      }
      const rows = cluster.endpoints();
      const width = Math.max(...rows.map((r) => r.name.length));
      const addrWidth = Math.max(...rows.map((r) => r.address.length));
      console.log("\nringcache is up:\n");
      for (const r of rows) {
        console.log(`  ${r.name.padEnd(width)}  ${r.address.padEnd(addrWidth)}  ${r.connect}`);
      }
      if (nginx === undefined && opts["nginx"] !== false) {
        console.log(
          "\nNGINX is not installed, so clients connect to a master directly." +
            "\nTo put NGINX in front: apt-get install -y nginx libnginx-mod-stream, then run again.",
        );
      }
      if (opts["monitoring"] === true && prometheus === undefined) {
        console.log(
          "\nPrometheus is not installed (apt-get install -y prometheus); monitoring skipped.",
        );
      }
      console.log(
        `\nLogs: ${resolve(String(opts["dataDir"]), "logs")}/<node>.log   Stop: Ctrl-C\n`,
      );
      // Keep running until a signal arrives.
      await new Promise<never>(() => {});
    });
}

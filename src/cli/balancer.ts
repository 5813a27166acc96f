// `ringcache balancer`: NGINX in front of the masters, reloaded when their host names resolve
// to new addresses (local/balancer.ts). Every setting is a flag, a RINGCACHE_* variable and a
// YAML key (config/balancer.ts). --print-config shows the NGINX configuration it would run.
import { Command } from "commander";
import { BALANCER_FIELDS, loadBalancerConfig } from "../config/balancer.js";
import { createLogger } from "../log.js";
import { addFieldOptions, layersFrom } from "./options.js";
import { serveUntilSignal } from "./serve.js";

/** Longest a stop may take before the process exits anyway. */
const STOP_DEADLINE_MS = 10_000;

export function balancerCommand(): Command {
  const command = new Command("balancer").description(
    "run NGINX in front of the masters (RESP and HTTP), reloading it when their names resolve to new addresses",
  );
  addFieldOptions(command, BALANCER_FIELDS);
  command.option("--print-config", "print the NGINX configuration (every name) and exit");
  command.action(async () => {
    const config = loadBalancerConfig(layersFrom(command, BALANCER_FIELDS));
    const { Balancer, balancerNginxConfig, nginxUser } = await import("../local/balancer.js");
    if (command.opts<{ printConfig?: boolean }>().printConfig === true) {
      const user = nginxUser();
      process.stdout.write(balancerNginxConfig(config, user !== undefined ? { user } : {}));
      return;
    }
    const logger = createLogger({ node: "balancer", role: "balancer", level: config.logLevel });
    logger.info({ config }, "starting");
    const balancer = new Balancer({
      config,
      logger,
      // NGINX gone means no clients are served: exit, and let the supervisor above restart.
      onNginxExit: () => {
        const exit = (): never => process.exit(1);
        setTimeout(exit, 1000).unref();
        logger.flush(() => exit());
      },
    });
    await serveUntilSignal(balancer, logger, STOP_DEADLINE_MS);
  });
  return command;
}

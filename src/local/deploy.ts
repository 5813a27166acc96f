// The Docker Compose deployment's generated files: deploy/nginx/nginx.conf and
// deploy/prometheus/prometheus.yml come from the same generators as the local cluster's, with
// Compose service names for hosts. `npm run gen:deploy` rewrites them; a test checks that the
// committed files match, and that the Compose file's balancer renders deploy/nginx/nginx.conf.
import { loadBalancerConfig } from "../config/balancer.js";
import { balancerNginxConfig } from "./balancer.js";
import { kubernetesFiles } from "./kubernetes.js";
import { renderPrometheusConfig } from "./prometheus.js";

export const COMPOSE_MASTERS = ["m1", "m2"] as const;
export const COMPOSE_AUXILIARY = ["a1", "a2", "a3"] as const;
/** Ports inside each container (every service has its own network namespace). */
export const COMPOSE_PORTS = { masterResp: 6380, masterHttp: 8080, auxResp: 7001, auxHttp: 9101 };
/** Settings the Compose file and the Kubernetes manifests share (a test holds Compose to them). */
export const COMPOSE_DEFAULTS = { replicas: 2, maxMemory: "256mb" } as const;

/**
 * The flags of the Compose file's nginx service, `ringcache balancer`: NGINX reloaded whenever
 * a master's service name resolves to a new address (a recreated container).
 */
export const COMPOSE_BALANCER_FLAGS = {
  resp: COMPOSE_MASTERS.map((m) => `${m}:${COMPOSE_PORTS.masterResp}`).join(","),
  http: COMPOSE_MASTERS.map((m) => `${m}:${COMPOSE_PORTS.masterHttp}`).join(","),
  listenHost: "0.0.0.0",
};

/** What the Compose file's balancer runs NGINX with (its workers' user is not root there). */
export function composeNginxConfig(): string {
  return balancerNginxConfig(loadBalancerConfig({ flags: COMPOSE_BALANCER_FLAGS }));
}

export function composePrometheusConfig(): string {
  return renderPrometheusConfig({
    scrapeIntervalSeconds: 5,
    masters: COMPOSE_MASTERS.map((m) => ({ address: `${m}:${COMPOSE_PORTS.masterHttp}`, node: m })),
    // Beside prometheus.yml (deploy/prometheus/alerts.yml); mounted as the Compose file mounts
    // prometheus.yml. A rule file that is not there loads no rules and is no error.
    ruleFiles: ["alerts.yml"],
    alertmanagers: ["alertmanager:9093"],
  });
}

/** Path (relative to the repository) → content of every generated deployment file. */
export function generatedDeployFiles(): Record<string, string> {
  return {
    "deploy/nginx/nginx.conf": composeNginxConfig(),
    "deploy/prometheus/prometheus.yml": composePrometheusConfig(),
    ...kubernetesFiles(),
  };
}

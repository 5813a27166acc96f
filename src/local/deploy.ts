// The Docker Compose deployment's generated files: deploy/nginx/nginx.conf and
// deploy/prometheus/prometheus.yml come from the same generators as the local cluster's, with
// Compose service names for hosts. `npm run gen:deploy` rewrites them; a test checks that the
// committed files match.
import { renderNginxConfig } from "./nginx.js";
import { renderPrometheusConfig } from "./prometheus.js";

export const COMPOSE_MASTERS = ["m1", "m2"] as const;
export const COMPOSE_AUXILIARY = ["a1", "a2", "a3"] as const;
/** Ports inside each container (every service has its own network namespace). */
export const COMPOSE_PORTS = { masterResp: 6380, masterHttp: 8080, auxResp: 7001, auxHttp: 9101 };

export function composeNginxConfig(): string {
  return renderNginxConfig({
    resp: COMPOSE_MASTERS.map((host) => ({ host, port: COMPOSE_PORTS.masterResp })),
    http: COMPOSE_MASTERS.map((host) => ({ host, port: COMPOSE_PORTS.masterHttp })),
    listenHost: "0.0.0.0",
    respPort: 6379,
    httpPort: 8088,
    maxBodyBytes: 8 * 1024 * 1024,
    workerProcesses: "auto",
    foreground: true,
  });
}

export function composePrometheusConfig(): string {
  return renderPrometheusConfig({
    scrapeIntervalSeconds: 5,
    jobs: [
      {
        job: "master",
        targets: COMPOSE_MASTERS.map((m) => ({
          address: `${m}:${COMPOSE_PORTS.masterHttp}`,
          node: m,
        })),
      },
      {
        job: "auxiliary",
        targets: COMPOSE_AUXILIARY.map((a) => ({
          address: `${a}:${COMPOSE_PORTS.auxHttp}`,
          node: a,
        })),
      },
    ],
  });
}

/** Path (relative to the repository) → content of every generated deployment file. */
export function generatedDeployFiles(): Record<string, string> {
  return {
    "deploy/nginx/nginx.conf": composeNginxConfig(),
    "deploy/prometheus/prometheus.yml": composePrometheusConfig(),
  };
}

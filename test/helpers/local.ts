// Port offsets for tests that start a whole local cluster (`ringcache up` or LocalCluster):
// every port of the plan (DEFAULT_PORTS + offset) must be free, so that a test never meets
// another process's server on one of them.
import { createServer } from "node:net";
import { DEFAULT_PORTS, planLocalCluster, type BasePorts } from "../../src/local/cluster.js";

export function offsetPorts(offset: number): BasePorts {
  return Object.fromEntries(
    Object.entries(DEFAULT_PORTS).map(([k, v]) => [k, v + offset]),
  ) as unknown as BasePorts;
}

async function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port offset under which every port of a cluster of this shape is free. */
export async function freeOffset(masters = 2, auxiliary = 3): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Every port stays between 10000 and 32767: above the common service ports and below
    // Linux's ephemeral range, where outgoing connections could take one after the check.
    const offset = 4_000 + Math.floor(Math.random() * 19_000);
    const specs = planLocalCluster({
      masters,
      auxiliary,
      replicas: 1,
      dataDir: "/nonexistent",
      host: "127.0.0.1",
      ports: offsetPorts(offset),
      nginx: "nginx",
      prometheus: "prometheus",
      logLevel: "warn",
      respawn: false,
    });
    const ports = specs.flatMap((s) => s.ports);
    let ok = true;
    for (const port of ports) {
      if (!(await free(port))) {
        ok = false;
        break;
      }
    }
    if (ok) return offset;
  }
  throw new Error("no free port offset found");
}

// The Grafana dashboard is proven against real data: a real Prometheus (as `ringcache up
// --monitoring` starts it) scrapes a running local cluster under load, and every query of
// every panel in deploy/grafana/dashboards/ringcache.json is evaluated through Prometheus's
// HTTP API and must return at least one finite sample.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LocalCluster } from "../../src/local/cluster.js";
import { BackgroundLoad } from "../helpers/load.js";
import { freeOffset, offsetPorts } from "../helpers/local.js";
import { REPO_ROOT, tempDir } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";
import { sleep } from "../helpers/wait.js";

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly { readonly expr: string; readonly refId: string }[];
}

interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly result: readonly { readonly value: [number, string] }[] };
}

const SCRAPE_SECONDS = 1;
// What Grafana puts for $__rate_interval: four scrape intervals at least.
const RATE_INTERVAL = "8s";

function dashboardQueries(): { panel: string; refId: string; expr: string }[] {
  const path = join(REPO_ROOT, "deploy/grafana/dashboards/ringcache.json");
  const dashboard = JSON.parse(readFileSync(path, "utf8")) as { panels: Panel[] };
  return dashboard.panels
    .filter((p) => p.type !== "row")
    .flatMap((p) => {
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has no query`);
      return (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr }));
    });
}

async function query(port: number, expr: string): Promise<QueryResult> {
  const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as QueryResult;
}

function finiteSamples(r: QueryResult): number {
  return (r.data?.result ?? []).filter((s) => Number.isFinite(Number(s.value[1]))).length;
}

describe("Prometheus and the Grafana dashboard", { skip: skipUnless("prometheus") }, () => {
  it("every panel's query returns data from a cluster under load", async (t) => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 20, `only ${queries.length} queries`);
    const dir = tempDir("ringcache-prometheus-");
    const ports = offsetPorts(await freeOffset());
    const cluster = new LocalCluster({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      dataDir: dir,
      host: "127.0.0.1",
      ports,
      nginx: undefined,
      prometheus: which("prometheus"),
      scrapeIntervalSeconds: SCRAPE_SECONDS,
      logLevel: "warn",
      auxiliaryArgs: ["--snapshot-interval", "500ms"],
      respawn: false,
    });
    let load: BackgroundLoad | undefined;
    try {
      await cluster.start();
      load = new BackgroundLoad(ports.masterResp, ports.masterHttp + 1);
      const pending = new Map(queries.map((q) => [`${q.panel} ${q.refId}`, q]));
      const failures = new Map<string, string>();
      const started = Date.now();
      while (pending.size > 0 && Date.now() - started < 45_000) {
        await sleep(1000);
        for (const [key, q] of pending) {
          const r = await query(
            ports.prometheus,
            q.expr.replaceAll("$__rate_interval", RATE_INTERVAL),
          );
          assert.equal(r.status, "success", `${key}: ${q.expr}: ${r.error ?? ""}`);
          if (finiteSamples(r) > 0) pending.delete(key);
          else failures.set(key, `${q.expr} -> ${JSON.stringify(r.data?.result ?? [])}`);
        }
      }
      const missing = [...pending.keys()].map((k) => `${k}: ${failures.get(k) ?? ""}`);
      assert.deepEqual(missing, [], "panels without data");
      // Every scraped process is up: the scrape configuration names every node.
      const up = await query(ports.prometheus, 'sum(up{job=~"master|auxiliary"})');
      assert.equal(Number(up.data?.result[0]?.value[1]), 5, "five targets up");
      t.diagnostic(
        `${queries.length} queries of the dashboard answered with data after ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s under load ` +
          `(${load.counts.resp} RESP commands, ${load.counts.http} HTTP requests)`,
      );
    } finally {
      await load?.stop();
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

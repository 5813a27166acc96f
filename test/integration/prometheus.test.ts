// The monitoring is proven against a real Prometheus (as `ringcache up --monitoring` starts
// it) scraping a running local cluster under load:
//   - every query of every panel in deploy/grafana/dashboards/ringcache.json, evaluated through
//     Prometheus's HTTP API with every node selected, returns at least one finite sample;
//   - the alert rules are loaded and evaluate without error, and every metric they name exists;
//   - an auxiliary node that registers after Prometheus started becomes a scrape target through
//     the masters' http_sd (once, though every master lists it), and its joining shows as a
//     ring-change annotation;
//   - a master that stops shows as a leader-change annotation and a pending RingcacheTargetDown.
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { LocalCluster } from "../../src/local/cluster.js";
import { startAuxiliary, type AuxiliaryHandle } from "../helpers/auxiliary.js";
import { BackgroundLoad } from "../helpers/load.js";
import { freeOffset, offsetPorts } from "../helpers/local.js";
import { REPO_ROOT, tempDir } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";
import { sleep, waitFor } from "../helpers/wait.js";

interface Target {
  readonly expr: string;
  readonly refId: string;
}

interface Panel {
  readonly type: string;
  readonly title: string;
  readonly targets?: readonly Target[];
}

interface Dashboard {
  readonly panels: Panel[];
  readonly annotations: { readonly list: readonly { name: string; expr: string }[] };
}

interface Sample {
  readonly metric: Record<string, string>;
  readonly value?: [number, string];
  readonly values?: [number, string][];
}

interface QueryResult {
  readonly status: string;
  readonly error?: string;
  readonly data?: { readonly result: readonly Sample[] };
}

const SCRAPE_SECONDS = 1;
// What Grafana puts for $__rate_interval: four scrape intervals at least.
const RATE_INTERVAL = "8s";

function dashboard(): Dashboard {
  const path = join(REPO_ROOT, "deploy/grafana/dashboards/ringcache.json");
  return JSON.parse(readFileSync(path, "utf8")) as Dashboard;
}

/** A query as Grafana sends it with every master and node selected ("All"). */
function resolved(expr: string): string {
  return expr
    .replaceAll("$__rate_interval", RATE_INTERVAL)
    .replaceAll("$master", ".*")
    .replaceAll("$node", ".*");
}

function dashboardQueries(): { panel: string; refId: string; expr: string }[] {
  return dashboard()
    .panels.filter((p) => p.type !== "row")
    .flatMap((p) => {
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has no query`);
      return (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr }));
    });
}

async function api<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    signal: AbortSignal.timeout(5000),
  });
  return (await res.json()) as T;
}

function query(port: number, expr: string): Promise<QueryResult> {
  return api(port, `/api/v1/query?query=${encodeURIComponent(expr)}`);
}

/** The expression over the last `seconds`, every 5 s (as a Grafana annotation asks it). */
function queryRange(port: number, expr: string, seconds: number): Promise<QueryResult> {
  const end = Date.now() / 1000;
  const q = encodeURIComponent(expr);
  return api(port, `/api/v1/query_range?query=${q}&start=${end - seconds}&end=${end}&step=5`);
}

function finiteSamples(r: QueryResult): number {
  return (r.data?.result ?? []).filter((s) => Number.isFinite(Number(s.value?.[1]))).length;
}

/** Metric names an alert rule's expression reads. */
function ruleMetrics(): string[] {
  const rules = parse(readFileSync(join(REPO_ROOT, "deploy/prometheus/alerts.yml"), "utf8")) as {
    groups: { rules: { expr: string }[] }[];
  };
  const names = new Set<string>();
  for (const g of rules.groups) {
    for (const r of g.rules) {
      for (const m of r.expr.matchAll(/\b(ringcache_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b/g)) {
        names.add(m[1] as string);
      }
    }
  }
  return [...names];
}

interface TargetsReply {
  readonly data: {
    readonly activeTargets: readonly {
      readonly labels: Record<string, string>;
      readonly health: string;
      readonly scrapePool: string;
    }[];
  };
}

interface RulesReply {
  readonly data: {
    readonly groups: readonly {
      readonly rules: readonly { name: string; health: string; lastError?: string }[];
    }[];
  };
}

describe(
  "Prometheus, the alert rules and the Grafana dashboard",
  { skip: skipUnless("prometheus") },
  () => {
    it("answers every panel, evaluates every alert, and discovers a node that registers later", async (t) => {
      const queries = dashboardQueries();
      assert.ok(queries.length >= 40, `only ${queries.length} queries`);
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
      const prometheus = ports.prometheus;
      let load: BackgroundLoad | undefined;
      let late: AuxiliaryHandle | undefined;
      try {
        await cluster.start();
        load = new BackgroundLoad(ports.masterResp, ports.masterHttp + 1);

        // 1. Every panel's query returns data.
        const pending = new Map(queries.map((q) => [`${q.panel} ${q.refId}`, q]));
        const failures = new Map<string, string>();
        const started = Date.now();
        while (pending.size > 0 && Date.now() - started < 45_000) {
          await sleep(1000);
          for (const [key, q] of pending) {
            const r = await query(prometheus, resolved(q.expr));
            assert.equal(r.status, "success", `${key}: ${q.expr}: ${r.error ?? ""}`);
            if (finiteSamples(r) > 0) pending.delete(key);
            else failures.set(key, `${q.expr} -> ${JSON.stringify(r.data?.result ?? [])}`);
          }
        }
        const missing = [...pending.keys()].map((k) => `${k}: ${failures.get(k) ?? ""}`);
        assert.deepEqual(missing, [], "panels without data");
        // Every scraped process is up, and each is scraped once although both masters list it
        // (and the masters are listed statically too).
        // On a busy machine one scrape may time out, so "up" is awaited, not read once; a
        // target scraped twice would make the sum 6 or more and fail at once.
        await waitFor(
          "five targets up, each scraped once",
          async () => {
            const up = await query(prometheus, 'sum(up{job=~"master|auxiliary"})');
            const n = Number(up.data?.result[0]?.value?.[1]);
            assert.ok(!(n > 5), `${n} targets: a process is scraped twice`);
            return n === 5;
          },
          { timeoutMs: 30_000, intervalMs: 500 },
        );
        t.diagnostic(
          `${queries.length} queries of the dashboard answered with data after ` +
            `${((Date.now() - started) / 1000).toFixed(1)} s under load ` +
            `(${load.counts.resp} RESP commands, ${load.counts.http} HTTP requests)`,
        );

        // 2. The alert rules are loaded and evaluate cleanly; the metrics they read exist.
        const rules = await waitFor(
          "every alert rule evaluated",
          async () => {
            const reply = await api<RulesReply>(prometheus, "/api/v1/rules");
            const all = reply.data.groups.flatMap((g) => g.rules);
            return all.length > 0 && all.every((r) => r.health !== "unknown") ? all : undefined;
          },
          { timeoutMs: 20_000, intervalMs: 500 },
        );
        assert.deepEqual(
          rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError ?? ""}`),
          [],
        );
        for (const name of ruleMetrics()) {
          const r = await query(prometheus, `count({__name__="${name}"})`);
          assert.ok(finiteSamples(r) > 0, `the alerts read ${name}, which no node exports`);
        }

        // 3. A node that registers now is found through the masters' http_sd and scraped.
        late = await startAuxiliary({
          id: "a4",
          args: [
            "--masters",
            `127.0.0.1:${ports.masterHttp},127.0.0.1:${ports.masterHttp + 1}`,
            "--snapshot-interval",
            "500ms",
          ],
        });
        const discoveredAfter = Date.now();
        await waitFor(
          "a4 scraped",
          async () => {
            const r = await query(prometheus, 'up{job="auxiliary", node="a4"} == 1');
            return finiteSamples(r) === 1;
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        const targets = await api<TargetsReply>(prometheus, "/api/v1/targets?state=active");
        const nodes = targets.data.activeTargets
          .map((tg) => `${tg.scrapePool} ${tg.labels["master"] ?? tg.labels["node"]}`)
          .sort();
        assert.deepEqual(
          nodes,
          [
            "auxiliary a1",
            "auxiliary a2",
            "auxiliary a3",
            "auxiliary a4",
            "master m1",
            "master m2",
          ],
          "one target per member",
        );
        const a4 = targets.data.activeTargets.find((tg) => tg.labels["node"] === "a4");
        assert.equal(a4?.labels["instance"], `127.0.0.1:${late.httpPort}`);
        assert.equal(a4?.labels["role"], "auxiliary");
        t.diagnostic(
          `a4 scraped ${((Date.now() - discoveredAfter) / 1000).toFixed(1)} s after it started`,
        );
        const annotations = new Map(dashboard().annotations.list.map((a) => [a.name, a.expr]));
        const marked = async (name: string, label: string, value: string): Promise<boolean> => {
          const r = await queryRange(prometheus, resolved(annotations.get(name) ?? ""), 120);
          assert.equal(r.status, "success", `${name}: ${r.error ?? ""}`);
          return (r.data?.result ?? []).some((s) => s.metric[label] === value);
        };
        const epoch = await waitFor(
          "the ring with a4",
          async () => {
            const r = await query(prometheus, 'ringcache_master_ring_nodes{master="m1"} == 4');
            if (finiteSamples(r) === 0) return undefined;
            const e = await query(prometheus, 'ringcache_master_ring_epoch_info{master="m1"}');
            return e.data?.result[0]?.metric["epoch"];
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        await waitFor("a ring-change annotation", () => marked("Ring changes", "epoch", epoch), {
          timeoutMs: 10_000,
          intervalMs: 500,
        });

        // 4. The leader stops: m2 leads, which the leader annotation marks, and m1's target is
        // down (RingcacheTargetDown pending, firing after its minute).
        await load.stop();
        load = undefined;
        process.kill(cluster.pid("m1") as number, "SIGTERM");
        await waitFor(
          "a leader-change annotation",
          () => marked("Leader changes", "leader", "m2"),
          {
            timeoutMs: 30_000,
            intervalMs: 500,
          },
        );
        await waitFor(
          "RingcacheTargetDown pending for m1",
          async () => {
            const r = await query(
              prometheus,
              'ALERTS{alertname="RingcacheTargetDown", master="m1", alertstate="pending"}',
            );
            return finiteSamples(r) === 1;
          },
          { timeoutMs: 15_000, intervalMs: 500 },
        );
      } finally {
        await load?.stop();
        await late?.destroy();
        await cluster.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  },
);

// The deployment files are generated from the same code as the local cluster's, and each is
// checked by the real tool that reads it: nginx -t, promtool, docker-compose config.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Command } from "commander";
import { parse } from "yaml";
import { layersFrom, addFieldOptions } from "../../src/cli/options.js";
import { BALANCER_FIELDS, loadBalancerConfig } from "../../src/config/balancer.js";
import {
  AUXILIARY_FIELDS,
  MASTER_FIELDS,
  loadAuxiliaryConfig,
  loadMasterConfig,
} from "../../src/config/schema.js";
import { balancerNginxConfig } from "../../src/local/balancer.js";
import { COMPOSE_DEFAULTS, generatedDeployFiles } from "../../src/local/deploy.js";
import { renderNginxConfig } from "../../src/local/nginx.js";
import { DEFAULT_PORTS, planLocalCluster } from "../../src/local/cluster.js";
import { REPO_ROOT, tempDir } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";

describe("deployment files", () => {
  it("match their generators (run `npm run gen:deploy` after changing one)", () => {
    for (const [path, content] of Object.entries(generatedDeployFiles())) {
      assert.equal(readFileSync(join(REPO_ROOT, path), "utf8"), content, path);
    }
  });

  it("Compose's nginx service is `ringcache balancer`, rendering deploy/nginx/nginx.conf", () => {
    const compose = parse(readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8")) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string> }>;
    };
    const service = compose.services["nginx"];
    const [subcommand, ...args] = service?.command ?? [];
    assert.equal(subcommand, "balancer");
    // Parsed as the CLI parses them: the service's flags and environment, nothing else.
    const command = addFieldOptions(new Command("balancer"), BALANCER_FIELDS).exitOverride();
    command.parse(args, { from: "user" });
    const config = loadBalancerConfig(layersFrom(command, BALANCER_FIELDS, service?.environment));
    assert.deepEqual(
      config.resp.map((a) => a.host),
      ["m1", "m2"],
    );
    assert.equal(
      balancerNginxConfig(config),
      readFileSync(join(REPO_ROOT, "deploy/nginx/nginx.conf"), "utf8"),
    );
  });

  it("nginx accepts the local cluster's configuration", { skip: skipUnless("nginx") }, () => {
    const prefix = tempDir("ringcache-nginx-");
    const conf = join(prefix, "nginx.conf");
    writeFileSync(
      conf,
      renderNginxConfig({
        resp: [
          { host: "127.0.0.1", port: 16380 },
          { host: "127.0.0.1", port: 16381 },
        ],
        http: [
          { host: "127.0.0.1", port: 18080 },
          { host: "127.0.0.1", port: 18081 },
        ],
        listenHost: "127.0.0.1",
        respPort: 16379,
        httpPort: 18088,
        maxBodyBytes: 8 << 20,
        prefix,
        streamModule: "/usr/lib/nginx/modules/ngx_stream_module.so",
        foreground: true,
        ...(process.getuid?.() === 0 ? { user: "root" } : {}),
      }),
    );
    mkdirSync(join(prefix, "logs"), { recursive: true });
    const out = execFileSync(
      which("nginx") as string,
      ["-t", "-p", prefix, "-c", conf, "-e", join(prefix, "error.log")],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    assert.equal(typeof out, "string");
  });

  it("promtool accepts the Prometheus configuration", { skip: skipUnless("promtool") }, () => {
    const out = execFileSync(
      which("promtool") as string,
      ["check", "config", join(REPO_ROOT, "deploy/prometheus/prometheus.yml")],
      { encoding: "utf8" },
    );
    assert.match(out, /SUCCESS/);
  });

  it("gives every master and auxiliary node a volume of its own", () => {
    const compose = parse(readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8"), {
      merge: true,
    }) as { services: Record<string, { command?: string[]; volumes?: string[] }> };
    const owners = new Map<string, string>();
    const nodes = Object.entries(compose.services).filter(([, s]) =>
      ["master", "auxiliary"].includes(s.command?.[0] ?? ""),
    );
    assert.deepEqual(nodes.map(([name]) => name).sort(), ["a1", "a2", "a3", "m1", "m2"]);
    for (const [name, service] of nodes) {
      const data = (service.volumes ?? []).filter((v) => v.endsWith(":/data"));
      assert.equal(data.length, 1, `${name} mounts no volume of its own at /data`);
      const volume = (data[0] as string).split(":")[0] as string;
      assert.equal(owners.get(volume), undefined, `${name} shares ${volume}`);
      owners.set(volume, name);
    }
  });

  it("Compose's masters and auxiliary nodes coordinate through its etcd, as the nodes parse their flags", () => {
    interface Service {
      command?: string[];
      environment?: Record<string, string>;
      volumes?: string[];
      depends_on?: Record<string, { condition?: string }> | string[];
      healthcheck?: { test?: string[] };
    }
    const compose = parse(readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8"), {
      merge: true,
    }) as { services: Record<string, Service> };
    const etcd = compose.services["etcd"] as Service;
    // etcd keeps its data on a volume of its own and says when it is healthy.
    const dataDir = etcd.command?.[(etcd.command?.indexOf("--data-dir") ?? -2) + 1];
    assert.ok(dataDir !== undefined && (etcd.volumes ?? []).some((v) => v.endsWith(`:${dataDir}`)));
    assert.deepEqual(etcd.healthcheck?.test?.slice(0, 2), ["CMD", "etcdctl"]);
    // The environment as Compose gives it: the secret substituted.
    const environment = (s: Service): Record<string, string> =>
      Object.fromEntries(
        Object.entries(s.environment ?? {}).map(([k, v]) => [
          k,
          v.startsWith("${RINGCACHE_SECRET") ? "compose-secret" : v,
        ]),
      );
    for (const [name, service] of Object.entries(compose.services)) {
      const [role, ...args] = service.command ?? [];
      if (role !== "master" && role !== "auxiliary") continue;
      const fields = role === "master" ? MASTER_FIELDS : AUXILIARY_FIELDS;
      const command = addFieldOptions(new Command(role), fields).exitOverride();
      command.parse(args, { from: "user" });
      const layers = layersFrom(command, fields, environment(service));
      const config = role === "master" ? loadMasterConfig(layers) : loadAuxiliaryConfig(layers);
      assert.equal(config.id, name);
      assert.equal(config.coordination, "etcd", name);
      assert.deepEqual(config.etcdEndpoints, [{ host: "etcd", port: 2379 }], name);
      assert.deepEqual(
        (service.depends_on as Record<string, { condition?: string }>)["etcd"],
        { condition: "service_healthy" },
        `${name} waits for etcd's health check`,
      );
      // Found through etcd, by the service name each registers: no node lists another.
      if (role === "master") {
        const m = config as ReturnType<typeof loadMasterConfig>;
        assert.equal(m.advertiseHost, name);
        assert.deepEqual([m.peers.length, m.auxiliary.length], [0, 0], name);
      } else {
        const a = config as ReturnType<typeof loadAuxiliaryConfig>;
        assert.equal(a.advertise, `${name}:7001`);
        assert.equal(a.masters.length, 0, name);
      }
    }
  });

  it("docker-compose accepts the Compose file", { skip: skipUnless("docker-compose") }, () => {
    execFileSync(
      which("docker-compose") as string,
      ["-f", join(REPO_ROOT, "deploy/docker-compose.yml"), "config", "-q"],
      {
        env: { ...process.env, RINGCACHE_SECRET: "test-secret", GRAFANA_ADMIN_PASSWORD: "pw" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
  });

  it("Compose takes secrets from the environment only, and keeps monitoring on 127.0.0.1", () => {
    interface Service {
      environment?: Record<string, string>;
      ports?: string[];
      volumes?: string[];
      depends_on?: Record<string, { condition?: string }> | string[];
    }
    const text = readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8");
    const compose = parse(text, { merge: true }) as { services: Record<string, Service> };
    const env = (name: string): Record<string, string> => compose.services[name]?.environment ?? {};
    // Every secret is a required variable of the environment (or deploy/.env), none a value.
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (/SECRET|PASSWORD/.test(key)) {
          assert.match(value, /^\$\{[A-Z_]+:\?.+\}$/, `${name}: ${key} is not a required variable`);
        }
      }
    }
    assert.equal(env("grafana")["GF_AUTH_ANONYMOUS_ENABLED"], "false");
    assert.ok(
      env("grafana")["GF_SECURITY_ADMIN_PASSWORD"]?.startsWith("${GRAFANA_ADMIN_PASSWORD:?"),
    );
    for (const name of ["prometheus", "alertmanager", "grafana"]) {
      for (const port of compose.services[name]?.ports ?? []) {
        assert.ok(port.startsWith("127.0.0.1:"), `${name} publishes ${port} on every interface`);
      }
    }
    // Prometheus loads the alert rules and sends alerts to Alertmanager.
    assert.ok(
      (compose.services["prometheus"]?.volumes ?? []).includes(
        "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro",
      ),
    );
    assert.match(
      readFileSync(join(REPO_ROOT, "deploy/prometheus/prometheus.yml"), "utf8"),
      /alertmanager:9093/,
    );
    // NGINX starts once a master answers its health check.
    assert.deepEqual(compose.services["nginx"]?.depends_on, {
      m1: { condition: "service_healthy" },
      m2: { condition: "service_healthy" },
    });
    // The values the Kubernetes manifests share with Compose.
    assert.equal(env("m1")["RINGCACHE_REPLICAS"], String(COMPOSE_DEFAULTS.replicas));
    assert.equal(env("a1")["RINGCACHE_MAX_MEMORY"], COMPOSE_DEFAULTS.maxMemory);
  });

  it("amtool accepts the Alertmanager configuration", { skip: skipUnless("amtool") }, () => {
    execFileSync(which("amtool") as string, [
      "check-config",
      join(REPO_ROOT, "deploy/alertmanager/alertmanager.yml"),
    ]);
  });
});

describe("Grafana provisioning", () => {
  const read = (path: string): unknown => parse(readFileSync(join(REPO_ROOT, path), "utf8"));

  interface Dashboard {
    readonly __inputs?: readonly { type: string; pluginId: string }[];
    readonly __requires?: readonly { type: string; id: string }[];
    readonly templating: {
      readonly list: readonly {
        name: string;
        type: string;
        query?: unknown;
        datasource?: unknown;
      }[];
    };
    readonly annotations: { readonly list: readonly { name: string; expr: string }[] };
    readonly panels: readonly {
      title: string;
      type: string;
      gridPos: { x: number; y: number; w: number; h: number };
      targets?: readonly { expr: string }[];
    }[];
  }
  const dashboard = (): Dashboard =>
    JSON.parse(
      readFileSync(join(REPO_ROOT, "deploy/grafana/dashboards/ringcache.json"), "utf8"),
    ) as Dashboard;

  it("provisions a Prometheus datasource and mounts the dashboards where the provider reads", () => {
    const datasources = read("deploy/grafana/provisioning/datasources/prometheus.yml") as {
      datasources: { type: string; url: string }[];
    };
    assert.ok(
      datasources.datasources.some(
        (d) => d.type === "prometheus" && d.url === "http://prometheus:9090",
      ),
    );
    const providers = read("deploy/grafana/provisioning/dashboards/ringcache.yml") as {
      providers: { options: { path: string } }[];
    };
    const compose = readFileSync(join(REPO_ROOT, "deploy/docker-compose.yml"), "utf8");
    for (const p of providers.providers) {
      assert.ok(compose.includes(`./grafana/dashboards:${p.options.path}`), p.options.path);
    }
  });

  it("reaches Prometheus only through the $datasource variable, and imports anywhere", () => {
    const d = dashboard();
    const variable = d.templating.list.find((v) => v.name === "datasource");
    assert.equal(variable?.type, "datasource");
    assert.equal(variable?.query, "prometheus");
    // Every datasource reference anywhere in the dashboard (panels, their queries, the
    // annotations, the other variables) is the variable.
    const seen: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}[${i}]`));
      else if (node !== null && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (k === "datasource") {
            seen.push(path);
            assert.deepEqual(v, { type: "prometheus", uid: "${datasource}" }, `${path}.datasource`);
          } else walk(v, `${path}.${k}`);
        }
      }
    };
    walk(d, "dashboard");
    const queried = d.panels.filter((p) => p.type !== "row").length + d.annotations.list.length;
    assert.ok(seen.length > queried, `only ${seen.length} datasource references`);
    assert.deepEqual(
      d.__inputs?.map((i) => [i.type, i.pluginId]),
      [["datasource", "prometheus"]],
    );
    assert.ok(d.__requires?.some((r) => r.type === "datasource" && r.id === "prometheus"));
    assert.ok(d.__requires?.some((r) => r.type === "grafana"));
  });

  it("filters every query by the $master and $node variables", () => {
    const d = dashboard();
    for (const name of ["master", "node"]) {
      const v = d.templating.list.find((x) => x.name === name);
      assert.equal(v?.type, "query", name);
      assert.match(JSON.stringify(v?.query), /label_values\(ringcache_build_info/, name);
    }
    const exprs = [
      ...d.panels.flatMap((p) => (p.targets ?? []).map((t) => [p.title, t.expr] as const)),
      ...d.annotations.list.map((a) => [a.name, a.expr] as const),
    ];
    const unfiltered: string[] = [];
    for (const [title, expr] of exprs) {
      // Each metric the query selects names the variable of its kind of node.
      const selectors =
        /\b(ringcache_[a-z0-9_]+|nodejs_[a-z0-9_]+|process_[a-z0-9_]+|up|ALERTS)\b(\{[^}]*\})?/g;
      for (const m of expr.matchAll(selectors)) {
        const matchers = m[2] ?? "";
        if (!matchers.includes("$master") && !matchers.includes("$node")) {
          unfiltered.push(`${title}: ${m[0]}`);
        }
      }
    }
    assert.deepEqual(unfiltered, []);
  });

  it("lays out the panels without overlap", () => {
    const cells = new Map<string, string>();
    for (const p of dashboard().panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.x + g.w <= 24, `${p.title} is outside the grid`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const other = cells.get(`${x},${y}`);
          assert.equal(other, undefined, `${p.title} overlaps ${other ?? ""}`);
          cells.set(`${x},${y}`, p.title);
        }
      }
    }
  });
});

describe("local cluster plan", () => {
  it("gives every node distinct ports and wires masters and auxiliary nodes together", () => {
    const specs = planLocalCluster({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      dataDir: "/tmp/rc",
      host: "127.0.0.1",
      ports: DEFAULT_PORTS,
      nginx: "/usr/sbin/nginx",
      prometheus: undefined,
      logLevel: "info",
      respawn: false,
    });
    assert.deepEqual(
      specs.map((s) => s.id),
      ["a1", "a2", "a3", "m1", "m2", "nginx"],
    );
    const ports = specs.flatMap((s) => s.ports);
    assert.equal(new Set(ports).size, ports.length);
    const m1 = specs.find((s) => s.id === "m1");
    assert.ok(
      m1?.args
        .join(" ")
        .includes("--auxiliary a1=127.0.0.1:7001,a2=127.0.0.1:7002,a3=127.0.0.1:7003"),
    );
    assert.ok(m1?.args.join(" ").includes("--peers m2=127.0.0.1:8081"));
    const a2 = specs.find((s) => s.id === "a2");
    assert.ok(a2?.args.join(" ").includes("--masters 127.0.0.1:8080,127.0.0.1:8081"));
    assert.ok(a2?.args.join(" ").includes("--data-dir /tmp/rc/a2"));
  });
});

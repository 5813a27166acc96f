// deploy/kubernetes/ checked as a cluster would check it: every object of the base and of the
// overlays is validated against the Kubernetes schemas (kubernetes-models, and
// prometheus-operator's for ServiceMonitor), the overlays are rendered by kustomize itself
// (`kubectl kustomize`) and validated again, the settings each StatefulSet gives ringcache load
// through ringcache's own configuration loader, and the properties the deployment promises
// (non-root, read-only root filesystem, probes, resources, a volume per node, disruption
// budgets, the secret from a Secret) hold for every pod.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import * as apps from "kubernetes-models/apps/v1";
import * as core from "kubernetes-models/v1";
import * as policy from "kubernetes-models/policy/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { loadAuxiliaryConfig, loadMasterConfig } from "../../src/config/schema.js";
import { COMPOSE_DEFAULTS, COMPOSE_PORTS } from "../../src/local/deploy.js";
import { RINGCACHE_VERSION } from "../../src/redis/version.js";
import { REPO_ROOT } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";

/** The parts of a manifest these checks read; the schemas check the rest. */
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: object };
}
interface Container {
  name: string;
  image: string;
  env?: EnvVar[];
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  resources: { limits?: { memory?: string } };
  readinessProbe?: { httpGet?: { path: string } };
  livenessProbe?: { httpGet?: { path: string } };
}
interface PodSpec {
  securityContext: { runAsNonRoot?: boolean };
  containers: Container[];
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    template: { spec: PodSpec };
    volumeClaimTemplates: unknown[];
    selector: { matchLabels: Record<string, string> };
  };
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/StatefulSet": apps.StatefulSet,
  "v1/Service": core.Service,
  "v1/ConfigMap": core.ConfigMap,
  "policy/v1/PodDisruptionBudget": policy.PodDisruptionBudget,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};

function objects(text: string): Obj[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

/** Validates an object against its kind's schema; throws with the kind and name on failure. */
function validate(o: Obj): void {
  const key = `${o.apiVersion}/${o.kind}`;
  const Model = MODELS[key];
  assert.ok(Model !== undefined, `no schema known for ${key}`);
  try {
    new Model(o as never).validate();
  } catch (err) {
    throw new Error(`${key} ${o.metadata.name}: ${(err as Error).message}`, { cause: err });
  }
}

const DIR = join(REPO_ROOT, "deploy", "kubernetes");
const base = readdirSync(join(DIR, "base"))
  .filter((f) => f !== "kustomization.yaml")
  .flatMap((f) => objects(readFileSync(join(DIR, "base", f), "utf8")));

function podSpecs(all: readonly Obj[]): [string, PodSpec][] {
  return all
    .filter((o) => o.kind === "StatefulSet")
    .map((o) => [o.metadata.name, o.spec.template.spec]);
}

/** The RINGCACHE_* settings a container gets, with $(POD_NAME) as a pod would see it. */
function settings(container: Container, pod: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (!String(e.name).startsWith("RINGCACHE_")) continue;
    const value = e.value ?? (e.valueFrom?.secretKeyRef ? "a-secret-from-the-secret" : undefined);
    if (value !== undefined) out[e.name] = String(value).replaceAll("$(POD_NAME)", pod);
  }
  return out;
}

/**
 * The skip reason when no kubectl with kustomize 4 or later is installed (the overlays use
 * `patches`, which kustomize 2 and 3, as in Debian's kubernetes-client, do not read).
 */
function skipUnlessKustomize(): string | false {
  const missing = skipUnless("kubectl");
  if (missing !== false) return missing;
  const version = execFileSync(which("kubectl") as string, ["version", "--client"], {
    encoding: "utf8",
  });
  const major = /Kustomize Version: v(\d+)/.exec(version)?.[1];
  return major !== undefined && Number(major) >= 4
    ? false
    : `needs kubectl with kustomize 4 or later (found: ${version.split("\n").join("; ")})`;
}

describe("Kubernetes manifests", () => {
  it("validate against the Kubernetes schemas", () => {
    assert.ok(base.length >= 10);
    for (const o of base) validate(o);
    for (const overlay of readdirSync(join(DIR, "overlays"))) {
      for (const f of readdirSync(join(DIR, "overlays", overlay))) {
        if (f === "kustomization.yaml") continue;
        for (const o of objects(readFileSync(join(DIR, "overlays", overlay, f), "utf8"))) {
          // Patches are partial by nature; kustomize's rendering below checks what they make.
          if (o.kind === "StatefulSet") continue;
          validate(o);
        }
      }
    }
  });

  it(
    "render with kustomize, and every rendered object validates",
    { skip: skipUnlessKustomize() },
    () => {
      for (const target of ["base", "overlays/external-etcd", "overlays/monitoring"]) {
        const rendered = objects(
          execFileSync(which("kubectl") as string, ["kustomize", join(DIR, target)], {
            encoding: "utf8",
          }),
        );
        for (const o of rendered) validate(o);
        const names = rendered.map((o) => `${o.kind}/${o.metadata.name}`);
        assert.ok(names.includes("StatefulSet/ringcache-master"), target);
        assert.ok(names.includes("StatefulSet/ringcache-auxiliary"), target);
        const ownEtcd = names.includes("StatefulSet/ringcache-etcd");
        assert.equal(ownEtcd, target !== "overlays/external-etcd", `${target}: etcd`);
        if (target === "overlays/external-etcd") {
          for (const [, spec] of podSpecs(rendered)) {
            const endpoints = (spec.containers[0]?.env ?? []).find(
              (e) => e.name === "RINGCACHE_ETCD_ENDPOINTS",
            );
            assert.ok(
              endpoints?.valueFrom?.configMapKeyRef !== undefined && endpoints.value === undefined,
            );
          }
        }
        if (target === "overlays/monitoring") assert.ok(names.includes("ServiceMonitor/ringcache"));
      }
    },
  );

  it("give ringcache settings its own loader accepts, shared with Compose", () => {
    const byName = new Map(podSpecs(base));
    const master = byName.get("ringcache-master")?.containers[0] as Container;
    const aux = byName.get("ringcache-auxiliary")?.containers[0] as Container;
    assert.equal(master.image, `ringcache:${RINGCACHE_VERSION}`);
    const m = loadMasterConfig({ flags: {}, env: settings(master, "ringcache-master-0") });
    assert.equal(m.id, "ringcache-master-0");
    assert.equal(m.coordination, "etcd");
    assert.equal(m.port, COMPOSE_PORTS.masterResp);
    assert.equal(m.replicas, COMPOSE_DEFAULTS.replicas);
    assert.equal(m.advertiseHost, "ringcache-master-0.ringcache-master");
    const a = loadAuxiliaryConfig({ flags: {}, env: settings(aux, "ringcache-auxiliary-2") });
    assert.equal(a.id, "ringcache-auxiliary-2");
    assert.equal(a.advertise, `ringcache-auxiliary-2.ringcache-auxiliary:${COMPOSE_PORTS.auxResp}`);
    assert.equal(a.port, COMPOSE_PORTS.auxResp);
    assert.equal(a.maxMemory, 256 * 1024 * 1024);
  });

  it("run every pod non-root, read-only, probed, bounded, with a volume and a disruption budget", () => {
    const budgets = base.filter((o) => o.kind === "PodDisruptionBudget");
    for (const [name, spec] of podSpecs(base)) {
      assert.equal(spec.securityContext.runAsNonRoot, true, name);
      const set = base.find((o) => o.kind === "StatefulSet" && o.metadata.name === name) as Obj;
      assert.equal(set.spec.volumeClaimTemplates.length, 1, `${name}: a volume per pod`);
      assert.ok(
        budgets.some((b) => b.spec.selector.matchLabels["app.kubernetes.io/component"] === name),
        `${name}: no PodDisruptionBudget`,
      );
      for (const c of spec.containers) {
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, name);
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, name);
        assert.ok(c.resources.limits?.memory, `${name}: no memory limit`);
        assert.ok(c.readinessProbe && c.livenessProbe, `${name}: probes`);
        if (name !== "ringcache-etcd") {
          assert.equal(c.readinessProbe?.httpGet?.path, "/readyz");
          assert.equal(c.livenessProbe?.httpGet?.path, "/healthz");
          const secret = (c.env ?? []).find((e) => e.name === "RINGCACHE_SECRET");
          assert.deepEqual(secret?.valueFrom?.secretKeyRef, { name: "ringcache", key: "secret" });
        }
      }
    }
  });
});

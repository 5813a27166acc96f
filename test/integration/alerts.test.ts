// The alert rules (deploy/prometheus/alerts.yml) checked by Prometheus's own tool: `promtool
// check rules` parses them, `promtool test rules` runs deploy/prometheus/alerts.test.yml, whose
// cases feed series to every alert and expect it to fire, or not. Whether the rules' metrics
// exist on real nodes is checked against a running cluster in prometheus.test.ts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../helpers/process.js";
import { skipUnless, which } from "../helpers/tools.js";

const RULES = join(REPO_ROOT, "deploy/prometheus/alerts.yml");
const TESTS = join(REPO_ROOT, "deploy/prometheus/alerts.test.yml");

interface AlertRule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

interface RuleTests {
  readonly tests: readonly {
    readonly alert_rule_test?: readonly {
      readonly alertname: string;
      readonly exp_alerts?: readonly unknown[];
    }[];
  }[];
}

function alertRules(): AlertRule[] {
  const doc = parse(readFileSync(RULES, "utf8")) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
}

function promtool(...args: string[]): string {
  return execFileSync(which("promtool") as string, args, {
    cwd: REPO_ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

describe("alert rules", () => {
  it("give every alert a severity, a summary and what to do", () => {
    const rules = alertRules();
    assert.ok(rules.length >= 10, `only ${rules.length} alerts`);
    for (const r of rules) {
      assert.match(r.labels?.["severity"] ?? "", /^(critical|warning)$/, `${r.alert} severity`);
      assert.ok((r.annotations?.["summary"] ?? "").length > 0, `${r.alert} has no summary`);
      assert.ok(
        (r.annotations?.["description"] ?? "").length > 80,
        `${r.alert}'s description does not say what to do`,
      );
    }
  });

  it("are each tested firing and not firing", () => {
    const tests = parse(readFileSync(TESTS, "utf8")) as RuleTests;
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const t of tests.tests) {
      for (const check of t.alert_rule_test ?? []) {
        ((check.exp_alerts ?? []).length > 0 ? firing : quiet).add(check.alertname);
      }
    }
    const names = alertRules().map((r) => r.alert as string);
    assert.deepEqual(
      names.filter((n) => !firing.has(n)),
      [],
      "alerts without a case where they fire",
    );
    assert.deepEqual(
      names.filter((n) => !quiet.has(n)),
      [],
      "alerts without a case where they stay quiet",
    );
    const unknown = [...firing, ...quiet].filter((n) => !names.includes(n));
    assert.deepEqual(unknown, [], "tests of alerts that do not exist");
  });

  it("pass `promtool check rules`", { skip: skipUnless("promtool") }, () => {
    assert.match(promtool("check", "rules", RULES), /SUCCESS: \d+ rules found/);
  });

  it("pass their unit tests (`promtool test rules`)", { skip: skipUnless("promtool") }, () => {
    let out: string;
    try {
      out = promtool("test", "rules", TESTS);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      assert.fail(`promtool test rules failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
    assert.match(out, /SUCCESS/);
  });
});

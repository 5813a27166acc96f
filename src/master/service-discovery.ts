// Prometheus service discovery (http_sd_configs): GET /v1/sd/prometheus on every master lists
// every member this master knows, masters and auxiliary nodes, at the address that serves its
// /metrics, so a node that registers is scraped without editing a file (docs/http-api.md,
// "Service discovery").
//
//   [{"targets": ["m1:8080"], "labels": {"role": "master", "master": "m1"}},
//    {"targets": ["a1:9101"], "labels": {"role": "auxiliary", "node": "a1"}}, ...]
//
// What must stay true: every master describes a member with the same labels and address, so
// that Prometheus, asking all of them (any one may be down), keeps one target per member (it
// drops targets whose labels are equal). Hence one rule per role for the label that names the
// member (TARGET_LABEL, also used by the generated prometheus.yml's static targets), and a
// master's own address taken as its peers name it: --advertise-host, else the host it binds,
// else (a wildcard bind) the host Prometheus used to reach it.
// See docs/design.md, "Monitoring".
import { hostname } from "node:os";
import { formatAddress, parseAddress, parseHost } from "../config/fields.js";
import { RingcacheError } from "../errors.js";

export type MemberRole = "master" | "auxiliary";
export const MEMBER_ROLES: readonly MemberRole[] = ["master", "auxiliary"];

/**
 * The target label naming the scraped member, by role. A master's own series already use
 * `node` for the auxiliary node they describe (ringcache_master_node_up{node="a1"}), so a
 * master is `master`; an auxiliary node is `node`, as its own series label themselves.
 */
export const TARGET_LABEL: Readonly<Record<MemberRole, string>> = {
  master: "master",
  auxiliary: "node",
};

/** One member at the address of its metrics (a master's HTTP port, a node's --http-port). */
export interface ScrapeTarget {
  readonly role: MemberRole;
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/** An http_sd target group. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/** The labels Prometheus attaches to a member's series (besides job and instance). */
export function targetLabels(role: MemberRole, id: string): Record<string, string> {
  return { role, [TARGET_LABEL[role]]: id };
}

/** The `role` query parameter: undefined (every member) or one role; a BAD_REQUEST otherwise. */
export function parseRoleQuery(query: string): MemberRole | undefined {
  const params = new URLSearchParams(query);
  const role = params.get("role");
  if (role === null || role === "") return undefined;
  if ((MEMBER_ROLES as readonly string[]).includes(role)) return role as MemberRole;
  throw new RingcacheError(
    "BAD_REQUEST",
    `role must be one of ${MEMBER_ROLES.join(", ")}; got ${JSON.stringify(role)}`,
  );
}

/** The http_sd document: one group per member (their labels differ), sorted by role and id. */
export function httpSdGroups(
  targets: readonly ScrapeTarget[],
  role: MemberRole | undefined,
): TargetGroup[] {
  const seen = new Set<string>();
  return targets
    .filter((t) => role === undefined || t.role === role)
    .filter((t) => {
      const key = `${t.role} ${t.id}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) =>
      a.role !== b.role ? (a.role === "master" ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    )
    .map((t) => ({
      targets: [formatAddress(t.host, t.port)],
      labels: targetLabels(t.role, t.id),
    }));
}

const WILDCARD = new Set(["0.0.0.0", "::", "[::]", ""]);

/**
 * The host this master names itself by: `advertiseHost`, else `bindHost` unless it is a
 * wildcard, else the host of the request's Host header (how the caller reached it), else the
 * machine's host name.
 */
export function ownHost(
  advertiseHost: string | undefined,
  bindHost: string,
  hostHeader: string | undefined,
): string {
  if (advertiseHost !== undefined) return advertiseHost;
  if (!WILDCARD.has(bindHost)) return bindHost;
  if (hostHeader !== undefined) {
    const asAddress = parseAddress(hostHeader);
    const host = asAddress?.host ?? parseHost(hostHeader);
    if (host !== undefined && !WILDCARD.has(host)) return host;
  }
  return hostname();
}

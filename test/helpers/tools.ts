// System tools some tests need (redis-cli, redis-server, nginx, prometheus, nutcracker; ip,
// iptables and etcd across hosts). A test that needs a missing tool skips with a message naming
// the package that brings it; CI installs them all, so nothing skips there.
import { execFileSync } from "node:child_process";

const PACKAGES: Readonly<Record<string, string>> = {
  "redis-cli": "redis-tools",
  "redis-benchmark": "redis-tools",
  "redis-server": "redis-server",
  nginx: "nginx",
  prometheus: "prometheus",
  promtool: "prometheus",
  amtool: "prometheus-alertmanager",
  nutcracker: "nutcracker",
  "docker-compose": "docker-compose",
  ip: "iproute2",
  iptables: "iptables",
  etcd: "etcd-server",
  etcdctl: "etcd-client",
  chromium: "chromium",
  openssl: "openssl",
};

const found = new Map<string, string | undefined>();

/** Absolute path of a tool on PATH (or the sbin dirs), or undefined. */
export function which(tool: string): string | undefined {
  if (found.has(tool)) return found.get(tool);
  let path: string | undefined;
  try {
    path = execFileSync(
      "sh",
      ["-c", `command -v ${tool} || ls /usr/sbin/${tool} /sbin/${tool} 2>/dev/null | head -n1`],
      {
        encoding: "utf8",
      },
    ).trim();
  } catch {
    path = undefined;
  }
  found.set(tool, path === "" ? undefined : path);
  return found.get(tool);
}

/** A skip reason for node:test's `skip` option when a tool is missing, else false. */
export function skipUnless(...tools: string[]): string | false {
  const missing = tools.filter((t) => which(t) === undefined);
  if (missing.length === 0) return false;
  const pkgs = [...new Set(missing.map((t) => PACKAGES[t] ?? t))].join(" ");
  return `needs ${missing.join(", ")} (install with: apt-get install -y ${pkgs})`;
}

/**
 * The skip reason of a test that builds network namespaces and iptables rules: it needs root
 * (CI runs as root) and the tools, else false.
 */
export function skipUnlessRoot(...tools: string[]): string | false {
  if (process.getuid?.() !== 0) return "needs root (network namespaces and iptables rules)";
  return skipUnless(...tools);
}

/** A Redis client library of another language, as Debian packages it, and how to check it. */
export interface LanguageClient {
  readonly name: string;
  /** The interpreter and the arguments that run a script (the script's path comes next). */
  readonly command: readonly string[];
  /** Arguments that exit 0 only when the library loads. */
  readonly probe: readonly string[];
  readonly packages: string;
}

export const LANGUAGE_CLIENTS: readonly LanguageClient[] = [
  {
    // Debian's python3, not one on PATH from elsewhere: python3-redis installs for it.
    name: "redis-py",
    command: ["/usr/bin/python3"],
    probe: ["-c", "import redis"],
    packages: "python3 python3-redis",
  },
  {
    name: "redis-rb",
    command: ["ruby"],
    probe: ["-e", 'require "redis"'],
    packages: "ruby ruby-redis",
  },
  {
    name: "phpredis",
    command: ["php"],
    probe: ["-r", 'exit(class_exists("Redis") ? 0 : 1);'],
    packages: "php-cli php-redis",
  },
];

/** A skip reason when a language's interpreter or Redis library is missing, else false. */
export function skipUnlessClient(client: LanguageClient): string | false {
  try {
    execFileSync(client.command[0] as string, [...client.command.slice(1), ...client.probe], {
      stdio: "ignore",
    });
    return false;
  } catch {
    return `needs ${client.name} (install with: apt-get install -y ${client.packages})`;
  }
}

// Host names for the tests across hosts. `ip netns exec <ns>` shows /etc/netns/<ns>/hosts to the
// process as its /etc/hosts (a bind mount made at each exec), so the hosts of a TestNetwork can
// share a table of names, and a test moves a name to another address by rewriting the files in
// place: a bind mount keeps showing the file (the inode) it was made with, so a new file renamed
// over the old one would go unseen.
//
//   const names = new HostNames("ringcache.test", { a1: a1.address });
//   names.give(m1);                       before starting processes in m1
//   names.set("a1", a1b.address);         every given host now resolves a1.ringcache.test there
//   names.remove();                       (also when the process exits)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Host } from "./hosts/network.js";
import { which } from "./tools.js";

const NETNS_DIR = "/etc/netns";
/** The prefix of the test network's namespaces (test/helpers/hosts/network.ts). */
const NS_PREFIX = "rch-";

const live = new Set<HostNames>();

/** Removes /etc/netns/<ns> directories of test namespaces that no longer exist. */
function removeLeftovers(): void {
  if (!existsSync(NETNS_DIR)) return;
  let namespaces: string;
  try {
    namespaces = execFileSync(which("ip") ?? "ip", ["netns", "list"], { encoding: "utf8" });
  } catch {
    return;
  }
  const existing = new Set(namespaces.split("\n").map((l) => l.trim().split(" ")[0]));
  for (const dir of readdirSync(NETNS_DIR)) {
    if (dir.startsWith(NS_PREFIX) && !existing.has(dir)) {
      rmSync(join(NETNS_DIR, dir), { recursive: true, force: true });
    }
  }
}

export class HostNames {
  readonly domain: string;
  private readonly table = new Map<string, string>();
  private readonly hosts: Host[] = [];

  /** `entries`: short name → address; each name is `<short>.<domain>`. */
  constructor(domain: string, entries: Readonly<Record<string, string>> = {}) {
    if (live.size === 0) {
      removeLeftovers();
      process.once("exit", () => {
        for (const names of live) names.remove();
      });
    }
    live.add(this);
    this.domain = domain;
    for (const [name, address] of Object.entries(entries)) this.table.set(name, address);
  }

  /** The full name of `short`. */
  name(short: string): string {
    return `${short}.${this.domain}`;
  }

  /** Gives these hosts the table as /etc/hosts: processes started there from now on see it. */
  give(...hosts: Host[]): void {
    for (const host of hosts) {
      mkdirSync(join(NETNS_DIR, host.ns), { recursive: true });
      this.hosts.push(host);
      this.write(host);
    }
  }

  /** Moves `short` to `address` in every given host's /etc/hosts, rewriting each file in place. */
  set(short: string, address: string): void {
    this.table.set(short, address);
    for (const host of this.hosts) {
      const before = this.inode(host);
      this.write(host);
      if (this.inode(host) !== before) throw new Error(`${this.path(host)} was replaced`);
    }
  }

  /** The inode of a host's file (the test shows a rewrite kept it). */
  inode(host: Host): number {
    return statSync(this.path(host)).ino;
  }

  remove(): void {
    for (const host of this.hosts) {
      rmSync(join(NETNS_DIR, host.ns), { recursive: true, force: true });
    }
    this.hosts.length = 0;
    live.delete(this);
  }

  private path(host: Host): string {
    return join(NETNS_DIR, host.ns, "hosts");
  }

  /** Truncates and writes the file: the same inode, new content. */
  private write(host: Host): void {
    const lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost"];
    for (const [short, address] of this.table) lines.push(`${address} ${this.name(short)}`);
    writeFileSync(this.path(host), `${lines.join("\n")}\n`);
  }
}

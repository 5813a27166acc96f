// Hosts on one machine for the tests across hosts: each host is a Linux network namespace with
// its own address on a bridge, and faults are iptables rules inside the namespaces. DROP, not
// REJECT: a partition is silent, as a cut cable or a firewall makes it, and it holds for
// established connections too (every packet is filtered, not only new connections).
//
//   root namespace (the test process, its clients) 10.B.C.1
//      │
//   bridge rchb-<run> ─┬─ veth rchv-<run>-0 ═══ eth0 10.B.C.11  namespace rch-<run>-m1
//                      ├─ veth rchv-<run>-1 ═══ eth0 10.B.C.21  namespace rch-<run>-a1
//                      └─ …
//
//   <run> = <pid in base 36>-<network number in this process>: parallel test files never share
//   a name, and names whose process is gone are leftovers of a crashed run, removed by the next
//   TestNetwork.create(). Each run claims its /24 with a file in /run/ringcache-hosts/.
//
//   const net = await TestNetwork.create();
//   const m1 = await net.addHost("m1", 11);
//   const proc = await m1.spawn("master-m1", ["master", "--host", m1.address, …]);
//   await net.cut(m1, a1);  …  await net.healAll();
//   await net.remove();     (also run on exit, SIGINT and SIGTERM)
import { execFile, execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { NodeProcess, tempDir, type LaunchOptions } from "../process.js";
import { which } from "../tools.js";
import { sleep, waitFor } from "../wait.js";

const execFileP = promisify(execFile);

const NS_PREFIX = "rch-";
const BRIDGE_PREFIX = "rchb-";
const VETH_PREFIX = "rchv-";
const CLAIMS_DIR = "/run/ringcache-hosts";

function ipPath(): string {
  return which("ip") ?? "ip";
}

function iptablesPath(): string {
  return which("iptables") ?? "iptables";
}

async function run(file: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileP(file, args, { encoding: "utf8" });
    return stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`${file} ${args.join(" ")} failed: ${stderr.trim() || String(err)}`, {
      cause: err,
    });
  }
}

/** For cleanup paths: runs to completion, ignores failure (the thing may be gone already). */
function runQuietly(file: string, args: readonly string[]): string {
  try {
    return execFileSync(file, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Runs of this process whose network exists: their names are not leftovers. */
const liveRuns = new Set<string>();
const liveNetworks = new Set<TestNetwork>();
let runCounter = 0;
let handlersInstalled = false;

/** True when the run that named something (`<pid36>-<n>`) has ended. */
function runEnded(run: string): boolean {
  const pid = parseInt(run.split("-")[0] ?? "", 36);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return !liveRuns.has(run);
  return !alive(pid);
}

/** The run part of a name made here (`rch-<pid36>-<n>-…`), or undefined. */
function runOf(name: string, prefix: string): string | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const [pid, n] = name.slice(prefix.length).split("-");
  return pid === undefined || n === undefined ? undefined : `${pid}-${n}`;
}

function killNamespaceProcesses(ns: string): number[] {
  const pids = runQuietly(ipPath(), ["netns", "pids", ns])
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((p) => Number.isSafeInteger(p) && p > 0);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  return pids;
}

/**
 * Removes the namespaces, links and subnet claims of runs whose process has ended (a test
 * process killed before its cleanup ran). Names of live runs are left alone.
 */
export function removeLeftovers(): void {
  const ip = ipPath();
  for (const line of runQuietly(ip, ["netns", "list"]).split("\n")) {
    const ns = line.trim().split(" ")[0] ?? "";
    const run = runOf(ns, NS_PREFIX);
    if (run === undefined || !runEnded(run)) continue;
    killNamespaceProcesses(ns);
    runQuietly(ip, ["netns", "del", ns]);
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
  for (const line of runQuietly(ip, ["-o", "link", "show"]).split("\n")) {
    const name = (line.split(":")[1] ?? "").trim().split("@")[0] ?? "";
    const run = runOf(name, VETH_PREFIX) ?? runOf(name, BRIDGE_PREFIX);
    if (run === undefined || !runEnded(run)) continue;
    runQuietly(ip, ["link", "del", name]);
  }
  if (existsSync(CLAIMS_DIR)) {
    for (const file of readdirSync(CLAIMS_DIR)) {
      const path = join(CLAIMS_DIR, file);
      let owner: string;
      try {
        owner = readFileSync(path, "utf8").trim();
      } catch {
        continue;
      }
      if (runEnded(owner)) rmSync(path, { force: true });
    }
  }
}

/** Removes every network of this process, synchronously: the last thing an exiting process does. */
function removeAllNow(): void {
  for (const net of liveNetworks) net.removeNow();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once("exit", removeAllNow);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => {
      removeAllNow();
      process.exit(code);
    });
  }
}

/**
 * Claims a /24 no other run holds and no route of this machine uses: 10.B.C.0/24 with B from
 * 200 and C from this process's pid, moving on while taken. The claim is a file created
 * exclusively, so two runs starting at once never take the same one.
 */
async function claimSubnet(run: string): Promise<{ prefix: string; claim: string }> {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  const routes = await routesV4();
  const n = parseInt(run.split("-")[1] ?? "0", 36);
  for (let i = 0; i < 55 * 256; i++) {
    const b = 200 + ((n + Math.floor(i / 256)) % 55);
    const c = (process.pid + i) % 256;
    const prefix = `10.${b}.${c}`;
    if (routes.some((r) => r.startsWith(`${prefix}.`))) continue;
    const claim = join(CLAIMS_DIR, prefix);
    try {
      writeFileSync(claim, run, { flag: "wx" });
      return { prefix, claim };
    } catch {
      // Claimed by another run.
    }
  }
  throw new Error("no free 10.x.y.0/24 subnet left for a test network");
}

async function routesV4(): Promise<string[]> {
  return (await run(ipPath(), ["-4", "route", "show"])).split("\n").map((l) => l.trim());
}

type Chain = "INPUT" | "OUTPUT";

/** One DROP rule a fault put in a host's namespace, and the hosts it separates. */
interface Rule {
  readonly host: Host;
  readonly chain: Chain;
  readonly match: readonly string[];
  /** The hosts the rule separates ("*" for everything: an isolated host). */
  readonly between: readonly [string, string];
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** The program and its leading arguments (default: node running bin/ringcache.js). */
  readonly program?: readonly string[];
  /** Where the log file goes (default: the network's directory). */
  readonly logDir?: string;
}

/** One host: a network namespace with its own address on the test network's bridge. */
export class Host {
  readonly network: TestNetwork;
  readonly name: string;
  readonly ns: string;
  readonly address: string;
  /** The root namespace's end of the host's veth pair. */
  readonly veth: string;

  constructor(network: TestNetwork, name: string, ns: string, address: string, veth: string) {
    this.network = network;
    this.name = name;
    this.ns = ns;
    this.address = address;
    this.veth = veth;
  }

  /** `ip netns exec <ns>`: the prefix that runs a command inside this host. */
  get prefix(): readonly string[] {
    return [ipPath(), "netns", "exec", this.ns];
  }

  /** Runs a command inside this host to completion; returns its output. */
  exec(file: string, args: readonly string[]): Promise<string> {
    return run(ipPath(), ["netns", "exec", this.ns, file, ...args]);
  }

  /**
   * Starts a process inside this host (`ringcache …args` by default) with the NodeProcess API,
   * and resolves once the child's pid is the program's own: `ip netns exec` has exec'd, so
   * kill -9, SIGSTOP and SIGTERM reach the program, never a wrapper.
   */
  async spawn(
    name: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ): Promise<NodeProcess> {
    const launch: LaunchOptions = {
      prefix: this.prefix,
      ...(options.program !== undefined ? { program: options.program } : {}),
    };
    const proc = new NodeProcess(
      name,
      args,
      options.logDir ?? this.network.dir,
      options.env ?? {},
      launch,
    );
    proc.start();
    await this.waitExeced(proc, options.program?.[0] ?? process.execPath);
    return proc;
  }

  /** Resolves once the process runs `program` (not `ip`); fails if it exits first. */
  async waitExeced(proc: NodeProcess, program: string): Promise<void> {
    const want = realpathSync(program);
    await waitFor(
      `${proc.name} to run ${want} in ${this.ns}`,
      () => {
        const pid = proc.pid;
        if (!proc.running || pid === undefined) {
          throw new Error(`${proc.name} exited at start; log:\n${proc.logText()}`);
        }
        try {
          return readlinkSync(`/proc/${pid}/exe`) === want;
        } catch {
          return false;
        }
      },
      { timeoutMs: 5000, intervalMs: 5 },
    );
  }

  async iptables(op: "-A" | "-D", chain: Chain, match: readonly string[]): Promise<void> {
    await this.exec(iptablesPath(), ["-w", op, chain, ...match, "-j", "DROP"]);
  }

  /** This host's iptables rules (`iptables -S`), for a failure's diagnosis. */
  rules(): Promise<string> {
    return this.exec(iptablesPath(), ["-w", "-S"]);
  }
}

export interface TestNetworkOptions {
  /**
   * Keep the directory of logs and data after remove() (also with RINGCACHE_KEEP_HOSTS=1, whose
   * path is printed).
   */
  readonly keepDir?: boolean;
}

export class TestNetwork {
  readonly run: string;
  /** The first three octets of the subnet, e.g. "10.203.17". */
  readonly prefix: string;
  /** The root namespace's address: where the test process's clients come from. */
  readonly gateway: string;
  readonly bridge: string;
  /** Logs and data of every process started on this network. */
  readonly dir: string;
  readonly hosts = new Map<string, Host>();
  private readonly claim: string;
  private readonly keepDir: boolean;
  private rulesInForce: Rule[] = [];
  private removed = false;

  private constructor(run: string, prefix: string, claim: string, keepDir: boolean) {
    this.run = run;
    this.prefix = prefix;
    this.gateway = `${prefix}.1`;
    this.bridge = `${BRIDGE_PREFIX}${run}`;
    this.claim = claim;
    this.keepDir = keepDir;
    this.dir = tempDir("ringcache-hosts-");
  }

  /** Makes a bridge with the root namespace on it, after removing leftovers of ended runs. */
  static async create(options: TestNetworkOptions = {}): Promise<TestNetwork> {
    installHandlers();
    removeLeftovers();
    const n = runCounter++;
    if (n >= 36) throw new Error("at most 36 test networks per process");
    const runName = `${process.pid.toString(36)}-${n.toString(36)}`;
    liveRuns.add(runName);
    const { prefix, claim } = await claimSubnet(runName);
    const keep = options.keepDir === true || process.env["RINGCACHE_KEEP_HOSTS"] === "1";
    const net = new TestNetwork(runName, prefix, claim, keep);
    liveNetworks.add(net);
    try {
      const ip = ipPath();
      await run(ip, ["link", "add", "name", net.bridge, "type", "bridge"]);
      await run(ip, ["addr", "add", `${net.gateway}/24`, "dev", net.bridge]);
      await run(ip, ["link", "set", net.bridge, "up"]);
    } catch (err) {
      await net.remove();
      throw err;
    }
    return net;
  }

  /**
   * Adds a host named `name` (letters and digits) at 10.B.C.<octet> (default: the next free
   * one from .11): a namespace with `lo` up and eth0 on the bridge.
   */
  async addHost(name: string, octet?: number): Promise<Host> {
    if (!/^[a-z][a-z0-9]*$/.test(name)) throw new Error(`bad host name "${name}"`);
    if (this.hosts.has(name)) throw new Error(`host ${name} exists`);
    const used = new Set([...this.hosts.values()].map((h) => Number(h.address.split(".")[3])));
    let last = octet ?? 11;
    while (octet === undefined && used.has(last)) last++;
    if (last < 2 || last > 254 || used.has(last)) throw new Error(`address .${last} not free`);
    const index = this.hosts.size;
    const host = new Host(
      this,
      name,
      `${NS_PREFIX}${this.run}-${name}`,
      `${this.prefix}.${last}`,
      `${VETH_PREFIX}${this.run}-${index}`,
    );
    this.hosts.set(name, host);
    const ip = ipPath();
    await run(ip, ["netns", "add", host.ns]);
    await run(ip, ["-n", host.ns, "link", "set", "lo", "up"]);
    await run(ip, [
      "link",
      "add",
      host.veth,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      host.ns,
    ]);
    await run(ip, ["link", "set", host.veth, "master", this.bridge, "up"]);
    await run(ip, ["-n", host.ns, "addr", "add", `${host.address}/24`, "dev", "eth0"]);
    await run(ip, ["-n", host.ns, "link", "set", "eth0", "up"]);
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Cuts a from b in both directions: every packet between them is dropped. */
  async cut(a: Host, b: Host): Promise<void> {
    await this.add([
      { host: a, chain: "OUTPUT", match: ["-d", b.address], between: [a.name, b.name] },
      { host: a, chain: "INPUT", match: ["-s", b.address], between: [a.name, b.name] },
      { host: b, chain: "OUTPUT", match: ["-d", a.address], between: [a.name, b.name] },
      { host: b, chain: "INPUT", match: ["-s", a.address], between: [a.name, b.name] },
    ]);
  }

  /** Drops the packets from `from` to `to`; those from `to` to `from` still pass. */
  async dropOneWay(from: Host, to: Host): Promise<void> {
    await this.add([
      { host: from, chain: "OUTPUT", match: ["-d", to.address], between: [from.name, to.name] },
      { host: to, chain: "INPUT", match: ["-s", from.address], between: [from.name, to.name] },
    ]);
  }

  /** Cuts a host from everything else: the other hosts and the root namespace (its clients). */
  async isolate(host: Host): Promise<void> {
    await this.add([
      { host, chain: "OUTPUT", match: ["!", "-o", "lo"], between: [host.name, "*"] },
      { host, chain: "INPUT", match: ["!", "-i", "lo"], between: [host.name, "*"] },
    ]);
  }

  /**
   * Removes the faults between a and b (both directions), or with b omitted, every fault that
   * involves a (its cuts, one-way drops and isolation).
   */
  async heal(a: Host, b?: Host): Promise<void> {
    const matches = (r: Rule): boolean => {
      const [x, y] = r.between;
      if (b === undefined) return x === a.name || y === a.name;
      return (x === a.name && y === b.name) || (x === b.name && y === a.name);
    };
    await this.drop(this.rulesInForce.filter(matches));
  }

  /** Removes every fault. */
  async healAll(): Promise<void> {
    await this.drop([...this.rulesInForce]);
  }

  /** Every host's rules, for a failure's diagnosis. */
  async describeRules(): Promise<string> {
    const out: string[] = [];
    for (const h of this.hosts.values()) {
      const rules = (await h.rules()).split("\n").filter((l) => l.startsWith("-A"));
      out.push(`${h.name} ${h.address}: ${rules.length === 0 ? "no rules" : rules.join("; ")}`);
    }
    return out.join("\n");
  }

  private async add(rules: readonly Rule[]): Promise<void> {
    for (const r of rules) {
      await r.host.iptables("-A", r.chain, r.match);
      this.rulesInForce.push(r);
    }
  }

  private async drop(rules: readonly Rule[]): Promise<void> {
    for (const r of rules) {
      await r.host.iptables("-D", r.chain, r.match);
      this.rulesInForce = this.rulesInForce.filter((x) => x !== r);
    }
  }

  /**
   * Kills every process left in the hosts (kill -9), then deletes the namespaces, links and the
   * subnet's claim. Stop the processes gracefully first when the test needs them to.
   */
  async remove(): Promise<void> {
    if (this.removed) return;
    const pids = [...this.hosts.values()].flatMap((h) => killNamespaceProcesses(h.ns));
    for (let i = 0; i < 200 && pids.some((p) => existsSync(`/proc/${p}`)); i++) await sleep(10);
    this.removeNow();
  }

  /** remove() without waiting: for exit and signal handlers. */
  removeNow(): void {
    if (this.removed) return;
    this.removed = true;
    const ip = ipPath();
    for (const h of this.hosts.values()) {
      killNamespaceProcesses(h.ns);
      runQuietly(ip, ["link", "del", h.veth]);
      runQuietly(ip, ["netns", "del", h.ns]);
      // Files a test put in place of the host's /etc ones (`ip netns exec` mounts them).
      rmSync(`/etc/netns/${h.ns}`, { recursive: true, force: true });
    }
    runQuietly(ip, ["link", "del", this.bridge]);
    try {
      unlinkSync(this.claim);
    } catch {
      // Removed with the leftovers of another run's start: it is ours no more anyway.
    }
    liveNetworks.delete(this);
    liveRuns.delete(this.run);
    if (this.keepDir) console.log(`test network ${this.run}: logs and data kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

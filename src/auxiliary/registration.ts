// An auxiliary node's registration in etcd, with --coordination etcd
// (docs/design.md, "Coordination through etcd"): its address under <prefix>/nodes/<id>, held
// by a lease of its own, so that masters on any host find it without --auxiliary; the masters'
// addresses read back for the hand-off on shutdown; and the leader's term learnt from the
// election, so that the node refuses a former leader's move steps even before the new
// leader's first step reaches it.
//
//   start: check etcd (a ConfigError: exit 2) ─► lease ─► put nodes/<id> ─► watch election/
//   lease lost (etcd away longer than its TTL) ─► a new lease and the key put again, retried
//   stop:  revoke the lease (the key goes; to the masters that is not "down": probes decide)
import type { Lease } from "etcd3";
import type { AuxiliaryConfig } from "../config/schema.js";
import type { Address } from "../config/fields.js";
import {
  EtcdKeys,
  checkEtcd,
  createEtcdClient,
  openPrefixWatch,
  rangeEnd,
  type Etcd3,
  type IKeyValue,
  type PrefixWatch,
} from "../etcd/client.js";
import type { Logger } from "../log.js";

export interface RegistrationEntry {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly httpPort: number;
}

export interface EtcdRegistrationDeps {
  /** What to register (known once the node listens). */
  readonly entry: () => RegistrationEntry;
  /** The current leader's term, as the election shows it. */
  readonly term: (term: number) => void;
}

export class EtcdRegistration {
  private readonly config: AuxiliaryConfig;
  private readonly logger: Logger;
  private readonly deps: EtcdRegistrationDeps;
  private readonly keys: EtcdKeys;
  private client: Etcd3 | null = null;
  private lease: Lease | null = null;
  private running = false;
  private retry: NodeJS.Timeout | null = null;
  private watcher: PrefixWatch | null = null;
  /** Reads of the whole prefix begun (see watch). */
  private reads = 0;
  /** Election keys and their create revisions: the lowest is the leader's term. */
  private readonly election = new Map<string, number>();
  /** Masters' HTTP addresses, from their registration. */
  private readonly masterAddresses = new Map<string, Address>();

  constructor(config: AuxiliaryConfig, logger: Logger, deps: EtcdRegistrationDeps) {
    this.config = config;
    this.logger = logger;
    this.deps = deps;
    this.keys = new EtcdKeys(config.etcdPrefix);
  }

  /** The masters' HTTP addresses as they registered in etcd. */
  get masters(): Address[] {
    return [...this.masterAddresses.values()];
  }

  private get callMs(): number {
    return Math.max(200, Math.min(2000, Math.floor(this.config.etcdLeaseTtl / 3)));
  }

  async start(): Promise<void> {
    this.client = await createEtcdClient(this.config, this.callMs, 1000);
    await checkEtcd(this.client, this.config);
    this.running = true;
    await this.register();
    await this.watch();
  }

  stop(): void {
    this.running = false;
    if (this.retry !== null) clearTimeout(this.retry);
    const client = this.client;
    const lease = this.lease;
    const watcher = this.watcher;
    this.lease = null;
    this.watcher = null;
    if (client === null) return;
    void (async () => {
      watcher?.close();
      await lease?.revoke({ deadline: Date.now() + 1000 }).catch(() => undefined);
      client.close();
    })();
  }

  /** A lease and the node's key under it; again whenever the lease is lost. */
  private async register(): Promise<void> {
    const client = this.client;
    if (client === null || !this.running) return;
    const lease = client.lease(Math.ceil(this.config.etcdLeaseTtl / 1000));
    this.lease = lease;
    lease.on("lost", (err) => {
      if (!this.running || this.lease !== lease) return;
      this.logger.warn({ err: err.message }, "etcd lease lost; registering again");
      this.again();
    });
    const entry = this.deps.entry();
    try {
      await lease.put(`${this.keys.nodes}${entry.id}`).value(JSON.stringify(entry));
      this.logger.info({ prefix: this.config.etcdPrefix }, "registered in etcd");
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, "cannot register in etcd; will retry");
      lease.release();
      this.again();
    }
  }

  private again(): void {
    if (!this.running || this.retry !== null) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.register();
    }, 1000);
    this.retry.unref();
  }

  /** The leader's term: the lowest create revision among the election keys. */
  private reportTerm(): void {
    let lowest = 0;
    for (const r of this.election.values()) if (lowest === 0 || r < lowest) lowest = r;
    if (lowest > 0) this.deps.term(lowest);
  }

  /**
   * Watches the election (the leader's term) and the masters (their addresses): reads the
   * prefix, then watches it from the next revision; read again whenever etcd cancels the watch.
   */
  private async watch(): Promise<void> {
    const client = this.client as Etcd3;
    const read = ++this.reads;
    const res = await client.kv.range({
      key: Buffer.from(this.keys.prefix),
      range_end: rangeEnd(this.keys.prefix),
      keys_only: false,
    });
    if (read !== this.reads || !this.running) return;
    // The election keys come in key order, not in the order they were made: the term is taken
    // once all are in, or the first key read would pass for the lowest (and, the node keeping
    // the highest term it has seen, would fence the real leader's steps for good).
    this.election.clear();
    this.masterAddresses.clear();
    for (const kv of res.kvs) this.apply("put", kv, false);
    this.reportTerm();
    this.watcher?.close();
    this.watcher = null;
    const watch = await openPrefixWatch(
      this.config,
      this.callMs,
      1000,
      this.keys.prefix,
      Number(res.header.revision) + 1,
      {
        put: (kv) => this.apply("put", kv),
        delete: (kv) => this.apply("delete", kv),
        cancelled: (err) => {
          this.logger.warn({ err: err.message }, "etcd watch cancelled; reading again");
          this.watchUntilDone();
        },
      },
    );
    if (read !== this.reads || !this.running) {
      watch.close();
      return;
    }
    this.watcher = watch;
  }

  private watchUntilDone(): void {
    if (!this.running) return;
    this.watch().catch(() => {
      const timer = setTimeout(() => this.watchUntilDone(), 1000);
      timer.unref();
    });
  }

  /** One key as the watch (or the read before it) shows it; `report`: say the term after. */
  private apply(type: "put" | "delete", kv: IKeyValue, report = true): void {
    const key = kv.key.toString();
    if (key.startsWith(this.keys.election)) {
      if (type === "delete") this.election.delete(key);
      else this.election.set(key, Number(kv.create_revision));
      if (report) this.reportTerm();
      return;
    }
    if (key.startsWith(this.keys.masters)) {
      const id = key.slice(this.keys.masters.length);
      if (type === "delete") {
        this.masterAddresses.delete(id);
        return;
      }
      try {
        const r = JSON.parse(kv.value.toString("utf8")) as { host?: unknown; httpPort?: unknown };
        if (typeof r.host === "string" && typeof r.httpPort === "number" && r.httpPort > 0) {
          this.masterAddresses.set(id, { host: r.host, port: r.httpPort });
        }
      } catch {
        // not a master's record: ignored
      }
    }
  }
}

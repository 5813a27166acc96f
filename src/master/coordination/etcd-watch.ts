// What a master sees of its cluster's prefix in etcd, with coordination through etcd
// (docs/design.md, "Coordination through etcd"): the election keys (the candidates), the
// masters' records and acknowledgements, the published membership and the auxiliary nodes'
// registrations; read whole, then watched from the revision after that read.
//
//   resync: range(prefix) ─► apply every key ─► "read" ─► watch from revision + 1
//   watch:  put/delete ─► apply one key ─► "election" / "peers" / "membership" / "registered"
//   cancelled by etcd (history compacted, login forgotten) ─► resync, until etcd answers
//
// What must stay true:
// - Only the latest of overlapping reads applies what it read and keeps its watch, so no older
//   view of the prefix lands after a newer one.
// - After a full read the listener hears of the election once, with every key in: the keys
//   come in key order, not in the order they were made, and a partial set could name a master
//   that does not lead.
import type { HybridClock } from "../../clock/hlc.js";
import type { CoordinationConfig } from "../../config/schema.js";
import {
  openPrefixWatch,
  rangeEnd,
  type Etcd3,
  type EtcdKeys,
  type IKeyValue,
  type PrefixWatch,
} from "../../etcd/client.js";
import type { Logger } from "../../log.js";
import type { NodeAddress } from "../membership.js";
import type { PublishedMembership } from "./coordination.js";
import type { MasterRecord } from "./etcd-session.js";

/** A master standing for election: its election key, its id, the key's create revision. */
export interface Candidate {
  readonly key: string;
  readonly id: string;
  readonly revision: number;
}

/** What the watch tells the coordination. */
export interface EtcdWatchListener {
  /** One election key was put or deleted (`deleted`: the key, when it went). */
  election(deleted: string | null): void;
  /** A full read was applied: every key is in. */
  read(): void;
  /** The masters' records or acknowledgements changed. */
  peers(): void;
  /** A membership was published. */
  membership(m: PublishedMembership): void;
  /** An auxiliary node registered. */
  registered(node: NodeAddress): void;
  /** The watch runs, or stopped running (changes may be missed until it runs again). */
  connection(): void;
}

export interface EtcdWatchOptions {
  readonly config: CoordinationConfig;
  readonly keys: EtcdKeys;
  readonly logger: Logger;
  readonly clock: HybridClock;
  /** The deadline of one call (ms). */
  readonly callTimeoutMs: () => number;
  /** How soon a broken watch stream is opened again (ms). */
  readonly watchRetryMs: number;
  /** How soon a read that failed is tried again (ms). */
  readonly retryMs: () => number;
}

export class EtcdWatch {
  /** The election keys, by key. */
  readonly candidates = new Map<string, Candidate>();
  /** The masters registered, by id. */
  readonly masters = new Map<string, MasterRecord>();
  /** The newest generation each master acknowledged, by id. */
  readonly acks = new Map<string, number>();
  /** Whether the watch runs: every change is seen. */
  connected = false;

  private readonly client: Etcd3;
  private readonly options: EtcdWatchOptions;
  private readonly listener: EtcdWatchListener;
  private watcher: PrefixWatch | null = null;
  /** Reads of the whole prefix begun (see resync). */
  private reads = 0;
  private closed = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(client: Etcd3, options: EtcdWatchOptions, listener: EtcdWatchListener) {
    this.client = client;
    this.options = options;
    this.listener = listener;
  }

  /** Reads the whole prefix, then watches it from the revision after that read. */
  async resync(): Promise<void> {
    const keys = this.options.keys;
    const read = ++this.reads;
    const res = await this.client.kv.range({
      key: Buffer.from(keys.prefix),
      range_end: rangeEnd(keys.prefix),
    });
    if (read !== this.reads || this.closed) return;
    this.candidates.clear();
    this.masters.clear();
    this.acks.clear();
    for (const kv of res.kvs) this.apply("put", kv, false);
    this.listener.read();
    const old = this.watcher;
    this.watcher = null;
    this.connected = false;
    old?.close();
    const watch = await openPrefixWatch(
      this.options.config,
      this.options.callTimeoutMs(),
      this.options.watchRetryMs,
      keys.prefix,
      Number(res.header.revision) + 1,
      {
        connected: () => {
          this.connected = true;
          this.listener.connection();
        },
        disconnected: () => {
          if (!this.connected) return;
          this.connected = false;
          this.options.logger.warn("etcd watch interrupted; keeping the current ring");
          this.listener.connection();
        },
        put: (kv) => this.apply("put", kv),
        delete: (kv) => this.apply("delete", kv),
        cancelled: (err) => {
          // Its history compacted past our revision, or its login forgotten: read it all again.
          this.options.logger.warn({ err: err.message }, "etcd watch cancelled; reading again");
          this.connected = false;
          this.listener.connection();
          this.resyncUntilDone();
        },
      },
    );
    if (read !== this.reads || this.closed) {
      watch.close();
      return;
    }
    this.watcher = watch;
  }

  /** Waits (bounded) until the watch runs. */
  async waitConnected(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.connected && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) clearTimeout(this.retry);
    this.retry = null;
    this.watcher?.close();
    this.watcher = null;
  }

  /** Reads the prefix and watches it again, retrying while etcd does not answer. */
  private resyncUntilDone(): void {
    if (this.closed) return;
    this.resync().catch((err: unknown) => {
      this.options.logger.debug({ err: (err as Error).message }, "etcd not read again yet");
      if (this.closed) return;
      this.retry = setTimeout(() => {
        this.retry = null;
        this.resyncUntilDone();
      }, this.options.retryMs());
      this.retry.unref();
    });
  }

  /** One key as the watch (or a full read) shows it; `one`: tell the listener of the election. */
  private apply(type: "put" | "delete", kv: IKeyValue, one = true): void {
    const key = kv.key.toString();
    const k = this.options.keys;
    if (key.startsWith(k.election)) {
      if (type === "delete") this.candidates.delete(key);
      else {
        this.candidates.set(key, {
          key,
          id: kv.value.toString(),
          revision: Number(kv.create_revision),
        });
      }
      if (one) this.listener.election(type === "delete" ? key : null);
      return;
    }
    if (key.startsWith(k.masters)) {
      const id = key.slice(k.masters.length);
      if (type === "delete") this.masters.delete(id);
      else {
        const record = parseJson(kv.value) as MasterRecord | null;
        if (record !== null && typeof record.id === "string" && typeof record.host === "string") {
          if (typeof record.clock === "number") this.options.clock.observe(record.clock);
          this.masters.set(id, record);
        }
      }
      this.listener.peers();
      return;
    }
    if (key.startsWith(k.acks)) {
      const id = key.slice(k.acks.length);
      if (type === "delete") this.acks.delete(id);
      else this.acks.set(id, Number(kv.value.toString()));
      this.listener.peers();
      return;
    }
    if (key === k.membership && type === "put") {
      const m = parseJson(kv.value) as PublishedMembership | null;
      if (m === null || typeof m.generation !== "number" || !Array.isArray(m.members)) {
        this.options.logger.warn("the membership in etcd is not one this master can read");
        return;
      }
      this.listener.membership(m);
      return;
    }
    if (key.startsWith(k.nodes) && type === "put") {
      const n = parseJson(kv.value) as NodeAddress | null;
      if (
        n !== null &&
        typeof n.id === "string" &&
        typeof n.host === "string" &&
        Number.isInteger(n.port) &&
        n.port > 0 &&
        n.port < 65536
      ) {
        this.listener.registered({
          id: n.id,
          host: n.host,
          port: n.port,
          ...(Number.isInteger(n.httpPort) ? { httpPort: n.httpPort } : {}),
        });
      }
    }
  }
}

function parseJson(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString("utf8")) as unknown;
  } catch {
    return null;
  }
}

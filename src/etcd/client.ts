// The etcd client both kinds of node use with --coordination etcd: how it is made from the
// settings, the one check at start that etcd answers (within a bounded time, with the
// credentials given), and the names of the keys under the cluster's prefix. What each node
// does with etcd is the master's coordination (master/coordination/etcd.ts) and the auxiliary
// node's registration (auxiliary/registration.ts); docs/design.md, "Coordination through etcd".
//
// The etcd3 package (gRPC) is loaded only when a node coordinates through etcd, so that a node
// with built-in coordination, and the in-process simulation, never load it.
import { readFileSync } from "node:fs";
import type { Etcd3, IKeyValue, IOptions } from "etcd3";
import type { Address } from "../config/fields.js";
import { ConfigError } from "../config/load.js";
import type { CoordinationConfig } from "../config/schema.js";

export type { Etcd3, IKeyValue };

type WatchBackoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>;

/** Longest the check at start waits for etcd's answer. */
const START_CHECK_MS = 5000;

/** The keys of one cluster under its prefix (see docs/design.md). */
export class EtcdKeys {
  readonly prefix: string;
  readonly election: string;
  readonly membership: string;
  readonly masters: string;
  readonly acks: string;
  readonly nodes: string;

  constructor(prefix: string) {
    this.prefix = `${prefix}/`;
    this.election = `${prefix}/election/`;
    this.membership = `${prefix}/membership`;
    this.masters = `${prefix}/masters/`;
    this.acks = `${prefix}/acks/`;
    this.nodes = `${prefix}/nodes/`;
  }
}

/** The end of etcd's range of every key that starts with `prefix` (the prefix, last byte + 1). */
export function rangeEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export function describeEndpoints(endpoints: readonly Address[]): string {
  return endpoints.map((e) => `${e.host}:${e.port}`).join(",");
}

/**
 * A client for the configured endpoints. Requests fail fast (a deadline of `callTimeoutMs`, no
 * retries, no circuit breaker: the caller retries on its own clock), and a broken watch is
 * opened again every `watchRetryMs`, so that a node notices etcd's return within its own
 * intervals rather than a library's back-off.
 */
export async function createEtcdClient(
  config: CoordinationConfig,
  callTimeoutMs: number,
  watchRetryMs: number,
): Promise<Etcd3> {
  const { Etcd3 } = await import("etcd3");
  const { ConstantBackoff, noop } = await import("cockatiel");
  const tls = config.etcdCaFile !== undefined;
  // etcd3 calls next() on the watch back-off it is given (a factory), though it types it as
  // the back-off itself.
  const watchBackoff = new ConstantBackoff(watchRetryMs) as unknown as WatchBackoff;
  const options: IOptions = {
    hosts: config.etcdEndpoints.map((e) => `${tls ? "https" : "http"}://${e.host}:${e.port}`),
    dialTimeout: callTimeoutMs,
    faultHandling: { host: () => noop, global: noop, watchBackoff },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
  };
  if (config.etcdUsername !== undefined && config.etcdPassword !== undefined) {
    options.auth = {
      username: config.etcdUsername,
      password: config.etcdPassword,
      callOptions: () => ({ deadline: Date.now() + callTimeoutMs }),
    };
  }
  if (tls) {
    const read = (flag: string, path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (err) {
        throw new ConfigError(`cannot read ${flag} ${path}: ${(err as Error).message}`);
      }
    };
    options.credentials = {
      rootCertificate: read("--etcd-ca-file", config.etcdCaFile),
      ...(config.etcdCertFile !== undefined && config.etcdKeyFile !== undefined
        ? {
            certChain: read("--etcd-cert-file", config.etcdCertFile),
            privateKey: read("--etcd-key-file", config.etcdKeyFile),
          }
        : {}),
    };
  }
  return new Etcd3(options);
}

/**
 * Checks at start that etcd answers a read of the cluster's prefix within a bounded time with
 * the credentials given; throws a ConfigError that says what to change (the node exits with
 * code 2). The password never appears in the message.
 */
export async function checkEtcd(client: Etcd3, config: CoordinationConfig): Promise<void> {
  const where = describeEndpoints(config.etcdEndpoints);
  try {
    await client.kv.range(
      { key: Buffer.from(`${config.etcdPrefix}/`), range_end: rangeEnd(`${config.etcdPrefix}/`) },
      { deadline: Date.now() + START_CHECK_MS },
    );
  } catch (err) {
    const name = (err as Error).constructor.name;
    const message = (err as Error).message;
    if (/Authentication|InvalidAuthToken|PermissionDenied|Unauthenticated/.test(name)) {
      throw new ConfigError(
        `etcd at ${where} refused ${config.etcdUsername === undefined ? "the request" : `user "${config.etcdUsername}"`}` +
          ` (${message}); check --etcd-username and --etcd-password, and the user's role on ${config.etcdPrefix}/`,
      );
    }
    throw new ConfigError(
      `cannot reach etcd at ${where} within ${START_CHECK_MS / 1000} s (${message}); check --etcd-endpoints` +
        (config.etcdCaFile !== undefined ? " and the TLS files" : "") +
        ", or start etcd",
    );
  }
}

/** A lease id as etcd's own tools print it (hexadecimal). */
export function leaseHex(id: string): string {
  return BigInt(id).toString(16);
}

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
export const START_CHECK_MS = 5000;

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
  if (tls) dropIpServerNameWarning();
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
      // Logging in is rare (at start, and when etcd lost its tokens) and slow: etcd checks the
      // password with bcrypt, which takes far longer than a read on a loaded machine.
      callOptions: () => ({ deadline: Date.now() + START_CHECK_MS }),
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
  try {
    return new Etcd3(options);
  } catch (err) {
    // The TLS files were read but do not make a TLS context: not PEM, or a key that is not the
    // certificate's.
    const e = err as Error & { reason?: unknown };
    const reason = typeof e.reason === "string" ? e.reason : e.message;
    throw new ConfigError(
      `cannot use the TLS files for etcd (${reason}): --etcd-ca-file ${config.etcdCaFile}` +
        (config.etcdCertFile === undefined
          ? ""
          : `, --etcd-cert-file ${config.etcdCertFile}, --etcd-key-file ${config.etcdKeyFile}`) +
        "; each must be PEM, and the key the certificate's own",
    );
  }
}

/**
 * Checks at start that etcd answers a read of the cluster's prefix within a bounded time with
 * the credentials given; throws a ConfigError that says what to change (the node exits with
 * code 2). The password never appears in the message.
 */
export async function checkEtcd(client: Etcd3, config: CoordinationConfig): Promise<void> {
  try {
    await client.kv.range(
      { key: Buffer.from(`${config.etcdPrefix}/`), range_end: rangeEnd(`${config.etcdPrefix}/`) },
      { deadline: Date.now() + START_CHECK_MS },
    );
  } catch (err) {
    throw new ConfigError(startFailure(err as Error, config));
  }
}

/**
 * Whether a failed call may pass by itself (etcd or the way to it slow, a member unreachable,
 * no quorum for a moment), as opposed to etcd refusing it (credentials, permissions, a bad
 * request), which trying again cannot change.
 */
export function isPassing(err: Error): boolean {
  return /DeadlineExceeded|Unavailable|Cancelled/.test(err.constructor.name);
}

/**
 * What to change when etcd did not answer the check at start, in one line: the credentials
 * etcd refused, the side of a TLS handshake that failed, or the endpoints. gRPC's reasons are
 * long and span lines (OpenSSL's error stack, a time): only their gist is kept.
 */
export function startFailure(err: Error, config: CoordinationConfig): string {
  const where = `etcd at ${describeEndpoints(config.etcdEndpoints)}`;
  const name = err.constructor.name;
  const reason = gist(err.message);
  const who = config.etcdUsername === undefined ? "" : ` user "${config.etcdUsername}"`;
  if (/PermissionDenied/.test(name)) {
    return (
      `etcd at ${describeEndpoints(config.etcdEndpoints)} denied${who === "" ? " this node" : who} ` +
      `the keys under ${config.etcdPrefix}/ (${reason}); give the user a role with readwrite on ` +
      `that prefix, or set --etcd-prefix to one it has`
    );
  }
  if (/Authentication|InvalidAuthToken|Unauthenticated/.test(name)) {
    return (
      `${where} refused${who === "" ? " the request" : who} (${reason}); check --etcd-username ` +
      `and --etcd-password`
    );
  }
  const tls = config.etcdCaFile !== undefined;
  const text = err.message;
  if (
    tls &&
    /alert (bad certificate|certificate required|unknown ca)|alert number (42|48|116)/i.test(text)
  ) {
    const given =
      config.etcdCertFile === undefined
        ? "no --etcd-cert-file was given"
        : `check --etcd-cert-file ${config.etcdCertFile} and --etcd-key-file`;
    return (
      `${where} refused this node's TLS client certificate (${reason}); it asks for one its own ` +
      `CA signed: ${given}`
    );
  }
  if (tls && /altnames|does not match certificate/i.test(text)) {
    return (
      `the TLS certificate of ${where} is not for that address (${reason}); list etcd in ` +
      `--etcd-endpoints by a name or address its certificate holds`
    );
  }
  if (
    tls &&
    /unable to verify|self[- ]signed certificate|unable to get (local )?issuer|certificate signature failure|certificate has expired|CERT_/i.test(
      text,
    )
  ) {
    return (
      `cannot verify the TLS certificate of ${where} against --etcd-ca-file ` +
      `${config.etcdCaFile} (${reason}); check --etcd-ca-file: it must hold the CA that ` +
      `signed etcd's certificate`
    );
  }
  if (
    tls &&
    /wrong version number|packet length too long|unknown protocol|disconnected before secure TLS/i.test(
      text,
    )
  ) {
    return (
      `${where} does not answer TLS (${reason}); drop --etcd-ca-file, --etcd-cert-file and ` +
      `--etcd-key-file, or give etcd's TLS client endpoints`
    );
  }
  return (
    `cannot reach ${where} within ${START_CHECK_MS / 1000} s (${reason}); check ` +
    `--etcd-endpoints${tls ? " and the TLS files" : ""}` +
    `${tls ? "" : " (an etcd that serves TLS needs --etcd-ca-file)"}, or start etcd`
  );
}

/**
 * The gist of a gRPC error's message, on one line: the last error of a failed connection,
 * without OpenSSL's error stack or the time gRPC appends.
 */
function gist(message: string): string {
  let text = message;
  const last =
    /Last error: (?:Error: )?([\s\S]*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:[\s\S]*)?$/.exec(
      text,
    );
  if (last?.[1] !== undefined && last[1].trim() !== "") text = last[1];
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(text);
  if (ssl?.[1] !== undefined) text = ssl[1];
  return text
    .replace(/^\d+ [A-Z_]+: /, "")
    .replace(/^Error(?: \[[A-Z_]+\])?: /, "")
    .replace(/\s+/g, " ")
    .trim();
}

let ipServerNameWarningDropped = false;

/**
 * gRPC names the server of a TLS connection by the endpoint's host, an IP address included,
 * and Node then warns once on stderr (DEP0123) that an IP address is no TLS server name: the
 * certificate is checked against the address all the same, so the warning says nothing
 * wrong, yet it would be the one line a node prints outside its log. That warning, and no
 * other, is dropped.
 */
function dropIpServerNameWarning(): void {
  if (ipServerNameWarningDropped) return;
  ipServerNameWarningDropped = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  const filtered = (warning: unknown, ...rest: unknown[]): void => {
    const options = rest[0];
    const code =
      typeof options === "object" && options !== null
        ? (options as { code?: unknown }).code
        : rest[1];
    if (code === "DEP0123") return;
    emit(warning, ...rest);
  };
  process.emitWarning = filtered;
}

/** What a watch of a prefix reports (see openPrefixWatch). */
export interface PrefixWatchEvents {
  readonly put: (kv: IKeyValue) => void;
  readonly delete: (kv: IKeyValue) => void;
  /** The watch runs (again): every change from now on is reported. */
  readonly connected?: () => void;
  /** The stream broke; etcd3 opens it again by itself (every `watchRetryMs`). */
  readonly disconnected?: () => void;
  /**
   * etcd cancelled the watch (its history compacted past the revision, or the login behind
   * the watch forgotten): it is over, and changes may have been missed. Read the prefix again
   * and open a new watch.
   */
  readonly cancelled: (err: Error) => void;
}

/** A running watch; close() ends it and closes its client. */
export interface PrefixWatch {
  close(): void;
}

/**
 * Watches every key under `prefix` from revision `from`, on a client of its own.
 *
 * Why not on the node's client: etcd3 runs all the watches of a client over one stream, opened
 * with the login the client holds at the time. An etcd that restarts forgets every login, so
 * it cancels each watch that stream creates ("invalid auth token"), and once one creation was
 * cancelled, etcd3 never creates another on that stream. A watch that etcd cancelled is
 * therefore never opened again on the same client: the caller opens a new PrefixWatch, whose
 * client logs in afresh. (Unary calls log in again by themselves.)
 */
export async function openPrefixWatch(
  config: CoordinationConfig,
  callTimeoutMs: number,
  watchRetryMs: number,
  prefix: string,
  from: number,
  on: PrefixWatchEvents,
): Promise<PrefixWatch> {
  const client = await createEtcdClient(config, callTimeoutMs, watchRetryMs);
  let watcher: Awaited<ReturnType<ReturnType<Etcd3["watch"]>["watcher"]>>;
  try {
    watcher = client.watch().prefix(prefix).startRevision(String(from)).watcher();
  } catch (err) {
    client.close();
    throw err;
  }
  watcher.on("connected", () => on.connected?.());
  watcher.on("disconnected", () => on.disconnected?.());
  watcher.on("put", (kv: IKeyValue) => on.put(kv));
  watcher.on("delete", (kv: IKeyValue) => on.delete(kv));
  watcher.on("error", (err: Error) => on.cancelled(err));
  let closed = false;
  return {
    close(): void {
      if (closed) return;
      closed = true;
      // Not awaited: etcd3 waits for a cancelled watch to be created before it cancels it, and
      // one that etcd refused never is. Closing the client ends its stream all the same.
      void watcher.cancel().catch(() => undefined);
      client.close();
    },
  };
}

/** A lease id as etcd's own tools print it (hexadecimal). */
export function leaseHex(id: string): string {
  return BigInt(id).toString(16);
}

// A real, single-member etcd for tests of coordination through etcd: /usr/bin/etcd (Debian's
// etcd-server) on free 127.0.0.1 ports with a temporary data directory, which can be stopped
// (kill -9 or SIGTERM), frozen and started again on the same ports and data. Tests that need it
// skip with `skip: skipUnless("etcd")` where it is not installed.
//
//   const etcd = await EtcdServer.start();
//   ["--coordination", "etcd", "--etcd-endpoints", etcd.endpoint]
//   await etcd.kill();  await etcd.restart();  await etcd.destroy();
//
// With `tls` (certificates from makeCertificates()), etcd serves its clients over TLS only and
// asks each for a certificate its CA signed (--client-cert-auth); enableAuth() turns etcd's
// authentication on with a user whose role reaches one prefix.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync, rmSync, writeFileSync, type WriteStream } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { freePorts } from "./ports.js";
import { tempDir } from "./process.js";
import { which } from "./tools.js";
import { waitFor } from "./wait.js";

/** Every etcd this process started, ended when it exits (a failed test must not leave one). */
const started = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of started) child.kill("SIGKILL");
});

/** PEM files made by makeCertificates(). */
export interface TestCertificates {
  /** The CA that signs the server's and the client's certificates. */
  readonly ca: string;
  /** etcd's certificate, for 127.0.0.1, and its key. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** A client's certificate and key. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed none of these. */
  readonly otherCa: string;
}

/**
 * A CA, a server certificate for 127.0.0.1 and a client certificate it signed, and a CA that
 * signed neither, made with `openssl` (P-256 keys, valid for a day) in `dir`.
 */
export function makeCertificates(dir: string): TestCertificates {
  const path = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  };
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const ca = (name: string, cn: string): void => {
    openssl(
      ...["req", "-x509", ...key, "-keyout", path(`${name}.key`), "-out", path(`${name}.pem`)],
      ...["-days", "1", "-subj", `/CN=${cn}`],
      ...["-addext", "basicConstraints=critical,CA:TRUE"],
      ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    );
  };
  const signed = (name: string, cn: string, extensions: string): void => {
    openssl(
      ...["req", ...key, "-keyout", path(`${name}.key`), "-out", path(`${name}.csr`)],
      ...["-subj", `/CN=${cn}`],
    );
    writeFileSync(path(`${name}.ext`), extensions);
    openssl(
      ...["x509", "-req", "-in", path(`${name}.csr`), "-CA", path("ca.pem")],
      ...["-CAkey", path("ca.key"), "-CAcreateserial", "-out", path(`${name}.pem`)],
      ...["-days", "1", "-extfile", path(`${name}.ext`)],
    );
  };
  ca("ca", "ringcache test CA");
  ca("other-ca", "another CA");
  signed(
    "server",
    "127.0.0.1",
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n",
  );
  signed(
    "client",
    "ringcache",
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
  );
  return {
    ca: path("ca.pem"),
    serverCert: path("server.pem"),
    serverKey: path("server.key"),
    clientCert: path("client.pem"),
    clientKey: path("client.key"),
    otherCa: path("other-ca.pem"),
  };
}

export interface EtcdServerOptions {
  /** Serve clients over TLS with these certificates, and require a client certificate. */
  readonly tls?: TestCertificates;
}

export class EtcdServer {
  readonly dir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly tls: TestCertificates | undefined;
  private child: ChildProcess | null = null;
  private log: WriteStream | null = null;
  private rootPassword: string | undefined;

  private constructor(
    dir: string,
    clientPort: number,
    peerPort: number,
    tls: TestCertificates | undefined,
  ) {
    this.dir = dir;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.tls = tls;
  }

  /** Starts a fresh etcd and waits until it answers. */
  static async start(options: EtcdServerOptions = {}): Promise<EtcdServer> {
    for (let attempt = 1; ; attempt++) {
      const [clientPort, peerPort] = (await freePorts(2)) as [number, number];
      const server = new EtcdServer(tempDir("ringcache-etcd-"), clientPort, peerPort, options.tls);
      try {
        await server.launch();
        return server;
      } catch (err) {
        await server.destroy();
        // A probed port taken by another process before etcd bound it: fresh ports.
        if (attempt < 4 && server.logText().includes("address already in use")) continue;
        throw err;
      }
    }
  }

  /** host:port of the client endpoint, as --etcd-endpoints takes it. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The flags a ringcache node needs to coordinate through this etcd. */
  flags(prefix = "/ringcache/test"): string[] {
    return ["--coordination", "etcd", "--etcd-endpoints", this.endpoint, "--etcd-prefix", prefix];
  }

  /** kill -9: etcd stops at once (its data directory keeps what it committed). */
  async kill(): Promise<void> {
    await this.signalAndWait("SIGKILL");
  }

  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /** Starts etcd again on the same ports and data, and waits until it answers. */
  async restart(): Promise<void> {
    if (this.running) await this.signalAndWait("SIGTERM");
    await this.launch();
  }

  /** Stops etcd and removes its data. */
  async destroy(): Promise<void> {
    if (this.running) await this.signalAndWait("SIGKILL");
    this.log?.end();
    rmSync(this.dir, { recursive: true, force: true });
  }

  logText(): string {
    try {
      return readFileSync(join(this.dir, "etcd.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Whether etcd answers its health endpoint now. */
  async healthy(): Promise<boolean> {
    try {
      const body =
        this.tls === undefined ? await this.healthOverHttp() : await this.healthOverTls();
      return body.health === "true";
    } catch {
      return false;
    }
  }

  /**
   * Turns etcd's authentication on: a root user (which etcd requires) and a user `user` whose
   * one role, `ringcache`, may read and write the keys under `prefix`/ and nothing else. Over
   * plain HTTP.
   */
  enableAuth(o: { user: string; password: string; rootPassword: string; prefix: string }): void {
    this.ctl("user", "add", `root:${o.rootPassword}`);
    this.ctl("role", "add", "ringcache");
    this.ctl("role", "grant-permission", "ringcache", "--prefix=true", "readwrite", `${o.prefix}/`);
    this.ctl("user", "add", `${o.user}:${o.password}`);
    this.ctl("user", "grant-role", o.user, "ringcache");
    this.ctl("auth", "enable");
    this.rootPassword = o.rootPassword;
  }

  /** Runs etcdctl against this etcd (as root once authentication is on); returns its output. */
  ctl(...args: string[]): string {
    const user = this.rootPassword === undefined ? [] : ["--user", `root:${this.rootPassword}`];
    return execFileSync(etcdctl(), ["--endpoints", `http://${this.endpoint}`, ...user, ...args], {
      env: { ...process.env, ETCDCTL_API: "3" },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Writes one key over etcd's v3 HTTP gateway (plain HTTP only); returns its revision. */
  async put(key: string, value: string): Promise<number> {
    const b64 = (x: string): string => Buffer.from(x).toString("base64");
    const res = await fetch(`http://${this.endpoint}/v3/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key: b64(key), value: b64(value) }),
      signal: AbortSignal.timeout(2000),
    });
    const body = (await res.json()) as { header?: { revision?: string } };
    if (!res.ok) throw new Error(`etcd put ${key}: ${res.status} ${JSON.stringify(body)}`);
    return Number(body.header?.revision ?? 0);
  }

  private async healthOverHttp(): Promise<{ health?: string }> {
    const res = await fetch(`http://${this.endpoint}/health`, {
      signal: AbortSignal.timeout(1000),
    });
    if (!res.ok) return {};
    return (await res.json()) as { health?: string };
  }

  /** GET /health over TLS with the client certificate, as --client-cert-auth requires. */
  private healthOverTls(): Promise<{ health?: string }> {
    const tls = this.tls as TestCertificates;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: this.clientPort,
          path: "/health",
          ca: readFileSync(tls.ca),
          cert: readFileSync(tls.clientCert),
          key: readFileSync(tls.clientKey),
          timeout: 1000,
        },
        (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => {
            try {
              resolve(JSON.parse(body) as { health?: string });
            } catch {
              reject(new Error(`etcd's /health answered ${JSON.stringify(body)}`));
            }
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end();
    });
  }

  private async launch(): Promise<void> {
    const etcd = which("etcd");
    if (etcd === undefined) throw new Error("etcd is not installed (apt-get install etcd-server)");
    const tls = this.tls;
    const client = `${tls === undefined ? "http" : "https"}://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.log ??= createWriteStream(join(this.dir, "etcd.log"), { flags: "a" });
    const child = spawn(
      etcd,
      [
        ...["--name", "test", "--data-dir", join(this.dir, "data")],
        ...["--listen-client-urls", client, "--advertise-client-urls", client],
        ...["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer],
        ...["--initial-cluster", `test=${peer}`, "--log-level", "warn", "--logger", "zap"],
        ...(tls === undefined
          ? []
          : [
              ...["--cert-file", tls.serverCert, "--key-file", tls.serverKey],
              ...["--client-cert-auth", "--trusted-ca-file", tls.ca],
            ]),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    started.add(child);
    child.once("exit", () => started.delete(child));
    this.child = child;
    await waitFor(
      `etcd on ${this.endpoint} to answer`,
      async () => {
        if (!this.running) throw new Error(`etcd exited; log:\n${this.logText()}`);
        return this.healthy();
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === null || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT");
    child.kill(signal);
    await exited;
  }
}

function etcdctl(): string {
  const path = which("etcdctl");
  if (path === undefined) throw new Error("etcdctl is not installed (apt-get install etcd-client)");
  return path;
}

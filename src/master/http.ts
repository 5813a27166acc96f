// The master's HTTP API (node:http, keep-alive):
//
//   GET|HEAD|PUT|DELETE /v1/keys/{key}   one key; raw bytes body; PUT takes ?ttl=<seconds>
//   POST /v1/batch/get                   {"keys":[...], "encoding":"utf8"|"base64"}
//   POST /v1/batch/set                   {"entries":[{"key","value","ttl"?}], "encoding":...}
//   GET  /v1/cluster                     nodes, states, ring shares, epoch, replicas
//   GET  /v1/sd/prometheus[?role=R]      every member to scrape (Prometheus http_sd_configs)
//   GET  /healthz  /readyz  /metrics
//   POST /v1/internal/register           an auxiliary node announces itself (Bearer secret)
//   GET  /v1/internal/state              a peer master's poll: clock, probes, membership
//   POST /v1/internal/membership         the leader pushes a new membership generation
//   POST /v1/internal/leave              an auxiliary node leaving: {"id"} -> {"done"}
//   POST /v1/internal/suspect            a peer cannot reach a node: {"node", "from"} (to the leader)
//   GET  /v1/internal/backup             this master's backup, streamed (see backup-stream.ts)
//
// Keys in paths are percent-decoded to opaque bytes. Every error is JSON
// {"error":{"code","message"}} with the status the error catalogue gives its code.
// See docs/http-api.md.
import { timingSafeEqual } from "node:crypto";
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { performance } from "node:perf_hooks";
import { httpErrorReply, RingcacheError } from "../errors.js";
import { bodyTooLarge, checkKeySize, checkValueSize, keyTooLarge } from "../redis/limits.js";
import type { Logger } from "../log.js";
import { AuthLimiter, DROP } from "../server/auth-limiter.js";
import type { BackupReader } from "./backup-file.js";
import { parseMinVersion, sendBackup } from "./backup-stream.js";
import type { Membership } from "./membership.js";
import type { RebalanceStatus } from "./rebalancer.js";
import type { MasterMetrics } from "./metrics.js";
import { GatherOp } from "./ops/gather.js";
import { ReadOp } from "./ops/read.js";
import { WriteOp } from "./ops/write.js";
import {
  batchGetSchema,
  batchSetSchema,
  decodeKey,
  decodeText,
  leaveSchema,
  suspectSchema,
  membershipSchema,
  parseJsonBody,
  parseTtl,
  registrationSchema,
  type Registration,
} from "./http-input.js";
import { BATCH_GET, BATCH_SET, KEY_DELETE, KEY_GET, KEY_PUT, type Exchange } from "./http-sinks.js";
import type { Router } from "./router.js";
import { httpSdGroups, parseRoleQuery, type ScrapeTarget } from "./service-discovery.js";
import { STATUS_CSP, STATUS_CSS, STATUS_HTML, STATUS_JS } from "./status-page.js";

/** Route names, in the order of the ids metrics use. */
export const ROUTES = [
  "keys",
  "batch_get",
  "batch_set",
  "cluster",
  "sd",
  "healthz",
  "readyz",
  "metrics",
  "register",
  "internal",
  "status",
  "other",
] as const;
const R = Object.fromEntries(ROUTES.map((name, i) => [name, i])) as Record<
  (typeof ROUTES)[number],
  number
>;

const KEYS_PREFIX = "/v1/keys/";

export interface HttpApiOptions {
  readonly host: string;
  readonly port: number;
  readonly maxKeySize: number;
  readonly maxValueSize: number;
  readonly maxBatchKeys: number;
  readonly secret?: string | undefined;
  /** Spaces out answers to wrong Bearer secrets per client address (shared with RESP AUTH). */
  readonly authLimiter?: AuthLimiter | undefined;
  readonly logger: Logger;
}

/** The cluster view served at /v1/cluster (also printed by `ringcache status`). */
export interface ClusterView {
  readonly master: {
    readonly id: string;
    readonly version: string;
    readonly uptimeSeconds: number;
  };
  readonly epoch: string;
  readonly replicas: { readonly configured: number; readonly effective: number };
  readonly vnodes: number;
  readonly nodes: readonly {
    readonly id: string;
    readonly host: string;
    readonly port: number;
    readonly httpPort: number | null;
    readonly source: string;
    readonly state: string;
    readonly inRing: boolean;
    readonly share: number;
    readonly failures: number;
    readonly since: string;
    readonly lastError: string | null;
    readonly lastRegistration: string | null;
  }[];
  readonly peers: readonly { readonly id: string; readonly host: string; readonly port: number }[];
  readonly leader: string | null;
  readonly rebalance: RebalanceStatus | null;
  readonly coordination?: {
    /** How masters agree: "builtin" or "etcd". */
    readonly kind?: string;
    /** Whether this master can take part in agreeing (etcd reachable; built-in: always). */
    readonly connected?: boolean;
    /** The current leader's term (etcd: its election key's revision; 0 built-in). */
    readonly term?: number;
    readonly generation: number | null;
    readonly livePeers: readonly string[];
    /** Time the last membership push took to reach every live peer (two rings coexist). */
    readonly lastPropagationMs: number;
    /** Rings whose move is not done (member ids), oldest first. */
    readonly sources: readonly (readonly string[])[];
  };
}

/** The peer endpoints (coordination between masters, graceful leave of auxiliary nodes). */
export interface InternalHandlers {
  readonly state: () => unknown;
  /** A membership pushed by the leader; answered once the returned promise settles. */
  readonly membership: (body: unknown) => Promise<void>;
  readonly leave: (id: string) => unknown;
  /** A peer cannot reach `node`, which its ring still counts: the leader decides on it. */
  readonly suspect: (node: string, from: string) => void;
  /** This master's backup from `minVersion` on, as its files are now; then the records sent. */
  readonly backup: (minVersion: number) => BackupReader;
  readonly backupSent: (records: number, minVersion: number) => void;
}

// ---------------------------------------------------------------------------------------------
// The server

export interface HttpApiDeps {
  readonly router: Router;
  readonly membership: Membership;
  readonly metrics: MasterMetrics | null;
  readonly clusterView: () => ClusterView;
  /**
   * Every member to scrape, as service-discovery.ts lists them; `hostHeader` is how the caller
   * reached this master (its own address when it binds a wildcard). Absent: no such route.
   */
  readonly scrapeTargets?: (hostHeader: string | undefined) => readonly ScrapeTarget[];
  /** Adds or refreshes a registered auxiliary node. */
  readonly register: (registration: Registration) => { state: string; epoch: string };
  readonly internal?: InternalHandlers;
}

export class HttpApi {
  readonly options: HttpApiOptions;
  private readonly deps: HttpApiDeps;
  private readonly server: Server;
  private readonly authLimiter: AuthLimiter;
  openConnections = 0;
  totalConnections = 0;

  constructor(options: HttpApiOptions, deps: HttpApiDeps) {
    this.options = options;
    this.deps = deps;
    this.authLimiter = options.authLimiter ?? new AuthLimiter();
    this.server = createServer(
      {
        // A key may be percent-encoded to three times its size in the request line.
        maxHeaderSize: options.maxKeySize * 3 + 16 * 1024,
        keepAliveTimeout: 65_000,
        // Slow clients (slowloris) hold a connection at most this long: headers within 10 s
        // (NGINX's client_header_timeout), the whole request within 30 s, checked every second
        // (Node's default check runs every 30 s, letting a slow header live up to a minute).
        headersTimeout: 10_000,
        requestTimeout: 30_000,
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => this.handle(req, res),
    );
    this.server.on("connection", (socket) => {
      this.openConnections++;
      this.totalConnections++;
      socket.once("close", () => this.openConnections--);
    });
    this.server.on("clientError", (err, socket) => {
      if (!socket.writable) return;
      const code = (err as { code?: string }).code;
      const timedOut = code === "ERR_HTTP_REQUEST_TIMEOUT";
      const { status, body } = httpErrorReply(
        new RingcacheError(
          "BAD_REQUEST",
          timedOut ? "request not received in time" : "malformed request",
        ),
      );
      // What the parser refuses is a BAD_REQUEST, answered with the status HTTP has for it
      // where there is one, as Node itself answers: 431 for headers over the limit, 408 for a
      // client too slow to send its request (headersTimeout, requestTimeout).
      const sent = code === "HPE_HEADER_OVERFLOW" ? 431 : timedOut ? 408 : status;
      socket.end(
        `HTTP/1.1 ${sent} ${STATUS_CODES[sent] ?? ""}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === "object" && address !== null ? address.port : this.options.port;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    await closed;
  }

  // --- routing -------------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const query = q < 0 ? "" : url.slice(q + 1);
    const method = req.method ?? "GET";
    try {
      if (path.startsWith(KEYS_PREFIX)) {
        if (!this.authorized(req, res, R.keys, startedAt)) return;
        this.key(req, res, path.slice(KEYS_PREFIX.length), query, startedAt);
        return;
      }
      switch (path) {
        case "/healthz":
          if (!this.allow(req, res, R.healthz, startedAt, "GET", "HEAD")) return;
          this.json(res, R.healthz, startedAt, 200, { status: "ok" });
          return;
        case "/readyz": {
          if (!this.allow(req, res, R.readyz, startedAt, "GET", "HEAD")) return;
          const up = this.deps.router.topology.ring.size;
          const known = this.deps.membership.all().length;
          this.json(res, R.readyz, startedAt, up > 0 ? 200 : 503, {
            ready: up > 0,
            nodesUp: up,
            nodesKnown: known,
          });
          return;
        }
        case "/metrics":
          if (!this.allow(req, res, R.metrics, startedAt, "GET", "HEAD")) return;
          this.metrics(res, startedAt);
          return;
        case "/":
        case "/status.js":
        case "/status.css":
          if (!this.allow(req, res, R.status, startedAt, "GET", "HEAD")) return;
          this.statusPage(res, path, startedAt);
          return;
        case "/v1/cluster":
          if (!this.allow(req, res, R.cluster, startedAt, "GET", "HEAD")) return;
          this.json(res, R.cluster, startedAt, 200, this.deps.clusterView());
          return;
        case "/v1/sd/prometheus": {
          if (!this.allow(req, res, R.sd, startedAt, "GET", "HEAD")) return;
          const targets = this.deps.scrapeTargets;
          if (targets === undefined) throw new RingcacheError("NOT_FOUND", "no targets here");
          const role = parseRoleQuery(query);
          this.json(res, R.sd, startedAt, 200, httpSdGroups(targets(req.headers.host), role));
          return;
        }
        case "/v1/batch/get":
          if (!this.allow(req, res, R.batch_get, startedAt, "POST")) return;
          if (!this.authorized(req, res, R.batch_get, startedAt)) return;
          this.withBody(req, res, R.batch_get, startedAt, (body) =>
            this.batchGet(res, body, startedAt),
          );
          return;
        case "/v1/batch/set":
          if (!this.allow(req, res, R.batch_set, startedAt, "POST")) return;
          if (!this.authorized(req, res, R.batch_set, startedAt)) return;
          this.withBody(req, res, R.batch_set, startedAt, (body) =>
            this.batchSet(res, body, startedAt),
          );
          return;
        case "/v1/internal/register":
          if (!this.allow(req, res, R.register, startedAt, "POST")) return;
          this.register(req, res, startedAt);
          return;
        case "/v1/internal/backup":
          if (!this.allow(req, res, R.internal, startedAt, "GET")) return;
          if (!this.authorized(req, res, R.internal, startedAt)) return;
          this.backup(req, res, query, startedAt);
          return;
        case "/v1/internal/state":
        case "/v1/internal/membership":
        case "/v1/internal/leave":
        case "/v1/internal/suspect":
          this.internal(req, res, path, startedAt);
          return;
        default:
          req.resume();
          this.error(
            res,
            R.other,
            startedAt,
            new RingcacheError("NOT_FOUND", `no route for ${method} ${path}`),
          );
      }
    } catch (err) {
      req.resume();
      this.failWith(res, R.other, startedAt, err);
    }
  }

  private allow(
    req: IncomingMessage,
    res: ServerResponse,
    route: number,
    startedAt: number,
    ...methods: string[]
  ): boolean {
    if (methods.includes(req.method ?? "")) return true;
    req.resume();
    res.setHeader("allow", methods.join(", "));
    this.error(
      res,
      route,
      startedAt,
      new RingcacheError("METHOD_NOT_ALLOWED", `use ${methods.join(" or ")}`),
    );
    return false;
  }

  private key(
    req: IncomingMessage,
    res: ServerResponse,
    raw: string,
    query: string,
    startedAt: number,
  ): void {
    const method = req.method ?? "GET";
    if (method !== "GET" && method !== "HEAD" && method !== "PUT" && method !== "DELETE") {
      this.allow(req, res, R.keys, startedAt, "GET", "HEAD", "PUT", "DELETE");
      return;
    }
    const key = decodeKey(raw);
    if (key === null) {
      req.resume();
      this.error(
        res,
        R.keys,
        startedAt,
        new RingcacheError("BAD_REQUEST", "malformed percent-encoding in the key"),
      );
      return;
    }
    if (key.length === 0) {
      req.resume();
      this.error(
        res,
        R.keys,
        startedAt,
        new RingcacheError("BAD_REQUEST", "the key must not be empty"),
      );
      return;
    }
    if (key.length > this.options.maxKeySize) {
      req.resume();
      this.error(res, R.keys, startedAt, keyTooLarge(this.options.maxKeySize));
      return;
    }
    const ex: Exchange = { api: this, res, route: R.keys, startedAt, encoding: "utf8" };
    const router = this.deps.router;
    if (method === "GET" || method === "HEAD") {
      req.resume();
      new ReadOp(router, key, "value", KEY_GET, ex).start();
    } else if (method === "DELETE") {
      req.resume();
      new WriteOp(router, "del", key, null, 0, KEY_DELETE, ex).start();
    } else {
      const ttl = parseTtl(query);
      const expiresAt = ttl === undefined ? 0 : Date.now() + ttl * 1000;
      this.withBody(req, res, R.keys, startedAt, (body) => {
        new WriteOp(router, "put", key, body, expiresAt, KEY_PUT, ex).start();
      });
    }
  }

  private batchGet(res: ServerResponse, body: Buffer, startedAt: number): void {
    const doc = parseJsonBody(batchGetSchema, body);
    this.checkBatch(doc.keys.length);
    const keys = doc.keys.map((k) => this.batchKey(k, doc.encoding));
    const ex: Exchange = { api: this, res, route: R.batch_get, startedAt, encoding: doc.encoding };
    if (keys.length === 0) {
      this.json(res, R.batch_get, startedAt, 200, { encoding: doc.encoding, values: [] });
      return;
    }
    new GatherOp(this.deps.router, "mget", keys, null, null, BATCH_GET, ex).start();
  }

  private batchSet(res: ServerResponse, body: Buffer, startedAt: number): void {
    const doc = parseJsonBody(batchSetSchema, body);
    this.checkBatch(doc.entries.length);
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    const expiries: number[] = [];
    const now = Date.now();
    for (const e of doc.entries) {
      keys.push(this.batchKey(e.key, doc.encoding));
      const value = decodeText(e.value, doc.encoding);
      checkValueSize(value, this.options.maxValueSize);
      values.push(value);
      expiries.push(e.ttl === undefined ? 0 : now + e.ttl * 1000);
    }
    const ex: Exchange = { api: this, res, route: R.batch_set, startedAt, encoding: doc.encoding };
    if (keys.length === 0) {
      this.json(res, R.batch_set, startedAt, 200, { stored: 0 });
      return;
    }
    new GatherOp(this.deps.router, "mset", keys, values, expiries, BATCH_SET, ex).start();
  }

  private checkBatch(n: number): void {
    if (n > this.options.maxBatchKeys) {
      throw new RingcacheError(
        "BAD_REQUEST",
        `a batch holds at most ${this.options.maxBatchKeys} keys (max-batch-keys); got ${n}`,
      );
    }
  }

  private batchKey(text: string, encoding: "utf8" | "base64"): Buffer {
    const key = decodeText(text, encoding);
    if (key.length === 0) throw new RingcacheError("BAD_REQUEST", "a key must not be empty");
    checkKeySize(key, this.options.maxKeySize);
    return key;
  }

  private internal(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    startedAt: number,
  ): void {
    const handlers = this.deps.internal;
    const get = path === "/v1/internal/state";
    if (!this.allow(req, res, R.internal, startedAt, ...(get ? ["GET"] : ["POST"]))) return;
    if (handlers === undefined || !this.authorized(req, res, R.internal, startedAt)) return;
    if (get) {
      this.json(res, R.internal, startedAt, 200, handlers.state());
      return;
    }
    this.withBody(req, res, R.internal, startedAt, (body) => {
      if (path === "/v1/internal/membership") {
        void handlers.membership(parseJsonBody(membershipSchema, body)).then(
          () => this.json(res, R.internal, startedAt, 200, { ok: true }),
          (err: unknown) => this.failWith(res, R.internal, startedAt, err),
        );
        return;
      }
      if (path === "/v1/internal/suspect") {
        const { node, from } = parseJsonBody(suspectSchema, body);
        handlers.suspect(node, from);
        this.json(res, R.internal, startedAt, 200, { ok: true });
        return;
      }
      const { id } = parseJsonBody(leaveSchema, body);
      this.json(res, R.internal, startedAt, 200, handlers.leave(id));
    });
  }

  /** Streams this master's backup (a peer replaying it after a whole-system restart). */
  private backup(
    req: IncomingMessage,
    res: ServerResponse,
    query: string,
    startedAt: number,
  ): void {
    req.resume();
    const handlers = this.deps.internal;
    if (handlers === undefined) throw new RingcacheError("NOT_FOUND", "no backup here");
    const minVersion = parseMinVersion(query);
    sendBackup(res, handlers.backup(minVersion)).then(
      (records) => {
        handlers.backupSent(records, minVersion);
        this.deps.metrics?.http(R.internal, 200, (performance.now() - startedAt) / 1000);
      },
      (err: unknown) =>
        this.options.logger.warn({ err: (err as Error).message }, "backup stream cut short"),
    );
  }

  /**
   * With a secret configured, data and internal routes need `authorization: Bearer <secret>`
   * (compared in constant time); answers 401 and returns false otherwise.
   */
  private authorized(
    req: IncomingMessage,
    res: ServerResponse,
    route: number,
    startedAt: number,
  ): boolean {
    const secret = this.options.secret;
    if (secret === undefined) return true;
    const given = req.headers.authorization ?? "";
    const expected = Buffer.from(`Bearer ${secret}`);
    const actual = Buffer.from(given);
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return true;
    req.resume();
    res.setHeader("www-authenticate", "Bearer");
    if (given === "") {
      this.error(
        res,
        route,
        startedAt,
        new RingcacheError("NO_AUTH", "this route requires authorization: Bearer <secret>"),
      );
      return false;
    }
    // A wrong secret: answered late, per client address (see AuthLimiter).
    const delay = this.authLimiter.failure(req.socket.remoteAddress ?? "");
    if (delay === DROP) {
      req.socket.destroy();
      return false;
    }
    setTimeout(() => {
      if (!res.destroyed)
        this.error(res, route, startedAt, new RingcacheError("WRONG_PASS", "wrong secret"));
    }, delay);
    return false;
  }

  private register(req: IncomingMessage, res: ServerResponse, startedAt: number): void {
    if (!this.authorized(req, res, R.register, startedAt)) return;
    this.withBody(req, res, R.register, startedAt, (body) => {
      const registration = parseJsonBody(registrationSchema, body);
      const result = this.deps.register(registration);
      this.json(res, R.register, startedAt, 200, { id: registration.id, ...result });
    });
  }

  /** The status page's files (status-page.ts): static, cached by nobody, under a strict CSP. */
  private statusPage(res: ServerResponse, path: string, startedAt: number): void {
    res.setHeader("content-security-policy", STATUS_CSP);
    res.setHeader("cache-control", "no-cache");
    res.setHeader("x-content-type-options", "nosniff");
    if (path === "/status.js") {
      this.send(res, R.status, startedAt, 200, "text/javascript; charset=utf-8", STATUS_JS);
    } else if (path === "/status.css") {
      this.send(res, R.status, startedAt, 200, "text/css; charset=utf-8", STATUS_CSS);
    } else this.send(res, R.status, startedAt, 200, "text/html; charset=utf-8", STATUS_HTML);
  }

  private metrics(res: ServerResponse, startedAt: number): void {
    const metrics = this.deps.metrics;
    if (metrics === null) {
      this.send(res, R.metrics, startedAt, 200, "text/plain; version=0.0.4", Buffer.alloc(0));
      return;
    }
    metrics.text().then(
      (text) => this.send(res, R.metrics, startedAt, 200, metrics.contentType, Buffer.from(text)),
      (err: unknown) => this.failWith(res, R.metrics, startedAt, err),
    );
  }

  /**
   * Reads the whole body, refusing one over the limit before buffering it (413 by
   * content-length, or as soon as a chunked body crosses the limit).
   */
  private withBody(
    req: IncomingMessage,
    res: ServerResponse,
    route: number,
    startedAt: number,
    then: (body: Buffer) => void,
  ): void {
    const limit = this.options.maxValueSize;
    const tooLarge = (): void => {
      res.setHeader("connection", "close");
      this.error(res, route, startedAt, bodyTooLarge(limit));
      req.destroy();
    };
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) {
      tooLarge();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        tooLarge();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (refused) return;
      try {
        then(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      } catch (err) {
        this.failWith(res, route, startedAt, err);
      }
    });
    req.on("error", () => {
      refused = true;
    });
  }

  // --- responses -----------------------------------------------------------------------------

  send(
    res: ServerResponse,
    route: number,
    startedAt: number,
    status: number,
    contentType: string | null,
    body: Buffer | string | null,
  ): void {
    if (res.headersSent || res.destroyed) return;
    res.statusCode = status;
    if (contentType !== null) res.setHeader("content-type", contentType);
    if (body === null) res.end();
    else {
      res.setHeader("content-length", Buffer.byteLength(body));
      res.end(body);
    }
    this.deps.metrics?.http(route, status, (performance.now() - startedAt) / 1000);
  }

  json(res: ServerResponse, route: number, startedAt: number, status: number, body: unknown): void {
    this.send(res, route, startedAt, status, "application/json", JSON.stringify(body));
  }

  /** Answers an error as the catalogue renders it (docs/http-api.md, "Errors"). */
  error(res: ServerResponse, route: number, startedAt: number, err: RingcacheError): void {
    const { status, body } = httpErrorReply(err);
    this.send(res, route, startedAt, status, "application/json", body);
  }

  failWith(res: ServerResponse, route: number, startedAt: number, err: unknown): void {
    if (err instanceof RingcacheError) {
      if (err.code === "INTERNAL") this.options.logger.error({ err }, "HTTP request failed");
      this.error(res, route, startedAt, err);
      return;
    }
    this.options.logger.error({ err }, "HTTP request failed unexpectedly");
    this.error(res, route, startedAt, new RingcacheError("INTERNAL", "internal error"));
  }
}

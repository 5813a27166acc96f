// The HTTP side of an auxiliary node: what Prometheus and orchestrators ask.
//   GET /metrics   Prometheus text (metrics.ts)
//   GET /healthz   200 {"status":"ok"} while the process serves at all
//   GET /readyz    200 once the snapshot is restored and the RESP port listens; 503 while
//                  loading or shutting down
//   anything else  404 {"error":{"code":"NOT_FOUND",...}} (405 for other methods on the above)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { httpErrorReply, RingcacheError } from "../errors.js";
import type { Logger } from "../log.js";

export type NodeState = "loading" | "ready" | "stopping";

export interface HttpSources {
  readonly nodeId: string;
  state(): NodeState;
  metrics(): Promise<string>;
  readonly metricsContentType: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, JSON.stringify(body));
}

/** Answers an error as the catalogue renders it (docs/http-api.md, "Errors"). */
function sendError(res: ServerResponse, err: RingcacheError): void {
  const { status, body } = httpErrorReply(err);
  send(res, status, body);
}

function send(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export class AuxiliaryHttpServer {
  private readonly server: Server;
  private readonly sources: HttpSources;
  private readonly logger: Logger;

  constructor(sources: HttpSources, logger: Logger) {
    this.sources = sources;
    this.logger = logger;
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on("error", (err) => logger.error({ err }, "HTTP server error"));
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    return typeof address === "object" && address !== null ? address.port : port;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?", 1)[0];
    const known = path === "/metrics" || path === "/healthz" || path === "/readyz";
    if (!known) {
      sendError(res, new RingcacheError("NOT_FOUND", `no route ${path ?? ""}`));
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      sendError(res, new RingcacheError("METHOD_NOT_ALLOWED", "use GET"));
      return;
    }
    const state = this.sources.state();
    switch (path) {
      case "/healthz":
        sendJson(res, 200, { status: "ok", node: this.sources.nodeId, state });
        return;
      case "/readyz":
        sendJson(res, state === "ready" ? 200 : 503, {
          status: state === "ready" ? "ready" : state,
          node: this.sources.nodeId,
        });
        return;
      default:
        this.sources.metrics().then(
          (text) => {
            res.writeHead(200, {
              "content-type": this.sources.metricsContentType,
              "content-length": Buffer.byteLength(text),
            });
            res.end(text);
          },
          (err: unknown) => {
            this.logger.error({ err }, "cannot render metrics");
            sendError(res, new RingcacheError("INTERNAL", "metrics failed"));
          },
        );
    }
  }
}

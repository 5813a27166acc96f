// One HTTP request and its whole answer, over node:http: the JSON calls between ringcache's own
// processes (a master to its peers) and from the CLI (`ringcache status`, `ringcache up`).
// Not fetch: fetch refuses a list of "bad ports" (10080, 6000, 6665-6669 …) that a port offset
// can land on, and a cluster must work on whatever ports it is given.
import { request } from "node:http";

export interface HttpCall {
  readonly method?: "GET" | "POST";
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** The whole exchange, connect to the answer's last byte. */
  readonly timeoutMs: number;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** Sends the request; resolves with the answer (any status), rejects on a network error. */
export function httpCall(url: string, call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: call.method ?? "GET", headers: call.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
      });
    });
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${call.timeoutMs} ms`)),
      call.timeoutMs,
    );
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(call.body);
  });
}

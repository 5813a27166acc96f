// How the master's HTTP API answers a finished operation: one sink per kind of request, the
// request's exchange in the operation's context (see ops/op.ts).
import type { ServerResponse } from "node:http";
import { RingcacheError } from "../errors.js";
import type { HttpApi } from "./http.js";
import type { GatherOp } from "./ops/gather.js";
import type { OpSink } from "./ops/op.js";
import type { ReadOp } from "./ops/read.js";
import type { WriteOp } from "./ops/write.js";

/** One request in flight: what a sink needs to answer it. */
export interface Exchange {
  readonly api: HttpApi;
  readonly res: ServerResponse;
  readonly route: number;
  readonly startedAt: number;
  readonly encoding: "utf8" | "base64";
}

/** A miss, built once: GET and DELETE answer it often. */
const NOT_FOUND_KEY = new RingcacheError("NOT_FOUND", "no such key");

export const KEY_GET: OpSink<ReadOp<Exchange>> = {
  opDone(op: ReadOp<Exchange>): void {
    const ex = op.ctx;
    if (op.error !== null) return ex.api.failWith(ex.res, ex.route, ex.startedAt, op.error);
    if (op.value === null) return ex.api.error(ex.res, ex.route, ex.startedAt, NOT_FOUND_KEY);
    // The value is a view of the node connection's buffer: the response gets its own copy.
    ex.api.send(
      ex.res,
      ex.route,
      ex.startedAt,
      200,
      "application/octet-stream",
      Buffer.from(op.value),
    );
  },
};

export const KEY_PUT: OpSink<WriteOp<Exchange>> = {
  opDone(op: WriteOp<Exchange>): void {
    const ex = op.ctx;
    if (op.error !== null) return ex.api.failWith(ex.res, ex.route, ex.startedAt, op.error);
    ex.api.send(ex.res, ex.route, ex.startedAt, 204, null, null);
  },
};

export const KEY_DELETE: OpSink<WriteOp<Exchange>> = {
  opDone(op: WriteOp<Exchange>): void {
    const ex = op.ctx;
    if (op.error !== null) return ex.api.failWith(ex.res, ex.route, ex.startedAt, op.error);
    if (!op.existed) return ex.api.error(ex.res, ex.route, ex.startedAt, NOT_FOUND_KEY);
    ex.api.send(ex.res, ex.route, ex.startedAt, 204, null, null);
  },
};

export const BATCH_GET: OpSink<GatherOp<Exchange>> = {
  opDone(op: GatherOp<Exchange>): void {
    const ex = op.ctx;
    if (op.error !== null) return ex.api.failWith(ex.res, ex.route, ex.startedAt, op.error);
    const values = op.values.map((v) =>
      v === null ? null : ex.encoding === "base64" ? v.toString("base64") : v.toString("utf8"),
    );
    ex.api.json(ex.res, ex.route, ex.startedAt, 200, { encoding: ex.encoding, values });
  },
};

export const BATCH_SET: OpSink<GatherOp<Exchange>> = {
  opDone(op: GatherOp<Exchange>): void {
    const ex = op.ctx;
    if (op.error !== null) return ex.api.failWith(ex.res, ex.route, ex.startedAt, op.error);
    ex.api.json(ex.res, ex.route, ex.startedAt, 200, { stored: op.keys });
  },
};

// The one catalogue of ringcache's errors. Every error a node reports carries a stable code,
// and each code maps once to a RESP error prefix and an HTTP status, so the two client
// interfaces (and the logs) always agree on what went wrong. docs/http-api.md ("Errors") lists
// every code with its status and prefix; a unit test fails when the two disagree.
//
// A miss is not an error: lookups return `undefined`, never throw.

export interface ErrorSpec {
  /** RESP error prefix, the first word of the `-` line ("ERR", "WRONGTYPE", "OOM", ...). */
  readonly resp: string;
  /** HTTP status code used by the masters' HTTP API. */
  readonly http: number;
}

export const ERRORS = {
  /** Bad arguments to a command: wrong arity, bad number, unknown option. */
  BAD_REQUEST: { resp: "ERR", http: 400 },
  /** A command the server does not implement. */
  UNKNOWN_COMMAND: { resp: "ERR", http: 404 },
  /** No such key (HTTP only: RESP answers a miss with a null, not an error), or no such route. */
  NOT_FOUND: { resp: "ERR", http: 404 },
  /** An HTTP method the path does not take. */
  METHOD_NOT_ALLOWED: { resp: "ERR", http: 405 },
  /** A value is not an integer (or out of range) where one is required. */
  NOT_INTEGER: { resp: "ERR", http: 400 },
  /** An operation against a key holding the wrong kind of value. */
  WRONG_TYPE: { resp: "WRONGTYPE", http: 409 },
  /** A key longer than the configured limit. */
  KEY_TOO_LARGE: { resp: "ERR", http: 414 },
  /** A value (or body) larger than the configured limit or the whole memory budget. */
  VALUE_TOO_LARGE: { resp: "ERR", http: 413 },
  /** The store is full and its eviction policy forbids making room (noeviction). */
  OUT_OF_MEMORY: { resp: "OOM", http: 507 },
  /** A malformed frame on the wire; the connection is closed after replying. */
  PROTOCOL: { resp: "ERR", http: 400 },
  /** HELLO asked for a protocol version other than 2 or 3. */
  NO_PROTO: { resp: "NOPROTO", http: 400 },
  /** AUTH is required before this command. */
  NO_AUTH: { resp: "NOAUTH", http: 401 },
  /** AUTH with a wrong secret. */
  WRONG_PASS: { resp: "WRONGPASS", http: 401 },
  /** Too many client connections. */
  MAX_CLIENTS: { resp: "ERR", http: 503 },
  /** No owner of the key could be reached. */
  UNAVAILABLE: { resp: "CLUSTERDOWN", http: 503 },
  /**
   * A write reached some owners of its key but not one the ring still counts, and the leader
   * did not take that owner out in time: it may have been applied, and may be retried.
   */
  TRY_AGAIN: { resp: "TRYAGAIN", http: 503 },
  /** An owner did not answer within the request timeout. */
  TIMEOUT: { resp: "TIMEOUT", http: 504 },
  /** A write was refused because the owner holds a newer version. */
  STALE_VERSION: { resp: "STALE", http: 409 },
  /**
   * Between nodes: a move step carries the term of a leader whose tenure has ended (a newer
   * term has begun); the step is refused and changes nothing.
   */
  FENCED: { resp: "FENCED", http: 409 },
  /** Bad configuration at start. */
  CONFIG: { resp: "ERR", http: 500 },
  /** Anything unexpected: a bug. Logged with its stack; the node keeps running. */
  INTERNAL: { resp: "ERR", http: 500 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable code. `message` is what clients see after the RESP prefix. */
export class RingcacheError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RingcacheError";
    this.code = code;
  }

  /** The RESP error line body, without the leading `-` and trailing CRLF. */
  get respLine(): string {
    return `${ERRORS[this.code].resp} ${this.message}`;
  }

  get httpStatus(): number {
    return ERRORS[this.code].http;
  }
}

/**
 * The whole RESP error reply, `-<prefix> <message>\r\n`, for replies built once and written
 * as they are. CR and LF in the message become spaces, as the RESP writer's `error()` does.
 */
export function respErrorReply(err: RingcacheError): Buffer {
  return Buffer.from(`-${err.respLine.replace(/[\r\n]/g, " ")}\r\n`, "utf8");
}

/** An error as an HTTP answer: the catalogue's status and the JSON body of docs/http-api.md. */
export interface HttpErrorReply {
  readonly status: number;
  /** `{"error":{"code":...,"message":...}}` */
  readonly body: string;
}

/** Renders any RingcacheError as the HTTP answer every node gives it. */
export function httpErrorReply(err: RingcacheError): HttpErrorReply {
  return {
    status: ERRORS[err.code].http,
    body: JSON.stringify({ error: { code: err.code, message: err.message } }),
  };
}

/** Narrows an unknown thrown value to a RingcacheError, wrapping anything else as INTERNAL. */
export function toRingcacheError(err: unknown): RingcacheError {
  if (err instanceof RingcacheError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RingcacheError("INTERNAL", `internal error: ${message}`, { cause: err });
}

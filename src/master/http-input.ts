// What the master's HTTP API reads from a request, checked before anything runs: keys in paths,
// TTLs, and the JSON bodies (zod schemas), with clear errors (see docs/http-api.md).
import { z } from "zod";
import { RingcacheError } from "../errors.js";

/** Longest TTL accepted (10 years), so that expiries stay exact integers. */
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

export const HEX = (c: number): number =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 55
      : c >= 0x61 && c <= 0x66
        ? c - 87
        : -1;

/** Percent-decodes a URL path segment into bytes (any bytes); null when malformed. */
export function decodeKey(raw: string): Buffer | null {
  const src = Buffer.from(raw, "latin1");
  if (raw.length !== src.length) return null;
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as number;
    if (c === 0x25) {
      const hi = HEX(src[i + 1] ?? -1);
      const lo = HEX(src[i + 2] ?? -1);
      if (hi < 0 || lo < 0) return null;
      out[n++] = hi * 16 + lo;
      i += 2;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** The `ttl` query parameter: undefined when absent; a RingcacheError when malformed. */
export function parseTtl(query: string): number | undefined {
  const params = new URLSearchParams(query);
  const ttl = params.get("ttl");
  if (ttl === null || ttl === "") return undefined;
  if (!/^\d{1,10}$/.test(ttl) || Number(ttl) < 1 || Number(ttl) > MAX_TTL_SECONDS) {
    throw new RingcacheError(
      "BAD_REQUEST",
      `ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`,
    );
  }
  return Number(ttl);
}

export const encodingSchema = z.enum(["utf8", "base64"]).default("utf8");

export const batchGetSchema = z.object({
  keys: z.array(z.string()),
  encoding: encodingSchema,
});

export const batchSetSchema = z.object({
  entries: z.array(
    z.object({
      key: z.string(),
      value: z.string(),
      ttl: z.number().int().min(1).max(MAX_TTL_SECONDS).optional(),
    }),
  ),
  encoding: encodingSchema,
});

export const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const registrationSchema = z.object({
  id: z.string().regex(ID, "id: letters, digits, _ . - (at most 64)"),
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  httpPort: z.number().int().min(0).max(65535).optional(),
});

export type Registration = z.infer<typeof registrationSchema>;

export const membershipSchema = z.object({
  generation: z.number().int().min(0),
  leader: z.string().max(64),
  members: z.array(
    z.object({ id: z.string().regex(ID), host: z.string().max(255), port: z.number().int() }),
  ),
  epoch: z.string().max(64),
  sources: z.array(z.array(z.string().regex(ID))),
});

export const leaveSchema = z.object({ id: z.string().regex(ID) });

export const suspectSchema = z.object({ node: z.string().regex(ID), from: z.string().regex(ID) });

export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (issue === undefined) return "invalid body";
  const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${path}${issue.message}`;
}

/** Parses a JSON body against a schema; throws a BAD_REQUEST RingcacheError otherwise. */
export function parseJsonBody<T>(schema: z.ZodType<T>, body: Buffer): T {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw new RingcacheError("BAD_REQUEST", "body is not valid JSON");
  }
  const result = schema.safeParse(doc);
  if (!result.success) throw new RingcacheError("BAD_REQUEST", describeZodError(result.error));
  return result.data;
}

export function decodeText(text: string, encoding: "utf8" | "base64"): Buffer {
  if (encoding === "utf8") return Buffer.from(text, "utf8");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new RingcacheError("BAD_REQUEST", "invalid base64 in a key or value");
  }
  return Buffer.from(text, "base64");
}

// A KvClient over ioredis, for the checker and integration tests.
import { Redis } from "ioredis";
import type { KvClient } from "./checker.js";

export function connectRedis(
  port: number,
  host = "127.0.0.1",
  options: { commandTimeout?: number; password?: string } = {},
): Redis {
  return new Redis({
    port,
    host,
    ...(options.password !== undefined ? { password: options.password } : {}),
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    commandTimeout: options.commandTimeout ?? 2000,
    retryStrategy: (times) => Math.min(50 * times, 500),
    enableReadyCheck: true,
  });
}

export function kvOverRedis(redis: Redis): KvClient {
  return {
    async set(key, value) {
      const r = await redis.set(key, value);
      if (r !== "OK") throw new Error(`SET answered ${String(r)}`);
    },
    async get(key) {
      return redis.getBuffer(key);
    },
    async del(key) {
      return redis.del(key);
    },
  };
}

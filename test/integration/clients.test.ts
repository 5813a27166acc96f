// Redis clients of other languages (redis-py, redis-rb, phpredis, as Debian packages them)
// against two masters behind a real NGINX: each runs one script (test/clients/client.*: the
// handshake, the string and keyspace commands, hash tags and SCAN, pipelining, errors) against
// ringcache and against a real redis-server, and both runs must print the same results.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { startBalancer, type Balancer } from "../helpers/balancer.js";
import { TestCluster } from "../helpers/cluster.js";
import { REPO_ROOT } from "../helpers/process.js";
import { startRedisServer, type RedisServer } from "../helpers/redis-server.js";
import { LANGUAGE_CLIENTS, skipUnless, skipUnlessClient } from "../helpers/tools.js";

const run = promisify(execFile);
const SCRIPTS = join(REPO_ROOT, "test", "clients");
const EXTENSIONS: Readonly<Record<string, string>> = {
  "redis-py": "py",
  "redis-rb": "rb",
  phpredis: "php",
};

async function runScript(command: readonly string[], script: string, port: number, prefix: string) {
  const { stdout } = await run(
    command[0] as string,
    [...command.slice(1), script, String(port), prefix],
    {
      timeout: 60_000,
    },
  );
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe("clients of other languages", { skip: skipUnless("nginx", "redis-server") }, () => {
  let cluster: TestCluster;
  let balancer: Balancer;
  let redis: RedisServer;

  before(async () => {
    cluster = await TestCluster.start({
      masters: 2,
      auxiliary: 3,
      replicas: 2,
      requestTimeout: "3s",
    });
    balancer = await startBalancer(cluster.masters, cluster.dir);
    redis = await startRedisServer();
  });
  after(async () => {
    await balancer?.stop();
    await redis?.stop();
    await cluster?.stop();
  });

  for (const client of LANGUAGE_CLIENTS) {
    it(
      `${client.name} gets the same results as from redis-server`,
      { skip: skipUnlessClient(client) },
      async () => {
        const script = join(SCRIPTS, `client.${EXTENSIONS[client.name] as string}`);
        const prefix = `${client.name}:`;
        const expected = await runScript(client.command, script, redis.port, prefix);
        const actual = await runScript(client.command, script, balancer.respPort, prefix);
        assert.deepEqual(actual, expected);
        // The script's own checks passed against redis-server (so it is not vacuous).
        assert.equal(expected["pipeline"], true);
        assert.equal(expected["binary"], true);
      },
    );
  }
});

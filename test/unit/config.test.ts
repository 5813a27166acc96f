import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readConfigFile, redactConfig, ConfigError } from "../../src/config/load.js";
import {
  AUXILIARY_FIELDS,
  loadAuxiliaryConfig,
  loadMasterConfig,
} from "../../src/config/schema.js";
import { STORE_MAX_BYTES } from "../../src/store/index.js";
import { formatDuration, formatSize, parseDuration, parseSize } from "../../src/config/units.js";

describe("units", () => {
  it("reads sizes and durations", () => {
    assert.equal(parseSize("256mb"), 256 * 1024 * 1024);
    assert.equal(parseSize("64 KiB"), 64 * 1024);
    assert.equal(parseSize("1.5g"), 1.5 * 1024 ** 3);
    assert.equal(parseSize(4096), 4096);
    assert.equal(parseSize("lots"), undefined);
    assert.equal(parseSize("-1mb"), undefined);
    assert.equal(parseDuration("10s"), 10_000);
    assert.equal(parseDuration("500ms"), 500);
    assert.equal(parseDuration("2m"), 120_000);
    assert.equal(parseDuration("1x"), undefined);
    assert.equal(formatSize(256 * 1024 * 1024), "256mb");
    assert.equal(formatDuration(1500), "1500ms");
    assert.equal(formatDuration(10_000), "10s");
  });
});

describe("configuration layers", () => {
  const base = { id: "a1", dataDir: "data/a1" };

  it("applies defaults", () => {
    const config = loadAuxiliaryConfig({ flags: base });
    assert.equal(config.port, 7001);
    assert.equal(config.maxMemory, 256 * 1024 * 1024);
    assert.equal(config.snapshotInterval, 10_000);
    assert.equal(config.eviction, "lru");
    assert.deepEqual(config.masters, []);
  });

  it("lets flags beat env beat the file beat defaults", () => {
    const file = {
      "max-memory": "64mb",
      port: 7100,
      "snapshot-interval": "5s",
      eviction: "noeviction",
    };
    const env = { RINGCACHE_PORT: "7200", RINGCACHE_SNAPSHOT_INTERVAL: "3s" };
    const config = loadAuxiliaryConfig({ file, env, flags: { ...base, snapshotInterval: "1s" } });
    assert.equal(config.maxMemory, 64 * 1024 * 1024);
    assert.equal(config.port, 7200);
    assert.equal(config.snapshotInterval, 1000);
    assert.equal(config.eviction, "noeviction");
  });

  it("names the field and what it allows when a value is bad", () => {
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { ...base, maxMemory: "lots" } }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message.includes("--max-memory") &&
        err.message.includes("RINGCACHE_MAX_MEMORY") &&
        err.message.includes("a size such as 256mb"),
    );
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { ...base, eviction: "random" } }),
      /--eviction .*one of lru, noeviction, got "random"/,
    );
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { dataDir: "x" } }),
      /missing required setting --id/,
    );
    assert.throws(
      () => loadAuxiliaryConfig({ flags: base, file: { "max-memroy": "1mb" }, fileName: "c.yaml" }),
      /unknown setting "max-memroy" in config file c.yaml/,
    );
    // The store's own limit is refused at start, not after the node has said it is starting.
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { ...base, maxMemory: "20gb" } }),
      /--max-memory .*from 1mb to 16gb/,
    );
    const largest = AUXILIARY_FIELDS.find((f) => f.name === "max-memory")?.max;
    assert.equal(largest, STORE_MAX_BYTES);
    assert.equal(loadAuxiliaryConfig({ flags: { ...base, maxMemory: "16gb" } }).maxMemory, largest);
  });

  it("never shows a secret's value in an error", () => {
    const spec = AUXILIARY_FIELDS.find((f) => f.name === "secret");
    assert.ok(spec?.secret);
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { ...base, secret: 12345678901234567890n } }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes("1234567890"),
    );
    const config = loadAuxiliaryConfig({ flags: { ...base, secret: "hunter2" } });
    assert.equal(redactConfig(AUXILIARY_FIELDS, { ...config })["secret"], "[redacted]");
  });

  it("refuses a non-loopback bind without a secret", () => {
    assert.throws(
      () => loadAuxiliaryConfig({ flags: { ...base, host: "0.0.0.0" } }),
      /refusing to bind 0.0.0.0/,
    );
    assert.equal(
      loadAuxiliaryConfig({ flags: { ...base, host: "0.0.0.0", secret: "s" } }).host,
      "0.0.0.0",
    );
  });

  it("reads member lists as flags and as YAML maps", () => {
    const m = loadMasterConfig({
      flags: { id: "m1", dataDir: "d", auxiliary: "a1=127.0.0.1:7001,a2=127.0.0.1:7002" },
    });
    assert.deepEqual(m.auxiliary, [
      { id: "a1", host: "127.0.0.1", port: 7001 },
      { id: "a2", host: "127.0.0.1", port: 7002 },
    ]);
    const y = loadMasterConfig({
      flags: { id: "m1", dataDir: "d" },
      file: { auxiliary: { a1: "127.0.0.1:7001" }, peers: ["m2=127.0.0.1:8081"] },
    });
    assert.equal(y.auxiliary[0]?.port, 7001);
    assert.equal(y.peers[0]?.id, "m2");
    assert.throws(
      () => loadMasterConfig({ flags: { id: "m1", dataDir: "d", auxiliary: "a1=nohost" } }),
      /--auxiliary .*id=host:port/,
    );
    assert.throws(
      () => loadMasterConfig({ flags: { id: "m1", dataDir: "d", auxiliary: "a1=h:1,a1=h:2" } }),
      /names node "a1" twice/,
    );
  });

  it("reads YAML files and rejects malformed ones clearly", () => {
    const dir = mkdtempSync(join(tmpdir(), "ringcache-config-"));
    const good = join(dir, "good.yaml");
    writeFileSync(good, "id: a9\ndata-dir: /tmp/x\nmax-entries: 10\n");
    const config = loadAuxiliaryConfig({ file: readConfigFile(good), fileName: good });
    assert.equal(config.id, "a9");
    assert.equal(config.maxEntries, 10);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "id: [unclosed\n");
    assert.throws(() => readConfigFile(bad), /is not valid YAML/);
    assert.throws(() => readConfigFile(join(dir, "missing.yaml")), /cannot read config file/);
  });
});

describe("coordination settings", () => {
  const base = { id: "m1", dataDir: "data/m1" };

  it("default to built-in coordination, and read etcd's from flags, env and YAML alike", () => {
    assert.equal(loadMasterConfig({ flags: base }).coordination, "builtin");
    const master = loadMasterConfig({
      flags: { ...base, coordination: "etcd", etcdEndpoints: "10.0.0.5:2379,10.0.0.6:2379" },
      env: { RINGCACHE_ETCD_LEASE_TTL: "5s", RINGCACHE_ETCD_PASSWORD: "pw" },
      file: { "etcd-prefix": "/ringcache/prod", "etcd-username": "ringcache" },
    });
    assert.deepEqual(master.etcdEndpoints, [
      { host: "10.0.0.5", port: 2379 },
      { host: "10.0.0.6", port: 2379 },
    ]);
    assert.equal(master.etcdLeaseTtl, 5000);
    assert.equal(master.etcdPrefix, "/ringcache/prod");
    assert.equal(master.etcdUsername, "ringcache");
    assert.equal(
      redactConfig(AUXILIARY_FIELDS, master as unknown as Record<string, unknown>)["etcdPassword"],
      "[redacted]",
    );
    const aux = loadAuxiliaryConfig({
      flags: { id: "a1", dataDir: "d", coordination: "etcd", etcdEndpoints: "127.0.0.1:2379" },
    });
    assert.equal(aux.etcdPrefix, "/ringcache/default");
    assert.equal(aux.etcdLeaseTtl, 3000);
  });

  it("refuse settings that do not hang together, saying what to change", () => {
    const etcd = { ...base, coordination: "etcd" };
    const cases: [Record<string, unknown>, RegExp][] = [
      [etcd, /--coordination etcd needs --etcd-endpoints/],
      [{ ...etcd, etcdEndpoints: "nohost" }, /invalid --etcd-endpoints .*host:port/],
      [{ ...etcd, etcdEndpoints: "h:2379", etcdPrefix: "ringcache" }, /invalid --etcd-prefix/],
      [{ ...etcd, etcdEndpoints: "h:2379", etcdUsername: "u" }, /go together/],
      [{ ...etcd, etcdEndpoints: "h:2379", etcdCertFile: "c.pem" }, /go together/],
      [{ ...etcd, etcdEndpoints: "h:2379", etcdLeaseTtl: "500ms" }, /--etcd-lease-ttl/],
      [{ ...etcd, etcdEndpoints: "h:2379", etcdCaFile: "/nonexistent/ca.pem" }, /cannot read/],
      [{ ...base, coordination: "zookeeper" }, /one of builtin, etcd/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(() => loadMasterConfig({ flags }), message, JSON.stringify(flags));
    }
    assert.throws(
      () => loadMasterConfig({ flags: { ...etcd, etcdEndpoints: "h:2379", etcdPassword: "s3" } }),
      (err: Error) => err instanceof ConfigError && !err.message.includes("s3"),
    );
  });
});

describe("configuration reference", () => {
  it("docs/configuration.md matches the schema (run `npm run gen:docs` after changing it)", async () => {
    const { readFileSync } = await import("node:fs");
    const { renderConfigReference } = await import("../../src/config/reference.js");
    const { REPO_ROOT } = await import("../helpers/process.js");
    assert.equal(
      readFileSync(join(REPO_ROOT, "docs/configuration.md"), "utf8"),
      renderConfigReference(),
    );
  });
});

import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import {
  DEFAULT_DURATION_MS,
  DEFAULT_REQUESTS_TIME_LIMIT_MS,
  loadBenchOptions,
  parseRatio,
  parseTarget,
  parseTtlSeconds,
  parseValueSize,
} from "../../src/loadgen/options.js";
import { runBenchCommand } from "../../src/cli/bench.js";
import { ConfigError } from "../../src/config/load.js";

describe("bench options", () => {
  it("has defaults that load the local cluster's load balancer", () => {
    const o = loadBenchOptions({ flags: {} });
    assert.equal(o.protocol, "resp");
    assert.deepEqual(o.target, { host: "127.0.0.1", port: 6379, loopback: true });
    assert.equal(o.durationMs, DEFAULT_DURATION_MS);
    assert.equal(o.requests, undefined);
    assert.equal(o.connections, 50);
    assert.equal(o.pipeline, 1);
    assert.equal(o.keyspace, 100_000);
    assert.equal(o.distribution, "uniform");
    assert.equal(o.readRatio, 0.9);
    assert.equal(o.valueSizeMin, 100);
    assert.equal(o.valueSizeMax, 100);
    assert.equal(o.ttlSeconds, 0);
    assert.equal(o.warmup, true);
    assert.equal(o.json, false);
    assert.equal(o.html, undefined);
    assert.ok(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32);
    const http = loadBenchOptions({ flags: { protocol: "http" } });
    assert.deepEqual(http.target, { host: "127.0.0.1", port: 8088, loopback: true });
  });

  it("reads every flag", () => {
    const o = loadBenchOptions({
      flags: {
        protocol: "http",
        target: "[::1]:9000",
        duration: "2s",
        requests: "5000",
        connections: "8",
        pipeline: "16",
        keyspace: "1000",
        keyPrefix: "bench:",
        distribution: "zipf",
        zipfSkew: "1.2",
        readRatio: "75%",
        valueSize: "64-512",
        ttl: "10m",
        warmup: false,
        warmupTimeout: "5s",
        timeout: "250ms",
        seed: "17",
        json: "true",
        html: "out.html",
      },
    });
    assert.equal(o.protocol, "http");
    assert.deepEqual(o.target, { host: "::1", port: 9000, loopback: true });
    assert.equal(o.durationMs, 2000);
    assert.equal(o.requests, 5000);
    assert.equal(o.connections, 8);
    assert.equal(o.pipeline, 16);
    assert.equal(o.keyspace, 1000);
    assert.equal(o.keyPrefix, "bench:");
    assert.equal(o.distribution, "zipf");
    assert.equal(o.zipfSkew, 1.2);
    assert.equal(o.readRatio, 0.75);
    assert.equal(o.valueSizeMin, 64);
    assert.equal(o.valueSizeMax, 512);
    assert.equal(o.ttlSeconds, 600);
    assert.equal(o.warmup, false);
    assert.equal(o.warmupTimeoutMs, 5000);
    assert.equal(o.timeoutMs, 250);
    assert.equal(o.seed, 17);
    assert.equal(o.json, true);
    assert.equal(o.html, "out.html");
  });

  it("bounds a request-count run in time too", () => {
    assert.equal(
      loadBenchOptions({ flags: { requests: "10" } }).durationMs,
      DEFAULT_REQUESTS_TIME_LIMIT_MS,
    );
    assert.equal(loadBenchOptions({ flags: { requests: "10", duration: "3s" } }).durationMs, 3000);
  });

  it("takes settings from RINGCACHE_* variables, flags first", () => {
    const env = { RINGCACHE_CONNECTIONS: "7", RINGCACHE_PIPELINE: "4" };
    const o = loadBenchOptions({ env, flags: { pipeline: "2" } });
    assert.equal(o.connections, 7);
    assert.equal(o.pipeline, 2);
  });

  it("parses value sizes, ratios, TTLs and targets", () => {
    assert.deepEqual(parseValueSize("100"), { min: 100, max: 100 });
    assert.deepEqual(parseValueSize("64-512"), { min: 64, max: 512 });
    assert.deepEqual(parseValueSize("1kb-4kb"), { min: 1024, max: 4096 });
    assert.deepEqual(parseValueSize("0"), { min: 0, max: 0 });
    for (const bad of ["", "abc", "512-64", "1-2-3", "-5", "65mb", "10-"]) {
      assert.equal(parseValueSize(bad), undefined, bad);
    }
    assert.equal(parseRatio("0.9"), 0.9);
    assert.equal(parseRatio("90%"), 0.9);
    assert.equal(parseRatio("1"), 1);
    assert.equal(parseRatio("0"), 0);
    assert.equal(parseRatio(".5"), 0.5);
    for (const bad of ["1.5", "-0.1", "x", "", "101%"])
      assert.equal(parseRatio(bad), undefined, bad);
    assert.equal(parseTtlSeconds("0"), 0);
    assert.equal(parseTtlSeconds("60"), 60);
    assert.equal(parseTtlSeconds("10m"), 600);
    assert.equal(parseTtlSeconds("1500ms"), 2);
    for (const bad of ["-1", "abc", "1.5", "", "10x"])
      assert.equal(parseTtlSeconds(bad), undefined, bad);
    assert.deepEqual(parseTarget("localhost:6379"), {
      host: "localhost",
      port: 6379,
      loopback: true,
    });
    assert.deepEqual(parseTarget("127.1.2.3:80"), { host: "127.1.2.3", port: 80, loopback: true });
    assert.deepEqual(parseTarget("10.0.0.5:6379"), {
      host: "10.0.0.5",
      port: 6379,
      loopback: false,
    });
    for (const bad of ["host", "host:0", "host:70000", ":6379", "host:port"]) {
      assert.equal(parseTarget(bad), undefined, bad);
    }
  });

  it("names the flag and what it allows when a value is bad", () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ connections: "0" }, /--connections .*an integer from 1 to 10000, got "0"/],
      [{ pipeline: "x" }, /--pipeline .*an integer from 1 to 1024/],
      [{ protocol: "udp" }, /--protocol .*one of resp, http, got "udp"/],
      [{ target: "nowhere" }, /--target .*host:port/],
      [{ duration: "soon" }, /--duration .*a duration such as 10s/],
      [{ distribution: "zipf", zipfSkew: "0" }, /--zipf-skew .*above 0 and at most 10/],
      [{ distribution: "zipf", zipfSkew: "11" }, /--zipf-skew/],
      [{ zipfSkew: "1.1" }, /--zipf-skew .*only applies with --distribution zipf/],
      [{ readRatio: "2" }, /--read-ratio .*from 0 to 1/],
      [{ valueSize: "big" }, /--value-size .*range such as 64-512/],
      [{ ttl: "-3" }, /--ttl .*whole seconds/],
      [{ keyPrefix: "a b" }, /--key-prefix/],
      [{ warmup: "maybe" }, /--warmup .*true or false/],
    ];
    for (const [flags, message] of cases) {
      assert.throws(
        () => loadBenchOptions({ flags }),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(flags),
      );
    }
  });
});

describe("ringcache bench flags", () => {
  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough() as PassThrough & NodeJS.WriteStream;
    let out = "";
    let err = "";
    stdout.on("data", (d: Buffer) => (out += d.toString()));
    stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await runBenchCommand(args, { stdout, stderr, env: {} });
    return { code, out, err };
  }

  it("exits 2 with a clear message for bad flags, before contacting anything", async () => {
    let r = await cli(["--pipeline", "0", "--target", "127.0.0.1:1"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /invalid --pipeline/);
    r = await cli(["--no-such-flag"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown option '--no-such-flag'/);
    r = await cli(["--html", "/nonexistent-dir/report.html"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--html .*cannot write into \/nonexistent-dir/);
    r = await cli(["extra-argument"]);
    assert.equal(r.code, 2);
  });

  it("documents every flag and the defaults in --help", async () => {
    const r = await cli(["--help"]);
    assert.equal(r.code, 0);
    for (const flag of [
      "--protocol",
      "--target",
      "--duration",
      "--requests",
      "--connections",
      "--pipeline",
      "--keyspace",
      "--distribution",
      "--zipf-skew",
      "--read-ratio",
      "--value-size",
      "--ttl",
      "--warmup",
      "--no-warmup",
      "--json",
      "--html",
    ]) {
      assert.ok(r.out.includes(flag), `help lacks ${flag}`);
    }
    assert.match(r.out, /127\.0\.0\.1:6379 for resp, 127\.0\.0\.1:8088 for http/);
  });
});

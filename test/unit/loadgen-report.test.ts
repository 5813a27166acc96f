import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderHtml } from "../../src/loadgen/html.js";
import { loadBenchOptions } from "../../src/loadgen/options.js";
import {
  buildReport,
  formatMicros,
  formatText,
  type BenchReport,
} from "../../src/loadgen/report.js";
import {
  createHistogram,
  histogramBins,
  spectrum,
  Stats,
  summarize,
  timelineInterval,
} from "../../src/loadgen/stats.js";
import { REPLY_MISS, REPLY_OK } from "../../src/loadgen/wire.js";
import { OP_GET, OP_SET } from "../../src/loadgen/workload.js";

/** Within HDR's 3 significant digits (0.1%), plus one unit for rounding. */
function near(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= expected * 0.001 + 1;
}

describe("latency histograms", () => {
  it("gives percentiles of what was recorded", () => {
    const h = createHistogram();
    for (let us = 1; us <= 10_000; us++) h.recordValue(us);
    const s = summarize(h);
    assert.ok(s !== null);
    assert.equal(s.count, 10_000);
    assert.equal(s.min, 1);
    assert.ok(near(s.p50, 5000), `p50 ${s.p50}`);
    assert.ok(near(s.p90, 9000), `p90 ${s.p90}`);
    assert.ok(near(s.p99, 9900), `p99 ${s.p99}`);
    assert.ok(near(s.p999, 9990), `p99.9 ${s.p999}`);
    assert.ok(near(s.max, 10_000), `max ${s.max}`);
    assert.ok(near(s.mean, 5000.5));
    assert.equal(summarize(createHistogram()), null);
  });

  it("sees the tail: one slow request in a thousand moves p99.9, not p99", () => {
    const h = createHistogram();
    for (let i = 0; i < 999; i++) h.recordValue(100);
    h.recordValue(50_000);
    const s = summarize(h);
    assert.ok(s !== null);
    assert.equal(s.p99, 100);
    assert.ok(near(s.max, 50_000));
    assert.ok(near(s.p999, 100) || near(s.p999, 50_000));
    // Past the initial range the histogram grows instead of throwing.
    h.recordValue(120_000_000);
    assert.ok(near(h.maxValue, 120_000_000));
  });

  it("bins logarithmically without losing a count", () => {
    const h = createHistogram();
    const values = [50, 51, 80, 120, 900, 1000, 1500, 25_000];
    for (const v of values) h.recordValue(v);
    const bins = histogramBins(h, 10);
    assert.equal(
      bins.reduce((sum, b) => sum + b.count, 0),
      values.length,
    );
    for (let i = 1; i < bins.length; i++) assert.equal(bins[i]?.fromUs, bins[i - 1]?.toUs);
    const first = bins[0];
    const last = bins[bins.length - 1];
    assert.ok(first !== undefined && last !== undefined);
    assert.ok(first.fromUs <= 50 && first.toUs > 50);
    assert.ok(last.fromUs <= 25_000 && last.toUs > 25_000);
    assert.deepEqual(histogramBins(createHistogram()), []);
    const spec = spectrum(h);
    assert.equal(spec[0]?.us, 50);
    assert.ok(near(spec[spec.length - 1]?.us ?? 0, 25_000));
    for (let i = 1; i < spec.length; i++) assert.ok((spec[i]?.us ?? 0) >= (spec[i - 1]?.us ?? 0));
  });
});

describe("Stats", () => {
  it("counts hits, misses, errors by kind, and keeps failures out of the latencies", () => {
    const stats = new Stats(100);
    stats.start(0);
    stats.reply(OP_GET, REPLY_OK, 100);
    stats.reply(OP_GET, REPLY_OK, 200);
    stats.reply(OP_GET, REPLY_MISS, 300);
    stats.reply(OP_SET, REPLY_OK, 400);
    stats.errorReply(OP_SET, "OOM", "OOM command not allowed", 50);
    stats.errorReply(OP_GET, "ERR", "ERR one", 60);
    stats.errorReply(OP_GET, "ERR", "ERR two", 70);
    stats.failure(OP_GET, "timeout", "no reply within 5000 ms");
    stats.connectionError("connect ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1");
    stats.finish(50);
    assert.equal(stats.hits, 2);
    assert.equal(stats.misses, 1);
    assert.equal(stats.ok, 4);
    assert.equal(stats.gets, 6);
    assert.equal(stats.sets, 2);
    assert.equal(stats.requests, 8);
    assert.equal(stats.errors, 5);
    assert.equal(stats.get.totalCount, 5); // the timeout has no latency
    assert.equal(stats.set.totalCount, 2);
    assert.deepEqual(stats.errorKinds.get("ERR"), { count: 2, sample: "ERR one" });
  });

  it("keeps a timeline per interval and coarsens it when it grows too long", () => {
    const stats = new Stats(100, 8);
    stats.start(0);
    let ops = 0;
    for (let t = 1; t <= 2000; t++) {
      stats.reply(OP_GET, REPLY_OK, 100 + (t % 7));
      ops++;
      if (t % 10 === 0) stats.tick(t);
    }
    stats.finish(2000);
    const points = stats.timeline;
    assert.ok(points.length <= 9, `${points.length} points`);
    assert.ok(stats.intervalMs > 100, "the interval doubled");
    assert.equal(
      points.reduce((sum, p) => sum + p.ops, 0),
      ops,
    );
    assert.equal(points[points.length - 1]?.t, 2);
    for (const p of points) {
      assert.ok(p.p50 !== null && p.p50 >= 100 && p.p50 <= 106);
      assert.ok(p.opsPerSec > 0);
    }
    const empty = new Stats(100);
    empty.start(0);
    empty.tick(150);
    assert.equal(empty.timeline[0]?.p50, null, "no replies: no latency, not zero");
  });

  it("picks round timeline intervals", () => {
    assert.equal(timelineInterval(2000), 100);
    assert.equal(timelineInterval(30_000), 200);
    assert.equal(timelineInterval(600_000), 5000);
    assert.equal(timelineInterval(86_400_000), 60_000);
  });
});

function sampleReport(): BenchReport {
  const options = loadBenchOptions({ flags: { seed: "1", keyspace: "1000", duration: "2s" } });
  const stats = new Stats(100);
  stats.start(0);
  for (let i = 0; i < 900; i++)
    stats.reply(OP_GET, i % 10 === 0 ? REPLY_MISS : REPLY_OK, 80 + (i % 50));
  for (let i = 0; i < 100; i++) stats.reply(OP_SET, REPLY_OK, 120 + i);
  stats.tick(1000);
  stats.errorReply(OP_GET, "ERR", "ERR </script><b>x</b>", 90);
  stats.finish(2000);
  return buildReport({
    options,
    startedAt: new Date("2025-01-01T00:00:00Z"),
    stoppedBy: "duration",
    stats,
    warmup: {
      enabled: true,
      keys: 1000,
      loaded: 1000,
      complete: true,
      errors: 0,
      durationMs: 12,
      opsPerSec: 83_333,
    },
    durationMs: 2000,
  });
}

describe("report", () => {
  it("derives rates, hit ratio and errors", () => {
    const r = sampleReport();
    assert.equal(r.totals.requests, 1001);
    assert.equal(r.totals.ok, 1000);
    assert.equal(r.opsPerSec, 500);
    assert.equal(r.getsPerSec, 450);
    assert.equal(r.setsPerSec, 50);
    assert.equal(r.hitRatio, 810 / 900);
    assert.equal(r.errors.total, 1);
    assert.deepEqual(r.errors.byKind, { ERR: 1 });
    assert.equal(r.latencyUs.all?.count, 1001);
    assert.equal(r.timeline.points.length, 2);
    assert.ok(r.histogram.bins.length > 0);
    assert.equal((JSON.parse(JSON.stringify(r)) as BenchReport).opsPerSec, 500);
  });

  it("renders text with throughput, hit ratio, percentiles and errors", () => {
    const text = formatText(sampleReport());
    assert.match(text, /throughput 500 ops\/s/);
    assert.match(text, /hit ratio {2}90\.00%/);
    assert.match(text, /p50 .*p90 .*p99 .*p99\.9 .*max /);
    assert.match(text, /errors {5}1\n\s+1 {2}ERR: ERR <\/script>/);
    assert.equal(formatMicros(85), "85µs");
    assert.equal(formatMicros(1234), "1.23ms");
    assert.equal(formatMicros(2_500_000), "2.50s");
  });

  it("renders one self-contained HTML file with both charts and the data", () => {
    const r = sampleReport();
    const html = renderHtml(r);
    assert.match(html, /^<!doctype html>/);
    for (const id of ["latency-over-time", "throughput-over-time", "latency-histogram"]) {
      assert.match(html, new RegExp(`<svg id="${id}"`));
    }
    assert.match(html, /<svg id="latency-over-time"[^]*?<polyline [^]*?<\/svg>/);
    assert.match(html, /<svg id="latency-histogram"[^]*?<rect class="bar" [^]*?<\/svg>/);
    // Nothing is fetched: no src/href attributes, no URL but the SVG namespace.
    assert.doesNotMatch(html, /\s(src|href)=/);
    assert.deepEqual(
      [...new Set(html.match(/https?:\/\/[^\s"'<>]+/g) ?? [])],
      ["http://www.w3.org/2000/svg"],
    );
    // The error text is escaped in the table and cannot close the embedded JSON early.
    assert.ok(!html.includes("<b>x</b>"));
    const data = /<script type="application\/json" id="report-data">(.*)<\/script>/.exec(html);
    assert.ok(data?.[1] !== undefined);
    assert.deepEqual(JSON.parse(data[1]), JSON.parse(JSON.stringify(r)));
  });

  it("says no data rather than drawing an empty chart", () => {
    const options = loadBenchOptions({ flags: { seed: "1" } });
    const stats = new Stats(100);
    stats.start(0);
    stats.finish(10);
    const r = buildReport({
      options,
      startedAt: new Date(),
      stoppedBy: "unreachable",
      stats,
      warmup: {
        enabled: false,
        keys: 1,
        loaded: 0,
        complete: false,
        errors: 0,
        durationMs: 0,
        opsPerSec: 0,
      },
      durationMs: 10,
    });
    assert.equal(r.hitRatio, null);
    assert.equal(r.latencyUs.all, null);
    const html = renderHtml(r);
    assert.match(
      html,
      /<svg id="latency-histogram"[^>]*><text class="empty"[^>]*>no data<\/text><\/svg>/,
    );
    assert.match(formatText(r), /hit ratio {2}- \(no reads\)/);
  });
});

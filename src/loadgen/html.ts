// The HTML report: one self-contained file (inline CSS and SVG, no script, no network) that
// shows a run at a glance: summary figures, latency over time, throughput over time, the
// latency histogram, percentiles and errors. The full JSON report is embedded too, so the file
// alone holds every figure.
import {
  describeTarget,
  describeWorkload,
  formatCount,
  formatMicros,
  type BenchReport,
} from "./report.js";

const WIDTH = 920;
const HEIGHT = 300;
const MARGIN = { left: 72, right: 24, top: 16, bottom: 44 } as const;
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

const COLORS = {
  p50: "#2b7bb9",
  p90: "#35a16b",
  p99: "#e0a020",
  max: "#d0453a",
  ops: "#2b7bb9",
  errors: "#d0453a",
  bar: "#5b8fd1",
} as const;

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Numbers in SVG attributes: short and locale-free. */
const n = (x: number): string => (Math.round(x * 10) / 10).toString();

interface Scale {
  (value: number): number;
  readonly ticks: readonly number[];
}

function linearScale(lo: number, hi: number, from: number, to: number, count = 6): Scale {
  const span = hi - lo || 1;
  const scale = ((v: number) => from + ((v - lo) / span) * (to - from)) as Scale;
  const step = niceStep(span / count);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(t);
  return Object.assign(scale, { ticks });
}

/** Logarithmic scale over [lo, hi] widened to whole decades; ticks at 1, 2 and 5. */
function logScale(lo: number, hi: number, from: number, to: number): Scale {
  const a = Math.floor(Math.log10(Math.max(lo, 1)));
  const b = Math.max(Math.ceil(Math.log10(Math.max(hi, 1))), a + 1);
  const scale = ((v: number) =>
    from + ((Math.log10(Math.max(v, 1)) - a) / (b - a)) * (to - from)) as Scale;
  const ticks: number[] = [];
  for (let d = a; d <= b; d++) {
    for (const m of b - a > 3 ? [1] : [1, 2, 5]) {
      const t = m * 10 ** d;
      if (t >= 10 ** a && t <= 10 ** b) ticks.push(t);
    }
  }
  return Object.assign(scale, { ticks });
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * magnitude >= raw) return m * magnitude;
  return 10 * magnitude;
}

function svgOpen(id: string, label: string): string {
  return `<svg id="${id}" role="img" aria-label="${escapeHtml(label)}" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" xmlns="http://www.w3.org/2000/svg">`;
}

function axes(
  x: Scale,
  y: Scale,
  formatX: (v: number) => string,
  formatY: (v: number) => string,
  xLabel: string,
  yLabel: string,
): string {
  const parts: string[] = [];
  const bottom = MARGIN.top + PLOT_H;
  for (const t of y.ticks) {
    const yy = y(t);
    parts.push(
      `<line class="grid" x1="${MARGIN.left}" x2="${MARGIN.left + PLOT_W}" y1="${n(yy)}" y2="${n(yy)}"/>`,
      `<text class="tick" x="${MARGIN.left - 6}" y="${n(yy + 4)}" text-anchor="end">${escapeHtml(formatY(t))}</text>`,
    );
  }
  for (const t of x.ticks) {
    const xx = x(t);
    parts.push(
      `<line class="grid" x1="${n(xx)}" x2="${n(xx)}" y1="${MARGIN.top}" y2="${bottom}"/>`,
      `<text class="tick" x="${n(xx)}" y="${bottom + 16}" text-anchor="middle">${escapeHtml(formatX(t))}</text>`,
    );
  }
  parts.push(
    `<rect class="frame" x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}"/>`,
    `<text class="axis" x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 6}" text-anchor="middle">${escapeHtml(xLabel)}</text>`,
    `<text class="axis" transform="translate(14 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(yLabel)}</text>`,
  );
  return parts.join("");
}

function noData(id: string, label: string): string {
  return `${svgOpen(id, label)}<text class="empty" x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle">no data</text></svg>`;
}

function legend(items: readonly (readonly [string, string])[]): string {
  return `<div class="legend">${items
    .map(([name, color]) => `<span><i style="background:${color}"></i>${escapeHtml(name)}</span>`)
    .join("")}</div>`;
}

/** Polylines broken at nulls, with a hoverable dot (SVG <title>) per point. */
function series(
  points: readonly (readonly [number, number | null])[],
  x: Scale,
  y: Scale,
  color: string,
  name: string,
  format: (v: number) => string,
): string {
  const runs: string[][] = [[]];
  const dots: string[] = [];
  for (const [t, v] of points) {
    if (v === null) {
      if ((runs[runs.length - 1] ?? []).length > 0) runs.push([]);
      continue;
    }
    runs[runs.length - 1]?.push(`${n(x(t))},${n(y(v))}`);
    dots.push(
      `<circle cx="${n(x(t))}" cy="${n(y(v))}" r="2.2" fill="${color}"><title>${escapeHtml(`${name} at ${t.toFixed(2)} s: ${format(v)}`)}</title></circle>`,
    );
  }
  const lines = runs
    .filter((r) => r.length > 0)
    .map(
      (r) => `<polyline fill="none" stroke="${color}" stroke-width="1.6" points="${r.join(" ")}"/>`,
    );
  return lines.join("") + dots.join("");
}

export function latencyOverTimeSvg(report: BenchReport): string {
  const id = "latency-over-time";
  const points = report.timeline.points;
  const values = points
    .flatMap((p) => [p.p50, p.p90, p.p99, p.max])
    .filter((v): v is number => v !== null);
  if (values.length === 0) return noData(id, "latency over time");
  const tMax = Math.max(...points.map((p) => p.t), 0.001);
  const x = linearScale(0, tMax, MARGIN.left, MARGIN.left + PLOT_W);
  const y = logScale(Math.min(...values), Math.max(...values), MARGIN.top + PLOT_H, MARGIN.top);
  const body = (["p50", "p90", "p99", "max"] as const)
    .map((key) =>
      series(
        points.map((p) => [p.t, p[key]] as const),
        x,
        y,
        COLORS[key],
        key,
        formatMicros,
      ),
    )
    .join("");
  return `${svgOpen(id, "latency over time")}${axes(x, y, (t) => `${+t.toFixed(2)}s`, formatMicros, "time since start (s)", "latency (log scale)")}${body}</svg>`;
}

export function throughputOverTimeSvg(report: BenchReport): string {
  const id = "throughput-over-time";
  const points = report.timeline.points;
  if (points.length === 0) return noData(id, "throughput over time");
  const tMax = Math.max(...points.map((p) => p.t), 0.001);
  const rates = points.map((p) => Math.max(p.opsPerSec, (p.errors * 1000) / Math.max(p.ms, 1)));
  const x = linearScale(0, tMax, MARGIN.left, MARGIN.left + PLOT_W);
  const y = linearScale(0, Math.max(...rates, 1) * 1.05, MARGIN.top + PLOT_H, MARGIN.top, 5);
  const ops = series(
    points.map((p) => [p.t, p.opsPerSec] as const),
    x,
    y,
    COLORS.ops,
    "ops/s",
    formatCount,
  );
  const errors = points.some((p) => p.errors > 0)
    ? series(
        points.map((p) => [p.t, Math.round((p.errors * 1000) / Math.max(p.ms, 1))] as const),
        x,
        y,
        COLORS.errors,
        "errors/s",
        formatCount,
      )
    : "";
  return `${svgOpen(id, "throughput over time")}${axes(x, y, (t) => `${+t.toFixed(2)}s`, formatCount, "time since start (s)", "per second")}${ops}${errors}</svg>`;
}

export function latencyHistogramSvg(report: BenchReport): string {
  const id = "latency-histogram";
  const bins = report.histogram.bins;
  const first = bins[0];
  const last = bins[bins.length - 1];
  if (first === undefined || last === undefined) return noData(id, "latency histogram");
  const x = logScale(first.fromUs, last.toUs, MARGIN.left, MARGIN.left + PLOT_W);
  const maxCount = Math.max(...bins.map((b) => b.count), 1);
  const y = linearScale(0, maxCount * 1.05, MARGIN.top + PLOT_H, MARGIN.top, 5);
  const total = bins.reduce((sum, b) => sum + b.count, 0);
  const bars = bins
    .filter((b) => b.count > 0)
    .map((b) => {
      const x0 = x(b.fromUs);
      const w = Math.max(x(b.toUs) - x0 - 1, 1);
      const top = y(b.count);
      const share = ((b.count * 100) / total).toFixed(2);
      return `<rect class="bar" x="${n(x0)}" y="${n(top)}" width="${n(w)}" height="${n(MARGIN.top + PLOT_H - top)}" fill="${COLORS.bar}"><title>${escapeHtml(`${formatMicros(b.fromUs)} to ${formatMicros(b.toUs)}: ${formatCount(b.count)} (${share}%)`)}</title></rect>`;
    })
    .join("");
  const l = report.latencyUs.all;
  const markers =
    l === null
      ? ""
      : (
          [
            ["p50", l.p50, COLORS.p50],
            ["p99", l.p99, COLORS.p99],
            ["p99.9", l.p999, COLORS.max],
          ] as const
        )
          .map(([name, us, color], i) => {
            const xx = x(us);
            return `<line x1="${n(xx)}" x2="${n(xx)}" y1="${MARGIN.top}" y2="${MARGIN.top + PLOT_H}" stroke="${color}" stroke-dasharray="4 3"/><text class="marker" x="${n(xx + 4)}" y="${MARGIN.top + 14 + i * 14}" fill="${color}">${escapeHtml(`${name} ${formatMicros(us)}`)}</text>`;
          })
          .join("");
  return `${svgOpen(id, "latency histogram")}${axes(x, y, formatMicros, formatCount, "latency (log scale)", "requests")}${bars}${markers}</svg>`;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;margin:24px auto;max-width:960px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 6px}
.sub{color:#5a6675;margin:0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:10px;margin:18px 0}
.card{border:1px solid #dfe4ea;border-radius:6px;padding:8px 10px}
.card b{display:block;font-size:20px}.card span{color:#5a6675;font-size:12px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 12px 3px 0;text-align:left;border-bottom:1px solid #eef1f4}
td.num,th.num{text-align:right}
svg{max-width:100%;height:auto;font-size:11px}
svg .grid{stroke:#eef1f4}svg .frame{fill:none;stroke:#c9d1da}svg .tick{fill:#5a6675}
svg .axis{fill:#3a4756;font-size:12px}svg .empty{fill:#8a96a3;font-size:16px}svg .marker{font-size:11px}
svg .bar:hover{opacity:.75}
.legend span{margin-right:14px;color:#3a4756}.legend i{display:inline-block;width:12px;height:3px;margin:0 5px 3px 0;vertical-align:middle}
.warn{color:#b23a2f}
`;

function card(value: string, label: string): string {
  return `<div class="card"><b>${escapeHtml(value)}</b><span>${escapeHtml(label)}</span></div>`;
}

/** The whole HTML document for a report. */
export function renderHtml(report: BenchReport): string {
  const l = report.latencyUs;
  const s = report.settings;
  const title = `ringcache bench: ${describeTarget(report)}`;
  const cards = [
    card(formatCount(report.opsPerSec), "ops/s"),
    card(report.hitRatio === null ? "-" : `${(report.hitRatio * 100).toFixed(2)}%`, "hit ratio"),
    card(l.all === null ? "-" : formatMicros(l.all.p50), "p50 latency"),
    card(l.all === null ? "-" : formatMicros(l.all.p99), "p99 latency"),
    card(l.all === null ? "-" : formatMicros(l.all.p999), "p99.9 latency"),
    card(l.all === null ? "-" : formatMicros(l.all.max), "max latency"),
    card(formatCount(report.totals.requests), "requests"),
    card(formatCount(report.errors.total), "errors"),
  ].join("");

  const latencyRows = (["all", "get", "set"] as const)
    .map((key) => {
      const v = l[key];
      const cells =
        v === null
          ? `<td class="num" colspan="7">-</td>`
          : [v.count, v.p50, v.p90, v.p99, v.p999, v.max, v.mean]
              .map((x, i) => `<td class="num">${i === 0 ? formatCount(x) : formatMicros(x)}</td>`)
              .join("");
      return `<tr><th>${key === "all" ? "all" : key.toUpperCase()}</th>${cells}</tr>`;
    })
    .join("");

  const percentileRows = report.percentiles
    .map(
      (p) =>
        `<tr><td class="num">${p.percentile}</td><td class="num">${formatMicros(p.us)}</td></tr>`,
    )
    .join("");

  const errorRows = Object.entries(report.errors.byKind)
    .map(
      ([kind, count]) =>
        `<tr><td class="num">${formatCount(count)}</td><td>${escapeHtml(kind)}</td><td>${escapeHtml(report.errors.samples[kind] ?? "")}</td></tr>`,
    )
    .join("");

  const w = report.warmup;
  const warmup = !w.enabled
    ? "skipped"
    : `${formatCount(w.loaded)} of ${formatCount(w.keys)} keys in ${(w.durationMs / 1000).toFixed(2)} s${w.complete ? "" : " (incomplete)"}${w.errors > 0 ? `, ${formatCount(w.errors)} errors` : ""}`;

  // The embedded report: "<" escaped so no string in it can close the script element.
  const json = JSON.stringify(report).replace(/</g, "\\u003c");

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="sub">${escapeHtml(`${s.connections} connections x pipeline ${s.pipeline}; ${describeWorkload(report)}; seed ${s.seed}`)}</p>
<p class="sub">${escapeHtml(`started ${report.startedAt}; measured ${(report.durationMs / 1000).toFixed(2)} s (stopped by ${report.stoppedBy}); warm-up: ${warmup}`)}</p>
${report.target.loopback ? "" : `<p class="sub warn">${escapeHtml(`target ${report.target.host} is not a loopback address`)}</p>`}
<div class="cards">${cards}</div>

<h2>Latency over time</h2>
${legend([
  ["p50", COLORS.p50],
  ["p90", COLORS.p90],
  ["p99", COLORS.p99],
  ["max", COLORS.max],
])}
${latencyOverTimeSvg(report)}
<p class="sub">Per interval of ${formatCount(report.timeline.intervalMs)} ms.</p>

<h2>Throughput over time</h2>
${legend([
  ["ops/s", COLORS.ops],
  ["errors/s", COLORS.errors],
])}
${throughputOverTimeSvg(report)}

<h2>Latency histogram</h2>
${latencyHistogramSvg(report)}
<p class="sub">${report.histogram.binsPerDecade} bins per decade; every reply of the measured run.</p>

<h2>Latency</h2>
<table><tr><th></th><th class="num">count</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th><th class="num">max</th><th class="num">mean</th></tr>${latencyRows}</table>

<h2>Percentiles</h2>
<table><tr><th class="num">percentile</th><th class="num">latency</th></tr>${percentileRows}</table>

<h2>Errors</h2>
${errorRows === "" ? "<p>none</p>" : `<table><tr><th class="num">count</th><th>kind</th><th>first message</th></tr>${errorRows}</table>`}

<script type="application/json" id="report-data">${json}</script>
</body>
</html>
`;
}

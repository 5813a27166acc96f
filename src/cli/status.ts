// `ringcache status`: the cluster as one master sees it (GET /v1/cluster), as a table.
//
//   master m1 (up 42 s)   epoch 3f9a1c2e   replicas 2 of 2   nodes up 3 of 3
//
//   NODE  ADDRESS          STATE  SHARE   FAILURES  SOURCE      SINCE
//   a1    127.0.0.1:7001   up     33.6%   0         config      2024-05-01T10:00:00.000Z
import { Command } from "commander";
import { ConfigError } from "../config/load.js";
import { parseDuration } from "../config/units.js";
import { RingcacheError } from "../errors.js";
import { httpCall } from "../server/http-call.js";
import type { ClusterView } from "../master/http.js";

const DEFAULT_URL = "http://127.0.0.1:8080";

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "),
    )
    .join("\n");
}

/** The cluster view as readable text. Pure. */
export function renderStatus(view: ClusterView): string {
  const up = view.nodes.filter((n) => n.inRing).length;
  const head =
    `master ${view.master.id} (up ${view.master.uptimeSeconds} s)   epoch ${view.epoch}   ` +
    `replicas ${view.replicas.effective} of ${view.replicas.configured}   ` +
    `nodes up ${up} of ${view.nodes.length}`;
  const rows: string[][] = [["NODE", "ADDRESS", "STATE", "SHARE", "FAILURES", "SOURCE", "SINCE"]];
  for (const n of view.nodes) {
    rows.push([
      n.id,
      `${n.host}:${n.port}`,
      n.state,
      `${(n.share * 100).toFixed(1)}%`,
      String(n.failures),
      n.source,
      n.since + (n.lastError !== null && n.state !== "up" ? `  (${n.lastError})` : ""),
    ]);
  }
  const lines = [head, "", view.nodes.length === 0 ? "no auxiliary nodes known" : table(rows)];
  if (view.peers.length > 0) {
    lines.push("", `peers: ${view.peers.map((p) => `${p.id}=${p.host}:${p.port}`).join(", ")}`);
  }
  const c = view.coordination;
  if (c?.kind !== undefined) {
    lines.push(
      `coordination: ${c.kind}` +
        (c.connected === false
          ? "   DISCONNECTED: serving on the current ring, no ring change until it reconnects"
          : "   connected") +
        (c.term !== undefined && c.term > 0 ? `   term ${c.term}` : ""),
    );
  }
  if (view.leader !== null) {
    lines.push(
      `leader: ${view.leader}` +
        (c === undefined
          ? ""
          : `   generation ${c.generation ?? "-"}   live peers ${c.livePeers.length}   ` +
            `last ring push ${c.lastPropagationMs} ms`),
    );
  } else if (c?.kind !== undefined) {
    lines.push("leader: none (no master can lead while coordination is unreachable)");
  }
  const r = view.rebalance;
  if (r !== null) {
    const progress = r.tasksTotal === 0 ? "" : ` (${r.tasksDone}/${r.tasksTotal} senders done)`;
    lines.push(
      r.running
        ? `rebalance: moving to ${r.target ?? "?"}${progress}, ${r.keysMovedThisMove} entries copied so far` +
            (r.startedAt === null ? "" : `, since ${r.startedAt}`)
        : `rebalance: idle; ${r.movesCompleted} moves done, ${r.keysMovedTotal} entries copied, ` +
            `${r.keysRemovedTotal} removed from former holders` +
            (r.movesCompleted > 0 ? `, last move ${Math.round(r.lastDurationMs)} ms` : ""),
    );
  }
  return `${lines.join("\n")}\n`;
}

export function statusCommand(): Command {
  const command = new Command("status")
    .description("show the cluster as a master sees it (nodes, states, ring shares, epoch)")
    .option("--url <url>", `a master's HTTP address [RINGCACHE_URL] (default: ${DEFAULT_URL})`)
    .option("--json", "print the raw JSON view")
    .option(
      "--timeout <duration>",
      "give up after this long (500ms, 2s; a bare number is ms)",
      "3s",
    );
  command.action(async () => {
    const opts = command.opts<{ url?: string; json?: boolean; timeout: string }>();
    const base = (opts.url ?? process.env["RINGCACHE_URL"] ?? DEFAULT_URL).replace(/\/+$/, "");
    const timeoutMs = parseDuration(opts.timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) {
      throw new ConfigError(
        `invalid --timeout: expected a duration such as 2s, got "${opts.timeout}"`,
      );
    }
    let view: ClusterView;
    try {
      const res = await httpCall(`${base}/v1/cluster`, { timeoutMs });
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${res.body}`);
      view = JSON.parse(res.body) as ClusterView;
    } catch (err) {
      // main() prints it and exits with status 1.
      throw new RingcacheError(
        "UNAVAILABLE",
        `status: cannot read ${base}/v1/cluster: ${(err as Error).message}`,
      );
    }
    process.stdout.write(
      opts.json === true ? `${JSON.stringify(view, null, 2)}\n` : renderStatus(view),
    );
  });
  return command;
}

// The status page at a master's HTTP root: the cluster as this master sees it (nodes, states,
// ring shares, leader, rebalance progress), refreshed every second from GET /v1/cluster.
// Three static files, no build step: the page, its script and its style. The script builds the
// DOM with textContent only (node ids come from registrations), and the page's
// Content-Security-Policy allows nothing but these files and /v1/cluster.

/** GET / */
export const STATUS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ringcache</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="status.css">
<script src="status.js" defer></script>
</head>
<body>
<header>
  <h1>ringcache</h1>
  <span id="master"></span>
  <span id="updated" class="muted">loading…</span>
</header>
<p id="error" class="error" hidden></p>
<section class="cards">
  <div class="card"><h2>Leader</h2><p id="leader">–</p><p id="coordination" class="muted"></p></div>
  <div class="card"><h2>Ring</h2><p id="ring">–</p><p id="epoch" class="muted"></p></div>
  <div class="card"><h2>Copies</h2><p id="replicas">–</p><p class="muted">effective / configured</p></div>
  <div class="card"><h2>Rebalance</h2><p id="rebalance">–</p><div class="bar"><div id="rebalance-bar"></div></div><p id="rebalance-detail" class="muted"></p></div>
</section>
<h2>Auxiliary nodes</h2>
<table>
  <thead><tr><th>node</th><th>address</th><th>state</th><th>in ring</th><th>ring share</th><th>failures</th><th>since</th><th>last error</th></tr></thead>
  <tbody id="nodes"></tbody>
</table>
<h2>Masters</h2>
<ul id="peers"></ul>
</body>
</html>
`;

/** GET /status.css */
export const STATUS_CSS = `body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1f2328; background: #fff; }
header { display: flex; gap: 1rem; align-items: baseline; }
h1 { font-size: 1.4rem; margin: 0; }
h2 { font-size: 1rem; margin: 1.2rem 0 0.4rem; }
.muted { color: #656d76; }
.state-text-down { color: #cf222e; }
.error { background: #ffebe9; border: 1px solid #cf222e; padding: 0.5rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(12rem, 1fr)); gap: 0.8rem; }
.card { border: 1px solid #d0d7de; border-radius: 6px; padding: 0 0.8rem 0.6rem; }
.card p { margin: 0.2rem 0; font-size: 1.1rem; }
.card p.muted { font-size: 0.85rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #d0d7de; }
.state { display: inline-block; min-width: 4.5rem; text-align: center; border-radius: 1rem; color: #fff; font-weight: 600; }
.state-up { background: #1a7f37; }
.state-suspect { background: #bc4c00; }
.state-down { background: #cf222e; }
.state-unknown { background: #6e7781; }
.bar { background: #eaeef2; height: 0.5rem; border-radius: 0.25rem; overflow: hidden; min-width: 6rem; }
.bar > div { background: #0969da; height: 100%; width: 0; }
.share { display: flex; gap: 0.5rem; align-items: center; }
`;

/** GET /status.js */
export const STATUS_JS = `"use strict";
const $ = (id) => document.getElementById(id);
const REFRESH_MS = 1000;

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (className !== undefined) e.className = className;
  return e;
}

function duration(seconds) {
  if (seconds < 120) return seconds + " s";
  if (seconds < 7200) return Math.floor(seconds / 60) + " min";
  return Math.floor(seconds / 3600) + " h";
}

/** Sets a cell's text only when it changed: rows stay the same elements from one refresh to the next. */
function setText(e, text) {
  const t = String(text);
  if (e.textContent !== t) e.textContent = t;
}

/** One row per node, kept and updated in place (keyed by node id), in the view's order. */
function renderNodes(nodes) {
  const body = $("nodes");
  const existing = new Map([...body.children].map((tr) => [tr.dataset.node, tr]));
  const rows = nodes.map((n) => {
    let tr = existing.get(n.id);
    if (tr === undefined) {
      tr = el("tr");
      tr.dataset.node = n.id;
      const share = el("div", undefined, "share");
      const bar = el("div", undefined, "bar");
      bar.append(el("div"));
      share.append(bar, el("span"));
      const state = el("span", undefined, "state");
      const cells = [el("td"), el("td"), el("td"), el("td"), el("td"), el("td"), el("td"), el("td", undefined, "muted")];
      cells[2].append(state);
      cells[4].append(share);
      tr.append(...cells);
    }
    if (tr.dataset.state !== n.state) tr.dataset.state = n.state;
    const td = tr.children;
    setText(td[0], n.id);
    setText(td[1], n.host + ":" + n.port);
    const state = td[2].firstChild;
    setText(state, n.state);
    if (state.className !== "state state-" + n.state) state.className = "state state-" + n.state;
    setText(td[3], n.inRing ? "yes" : "no");
    const width = Math.round(n.share * 100) + "%";
    const fill = td[4].querySelector(".bar > div");
    if (fill.style.width !== width) fill.style.width = width;
    setText(td[4].querySelector("span"), (n.share * 100).toFixed(1) + "%");
    setText(td[5], n.failures);
    setText(td[6], new Date(n.since).toLocaleTimeString());
    setText(td[7], n.lastError || "");
    return tr;
  });
  rows.forEach((tr, i) => {
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  while (body.children.length > rows.length) body.lastChild.remove();
}

function render(view) {
  $("master").textContent = "master " + view.master.id + " · " + view.master.version + " · up " + duration(view.master.uptimeSeconds);
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("leader").textContent = view.leader === null ? "none" : view.leader;
  const c = view.coordination;
  $("coordination").textContent = c === undefined ? "" :
    (c.kind || "builtin") + (c.connected === false ? " · etcd unreachable" : "") + (c.term ? " · term " + c.term : "");
  const inRing = view.nodes.filter((n) => n.inRing).length;
  $("ring").textContent = inRing + " of " + view.nodes.length + " nodes";
  $("epoch").textContent = "epoch " + view.epoch + " · " + view.vnodes + " vnodes";
  $("replicas").textContent = view.replicas.effective + " / " + view.replicas.configured;
  $("replicas").className = view.replicas.effective < view.replicas.configured ? "state-text-down" : "";
  const rb = view.rebalance;
  let done = 0;
  if (rb === null) {
    $("rebalance").textContent = "idle";
    $("rebalance-detail").textContent = "";
  } else {
    done = rb.tasksTotal > 0 ? rb.tasksDone / rb.tasksTotal : rb.running ? 0 : 1;
    $("rebalance").textContent = rb.running ? "moving · " + Math.round(done * 100) + "%" : "idle";
    $("rebalance-detail").textContent = (rb.running ? rb.keysMovedThisMove + " keys moved so far" : "moves done: " + rb.movesCompleted) + (rb.lastError ? " · last error: " + rb.lastError : "");
  }
  $("rebalance-bar").style.width = Math.round(done * 100) + "%";

  renderNodes(view.nodes);
  const peers = [el("li", view.master.id + " (this master)" + (view.leader === view.master.id ? " · leader" : ""))];
  for (const p of view.peers) peers.push(el("li", p.id + " · " + p.host + ":" + p.port + (view.leader === p.id ? " · leader" : "")));
  $("peers").replaceChildren(...peers);
}

async function refresh() {
  try {
    const res = await fetch("v1/cluster", { cache: "no-store" });
    if (!res.ok) throw new Error("HTTP " + res.status);
    render(await res.json());
    $("error").hidden = true;
  } catch (err) {
    $("error").textContent = "Cannot read /v1/cluster: " + err.message + " (retrying)";
    $("error").hidden = false;
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
`;

/** The page's Content-Security-Policy: its own files and its own API, nothing else. */
export const STATUS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The status page at a master's HTTP root, in a real headless Chromium (Debian's, driven by
// playwright-core): it lists the nodes with their states and ring shares, follows a node going
// down without a reload, and its screenshot shows that node's state in red and the others' in
// green. The page runs under its own Content-Security-Policy with no console errors.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { PNG } from "pngjs";
import { TestCluster } from "../helpers/cluster.js";
import { skipUnless, which } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

/** Share of a PNG's pixels that are mostly `channel` ("r" red, "g" green). */
function share(png: Buffer, channel: "r" | "g"): number {
  const image = PNG.sync.read(png);
  let hits = 0;
  for (let i = 0; i < image.data.length; i += 4) {
    const r = image.data[i] as number;
    const g = image.data[i + 1] as number;
    const b = image.data[i + 2] as number;
    const [main, other] = channel === "r" ? [r, Math.max(g, b)] : [g, Math.max(r, b)];
    if (main > 100 && main - other > 60) hits++;
  }
  return hits / (image.data.length / 4);
}

/** A screenshot of the page cut to one element's box (the page refreshes every second). */
async function clip(page: Page, selector: string): Promise<Buffer> {
  const box = await page.locator(selector).boundingBox();
  assert.ok(box !== null, `${selector} is not on the page`);
  return page.screenshot({ clip: box });
}

describe("status page", { skip: skipUnless("chromium") }, () => {
  let cluster: TestCluster;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async () => {
    cluster = await TestCluster.start({
      auxiliary: 3,
      replicas: 2,
      healthInterval: "200ms",
      healthFailures: 2,
    });
    browser = await chromium.launch({
      executablePath: which("chromium") as string,
      // Root (as in CI) cannot use Chromium's sandbox.
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(msg.text());
    });
    page.on("pageerror", (err) => problems.push(err.message));
  });
  after(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it("shows every node up with its ring share, then a killed node down, live", async () => {
    const master = cluster.master();
    const response = await page.goto(master.url("/"));
    assert.equal(response?.status(), 200);
    assert.match(response?.headers()["content-security-policy"] ?? "", /default-src 'none'/);

    await waitFor(
      "the page to show 3 nodes up",
      async () => (await page.locator('#nodes tr[data-state="up"]').count()) === 3,
    );
    const shares = (await page.locator("#nodes tr td:nth-child(5)").allTextContents()).map((t) =>
      Number.parseFloat(t),
    );
    assert.equal(shares.length, 3);
    const total = shares.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 100) < 0.5, `ring shares add up to ${total}%`);
    assert.equal(await page.textContent("#leader"), "m1");
    assert.equal(await page.textContent("#replicas"), "2 / 2");

    const victim = cluster.aux(1);
    await victim.kill9();
    // The page follows the master's view on its own: no reload.
    await page.waitForSelector(`#nodes tr[data-node="${victim.id}"][data-state="down"]`, {
      timeout: 30_000,
    });
    await waitFor(
      "the page to count 2 nodes in the ring",
      async () => (await page.textContent("#ring")) === "2 of 3 nodes",
    );

    const shot = await page.screenshot({ fullPage: true });
    const down = await clip(page, `#nodes tr[data-node="${victim.id}"] .state`);
    assert.ok(share(down, "r") > 0.3, "the down node's state is not shown in red");
    assert.equal(share(down, "g"), 0);
    const up = await clip(page, `#nodes tr[data-node="${cluster.aux(0).id}"] .state`);
    assert.ok(share(up, "g") > 0.3, "an up node's state is not shown in green");
    assert.equal(share(up, "r"), 0);
    // The whole page holds both colours: the screenshot shows the state, not only the DOM.
    assert.ok(share(shot, "r") > 0 && share(shot, "g") > 0);
    assert.deepEqual(problems, []);
  });
});

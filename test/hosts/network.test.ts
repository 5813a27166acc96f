// The network the tests across hosts run on: hosts reach each other and the root namespace;
// a cut drops packets both ways, established connections included, until it heals; a one-way
// drop stops one direction only; an isolated host reaches nobody; a process started in a host
// is the program itself (signals reach it); and nothing is left behind.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Host } from "../helpers/hosts/network.js";
import { TestNetwork } from "../helpers/hosts/network.js";
import type { NodeProcess } from "../helpers/process.js";
import { skipUnlessRoot } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const skip = skipUnlessRoot("ip", "iptables");
const PORT = 5000;

/** A TCP echo server and a UDP receiver that prints what it gets, on the host's address. */
function serverScript(address: string): string {
  return `
    const net = require("node:net"), dgram = require("node:dgram");
    net.createServer((s) => s.pipe(s)).listen(${PORT}, "${address}");
    const u = dgram.createSocket("udp4");
    u.on("message", (m) => console.log("udp " + m.toString()));
    u.bind(${PORT}, "${address}");
  `;
}

/** Whether `from` opens a TCP connection to `to` within the deadline (a run inside `from`). */
async function reaches(from: Host, to: Host, timeoutMs = 700): Promise<boolean> {
  const script = `
    const s = require("node:net").connect(${PORT}, "${to.address}");
    s.on("connect", () => process.exit(0));
    s.on("error", () => process.exit(1));
    setTimeout(() => process.exit(2), ${timeoutMs});
  `;
  try {
    await from.exec(process.execPath, ["-e", script]);
    return true;
  } catch {
    return false;
  }
}

/** Sends one UDP datagram from `from` to `to`. */
async function sendUdp(from: Host, to: Host, text: string): Promise<void> {
  const script = `
    const u = require("node:dgram").createSocket("udp4");
    u.send("${text}", ${PORT}, "${to.address}", () => u.close());
  `;
  await from.exec(process.execPath, ["-e", script]);
}

/** An echo round trip over an open socket within the deadline. */
function echoes(socket: Socket, text: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let got = "";
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.includes(text)) done(true);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      resolve(ok);
    };
    socket.on("data", onData);
    socket.write(text);
  });
}

describe("the network across hosts", { skip }, () => {
  let net: TestNetwork;
  let x1: Host;
  let x2: Host;
  let servers: NodeProcess[] = [];

  before(async () => {
    net = await TestNetwork.create();
    x1 = await net.addHost("x1");
    x2 = await net.addHost("x2");
    servers = await Promise.all(
      [x1, x2].map((h) =>
        h.spawn(`server-${h.name}`, ["-e", serverScript(h.address)], {
          program: [process.execPath],
        }),
      ),
    );
    await waitFor("both servers to listen", async () => (await reaches(x1, x2)) && reaches(x2, x1));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.terminate(2000)));
    await net?.remove();
  });

  it("gives each host its own address on one subnet, reachable from the root namespace", () => {
    assert.notEqual(x1.address, x2.address);
    assert.equal(x1.address.split(".").slice(0, 3).join("."), net.prefix);
    assert.equal(net.gateway, `${net.prefix}.1`);
    const ns = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
    assert.ok(ns.includes(x1.ns) && ns.includes(x2.ns));
  });

  it("runs the program itself in the host: signals reach it", async () => {
    const proc = servers[0] as NodeProcess;
    const pid = proc.pid as number;
    assert.equal(readFileSync(`/proc/${pid}/comm`, "utf8").trim(), "node");
    const netnsOf = (p: number | string): string =>
      execFileSync("readlink", [`/proc/${p}/ns/net`], { encoding: "utf8" }).trim();
    assert.notEqual(netnsOf(pid), netnsOf("self"), "the process runs in the root namespace");
    const state = (): string => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] ?? "";
    proc.pause();
    await waitFor("the process to stop", () => state() === "T");
    proc.resume();
    await waitFor("the process to run again", () => state() !== "T");
  });

  it("cuts two hosts both ways, open connections included, until healed", async () => {
    const socket = connect(PORT, x1.address);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve).once("error", reject);
    });
    try {
      assert.equal(await echoes(socket, "before", 2000), true);
      await net.cut(x1, x2);
      assert.equal(await reaches(x2, x1), false);
      assert.equal(await reaches(x1, x2), false);
      // The root namespace still reaches both.
      assert.equal(await echoes(socket, "during cut", 2000), true);

      await net.isolate(x1);
      assert.equal(await echoes(socket, "isolated", 700), false, "an open connection got through");
      await net.heal(x1);
      // The held bytes arrive with TCP's next retransmission.
      await waitFor("the held echo", () => echoes(socket, "isolated", 500), { timeoutMs: 10_000 });
      assert.equal(await reaches(x1, x2), true);
      assert.equal(await reaches(x2, x1), true);
    } finally {
      socket.destroy();
    }
  });

  it("drops one direction only", async () => {
    const received = (proc: NodeProcess, text: string): boolean =>
      proc.logText().includes(`udp ${text}`);
    await net.dropOneWay(x1, x2);
    await sendUdp(x1, x2, "x1-to-x2");
    await sendUdp(x2, x1, "x2-to-x1");
    await waitFor("x1 to receive x2's datagram", () =>
      received(servers[0] as NodeProcess, "x2-to-x1"),
    );
    assert.equal(received(servers[1] as NodeProcess, "x1-to-x2"), false);
    await net.healAll();
    await sendUdp(x1, x2, "x1-to-x2-healed");
    await waitFor("x2 to receive x1's datagram after healing", () =>
      received(servers[1] as NodeProcess, "x1-to-x2-healed"),
    );
    assert.equal((await net.describeRules()).includes("-A"), false);
  });

  it("removes its namespaces, links and processes", async () => {
    const other = await TestNetwork.create();
    const h = await other.addHost("y1");
    const proc = await h.spawn("sleeper", ["-e", "setInterval(() => {}, 1000)"], {
      program: [process.execPath],
    });
    await other.remove();
    const exit = await proc.waitExit();
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(execFileSync("ip", ["netns", "list"], { encoding: "utf8" }).includes(h.ns), false);
    const links = execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });
    assert.equal(links.includes(other.bridge) || links.includes(h.veth), false);
  });
});

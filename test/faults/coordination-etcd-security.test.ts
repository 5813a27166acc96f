// Coordination through an etcd that checks who connects
// (docs/design.md, "Coordination through etcd"), against a real local etcd: one that serves its
// clients over TLS only and asks each for a certificate its CA signed (--client-cert-auth),
// with certificates made here by openssl; and one with authentication on, whose user may
// touch only the cluster's prefix. Masters and auxiliary nodes connect with the right settings
// and the cluster serves, also after etcd restarts and forgets every login; each wrong setting
// (no client certificate, a CA that did not sign etcd's certificate, a key that is not the
// certificate's, a wrong password, a user without a role on the prefix, a user who may only
// read it) stops the node at start with exit code 2 and one message that says what to change, and never holds the
// password. A master whose new session etcd refuses halfway (its lease granted, its record
// refused) gives that lease up and stands for election again once etcd allows it.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { TestCluster } from "../helpers/cluster.js";
import { EtcdServer, makeCertificates, type TestCertificates } from "../helpers/etcd.js";
import { freePorts } from "../helpers/ports.js";
import { runCli, tempDir } from "../helpers/process.js";
import { recoveryView } from "../helpers/recovery.js";
import { connectRedis } from "../helpers/redis-client.js";
import { skipUnless } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";

const PREFIX = "/ringcache/test";
const PASSWORD = "s3cret-etcd-pass-7f2a";
const ROOT_PASSWORD = "s3cret-root-pass-91c4";

/** Two masters and two auxiliary nodes found through `etcd`, each node given `etcdArgs`. */
function clusterThrough(etcd: EtcdServer, etcdArgs: readonly string[]): Promise<TestCluster> {
  return TestCluster.start({
    masters: 2,
    auxiliary: 2,
    replicas: 2,
    coordination: "etcd",
    discovery: "etcd",
    healthInterval: "200ms",
    requestTimeout: "1s",
    etcd,
    etcdArgs,
  });
}

/**
 * The masters agree on one leader, both reach etcd, both route by a ring of the two nodes they
 * found there, and a value written through one master reads back through the other.
 */
async function assertServes(cluster: TestCluster): Promise<void> {
  await waitFor("both masters to reach etcd and agree on a leader", async () => {
    const [a, b] = await Promise.all(cluster.masters.map((m) => recoveryView(m)));
    return (
      a?.coordination?.connected === true &&
      b?.coordination?.connected === true &&
      a.leader !== null &&
      a.leader === b.leader &&
      a.epoch === b.epoch
    );
  });
  const [m1, m2] = [cluster.master(0), cluster.master(1)];
  const c1 = connectRedis(m1.port);
  const c2 = connectRedis(m2.port);
  try {
    for (let i = 0; i < 20; i++) assert.equal(await c1.set(`tls:${i}`, `v${i}`), "OK");
    for (let i = 0; i < 20; i++) assert.equal(await c2.get(`tls:${i}`), `v${i}`);
  } finally {
    c1.disconnect();
    c2.disconnect();
  }
}

/** Runs `ringcache <role>` against etcd with `args` and returns its exit and output. */
async function startNode(
  role: "master" | "auxiliary",
  dir: string,
  endpoint: string,
  args: readonly string[],
): Promise<{ code: number | null; output: string; stderr: string }> {
  const [port, http] = (await freePorts(2)) as [number, number];
  const run = await runCli([
    role,
    ...["--id", role === "master" ? "m9" : "a9", "--port", String(port)],
    ...["--http-port", String(http), "--data-dir", `${dir}/${role}`],
    ...["--coordination", "etcd", "--etcd-endpoints", endpoint, "--etcd-prefix", PREFIX],
    ...args,
  ]);
  return { code: run.code, output: run.stdout + run.stderr, stderr: run.stderr };
}

/** Exit code 2 and one line on stderr, `ringcache: <what to change>`, matching `pattern`. */
function assertStopped(
  run: { code: number | null; output: string; stderr: string },
  pattern: RegExp,
): void {
  assert.equal(run.code, 2, run.output);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one message, got:\n${run.stderr}`);
  assert.match(lines[0] as string, /^ringcache: /);
  assert.match(lines[0] as string, pattern);
  console.log(`[coordination-etcd-security] ${lines[0]}`);
}

describe("etcd over mutual TLS", { skip: skipUnless("etcd", "openssl") }, () => {
  const dir = tempDir("ringcache-etcd-tls-");
  let certs: TestCertificates;
  let etcd: EtcdServer;
  let cluster: TestCluster | undefined;

  before(async () => {
    certs = makeCertificates(dir);
    etcd = await EtcdServer.start({ tls: certs });
  });
  after(async () => {
    await cluster?.stop();
    await etcd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("masters and auxiliary nodes connect with the CA, a client certificate and its key", async () => {
    cluster = await clusterThrough(etcd, [
      ...["--etcd-ca-file", certs.ca],
      ...["--etcd-cert-file", certs.clientCert, "--etcd-key-file", certs.clientKey],
    ]);
    await assertServes(cluster);
  });

  it("a node without a client certificate stops at start with exit code 2", async () => {
    for (const role of ["master", "auxiliary"] as const) {
      const run = await startNode(role, dir, etcd.endpoint, ["--etcd-ca-file", certs.ca]);
      assertStopped(run, /etcd at 127\.0\.0\.1:\d+ .*--etcd-cert-file/);
    }
  });

  it("a CA that did not sign etcd's certificate stops a node at start with exit code 2", async () => {
    for (const role of ["master", "auxiliary"] as const) {
      const run = await startNode(role, dir, etcd.endpoint, [
        ...["--etcd-ca-file", certs.otherCa],
        ...["--etcd-cert-file", certs.clientCert, "--etcd-key-file", certs.clientKey],
      ]);
      assertStopped(run, /etcd at 127\.0\.0\.1:\d+ .*--etcd-ca-file/);
    }
  });

  it("a key that is not the certificate's stops a node at start with exit code 2", async () => {
    const run = await startNode("master", dir, etcd.endpoint, [
      ...["--etcd-ca-file", certs.ca],
      ...["--etcd-cert-file", certs.clientCert, "--etcd-key-file", certs.serverKey],
    ]);
    assertStopped(run, /cannot use the TLS files for etcd .*--etcd-key-file/);
  });
});

describe("etcd with authentication", { skip: skipUnless("etcd", "etcdctl") }, () => {
  const dir = tempDir("ringcache-etcd-auth-");
  let etcd: EtcdServer;
  let cluster: TestCluster | undefined;

  before(async () => {
    etcd = await EtcdServer.start();
    etcd.enableAuth({
      user: "ringcache",
      password: PASSWORD,
      rootPassword: ROOT_PASSWORD,
      prefix: PREFIX,
    });
  });
  after(async () => {
    await cluster?.stop();
    await etcd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("masters and auxiliary nodes connect as a user whose role holds the prefix", async () => {
    cluster = await clusterThrough(etcd, [
      ...["--etcd-username", "ringcache", "--etcd-password", PASSWORD],
    ]);
    await assertServes(cluster);
    // The password is a flag of every node, and none writes it in its log.
    for (const node of [...cluster.masters, ...cluster.auxiliaries]) {
      assert.doesNotMatch(node.process.logText(), new RegExp(PASSWORD), node.id);
    }
  });

  it("etcd restarted (its login tokens lost): the nodes log in again and the ring changes", async () => {
    const c = cluster as TestCluster;
    await etcd.restart();
    // Tokens are held in etcd's memory: every node must log in again, streams included.
    await waitFor("both masters to reach etcd again", async () => {
      const views = await Promise.all(c.masters.map((m) => recoveryView(m)));
      return views.every((v) => v.coordination?.connected === true && v.leader !== null);
    });
    // The leader still decides through etcd: a node that dies leaves every master's ring.
    await c.aux(1).kill9();
    await waitFor("both masters to route without the dead node", async () => {
      const views = await Promise.all(c.masters.map((m) => recoveryView(m)));
      return views.every((v) => v.nodes.filter((n) => n.share > 0).length === 1);
    });
  });

  it("a session etcd refuses halfway is given up, and opened whole once etcd allows it", async () => {
    const c = cluster as TestCluster;
    const m = c.master(1);
    const election = `${PREFIX}/election/`;
    // The election keys as etcd holds them: each key's lease (the key's last part) and master.
    const candidates = (): { lease: string; id: string }[] => {
      const lines = etcd.ctl("get", "--prefix", election).trim().split("\n");
      const out: { lease: string; id: string }[] = [];
      for (let i = 0; i + 1 < lines.length; i += 2) {
        out.push({
          lease: (lines[i] as string).slice(election.length),
          id: lines[i + 1] as string,
        });
      }
      return out;
    };
    const own = await waitFor(`${m.id} to stand for election`, () =>
      candidates().find((x) => x.id === m.id),
    );
    const refusals = (): number =>
      m.process.logEvents("cannot open an etcd session yet; retrying").length;
    const refusedBefore = refusals();
    // The role may still read the prefix and write every key but the masters' records, so that
    // a new session gets its lease and then has its record refused.
    etcd.ctl("role", "revoke-permission", "ringcache", "--prefix=true", `${PREFIX}/`);
    etcd.ctl("role", "grant-permission", "ringcache", "--prefix=true", "read", `${PREFIX}/`);
    for (const under of ["election/", "acks/", "nodes/"]) {
      etcd.ctl(
        "role",
        "grant-permission",
        "ringcache",
        "--prefix=true",
        "readwrite",
        `${PREFIX}/${under}`,
      );
    }
    etcd.ctl("role", "grant-permission", "ringcache", "readwrite", `${PREFIX}/membership`);
    try {
      // Its lease gone, the master opens another session, and etcd refuses its record.
      etcd.ctl("lease", "revoke", own.lease);
      await waitFor(`${m.id} to have a session refused`, () => refusals() > refusedBefore);
    } finally {
      etcd.ctl("role", "grant-permission", "ringcache", "--prefix=true", "readwrite", `${PREFIX}/`);
    }
    // Allowed again, it opens a whole session: its election key is back (one, under a new
    // lease), it says it is connected, and both masters name one leader.
    await waitFor(`${m.id} to stand for election again`, () => {
      const mine = candidates().filter((x) => x.id === m.id);
      return mine.length === 1 && mine[0]?.lease !== own.lease;
    });
    await waitFor("both masters to reach etcd and name one leader", async () => {
      const views = await Promise.all(c.masters.map((x) => recoveryView(x)));
      return views.every(
        (v) =>
          v.coordination?.connected === true && v.leader !== null && v.leader === views[0]?.leader,
      );
    });
  });

  it("a wrong password stops a node at start with exit code 2, and no password is shown", async () => {
    for (const role of ["master", "auxiliary"] as const) {
      const run = await startNode(role, dir, etcd.endpoint, [
        ...["--etcd-username", "ringcache", "--etcd-password", `${PASSWORD}-wrong`],
      ]);
      assertStopped(run, /etcd at 127\.0\.0\.1:\d+ refused user "ringcache".*--etcd-password/);
      assert.doesNotMatch(run.output, new RegExp(PASSWORD));
    }
  });

  it("a user without a role on the prefix stops a node at start with exit code 2", async () => {
    for (const role of ["master", "auxiliary"] as const) {
      const run = await startNode(role, dir, etcd.endpoint, [
        ...["--etcd-username", "ringcache", "--etcd-password", PASSWORD],
        ...["--etcd-prefix", "/elsewhere"],
      ]);
      assertStopped(run, /denied user "ringcache" the keys under \/elsewhere\/.*role/);
      assert.doesNotMatch(run.output, new RegExp(PASSWORD));
    }
  });

  it("a user who may read the prefix but not write there stops a master at start with exit code 2", async () => {
    etcd.ctl("role", "revoke-permission", "ringcache", "--prefix=true", `${PREFIX}/`);
    etcd.ctl("role", "grant-permission", "ringcache", "--prefix=true", "read", `${PREFIX}/`);
    try {
      // etcd refuses the keys at once: no retrying within the start's bound.
      const run = await startNode("master", dir, etcd.endpoint, [
        ...["--etcd-username", "ringcache", "--etcd-password", PASSWORD],
      ]);
      assertStopped(run, /refused this master's keys under \/ringcache\/test\/ .*role/);
      assert.doesNotMatch(run.output, new RegExp(PASSWORD));
    } finally {
      etcd.ctl("role", "grant-permission", "ringcache", "--prefix=true", "readwrite", `${PREFIX}/`);
    }
  });
});

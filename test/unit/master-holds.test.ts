// The order a client's commands run in around multi-step ones (src/master/commands/holds.ts):
// a two-step command holds every later command; a read-modify-write holds only later commands
// on its key and on several keys, and whatever queued behind those.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RingcacheError } from "../../src/errors.js";
import { Holds, type HeldRunner } from "../../src/master/commands/holds.js";
import type { ClientConnection, DeferredReply } from "../../src/server/resp-server.js";

/** Records what ran, by the command's name (args[0]) and key. */
class Runner implements HeldRunner {
  readonly ran: string[] = [];
  onRun: (conn: ClientConnection, args: Buffer[]) => void = () => {};
  runHeld(conn: ClientConnection, _id: number, args: Buffer[]): void {
    this.ran.push(args.map((a) => a.toString()).join(" "));
    this.onRun(conn, args);
  }
  fail(_slot: DeferredReply, _id: number, _startedAt: number, err: RingcacheError): void {
    this.ran.push(`failed: ${err.message}`);
  }
  now(): number {
    return 0;
  }
}

function connection(): ClientConnection {
  return { defer: () => ({}) as DeferredReply, destroy: () => {} } as unknown as ClientConnection;
}

const args = (line: string): Buffer[] => line.split(" ").map((a) => Buffer.from(a));

describe("holds", () => {
  it("lets commands on other keys pass a read-modify-write, and queues the rest in order", () => {
    const runner = new Runner();
    const holds = new Holds(runner);
    const conn = connection();
    const k = Buffer.from("k");
    holds.holdKey(conn, k);
    const offer = (line: string, oneKey = true): boolean => {
      const a = args(line);
      const queued = holds.enqueue(conn, 1, a, oneKey ? (a[1] as Buffer) : null);
      if (!queued) runner.ran.push(`now: ${line}`);
      return queued;
    };
    assert.equal(offer("GET other"), false);
    assert.equal(offer("SET k 1"), true);
    // Behind a queued command everything waits, even on another key.
    assert.equal(offer("GET other"), true);
    assert.equal(offer("MGET a b", false), true);
    assert.deepEqual(runner.ran, ["now: GET other"]);
    holds.releaseKey(conn, k);
    assert.deepEqual(runner.ran, ["now: GET other", "SET k 1", "GET other", "MGET a b"]);
    assert.equal(holds.count, 0);
    assert.equal(offer("GET k"), false);
  });

  it("keeps commands on several keys behind any key held, and runs them once all are free", () => {
    const runner = new Runner();
    const holds = new Holds(runner);
    const conn = connection();
    const a = Buffer.from("a");
    const b = Buffer.from("b");
    holds.holdKey(conn, a);
    holds.holdKey(conn, b);
    assert.equal(holds.enqueue(conn, 1, args("DEL x y"), null), true);
    holds.releaseKey(conn, a);
    assert.deepEqual(runner.ran, []);
    holds.releaseKey(conn, b);
    assert.deepEqual(runner.ran, ["DEL x y"]);
    assert.equal(holds.count, 0);
  });

  it("stops draining at a command that holds again, and resumes when it is done", () => {
    const runner = new Runner();
    const holds = new Holds(runner);
    const conn = connection();
    const k = Buffer.from("k");
    const again = Buffer.from("k");
    runner.onRun = (c, a) => {
      // The first queued command is a read-modify-write of k again.
      if (a[0]?.toString() === "APPEND") holds.holdKey(c, again);
      if (a[0]?.toString() === "SETNX") holds.hold(c);
    };
    holds.holdKey(conn, k);
    for (const line of ["APPEND k x", "GET k", "SETNX z 1", "GET w"]) {
      const a = args(line);
      assert.equal(holds.enqueue(conn, 1, a, a[1] as Buffer), true, line);
    }
    holds.releaseKey(conn, k);
    assert.deepEqual(runner.ran, ["APPEND k x"]);
    holds.releaseKey(conn, again);
    assert.deepEqual(runner.ran, ["APPEND k x", "GET k", "SETNX z 1"]);
    holds.release(conn);
    assert.deepEqual(runner.ran, ["APPEND k x", "GET k", "SETNX z 1", "GET w"]);
    assert.equal(holds.count, 0);
  });

  it("drops a closed connection's waiting commands, and ignores its late releases", () => {
    const runner = new Runner();
    const holds = new Holds(runner);
    const conn = connection();
    const k = Buffer.from("k");
    holds.holdKey(conn, k);
    holds.enqueue(conn, 1, args("GET k"), Buffer.from("k"));
    holds.onClose(conn);
    holds.releaseKey(conn, k);
    assert.deepEqual(runner.ran, []);
    assert.equal(holds.count, 0);
  });
});

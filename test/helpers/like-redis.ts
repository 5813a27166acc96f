// The reference tests of a deterministic script, registered in the describe that calls them:
// the replies of the server under test byte for byte as redis-server's, one command at a time
// and pipelined in one write, in RESP2 and after HELLO 3 (HELLO's own replies masked: their id
// and version differ by nature).
import assert from "node:assert/strict";
import { it } from "node:test";
import { diffReplies, maskHelloReplies, pipelined, rawReplies, splitReplies } from "./raw-resp.js";

export function scriptLikeRedis(
  script: readonly string[][],
  ports: () => { readonly redis: number; readonly tested: number },
): void {
  const resp3 = [["HELLO", "3"], ...script];
  const each = async (s: readonly string[][], port: number): Promise<Buffer[]> =>
    maskHelloReplies(s, await rawReplies(port, s));
  const piped = async (s: readonly string[][], port: number): Promise<Buffer[]> =>
    maskHelloReplies(s, splitReplies(await pipelined(port, s)));

  for (const [protocol, s] of [
    ["RESP2", script],
    ["RESP3", resp3],
  ] as const) {
    it(`answers every command of the script in ${protocol} byte for byte as redis-server does`, async () => {
      const { redis, tested } = ports();
      assert.deepEqual(diffReplies(s, await each(s, redis), await each(s, tested)), []);
    });

    it(`answers the script in ${protocol} pipelined in one write, in order`, async () => {
      const { redis, tested } = ports();
      assert.deepEqual(diffReplies(s, await piped(s, redis), await piped(s, tested)), []);
    });
  }
}

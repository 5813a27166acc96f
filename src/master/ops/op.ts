// What every operation shares: how it reports, the errors it reports, and where a write that no
// operation waits for goes.
//
// An operation is a small object with a fixed shape, built with every field set and started
// once with start(). It reports exactly once to its sink, a singleton per kind of caller, with
// the caller's context in `ctx` (typed by the operation's parameter C): no closure per request.
// Values handed to a sink are views valid only during opDone (they may point into a socket
// chunk): a sink that keeps bytes copies them.
import { RingcacheError } from "../../errors.js";
import type { RespReplyError } from "../../protocol/resp/index.js";
import type { NodeClient, NodeConnection, ReplyTarget } from "../pool.js";
import type { Router } from "../router.js";
import type { Topology } from "../topology.js";

/** Receives a finished operation; `op.error` is set when it failed. */
export interface OpSink<T> {
  opDone(op: T): void;
}

/** Shared empty owner list (never written to). */
export const NO_OWNERS: NodeClient[] = [];

const NO_NODE_UP = new RingcacheError("UNAVAILABLE", "no auxiliary node is up");
const AWAITING_LEADER = new RingcacheError(
  "UNAVAILABLE",
  "this master is waiting for the leading master's ring; try again or another master",
);

/** Why an operation found no owner: no node is up, or this master has no ring yet. */
export function noOwners(topology: Topology): RingcacheError {
  return topology.awaitingLeader ? AWAITING_LEADER : NO_NODE_UP;
}

/** The error of an operation that reached no owner; timeouts alone keep their TIMEOUT code. */
export function unreachable(
  lastError: RingcacheError | null,
  allTimeouts: boolean,
): RingcacheError {
  if (allTimeouts && lastError !== null) return lastError;
  return new RingcacheError(
    "UNAVAILABLE",
    `no owner of the key could be reached${lastError === null ? "" : ` (${lastError.message})`}`,
  );
}

/** An error reply of a node as a RingcacheError (OOM and WRONGTYPE keep their prefix). */
export function replyToError(reply: RespReplyError): RingcacheError {
  const prefix = reply.prefix;
  const message = reply.message.slice(prefix.length + 1);
  if (prefix === "OOM") return new RingcacheError("OUT_OF_MEMORY", message);
  if (prefix === "WRONGTYPE") return new RingcacheError("WRONG_TYPE", message);
  if (prefix === "ERR") return new RingcacheError("BAD_REQUEST", message);
  return new RingcacheError("INTERNAL", reply.message);
}

export function unexpectedReply(): RingcacheError {
  return new RingcacheError("INTERNAL", "unexpected reply from an auxiliary node");
}

/** Takes the replies of the writes no operation waits for (see unwaitedConnection). */
export const UNWAITED: ReplyTarget = {
  onNodeReply(): void {},
  onNodeError(): void {},
};

/**
 * Where to send, without waiting for it, a write to an owner this master does not send to
 * (connection() gave null), or null. Only a master that follows the leader's ring sends one,
 * and only to a node its own probes take for down: the leader's ring still has the node, so
 * the leader moves nothing, and if the node is alive after all (our probes timed out under
 * load) a write it missed would let it serve an older value once our probes see it up again.
 * The write is acknowledged by the other owners as before; it only needs an open socket.
 */
export function unwaitedConnection(
  router: Router,
  client: NodeClient,
  affinity: number,
): NodeConnection | null {
  if (client.accepting || router.topology.deciding) return null;
  return client.openConnection(affinity);
}

// The seam between a master's connections to its auxiliary nodes and the bytes' way there
// (docs/design.md, "Master ↔ auxiliary protocol").
//
//    NodePool / NodeConnection     NodeLink             Prober
//    (affinity, put batching,      (promises,           (PING, deadline,
//     hold-while-unanswered,        bulk pages,          result)
//     stats)                        progress timeout)
//            │                         │                    │
//            └────────────┬────────────┴────────────────────┘
//                         ▼
//               Connection (transport/connection.ts)
//               connect, AUTH, reconnect with backoff, ReplyDecoder,
//               FIFO of requests, in-place timeouts, one write per turn,
//               writableNeedDrain
//                         │  Transport.connect(host, port, events) ──► Wire
//            ┌────────────┴─────────────┐
//            ▼                          ▼
//      tcp (transport/tcp.ts)     loopback (src/simulation/loopback.ts)
//      net.Socket: the Wire       no sockets: CommandDecoder ─► AuxiliaryCommands over a Store
//      (the default)              ─► RespWriter ─► back; delivery, faults and time driven by a
//                                 Scheduler (a simulation's clock)
//
// What must stay true:
// - A transport hands the connection every event of one wire in the order it happened:
//   onConnect once (or onError then onClose when it cannot connect), onData in byte order,
//   onClose last. Events of a wire the connection dropped are ignored by it, not by the
//   transport.
// - Every timer and the end-of-turn flush come from `scheduler`: under a ManualScheduler
//   nothing happens until the simulation moves time.
import type { Scheduler } from "./scheduler.js";

/** The writing end of one connection. A net.Socket is one as it is. */
export interface Wire {
  /** Queues bytes; they must not change afterwards. */
  write(data: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  /** Stop writing until onDrain. */
  readonly writableNeedDrain: boolean;
  /** Drops the connection; onClose follows (not synchronously). */
  destroy(): void;
}

/** What a wire reports, each time with the wire it is about. */
export interface WireEvents {
  onConnect(wire: Wire): void;
  onData(wire: Wire, chunk: Buffer): void;
  onDrain(wire: Wire): void;
  /** `code` ECONNREFUSED: nothing accepts connections at the address. */
  onError(wire: Wire, error: NodeJS.ErrnoException): void;
  onClose(wire: Wire): void;
}

export interface Transport {
  readonly scheduler: Scheduler;
  /** Starts connecting; events arrive later, never during this call. */
  connect(host: string, port: number, events: WireEvents): Wire;
}

// The default transport: one TCP socket per connection, used as the wire itself (nothing
// between a flush and socket.write). See transport.ts.
import { connect } from "node:net";
import { REAL_TIME, type Scheduler } from "./scheduler.js";
import type { Transport, Wire, WireEvents } from "./transport.js";

export class TcpTransport implements Transport {
  readonly scheduler: Scheduler = REAL_TIME;

  connect(host: string, port: number, events: WireEvents): Wire {
    const socket = connect({ host, port, noDelay: true });
    socket.on("connect", () => events.onConnect(socket));
    socket.on("data", (chunk: Buffer) => events.onData(socket, chunk));
    socket.on("drain", () => events.onDrain(socket));
    socket.on("error", (err: NodeJS.ErrnoException) => events.onError(socket, err));
    socket.on("close", () => events.onClose(socket));
    return socket;
  }
}

/** The transport of a master that names none. */
export const TCP: Transport = new TcpTransport();

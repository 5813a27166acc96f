/**
 * An error reply (`-ERR unknown command`) decoded from the wire. It is a value, not a thrown
 * exception: a failed command is an ordinary answer in a pipeline, and capturing a stack trace
 * for each one would cost more than decoding it. Deliberately not an `Error`.
 */
export class RespReplyError {
  /** The whole line after the `-`, e.g. `WRONGTYPE Operation against a key ...`. */
  readonly message: string;

  constructor(message: string) {
    this.message = message;
  }

  /** The first word of the line, by Redis convention the error's kind (`ERR`, `WRONGTYPE`). */
  get prefix(): string {
    const space = this.message.indexOf(" ");
    return space < 0 ? this.message : this.message.slice(0, space);
  }

  toString(): string {
    return this.message;
  }
}

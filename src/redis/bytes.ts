// Copies of argument bytes. Arguments are views of a socket's chunk, valid only while a command
// is dispatched; whatever outlives it (an operation, a held command) gets its own copy, and a
// copy never pins the chunk (docs/design.md, "A SET's path from socket to store and back").

/** A copy of `b` in a buffer of its own. */
export function copy(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(b.length);
  b.copy(out);
  return out;
}

// The key and value size limits a master enforces on every client interface, RESP and HTTP
// alike, with one text each (docs/design.md, "Client interfaces").
import { RingcacheError } from "../errors.js";

export function keyTooLarge(maxKeySize: number): RingcacheError {
  return new RingcacheError(
    "KEY_TOO_LARGE",
    `key is longer than max-key-size (${maxKeySize} bytes)`,
  );
}

export function valueTooLarge(maxValueSize: number): RingcacheError {
  return new RingcacheError(
    "VALUE_TOO_LARGE",
    `value is larger than max-value-size (${maxValueSize} bytes)`,
  );
}

/** An HTTP body over the value limit, refused before it is read whole. */
export function bodyTooLarge(maxValueSize: number): RingcacheError {
  return new RingcacheError(
    "VALUE_TOO_LARGE",
    `body is larger than max-value-size (${maxValueSize} bytes)`,
  );
}

export function checkKeySize(key: Uint8Array, maxKeySize: number): void {
  if (key.length > maxKeySize) throw keyTooLarge(maxKeySize);
}

export function checkValueSize(value: Uint8Array, maxValueSize: number): void {
  if (value.length > maxValueSize) throw valueTooLarge(maxValueSize);
}

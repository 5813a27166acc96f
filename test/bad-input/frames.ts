// Malformed RESP frames and what a node answers to each: Redis's own protocol errors (the texts
// are what redis-server answers to the same bytes), and whether the connection is closed.
const PROTOCOL = "-ERR Protocol error: ";

/** [case, bytes sent, reply expected, connection closed by the server] */
export const MALFORMED: readonly [string, Buffer | string, string, boolean][] = [
  ["negative bulk length", "*1\r\n$-5\r\n", `${PROTOCOL}invalid bulk length\r\n`, true],
  ["huge bulk length", "*1\r\n$99999999999\r\n", `${PROTOCOL}invalid bulk length\r\n`, true],
  ["non-numeric bulk length", "*1\r\n$abc\r\n", `${PROTOCOL}invalid bulk length\r\n`, true],
  [
    "overflowing bulk length",
    "*1\r\n$99999999999999999999999999\r\n",
    `${PROTOCOL}invalid bulk length\r\n`,
    true,
  ],
  [
    "overflowing array length",
    "*99999999999999999999\r\n",
    `${PROTOCOL}invalid multibulk length\r\n`,
    true,
  ],
  ["non-numeric array length", "*x\r\n", `${PROTOCOL}invalid multibulk length\r\n`, true],
  // Redis skips a command whose array length is not positive and reads on.
  ["negative array length", "*-5\r\nPING\r\n", "+PONG\r\n", false],
  [
    "simple string inside a command",
    "*1\r\n+PING\r\n",
    `${PROTOCOL}expected '$', got '+'\r\n`,
    true,
  ],
  [
    "integer inside a command",
    "*2\r\n$3\r\nGET\r\n:5\r\n",
    `${PROTOCOL}expected '$', got ':'\r\n`,
    true,
  ],
  // The nodes run with the default --max-bulk of 16 MiB; Redis's own ceiling is 512 MiB.
  [
    "bulk longer than the limit",
    `*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$${16 * 1024 * 1024 + 1}\r\nabc`,
    `${PROTOCOL}invalid bulk length\r\n`,
    true,
  ],
  [
    "100 KB inline line without a newline",
    "x".repeat(100 * 1024),
    `${PROTOCOL}too big inline request\r\n`,
    true,
  ],
  // Redis answers nothing to these (it waits for more); refusing them at once is stricter.
  ["NUL bytes", "\0\0\0\r\n", `${PROTOCOL}NUL byte in inline request\r\n`, true],
  [
    "garbage bytes",
    Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x2a, 0x01]),
    `${PROTOCOL}NUL byte in inline request\r\n`,
    true,
  ],
  // Closed at once with no reply, as Redis does (a browser or proxy pointed at the port).
  ["HTTP GET sent to the RESP port", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "", true],
  ["HTTP POST sent to the RESP port", "POST /v1/keys/a HTTP/1.1\r\nHost: x\r\n\r\n", "", true],
];

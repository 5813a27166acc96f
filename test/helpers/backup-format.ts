// A reader of the masters' backup files written apart from the code that reads them in
// src/master/backup.ts (its header gives the format), so the tests check one against the
// other: every record of the file's valid prefix, with its bytes copied, and whether
// anything was cut.
import { crc32 } from "node:zlib";
import type { BackupRecord } from "../../src/master/backup.js";
import { checkPage, PageReader } from "../../src/protocol/page.js";

const HEADER = 8; // u32 payload length, u32 crc32 of the payload
const FIXED = 1 + 8 + 8 + 4; // flags, version, expiry, key length
const F_PAGE = 0x80;

export function decodeRecords(buf: Buffer): { records: BackupRecord[]; corrupt: boolean } {
  const records: BackupRecord[] = [];
  let at = 0;
  while (at + HEADER <= buf.length) {
    const len = buf.readUInt32LE(at);
    const p = at + HEADER;
    if (len < 1 || p + len > buf.length) return { records, corrupt: true };
    const payload = buf.subarray(p, p + len);
    if (crc32(payload) !== buf.readUInt32LE(at + 4)) return { records, corrupt: true };
    if (payload[0] === F_PAGE) {
      const page = payload.subarray(1);
      try {
        checkPage(page);
      } catch {
        return { records, corrupt: true };
      }
      const e = new PageReader().reset(page);
      while (e.next()) {
        records.push({
          tombstone: e.tombstone,
          version: e.version,
          expiresAt: e.expiresAt,
          key: Buffer.from(e.key()),
          value: Buffer.from(e.value()),
        });
      }
    } else {
      if (len < FIXED) return { records, corrupt: true };
      const keyLength = payload.readUInt32LE(17);
      if (FIXED + keyLength > len) return { records, corrupt: true };
      records.push({
        tombstone: payload[0] === 1,
        version: payload.readDoubleLE(1),
        expiresAt: payload.readDoubleLE(9),
        key: Buffer.from(payload.subarray(FIXED, FIXED + keyLength)),
        value: Buffer.from(payload.subarray(FIXED + keyLength)),
      });
    }
    at = p + len;
  }
  return { records, corrupt: at !== buf.length };
}

import { createHash, randomBytes } from 'node:crypto';

// Key format: "qck_" + 32 base62 characters of CSPRNG output + 6 base62 characters of the
// CRC32 of everything before them, so a typo is caught without a database lookup.
export const KEY_PREFIX = 'qck_';
const BODY_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
const MAX_BODY_LENGTH = 128;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE62_RE = /^[0-9A-Za-z]+$/;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function checksum(text: string): string {
  let value = crc32(text);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** Unbiased base62 characters from the CSPRNG. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function generateSecret(): string {
  const head = KEY_PREFIX + randomBase62(BODY_LENGTH);
  return head + checksum(head);
}

/** True when the text has the shape and checksum of a key (decided without any lookup). */
export function isWellFormed(key: string): boolean {
  if (!key.startsWith(KEY_PREFIX)) return false;
  const rest = key.length - KEY_PREFIX.length;
  if (rest < BODY_LENGTH + CHECKSUM_LENGTH || rest > MAX_BODY_LENGTH + CHECKSUM_LENGTH) return false;
  if (!BASE62_RE.test(key.slice(KEY_PREFIX.length))) return false;
  const head = key.slice(0, -CHECKSUM_LENGTH);
  return checksum(head) === key.slice(-CHECKSUM_LENGTH);
}

export function digestOf(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** What listings show of a secret: its prefix and first and last four characters. */
export function hintOf(secret: string): string {
  return `${secret.slice(0, KEY_PREFIX.length + 4)}…${secret.slice(-4)}`;
}

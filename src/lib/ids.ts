import { randomBytes } from 'node:crypto';

/** Prefixes of the opaque IDs, one per type, so `node(id)` can dispatch. */
export const ID_PREFIX = {
  ApiKey: 'key',
  ApiKeyEvent: 'evt',
  Instance: 'ins',
  Channel: 'chn',
  Team: 'team',
  Developer: 'dev',
} as const;

export type NodeType = keyof typeof ID_PREFIX;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = 0;
let lastRandom = Buffer.alloc(10);

function encode(bytes: Buffer | number[], length: number): string {
  // big-endian base32 of the bytes, left-padded to `length` characters
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * A ULID: 48-bit millisecond time + 80 random bits, monotonic within a millisecond, so IDs
 * sort in creation order (events and ties in listings rely on it).
 */
export function ulid(now = Date.now()): string {
  if (now <= lastTime) {
    // same (or earlier) millisecond: increment the random part
    const next = Buffer.from(lastRandom);
    for (let i = next.length - 1; i >= 0; i--) {
      if (next[i] === 255) { next[i] = 0; continue; }
      next[i]++;
      break;
    }
    lastRandom = next;
    now = lastTime;
  } else {
    lastTime = now;
    lastRandom = randomBytes(10);
  }
  const time = [];
  for (let i = 5; i >= 0; i--) time.push(Math.floor(now / 2 ** (8 * i)) & 255);
  return encode(time, 10) + encode(lastRandom, 16);
}

export function newId(type: NodeType): string {
  return `${ID_PREFIX[type]}_${ulid()}`;
}

/** The type an ID belongs to, or null when it is not one of ours. */
export function typeOfId(id: string): NodeType | null {
  const prefix = id.slice(0, id.indexOf('_'));
  for (const [type, p] of Object.entries(ID_PREFIX)) if (p === prefix) return type as NodeType;
  return null;
}

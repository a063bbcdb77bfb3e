import { randomFillSync } from 'node:crypto';

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
/** The random part of the last ID, incremented in place for the next one in the same millisecond. */
const lastRandom = Buffer.alloc(10);

/** `value` (an integer below 2^53) as `length` base32 characters, big-endian, left-padded. */
function base32(value: number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = CROCKFORD[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

/** Five bytes from `at` as one number (40 bits, exact in a double). */
const fiveBytes = (b: Buffer, at: number) => b[at] * 2 ** 32 + b.readUInt32BE(at + 1);

/**
 * A ULID: 48-bit millisecond time + 80 random bits, monotonic within a millisecond, so IDs
 * sort in creation order (events and ties in listings rely on it). Plain numbers throughout: a
 * bulk change makes one per key.
 */
export function ulid(now = Date.now()): string {
  if (now <= lastTime) {
    // same (or earlier) millisecond: increment the random part
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      if (lastRandom[i] === 255) { lastRandom[i] = 0; continue; }
      lastRandom[i]++;
      break;
    }
    now = lastTime;
  } else {
    lastTime = now;
    randomFillSync(lastRandom);
  }
  // 48 + 80 bits as 10 + 16 characters; 40 bits are 8 characters exactly
  return base32(now, 10) + base32(fiveBytes(lastRandom, 0), 8) + base32(fiveBytes(lastRandom, 5), 8);
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

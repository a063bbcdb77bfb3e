import { randomBytes } from 'node:crypto';
import { ID_PREFIX, type NodeType } from '../../src/lib/ids';

/** A small, fast, seedable PRNG (mulberry32): the data set's shape is reproducible. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** Index in [0, n), skewed towards 0 (the first items are the popular ones). */
  skewed(n: number, power = 1.6): number {
    return Math.min(n - 1, Math.floor(n * this.next() ** power));
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let pool = randomBytes(65_536);
let poolAt = 0;

function randomByte(): number {
  if (poolAt === pool.length) {
    pool = randomBytes(65_536);
    poolAt = 0;
  }
  return pool[poolAt++];
}

/**
 * An ID of the service's format (`key_01J…`: prefix + ULID) whose time part is `atMs`, so IDs of
 * historical rows sort with their creation time as the service's own do.
 */
export function idAt(type: NodeType, atMs: number): string {
  let time = '';
  let t = Math.floor(atMs);
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  let random = '';
  for (let i = 0; i < 16; i++) random += CROCKFORD[randomByte() & 31];
  return `${ID_PREFIX[type]}_${time}${random}`;
}

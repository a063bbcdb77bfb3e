import type { Clock } from '../../lib/clock';

interface Bucket { tokens: number; updatedMs: number }

export interface LookupLimits {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Most tokens a principal holds (and starts with). */
  burst: number;
}

/**
 * A token bucket per principal for the database lookups of secrets the cache does not know.
 * A lookup takes a token; one that finds a key gives it back, so only lookups of unknown
 * secrets (guesses: the checksum of the secret format is public) use up a principal's
 * bucket, and a flood of them from one principal cannot load the database for the others.
 */
export class LookupLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly limits: LookupLimits, private readonly now: Clock, private readonly maxPrincipals = 10_000) {}

  /** Takes a token; returns 0 when taken, else the seconds until the next one. */
  take(principal: string): number {
    const now = this.now();
    const bucket = this.refilled(principal, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limits.ratePerSecond));
  }

  /** Gives back a token taken for a lookup that found a key. */
  giveBack(principal: string): void {
    const bucket = this.buckets.get(principal);
    if (bucket) bucket.tokens = Math.min(this.limits.burst, bucket.tokens + 1);
  }

  private refilled(principal: string, now: number): Bucket {
    let bucket = this.buckets.get(principal);
    if (!bucket) {
      // a full bucket holds nothing worth keeping: past the bound, forget the least recently used
      if (this.buckets.size >= this.maxPrincipals) this.buckets.delete(this.buckets.keys().next().value as string);
      bucket = { tokens: this.limits.burst, updatedMs: now };
    } else {
      this.buckets.delete(principal);
      bucket.tokens = Math.min(this.limits.burst, bucket.tokens + ((now - bucket.updatedMs) / 1000) * this.limits.ratePerSecond);
      bucket.updatedMs = now;
    }
    // reinserted: the map's order is the order of last use
    this.buckets.set(principal, bucket);
    return bucket;
  }
}

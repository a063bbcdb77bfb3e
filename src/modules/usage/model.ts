import type { UsageGranularity } from '../../generated/graphql';

/** What one verification is counted under. Unknown keys leave the key's dimensions ''. */
export interface UsageDims {
  accountId: string;
  apiKeyId: string;
  channelId: string;
  instanceId: string;
  developerId: string;
  cloud: string;
  teamIds: readonly string[];
}

export interface UsagePoint { start: Date; total: number; valid: number; rejected: number }
export type UsageSeriesKind = 'VALUE' | 'OTHERS' | 'NO_TEAM' | 'UNKNOWN_KEY';
export interface UsageSeries { key: string; kind: UsageSeriesKind; label: string; total: number; valid: number; rejected: number; points: UsagePoint[] }

/** Keys the roll-ups give the verifications that are no value of the dimension (src/modules/usage/store.ts). */
export const UNKNOWN_KEY = '';
export const NO_TEAM = '(no team)';
/** The key of the values a report leaves out, summed. */
export const OTHERS = '(others)';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Start of the UTC bucket holding `t` (weeks start on Monday, as PostgreSQL's date_trunc). */
export function bucketStart(t: Date, g: UsageGranularity): Date {
  const d = new Date(Math.floor(t.getTime() / HOUR) * HOUR);
  if (g === 'HOUR') return d;
  d.setUTCHours(0);
  if (g === 'DAY') return d;
  if (g === 'WEEK') return new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

export function nextBucket(t: Date, g: UsageGranularity): Date {
  if (g === 'HOUR') return new Date(t.getTime() + HOUR);
  if (g === 'DAY') return new Date(t.getTime() + DAY);
  if (g === 'WEEK') return new Date(t.getTime() + 7 * DAY);
  return new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + 1, 1));
}

/** Every bucket start from the bucket of `from` up to (excluding) `to`. */
export function bucketsBetween(from: Date, to: Date, g: UsageGranularity): Date[] {
  const out: Date[] = [];
  for (let t = bucketStart(from, g); t < to; t = nextBucket(t, g)) out.push(t);
  return out;
}

/** Zero-filled series from rows of (bucket, valid, rejected). */
export function toSeries(key: string, label: string, buckets: Date[], rows: { bucket: Date; valid: number; rejected: number }[], kind: UsageSeriesKind = 'VALUE'): UsageSeries {
  const byStart = new Map(rows.map((r) => [r.bucket.getTime(), r]));
  let valid = 0;
  let rejected = 0;
  const points = buckets.map((start) => {
    const r = byStart.get(start.getTime());
    const v = r ? Number(r.valid) : 0;
    const x = r ? Number(r.rejected) : 0;
    valid += v;
    rejected += x;
    return { start, total: v + x, valid: v, rejected: x };
  });
  return { key, kind, label, total: valid + rejected, valid, rejected, points };
}

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

/** The outcomes a verification is rejected with, in the order of {@link Counts.reasons} and of the roll-ups' columns. */
export const REJECTION_CODES = ['EXPIRED', 'REVOKED', 'INSTANCE_MISMATCH', 'NOT_FOUND', 'MALFORMED'] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];
/** The roll-ups' column of each reason (migration 20261201000060). */
export const REASON_COLUMNS = ['expired', 'revoked', 'instance_mismatch', 'not_found', 'malformed'] as const;

/**
 * Verifications counted: valid, rejected, and the rejections by reason ({@link REJECTION_CODES});
 * `reasons` is null when a report did not read them (nobody asked for `rejections`).
 */
export interface Counts { valid: number; rejected: number; reasons: number[] | null }

/** Counts with their reasons, as verifications are recorded. */
export type RecordedCounts = Counts & { reasons: number[] };

export function noCounts(): RecordedCounts;
export function noCounts(reasons: boolean): Counts;
export function noCounts(reasons = true): Counts {
  return { valid: 0, rejected: 0, reasons: reasons ? [0, 0, 0, 0, 0] : null };
}

export function addCounts(into: Counts, c: Counts): void {
  into.valid += c.valid;
  into.rejected += c.rejected;
  if (into.reasons && c.reasons) for (let i = 0; i < into.reasons.length; i++) into.reasons[i] += c.reasons[i];
}

/** Rejections by reason as the API shows them; `unrecorded`: counted before reasons were kept. */
export interface Rejections { expired: number; revoked: number; instanceMismatch: number; notFound: number; malformed: number; unrecorded: number }

export function rejectionsOf(c: Counts): Rejections {
  if (!c.reasons) throw new Error('The report did not read the rejections\' reasons');
  const [expired, revoked, instanceMismatch, notFound, malformed] = c.reasons;
  return { expired, revoked, instanceMismatch, notFound, malformed, unrecorded: c.rejected - (expired + revoked + instanceMismatch + notFound + malformed) };
}

/** A point is its own counts, and a series keeps its sums: `rejections` is made from them only when asked for. */
export interface UsagePoint extends Counts { start: Date; total: number }
export type UsageSeriesKind = 'VALUE' | 'OTHERS' | 'NO_TEAM' | 'UNKNOWN_KEY';
export interface UsageSeries { key: string; kind: UsageSeriesKind; label: string; total: number; valid: number; rejected: number; counts: Counts; points: UsagePoint[] }

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

const NO_REASONS: readonly number[] = [0, 0, 0, 0, 0];

/** A value's counts per bucket, in bucket order (src/modules/usage/store.ts): the buckets' starts in ms, a column per count. */
export interface CountColumns { starts: number[]; valid: number[]; rejected: number[]; reasons: number[][] | null }

/** Zero-filled series from a value's count columns (none: no verification in the range); `reasons`: whether the columns hold the rejections' reasons. */
export function toSeries(
  key: string, label: string, buckets: Date[], columns: CountColumns | undefined, reasons: boolean, kind: UsageSeriesKind = 'VALUE',
): UsageSeries {
  const all = noCounts(reasons);
  const zeros = reasons ? (NO_REASONS as number[]) : null;
  const points: UsagePoint[] = new Array(buckets.length);
  let j = 0;
  for (let i = 0; i < buckets.length; i++) {
    const start = buckets[i];
    const time = start.getTime();
    while (columns && j < columns.starts.length && columns.starts[j] < time) j++;
    if (columns && columns.starts[j] === time) {
      const valid = columns.valid[j];
      const rejected = columns.rejected[j];
      const pointReasons = columns.reasons ? columns.reasons.map((r) => r[j]) : zeros;
      points[i] = { start, total: valid + rejected, valid, rejected, reasons: pointReasons };
      addCounts(all, points[i]);
      j++;
    } else {
      points[i] = { start, total: 0, valid: 0, rejected: 0, reasons: zeros };
    }
  }
  return { key, kind, label, total: all.valid + all.rejected, valid: all.valid, rejected: all.rejected, counts: all, points };
}

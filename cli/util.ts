// Option parsing, output and errors shared by the CLI's commands.
import { InvalidArgumentError } from 'commander';

/** A mistake in the command line: exit code 2, nothing sent. */
export class UsageError extends Error {}

// Option parsers throw InvalidArgumentError with what is wrong; the program adds the option's
// name (`qckeys: --ttl: expected a duration …`, see nameOptionErrors in index.ts).

/** Collects a repeatable option into an array. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A case-insensitive choice among an enum's values, written as in the schema or in kebab case. */
export function enumValue<T extends string>(values: readonly T[], what = ''): (value: string) => T {
  return (value) => {
    const normalised = value.trim().toUpperCase().replace(/-/g, '_');
    const match = values.find((v) => v === normalised);
    if (!match) {
      throw new InvalidArgumentError(`${what ? `${what} ` : ''}must be one of ${values.map((v) => v.toLowerCase().replace(/_/g, '-')).join(', ')} (got ${JSON.stringify(value)})`);
    }
    return match;
  };
}

/** A repeatable enum option. */
export function enumList<T extends string>(values: readonly T[]): (value: string, previous?: T[]) => T[] {
  const one = enumValue(values);
  return (value, previous = []) => [...previous, one(value)];
}

export function positiveInt(max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`must be an integer from 1 to ${max} (got ${JSON.stringify(value)})`);
    }
    return n;
  };
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Seconds as the largest whole unit: 604800 → `7d`, 90 → `90s`. */
export function formatSeconds(seconds: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_SECONDS[unit] as number;
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** A duration, `90` (seconds), `15m`, `24h`, `7d` or `2w`, from `min` to `max` seconds, as seconds. */
export function duration(min: number, max: number): (value: string) => number {
  return (value) => {
    const match = /^(\d+)([smhdw]?)$/.exec(value.trim());
    if (!match) throw new InvalidArgumentError(`expected a duration such as 3600, 30m, 24h, 7d or 1w (got ${JSON.stringify(value)})`);
    const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] || 's'] as number);
    if (!Number.isSafeInteger(seconds) || seconds < min || seconds > max) {
      throw new InvalidArgumentError(`must be from ${formatSeconds(min)} to ${formatSeconds(max)} (${min} to ${max} seconds; got ${value.trim()})`);
    }
    return seconds;
  };
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;
const RELATIVE = /^now(?:([+-])(\d+)([smhdw]))?$/;

function isoOf(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError(`not a valid time: ${value}`);
  return new Date(ms).toISOString();
}

/** An absolute time: `2026-12-31` (midnight UTC) or ISO 8601 with an offset. Same input, same value. */
export function absoluteTime(value: string): string {
  const v = value.trim();
  if (DATE_ONLY.test(v)) return isoOf(`${v}T00:00:00Z`);
  if (DATE_TIME.test(v)) return isoOf(v);
  if (RELATIVE.test(v)) {
    throw new InvalidArgumentError('use an absolute time here (e.g. 2026-12-31 or 2026-12-31T12:00:00Z) so that a retried command sends the same input');
  }
  throw new InvalidArgumentError('expected a date (2026-12-31), an ISO 8601 time with offset (2026-12-31T12:00:00Z)');
}

/** An absolute time, or one relative to now: `now`, `now-7d`, `now+30d` (units s, m, h, d, w). */
export function time(value: string, now = Date.now()): string {
  const match = RELATIVE.exec(value.trim());
  if (!match) {
    try {
      return absoluteTime(value);
    } catch {
      throw new InvalidArgumentError('expected a date (2026-12-31), an ISO 8601 time with offset, now, or now±N[smhdw] (e.g. now-7d)');
    }
  }
  if (!match[1]) return new Date(now).toISOString();
  const seconds = Number(match[2]) * (UNIT_SECONDS[match[3] as string] as number);
  return new Date(now + (match[1] === '+' ? 1 : -1) * seconds * 1000).toISOString();
}

/** Left-aligned columns separated by two spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** `2026-11-26T12:00:00.000Z` as `2026-11-26 12:00Z`, for tables. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/:\d{2}(\.\d+)?Z$/, 'Z');
}

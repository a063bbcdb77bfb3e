import { badInput } from '../errors';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 100;

export interface PageInfo {
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  startCursor: string | null;
  endCursor: string | null;
}

/** A Relay connection; `totalCount` runs its query only when the field is asked for. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
  totalCount: () => Promise<number>;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/** A validated page request: how many rows, from which cursor, in which direction. */
export interface PageRequest {
  limit: number;
  cursor: unknown[] | null;
  backward: boolean;
  hasCursor: boolean;
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, field: string, arity: number): unknown[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(values) && values.length === arity) return values;
  } catch {
    // fall through
  }
  throw badInput(field, 'Invalid cursor');
}

function checkSize(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAGE_SIZE) {
    throw badInput(field, `${field} must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  return value;
}

/**
 * Validates `first/after/last/before`. `arity` is the number of values in a cursor of this
 * listing (sort value(s) + ID).
 */
export function pageRequest(args: PageArgs, arity: number): PageRequest {
  const { first, after, last, before } = args;
  if (first != null && last != null) throw badInput('last', 'Pass either first or last, not both');
  if (after != null && before != null) throw badInput('before', 'Pass either after or before, not both');
  if (first != null && before != null) throw badInput('before', 'Page forwards with first/after or backwards with last/before');
  if (last != null && after != null) throw badInput('after', 'Page forwards with first/after or backwards with last/before');
  const backward = last != null || before != null;
  if (backward) {
    return {
      limit: checkSize(last ?? DEFAULT_PAGE_SIZE, 'last'),
      cursor: before != null ? decodeCursor(before, 'before', arity) : null,
      backward: true,
      hasCursor: before != null,
    };
  }
  return {
    limit: checkSize(first ?? DEFAULT_PAGE_SIZE, 'first'),
    cursor: after != null ? decodeCursor(after, 'after', arity) : null,
    backward: false,
    hasCursor: after != null,
  };
}

/**
 * Builds a connection from rows fetched with `limit + 1` in the request's direction
 * (the extra row only tells whether another page follows).
 */
export function toConnection<T>(
  rows: T[],
  page: PageRequest,
  cursorOf: (row: T) => unknown[],
  totalCount: () => Promise<number>,
): Connection<T> {
  const hasMore = rows.length > page.limit;
  const pageRows = rows.slice(0, page.limit);
  if (page.backward) pageRows.reverse();
  const edges = pageRows.map((node) => ({ cursor: encodeCursor(cursorOf(node)), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.backward ? page.hasCursor : hasMore,
      hasPreviousPage: page.backward ? hasMore : page.hasCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges[edges.length - 1]?.cursor ?? null,
    },
    totalCount,
  };
}

import { GraphQLError } from 'graphql';

/** The closed set of error codes of the API contract. */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FAILED_PRECONDITION'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

const httpStatus: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

/** An error the client may see as it is: its code and message are part of the API. */
export class ApiError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...details } });
    this.code = code;
  }

  /** HTTP status for a request that failed as a whole with this error. */
  get httpStatus(): number {
    return httpStatusOf(this.code);
  }
}

/** HTTP status of a request that failed as a whole with this code (200 for the codes a GraphQL answer carries in its body). */
export function httpStatusOf(code: unknown): number {
  return httpStatus[code as ErrorCode] ?? 200;
}

export const unauthenticated = (message = 'A valid bearer token is required') =>
  new ApiError('UNAUTHENTICATED', message);

export const forbidden = (message: string) => new ApiError('FORBIDDEN', message);

/** Invalid input; `field` is the input path, e.g. `input.expiresAt`. */
export const badInput = (field: string, message: string) =>
  new ApiError('BAD_USER_INPUT', message, { field });

export const notFound = (what: string, id: string, field?: string) =>
  new ApiError('NOT_FOUND', `No ${what} with ID ${JSON.stringify(id)}`, field ? { field } : {});

export const conflict = (message: string, details: Record<string, unknown> = {}) =>
  new ApiError('CONFLICT', message, details);

export const failedPrecondition = (message: string, details: Record<string, unknown> = {}) =>
  new ApiError('FAILED_PRECONDITION', message, details);

export const serviceUnavailable = () =>
  new ApiError('SERVICE_UNAVAILABLE', 'The database cannot be reached; try again shortly');

// Node's socket errors and PostgreSQL's "cannot connect now" / admin shutdown classes.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006',
]);

function isConnectionFailure(err: Error & { code?: unknown }): boolean {
  if (typeof err.code === 'string' && CONNECTION_ERROR_CODES.has(err.code)) return true;
  const name = err.name ?? '';
  const message = err.message ?? '';
  return (
    name === 'KnexTimeoutError' ||
    /Connection terminated|Connection ended unexpectedly|timeout expired|operation timed out for an unknown reason|timeout exceeded when trying to connect|Client has encountered a connection error|connection is closed|Unable to acquire a connection/i.test(message)
  );
}

/**
 * Maps a database error to the API's codes: unique violations are CONFLICT, lost connections
 * SERVICE_UNAVAILABLE. Anything else is returned unchanged (and masked when sent).
 */
export function fromDatabaseError(err: unknown): unknown {
  if (err instanceof ApiError || err === null || typeof err !== 'object') return err;
  // a lost socket can surface as a plain object ({ code: 'ECONNRESET', … }), which graphql wraps as `thrownValue`
  const thrown = (err as { thrownValue?: unknown }).thrownValue;
  if (thrown !== undefined) return fromDatabaseError(thrown) instanceof ApiError ? fromDatabaseError(thrown) : err;
  if (!(err instanceof Error)) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && CONNECTION_ERROR_CODES.has(code) ? serviceUnavailable() : err;
  }
  const code = (err as { code?: unknown }).code;
  if (code === '23505') return conflict('An object with that name already exists');
  if (code === '40001' || code === '40P01') return conflict('A concurrent change interfered; retry');
  // text PostgreSQL cannot store (a NUL byte) reaches it only through input
  if (code === '22021' || code === '22P05') return badInput('input', 'Text must not contain NUL or unencodable characters');
  if (isConnectionFailure(err)) return serviceUnavailable();
  return err;
}

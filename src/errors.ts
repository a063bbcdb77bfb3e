import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/** The closed set of error codes of the API contract: every error answer carries one of these. */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'FAILED_PRECONDITION',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The HTTP status of an answer that is nothing but this error (REST routes, and failures before GraphQL runs). */
const HTTP_STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  FAILED_PRECONDITION: 409,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_SERVER_ERROR: 500,
};

/**
 * A GraphQL answer carries its errors in a 200 body; a request that failed as a whole with one
 * of these codes gets its status instead, so that clients and proxies retry or re-authenticate.
 */
const GRAPHQL_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  RATE_LIMITED: 429,
  SERVICE_UNAVAILABLE: 503,
};

export const isErrorCode = (code: unknown): code is ErrorCode => (ERROR_CODES as readonly unknown[]).includes(code);

/** An error the client may see as it is: its code and message are part of the API. */
export class ApiError extends GraphQLError {
  readonly code: ErrorCode;
  /** An HTTP status of its own (405, 413), where the code's would be wrong. */
  private readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options: { status?: number } = {}) {
    super(message, { extensions: { code, ...details } });
    this.code = code;
    this.status = options.status;
  }

  /** HTTP status of an answer that is nothing but this error. */
  httpStatus(format: AnswerFormat): number {
    return this.status ?? statusOf(format, this.code);
  }
}

export type AnswerFormat = 'rest' | 'graphql';

/** HTTP status of an answer that is nothing but errors with this code. */
export function statusOf(format: AnswerFormat, code: unknown): number {
  if (!isErrorCode(code)) return format === 'rest' ? 500 : 200;
  return format === 'rest' ? HTTP_STATUS[code] : GRAPHQL_STATUS[code] ?? 200;
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
  new ApiError('SERVICE_UNAVAILABLE', 'The database cannot be reached; try again shortly', { retryAfterSeconds: 1 });

export const internalError = (message = 'Internal server error') => new ApiError('INTERNAL_SERVER_ERROR', message);

/**
 * The database could not be reached: a connection that could not be opened in time, was refused,
 * or was lost, or a server shutting down. Raised by the drivers (src/db/pg-driver.ts), which
 * know an error of the connection from an error PostgreSQL answered to a statement.
 */
export class DatabaseUnreachable extends Error {
  constructor(cause: unknown) {
    super(`The database cannot be reached: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'DatabaseUnreachable';
  }
}

/**
 * Maps a database error to the API's codes: unique violations are CONFLICT, lost connections
 * SERVICE_UNAVAILABLE. Anything else is returned unchanged (and masked when sent).
 */
export function fromDatabaseError(err: unknown): unknown {
  if (err instanceof ApiError || err === null || typeof err !== 'object') return err;
  if (err instanceof DatabaseUnreachable) return serviceUnavailable();
  // graphql wraps what a resolver threw that is not an Error as `thrownValue`
  const thrown = (err as { thrownValue?: unknown }).thrownValue;
  if (thrown !== undefined) return fromDatabaseError(thrown) instanceof ApiError ? fromDatabaseError(thrown) : err;
  const code = (err as { code?: unknown }).code;
  if (code === '23505') return conflict('An object with that name already exists');
  if (code === '40001' || code === '40P01') return conflict('A concurrent change interfered; retry');
  // a statement cut by statement_timeout: the database is too busy for it now
  if (code === '57014') return new ApiError('SERVICE_UNAVAILABLE', 'The database took too long to answer; try again shortly', { retryAfterSeconds: 1 });
  // text PostgreSQL cannot store (a NUL byte) reaches it only through input
  if (code === '22021' || code === '22P05') return badInput('input', 'Text must not contain NUL or unencodable characters');
  return err;
}

/** The API's error as a GraphQL error: the message, the code and the details the contract names. */
export function formattedError(err: ApiError, at: Pick<GraphQLFormattedError, 'path' | 'locations'> = {}): GraphQLFormattedError {
  return { message: err.message, ...(at.locations ? { locations: at.locations } : {}), ...(at.path ? { path: at.path } : {}), extensions: { ...err.extensions } };
}

/** An HTTP answer as sent (and as kept for an idempotent replay). */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Every error answer of the service: a REST route's `{ "error": { code, message, … } }` or a
 * GraphQL request's `{ "errors": [ … ] }`, with its HTTP status and, for errors that say when to
 * come back, `Retry-After`.
 */
export function errorAnswer(format: AnswerFormat, err: ApiError): HttpAnswer {
  const { code, ...details } = err.extensions as { code: ErrorCode } & Record<string, unknown>;
  const body = format === 'rest' ? { error: { code, message: err.message, ...details } } : { errors: [formattedError(err)] };
  const headers: Record<string, string> = { 'content-type': JSON_TYPE };
  if (typeof details.retryAfterSeconds === 'number') headers['retry-after'] = String(details.retryAfterSeconds);
  return { status: err.httpStatus(format), headers, body: JSON.stringify(body) };
}

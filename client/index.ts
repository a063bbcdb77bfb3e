// A small typed client for the qckeys GraphQL API: documents come from client/generated
// (`npm run codegen` from client/operations/*.graphql), so results and variables are typed.
import { Kind, print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export * from './generated/graphql';

/** The error codes of the API contract (`extensions.code`). */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'CONFLICT',
  'FAILED_PRECONDITION',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * A code outside the contract's list, e.g. `GRAPHQL_VALIDATION_FAILED` from a document that
 * does not match the server's schema, or `NETWORK_ERROR` when no answer came back.
 */
export type OtherErrorCode = string & Record<never, never>;

export function isContractErrorCode(code: string): code is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code);
}

/** One GraphQL error as the server sends it. */
export interface GraphQLErrorBody {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

/** A failed request: the first error's code, message and input field; every error in `errors`. */
export class ApiError extends Error {
  readonly code: ErrorCode | OtherErrorCode;
  /** Input path of a `BAD_USER_INPUT` (or `NOT_FOUND`) error, e.g. `input.expiresAt`. */
  readonly field: string | undefined;
  /** HTTP status of the response; 0 when none arrived. */
  readonly status: number;
  readonly errors: GraphQLErrorBody[];

  constructor(code: ErrorCode | OtherErrorCode, message: string, opts: { field?: string; status?: number; errors?: GraphQLErrorBody[] } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = opts.field;
    this.status = opts.status ?? 0;
    this.errors = opts.errors ?? [];
  }
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal }) => Promise<{
  status: number;
  text(): Promise<string>;
}>;

export interface ClientOptions {
  /** The GraphQL endpoint, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** Bearer token (JWT) with the roles the operations need. */
  token?: string;
  /** Defaults to the global `fetch` (Node 20+, browsers). */
  fetch?: FetchLike;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** Abort a request after this many milliseconds (default 30000; 0: never). */
  timeoutMs?: number;
}

export interface RequestOptions {
  /**
   * `Idempotency-Key` header (1 to 255 characters) for a mutation: a retry with the same key and
   * the same variables within 24 hours returns the first result without doing the work again.
   */
  idempotencyKey?: string;
  /** Extra headers for this request. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Client {
  request<TResult, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
    options?: RequestOptions,
  ): Promise<TResult>;
}

function operationName(document: DocumentNode): string | undefined {
  for (const def of document.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) return def.name?.value;
  }
  return undefined;
}

function isErrorList(value: unknown): value is GraphQLErrorBody[] {
  return Array.isArray(value) && value.every((e) => typeof e === 'object' && e !== null && typeof (e as GraphQLErrorBody).message === 'string');
}

/** Creates a client; `request` throws `ApiError` on any GraphQL error or transport failure. */
export function createClient(options: ClientOptions): Client {
  const doFetch: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  const printed = new WeakMap<DocumentNode, string>();
  const timeoutMs = options.timeoutMs ?? 30_000;

  return {
    async request(document, variables, requestOptions = {}) {
      let query = printed.get(document);
      if (query === undefined) {
        query = print(document);
        printed.set(document, query);
      }
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        ...options.headers,
        ...requestOptions.headers,
      };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (requestOptions.idempotencyKey !== undefined) headers['idempotency-key'] = requestOptions.idempotencyKey;
      const signal = requestOptions.signal ?? (timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined);

      let status: number;
      let text: string;
      try {
        const res = await doFetch(options.url, {
          method: 'POST',
          headers,
          body: JSON.stringify({ query, variables, operationName: operationName(document) }),
          signal,
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        const cause = err instanceof Error ? ((err.cause as { code?: string } | undefined)?.code ?? err.message) : String(err);
        throw new ApiError('NETWORK_ERROR', `Cannot reach ${options.url}: ${cause}`);
      }

      let body: { data?: unknown; errors?: unknown };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new ApiError(status === 503 ? 'SERVICE_UNAVAILABLE' : 'BAD_RESPONSE', `Unexpected response from ${options.url} (HTTP ${status})`, { status });
      }
      if (isErrorList(body.errors) && body.errors.length > 0) {
        const first = body.errors[0];
        const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'INTERNAL_SERVER_ERROR';
        const field = typeof first.extensions?.field === 'string' ? first.extensions.field : undefined;
        throw new ApiError(code, first.message, { field, status, errors: body.errors });
      }
      if (status !== 200 || body.data === undefined || body.data === null) {
        throw new ApiError('BAD_RESPONSE', `Unexpected response from ${options.url} (HTTP ${status})`, { status });
      }
      return body.data as never;
    },
  };
}

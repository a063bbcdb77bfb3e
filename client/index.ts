// @qckeys/client: a small typed client for the qckeys GraphQL API. The documents come from
// client/generated (`npm run codegen` from client/operations/*.graphql), so results and variables
// are typed; `graphql()` makes documents of your own.
import { Kind, parse, print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';

export * from './generated/graphql.js';
export type { TypedDocumentNode };
/** `ResultOf<typeof ApiKeysDocument>`, `VariablesOf<typeof ApiKeysDocument>`: a document's result and variables. */
export type { ResultOf, VariablesOf } from '@graphql-typed-document-node/core';

/** The error codes of the API contract (`extensions.code`). */
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

/**
 * A code outside the contract's list, e.g. `GRAPHQL_VALIDATION_FAILED` from a document that
 * does not match the server's schema, `NETWORK_ERROR` when no answer came back, or
 * `BAD_RESPONSE` when the answer was not a GraphQL response.
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

// Marks ApiErrors of every copy of this package (its ES module and CommonJS builds are two
// copies when an application loads both), so that `instanceof ApiError` holds across them.
const API_ERROR = Symbol.for('@qckeys/client.ApiError');

/** A failed request: the first error's code, message and input field; every error in `errors`. */
export class ApiError extends Error {
  readonly code: ErrorCode | OtherErrorCode;
  /** Input path of a `BAD_USER_INPUT` (or `NOT_FOUND`) error, e.g. `input.expiresAt`. */
  readonly field: string | undefined;
  /** HTTP status of the response; 0 when none arrived. */
  readonly status: number;
  readonly errors: GraphQLErrorBody[];

  constructor(
    code: ErrorCode | OtherErrorCode,
    message: string,
    opts: { field?: string | undefined; status?: number | undefined; errors?: GraphQLErrorBody[] | undefined; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ApiError';
    this.code = code;
    this.field = opts.field;
    this.status = opts.status ?? 0;
    this.errors = opts.errors ?? [];
    Object.defineProperty(this, API_ERROR, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== ApiError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[API_ERROR] === true;
  }
}

/** The part of `fetch` the client uses; pass your own to add retries, logging or a proxy. */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal }) => Promise<{
  status: number;
  text(): Promise<string>;
}>;

export interface ClientOptions {
  /** The GraphQL endpoint, e.g. `http://localhost:4000/graphql`. */
  url: string;
  /** Bearer token (JWT) with the roles the operations need; none is sent when undefined. */
  token?: string | undefined;
  /** Defaults to the global `fetch` (Node.js 18+, browsers). */
  fetch?: FetchLike | undefined;
  /** Extra headers sent with every request. */
  headers?: Record<string, string> | undefined;
  /** Abort a request after this many milliseconds (default 30000; 0: never). */
  timeoutMs?: number | undefined;
}

export interface RequestOptions {
  /**
   * `Idempotency-Key` header (1 to 255 characters) for a mutation: a retry with the same key and
   * the same variables within 24 hours returns the first result without doing the work again.
   */
  idempotencyKey?: string | undefined;
  /** Extra headers for this request. */
  headers?: Record<string, string> | undefined;
  /** Aborts the request (instead of the client's `timeoutMs`). */
  signal?: AbortSignal | undefined;
}

/** The variables of a document: an object of variable names. */
export type Variables = Record<string, unknown>;

/** `variables` and `options`; `variables` may be left out when the document requires none. */
export type RequestArgs<TVariables extends Variables> = Record<string, never> extends TVariables
  ? [variables?: TVariables, options?: RequestOptions]
  : [variables: TVariables, options?: RequestOptions];

export interface Client {
  /** Sends the document; resolves to its `data`, or throws `ApiError`. */
  request<TResult, TVariables extends Variables>(
    document: TypedDocumentNode<TResult, TVariables>,
    ...args: RequestArgs<TVariables>
  ): Promise<TResult>;
}

const parsed = new Map<string, DocumentNode>();

/**
 * A document of your own, e.g. `graphql<{ viewer: { accountId: string } }>('{ viewer { accountId } }')`:
 * parsed once per text (a syntax error throws at once), typed by its type parameters. For types
 * generated from the document itself, run @graphql-codegen's client preset on your code with the
 * schema this package ships (`@qckeys/client/schema.graphql`).
 */
export function graphql<TResult = unknown, TVariables extends Variables = Variables>(source: string): TypedDocumentNode<TResult, TVariables> {
  let document = parsed.get(source);
  if (document === undefined) {
    document = parse(source);
    parsed.set(source, document);
  }
  return document as TypedDocumentNode<TResult, TVariables>;
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
    async request<TResult, TVariables extends Variables>(
      document: TypedDocumentNode<TResult, TVariables>,
      ...[variables, requestOptions = {}]: RequestArgs<TVariables>
    ): Promise<TResult> {
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
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
      if (requestOptions.idempotencyKey !== undefined) headers['idempotency-key'] = requestOptions.idempotencyKey;
      const signal = requestOptions.signal ?? (timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined);
      const init: Parameters<FetchLike>[1] = {
        method: 'POST',
        headers,
        body: JSON.stringify({ query, variables: variables ?? {}, operationName: operationName(document) }),
      };
      if (signal) init.signal = signal;

      let status: number;
      let text: string;
      try {
        const res = await doFetch(options.url, init);
        status = res.status;
        text = await res.text();
      } catch (err) {
        // undici's `fetch failed` names the reason in its cause: ECONNREFUSED, ENOTFOUND, bad port…
        const inner = err instanceof Error && err.cause instanceof Error ? err.cause : err;
        const cause = inner instanceof Error ? ((inner as Error & { code?: unknown }).code ?? inner.message) : String(inner);
        throw new ApiError('NETWORK_ERROR', `Cannot reach ${options.url}: ${cause}`, { cause: err });
      }

      let body: { data?: unknown; errors?: unknown };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        throw new ApiError(status === 503 ? 'SERVICE_UNAVAILABLE' : 'BAD_RESPONSE', `Unexpected response from ${options.url} (HTTP ${status})`, { status });
      }
      if (isErrorList(body.errors)) {
        const [first] = body.errors;
        if (first !== undefined) {
          const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'INTERNAL_SERVER_ERROR';
          const field = typeof first.extensions?.field === 'string' ? first.extensions.field : undefined;
          throw new ApiError(code, first.message, { field, status, errors: body.errors });
        }
      }
      if (status !== 200 || body.data === undefined || body.data === null) {
        throw new ApiError('BAD_RESPONSE', `Unexpected response from ${options.url} (HTTP ${status})`, { status });
      }
      return body.data as TResult;
    },
  };
}

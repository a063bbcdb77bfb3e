import { Kind, parse, print, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Database } from '../../db/database';
import type { Logger } from 'pino';
import { requireMutationRoles, type Principal } from '../../auth/principal';
import { ApiError, conflict, errorAnswer, forbidden, fromDatabaseError, type HttpAnswer } from '../../errors';
import { IdempotencyCrypto } from './crypto';
import * as store from './store';

/** An HTTP answer as sent, and as kept for replay. */
export type HttpOutcome = HttpAnswer;

export type IdempotencyResult = 'executed' | 'replayed' | 'conflict' | 'in_progress';

export interface IdempotencyOptions {
  /** How long a duplicate waits for the first request still in flight. */
  waitMs: number;
  /** The parser's token limit (a longer document is left for the GraphQL server to refuse). */
  maxTokens: number;
  logger: Logger;
  onResult?: (result: IdempotencyResult) => void;
}

export const HEADER = 'idempotency-key';
const MAX_KEY_LENGTH = 255;
const POLL_MS = 50;

interface Mutation {
  fingerprint: string;
  /** Names of the root fields selected (through fragments too); with one, a request that returned no data wrote nothing. */
  rootFields: string[];
}

const refused = (err: ApiError): HttpOutcome => errorAnswer('graphql', err);
const keyConflict = (message: string) => refused(conflict(message, { field: 'Idempotency-Key' }));

/** JSON with object keys sorted, so equal variables give equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The mutation a GraphQL-over-HTTP body asks for, or null (a query, or a body Apollo will refuse). */
export function mutationOf(body: unknown, maxTokens = 100_000): Mutation | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const { query, operationName, variables } = body as { query?: unknown; operationName?: unknown; variables?: unknown };
  if (typeof query !== 'string') return null;
  let document: DocumentNode;
  try {
    document = parse(query, { maxTokens });
  } catch {
    return null;
  }
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = typeof operationName === 'string' && operationName !== ''
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1 ? operations[0] : undefined;
  if (!operation || operation.operation !== 'mutation') return null;
  return {
    fingerprint: canonical([print(document), typeof operationName === 'string' ? operationName : null, variables ?? {}]),
    rootFields: rootFieldNames(document, operation.selectionSet),
  };
}

/** Every root field a selection set selects, through inline fragments and fragment spreads (each spread once). */
function rootFieldNames(document: DocumentNode, selectionSet: SelectionSetNode, seen = new Set<string>()): string[] {
  const names: string[] = [];
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      names.push(selection.name.value);
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      names.push(...rootFieldNames(document, selection.selectionSet, seen));
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((d): d is FragmentDefinitionNode =>
        d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      // an unknown fragment: validation refuses the document before anything runs
      if (fragment) names.push(...rootFieldNames(document, fragment.selectionSet, seen));
    }
  }
  return names;
}

/** Whose answers a request may replay: the same account, subject and roles. */
export function ownerOf(principal: Principal): string {
  return JSON.stringify([principal.accountId, principal.subject, [...principal.roles].sort()]);
}

/** True when the answer says nothing was done, so the key may be used again. */
function wroteNothing(outcome: HttpOutcome, mutation: Mutation): boolean {
  if (outcome.status >= 500) return true;
  let parsed: { data?: Record<string, unknown> | null; errors?: unknown[] };
  try {
    parsed = JSON.parse(outcome.body) as typeof parsed;
  } catch {
    return false;
  }
  if (!parsed.errors?.length) return false;
  // one transaction per root field: a single failed field wrote nothing
  const noData = parsed.data == null || Object.values(parsed.data).every((v) => v === null);
  return noData && mutation.rootFields.length === 1;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Safe retries of mutations sent with an `Idempotency-Key` header: the first request claims the
 * key and its answer is kept (encrypted) for 24 hours; a retry with the same operation and
 * variables gets that answer without running again; other input is CONFLICT; a duplicate of a
 * request still in flight waits for it, then replays or fails with CONFLICT.
 *
 * A key belongs to the principal that sent it (account, subject and roles): another principal's
 * request with the same key value is a request of its own. And a principal that may not run the
 * mutation is refused before anything is looked up, replayed or waited for.
 */
export class IdempotencyGuard {
  constructor(
    private readonly db: Database,
    private readonly crypto: IdempotencyCrypto,
    private readonly options: IdempotencyOptions,
  ) {}

  async handle(principal: Principal, header: string | string[] | undefined, body: unknown, run: () => Promise<HttpOutcome>): Promise<HttpOutcome> {
    if (header === undefined) return run();
    const key = Array.isArray(header) ? header.join(', ') : header;
    if (key.length < 1 || key.length > MAX_KEY_LENGTH) {
      return refused(new ApiError('BAD_USER_INPUT', `The Idempotency-Key header must be 1 to ${MAX_KEY_LENGTH} characters`, { field: 'Idempotency-Key' }, { status: 400 }));
    }
    const accountId = principal.accountId;
    const mutation = mutationOf(body, this.options.maxTokens);
    // queries are safe to repeat; a platform verifier has no account to scope keys by
    if (accountId === null || mutation === null) return run();
    try {
      requireMutationRoles(principal, mutation.rootFields);
    } catch (err) {
      return refused(forbidden((err as Error).message));
    }
    try {
      return await this.guarded(accountId, ownerOf(principal), key, mutation, run);
    } catch (err) {
      const mapped = fromDatabaseError(err);
      if (mapped instanceof ApiError && mapped.code === 'SERVICE_UNAVAILABLE') return refused(mapped);
      throw err;
    }
  }

  private async guarded(accountId: string, owner: string, key: string, mutation: Mutation, run: () => Promise<HttpOutcome>): Promise<HttpOutcome> {
    const keyHash = this.crypto.keyHash(owner, key);
    const requestHash = this.crypto.requestHash(owner, mutation.fingerprint);
    const deadline = Date.now() + this.options.waitMs;
    for (;;) {
      if (await store.claim(this.db, accountId, keyHash, requestHash)) return this.execute(accountId, owner, key, keyHash, mutation, run);
      const row = await store.find(this.db, accountId, keyHash);
      if (row !== null && (row.expired || (row.abandoned && row.requestHash.equals(requestHash)))) {
        if (await store.takeOver(this.db, accountId, keyHash, requestHash)) return this.execute(accountId, owner, key, keyHash, mutation, run);
      } else if (row !== null && !row.requestHash.equals(requestHash)) {
        this.options.onResult?.('conflict');
        return keyConflict('This Idempotency-Key was already used with another operation or other variables');
      } else if (row !== null && row.httpStatus !== null && row.response && row.responseIv) {
        const text = this.crypto.open(owner, key, row.responseIv, row.response);
        if (text === null) {
          this.options.onResult?.('conflict');
          return keyConflict('The first answer for this Idempotency-Key cannot be replayed; use a new key');
        }
        const stored = JSON.parse(text) as { headers: Record<string, string>; body: string };
        this.options.onResult?.('replayed');
        return { status: row.httpStatus, headers: { ...stored.headers, 'idempotent-replayed': 'true' }, body: stored.body };
      }
      // in flight elsewhere, or released or taken over in between: look again until the deadline
      if (Date.now() >= deadline) {
        this.options.onResult?.('in_progress');
        return keyConflict('A request with this Idempotency-Key is still in progress; retry later');
      }
      await sleep(POLL_MS);
    }
  }

  private async execute(
    accountId: string, owner: string, key: string, keyHash: Buffer, mutation: Mutation, run: () => Promise<HttpOutcome>,
  ): Promise<HttpOutcome> {
    let outcome: HttpOutcome;
    try {
      outcome = await run();
    } catch (err) {
      await store.release(this.db, accountId, keyHash).catch(() => undefined);
      throw err;
    }
    this.options.onResult?.('executed');
    try {
      if (wroteNothing(outcome, mutation)) {
        await store.release(this.db, accountId, keyHash);
      } else {
        const contentType = outcome.headers['content-type'];
        const kept = JSON.stringify({ headers: contentType ? { 'content-type': contentType } : {}, body: outcome.body });
        const { iv, data } = this.crypto.seal(owner, key, kept);
        await store.complete(this.db, accountId, keyHash, outcome.status, iv, data);
      }
    } catch (err) {
      // the work is done and answered; a retry waits for the claim's lease to end
      this.options.logger.warn({ err: (err as Error).message }, 'could not keep the idempotent answer');
    }
    return outcome;
  }
}

import type http from 'node:http';
import { HeaderMap, type ApolloServer } from '@apollo/server';
import type { Principal } from '../auth/principal';
import type { TokenVerifier } from '../auth/tokens';
import { createContext, type AppServices, type Context } from '../context';
import { RECENT_WRITERS_CHANNEL, RecentWriters } from '../db/replicas';
import { ALL_ACCOUNTS } from '../db/tenant';
import { ApiError, errorAnswer, fromDatabaseError, internalError, serviceUnavailable, type HttpAnswer } from '../errors';
import { graphqlTurns } from '../lib/turns';
import { HEADER as IDEMPOTENCY_HEADER } from '../modules/idempotency/guard';
import { send, sendError } from './answers';
import { parseJsonBody, readBody } from './body';

export interface GraphQLRoute {
  (req: http.IncomingMessage, res: http.ServerResponse, url: URL, requestId: string): Promise<void>;
}

function headerMap(req: http.IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

async function readGraphQLBody(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const text = await readBody(req, limit);
  return (req.headers['content-type'] ?? '').includes('json') ? parseJsonBody(text) : text;
}

/**
 * `GET|POST /graphql`: authenticate, read the body, let the idempotency guard decide whether to
 * run or replay, and run the operation in the request's own transaction, committed only after
 * the answer is complete.
 */
export function graphqlRoute(services: AppServices, apollo: ApolloServer<Context>, tokens: TokenVerifier): GraphQLRoute {
  const { config, logger } = services;

  /**
   * Read-your-writes with read replicas: the principal's reads go to the primary for a while, in
   * this process at once and in every other once it hears the notification (sent before the answer).
   */
  async function wrote(principal: Principal, requestId: string): Promise<void> {
    if (services.recentWriters === null || principal.accountId === null) return;
    const key = RecentWriters.key(principal.accountId, principal.subject);
    services.recentWriters.wrote(key);
    await services.db.notify(RECENT_WRITERS_CHANNEL, key).catch((err: unknown) => {
      logger.warn({ requestId, err: (err as Error).message }, 'other processes could not be told of a write: their reads of this principal may lag');
    });
  }

  /** Runs the operation; the transaction commits only once the answer is complete, and a lost commit replaces the answer. */
  async function execute(req: http.IncomingMessage, url: URL, body: unknown, principal: Principal, requestId: string): Promise<HttpAnswer> {
    const db = services.db.request(principal.accountId ?? ALL_ACCOUNTS);
    let answer: HttpAnswer;
    try {
      // parsing, validation and the first resolvers run in a turn of their own (src/lib/turns.ts)
      await graphqlTurns.next();
      const result = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? 'GET', headers: headerMap(req), search: url.search, body },
        context: async () => createContext(services, principal, requestId, db),
      });
      let text = '';
      if (result.body.kind === 'complete') text = result.body.string;
      else for await (const chunk of result.body.asyncIterator) text += chunk;
      answer = { status: result.status ?? 200, headers: Object.fromEntries(result.headers), body: text };
    } catch (err) {
      await db.end(false);
      throw err;
    }
    const lost = await db.end(true);
    if (lost === null) {
      if (db.changed) await wrote(principal, requestId);
      return answer;
    }
    // the answer reports changes the database did not keep: answer that nothing was written instead
    logger.error({ requestId, err: lost }, 'the request transaction could not be committed');
    const mapped = fromDatabaseError(lost);
    return errorAnswer('graphql', mapped instanceof ApiError && mapped.code === 'SERVICE_UNAVAILABLE'
      ? serviceUnavailable() : internalError('Internal server error: nothing was written'));
  }

  return async function handleGraphQL(req, res, url, requestId) {
    let principal: Principal;
    let body: unknown = undefined;
    try {
      principal = await tokens.authenticate(req.headers.authorization);
      if (req.method === 'POST') body = await readGraphQLBody(req, config.limits.maxBodyBytes);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      return sendError(res, 'graphql', err);
    }
    const run = () => execute(req, url, body, principal, requestId);
    // mutations with an Idempotency-Key run once; retries get the first answer
    const answer = req.method === 'POST' ? await services.idempotency.handle(principal, req.headers[IDEMPOTENCY_HEADER], body, run) : await run();
    // writing a page to the socket is a stretch of its own too
    await graphqlTurns.next();
    send(res, { ...answer, headers: { 'x-request-id': requestId, ...answer.headers } });
  };
}

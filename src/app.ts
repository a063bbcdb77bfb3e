import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { ApolloServer, HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isReader, requireVerifier, type Principal } from './auth/principal';
import { forbiddenForVerifier } from './auth/verifier-reads';
import type { TokenVerifier } from './auth/tokens';
import { createContext, type AppServices, type Context } from './context';
import { ALL_ACCOUNTS, requestDatabase } from './db/scope';
import { ApiError, fromDatabaseError, httpStatusOf, type ErrorCode } from './errors';
import type { Metrics } from './metrics';
import { HEADER as IDEMPOTENCY_HEADER, type HttpOutcome } from './modules/idempotency/guard';
import type { VerifiableKey, VerificationResult } from './modules/verification/model';
import { buildResolvers, loadTypeDefs } from './schema';
import { createIde } from './ide';

export interface App {
  server: http.Server;
  /** Stops accepting, lets in-flight requests finish (bounded), then stops the GraphQL server. */
  close(timeoutMs: number): Promise<void>;
  /** Set once shutdown begins: readiness turns 503 at once. */
  shuttingDown: boolean;
}

class BodyTooLarge extends Error {}

/** Reads a request body of at most `limit` bytes; calls `done` once, with BodyTooLarge past the limit. */
function readBodyThen(req: http.IncomingMessage, limit: number, done: (err: Error | null, text: string) => void): void {
  let settled = false;
  const settle = (err: Error | null, text = '') => {
    if (settled) return;
    settled = true;
    done(err, text);
  };
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    settle(new BodyTooLarge());
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      settle(new BodyTooLarge());
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => settle(null, (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8')));
  req.on('error', (err) => settle(err));
}

const readBody = (req: http.IncomingMessage, limit: number): Promise<string> =>
  new Promise((resolve, reject) => readBodyThen(req, limit, (err, text) => (err ? reject(err) : resolve(text))));

const JSON_TYPE = 'application/json; charset=utf-8';

interface Body { text: string; length: number }
const bodyOf = (value: unknown): Body => {
  const text = JSON.stringify(value);
  return { text, length: Buffer.byteLength(text) };
};

function sendBody(res: http.ServerResponse, status: number, body: Body, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': body.length, ...headers });
  res.end(body.text);
}

const sendJson = (res: http.ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
  sendBody(res, status, bodyOf(value), headers);

/**
 * The REST answer to a verification. Gateways verify the same keys all day: the answer for a
 * cached key object (replaced whenever the key changes) is serialised once per outcome.
 */
const keyBodies = new WeakMap<VerifiableKey, Map<VerificationResult['code'], Body>>();
const keylessBodies = new Map<VerificationResult['code'], Body>();

function verificationBody({ valid, code, key }: VerificationResult): Body {
  const bodies = key ? keyBodies.get(key) ?? new Map<VerificationResult['code'], Body>() : keylessBodies;
  let body = bodies.get(code);
  if (!body) {
    body = bodyOf(key
      ? {
          valid, code, accountId: key.accountId, keyId: key.id, instanceId: key.instanceId, channelId: key.channelId,
          developerId: key.developerId, teamIds: key.teamIds, expiresAt: key.expiresAt.toISOString(),
        }
      : { valid, code });
    bodies.set(code, body);
    if (key) keyBodies.set(key, bodies);
  }
  return body;
}

const restError = (res: http.ServerResponse, status: number, code: ErrorCode, message: string) =>
  sendJson(res, status, { error: { code, message } });

const graphqlError = (res: http.ServerResponse, status: number, err: ApiError) =>
  sendJson(res, status, { errors: [{ message: err.message, extensions: { code: err.code } }] });

/** Masks what the client must not see (SQL, tables, stacks) and keeps the contract's codes. */
function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  const mapped = fromDatabaseError(original);
  if (mapped instanceof ApiError) {
    return { message: mapped.message, path: formatted.path, locations: formatted.locations, extensions: { ...mapped.extensions } };
  }
  const code = formatted.extensions?.code;
  // errors from parsing, validation and variable coercion are safe to show
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
  }
  return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

function observability(services: AppServices, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      return {
        async didEncounterErrors({ errors, operationName }) {
          for (const err of errors) {
            const original = err.originalError ?? err;
            if (!(fromDatabaseError(original) instanceof ApiError) && !err.extensions?.code) {
              services.logger.error({ requestId: contextValue.requestId, operation: operationName, err: original }, 'unexpected error');
            } else if (!(original instanceof ApiError) && fromDatabaseError(original) instanceof ApiError) {
              services.logger.warn({ requestId: contextValue.requestId, operation: operationName, err: (original as Error).message }, 'database error');
            }
          }
        },
        async willSendResponse({ response, operationName }) {
          const body = response.body;
          if (body.kind === 'single' && body.singleResult.data == null && body.singleResult.errors?.length) {
            // a request that failed as a whole, for one reason with an HTTP status of its own, answers with that status
            const [first, ...rest] = body.singleResult.errors;
            const status = httpStatusOf(first.extensions?.code);
            if (status !== 200 && rest.every((e) => e.extensions?.code === first.extensions?.code)) {
              response.http.status = status;
              const retryAfter = first.extensions?.retryAfterSeconds;
              if (typeof retryAfter === 'number') response.http.headers.set('retry-after', String(retryAfter));
            }
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const status = response.http.status ?? 200;
          metrics.observe('/graphql', operationName ?? 'anonymous', status, seconds);
          services.logger.info({
            requestId: contextValue.requestId, account: contextValue.principal.accountId, subject: contextValue.principal.subject,
            operation: operationName ?? null, status, durationMs: Math.round(seconds * 1e4) / 10,
          }, 'graphql request');
        },
      };
    },
  };
}

/**
 * A principal that only verifies keys reads nothing but the verified key (src/auth/verifier-reads.ts):
 * any other selection is refused before anything runs.
 */
const verifierReads: ApolloServerPlugin<Context> = {
  async requestDidStart({ contextValue }) {
    if (isReader(contextValue.principal)) return {};
    return {
      async didResolveOperation({ document, operation }) {
        // no operation: Apollo refuses the request itself
        const path = operation ? forbiddenForVerifier(document, operation) : null;
        if (path === null) return;
        throw new GraphQLError(
          `A verifier token may read only the verified key's own fields and the IDs of its instance, channel, developer and teams (not ${path})`,
          { extensions: { code: 'FORBIDDEN', http: { status: 200 } } },
        );
      },
    };
  },
};

export async function createApp(services: AppServices, tokens: TokenVerifier, metrics: Metrics): Promise<App> {
  const { config } = services;
  const armor = new ApolloArmor({
    maxDepth: { n: config.limits.maxDepth },
    maxAliases: { n: config.limits.maxAliases },
    // the token limit is enforced by the parser itself (parseOptions below): armor's plugin turns it into a 500
    maxTokens: { enabled: false },
    costLimit: { maxCost: config.limits.maxCost },
    maxDirectives: { n: 50 },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();
  const apollo = new ApolloServer<Context>({
    typeDefs: loadTypeDefs(),
    resolvers: buildResolvers() as never,
    introspection: config.introspection,
    csrfPrevention: true,
    // the process's own SIGTERM handling drains and stops everything; Apollo's would re-kill the process first
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: config.production,
    formatError,
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: armor.validationRules,
    // No @cacheControl hints and no HTTP caching of GraphQL: the default cache-control plugin only
    // wrapped every field resolver (a quarter of the CPU of a 50-key listing).
    plugins: [...armor.plugins, ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled(), verifierReads, observability(services, metrics)],
  });
  await apollo.start();

  const app: App = {
    server: http.createServer(),
    shuttingDown: false,
    async close(timeoutMs) {
      app.shuttingDown = true;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { app.server.closeAllConnections(); resolve(); }, timeoutMs);
        timer.unref();
        app.server.close(() => { clearTimeout(timer); resolve(); });
        app.server.closeIdleConnections();
      });
      await apollo.stop();
    },
  };

  async function authenticate(req: http.IncomingMessage): Promise<Principal> {
    return tokens.authenticate(req.headers.authorization);
  }

  async function handleGraphQL(req: http.IncomingMessage, res: http.ServerResponse, url: URL, requestId: string): Promise<void> {
    let principal: Principal;
    try {
      principal = await authenticate(req);
    } catch (err) {
      graphqlError(res, 401, err as ApiError);
      return;
    }
    let body: unknown = undefined;
    if (req.method === 'POST') {
      const text = await readBody(req, config.limits.maxBodyBytes);
      const type = req.headers['content-type'] ?? '';
      if (type.includes('json')) {
        try {
          body = text === '' ? {} : JSON.parse(text);
        } catch {
          sendJson(res, 400, { errors: [{ message: 'The body is not valid JSON', extensions: { code: 'BAD_REQUEST' } }] });
          return;
        }
      } else {
        body = text;
      }
    }
    const headers = new HeaderMap();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const execute = async (): Promise<HttpOutcome> => {
      // the request's statements share one transaction scoped to the principal's account (a platform principal's: all)
      const scope = requestDatabase(services.db.knex, principal.accountId ?? ALL_ACCOUNTS);
      const outcomeHeaders: Record<string, string> = {};
      let status: number;
      let text = '';
      try {
        const result = await apollo.executeHTTPGraphQLRequest({
          httpGraphQLRequest: { method: req.method ?? 'GET', headers, search: url.search, body },
          context: async () => createContext(services, principal, requestId, scope),
        });
        for (const [name, value] of result.headers) outcomeHeaders[name] = value;
        if (result.body.kind === 'complete') text = result.body.string;
        else for await (const chunk of result.body.asyncIterator) text += chunk;
        status = result.status ?? 200;
      } catch (err) {
        await scope.end(false);
        throw err;
      }
      const lost = await scope.end(true);
      if (lost !== null) {
        // the answer reports changes the database did not keep: answer that nothing was written instead
        services.logger.error({ requestId, err: lost }, 'the request transaction could not be committed');
        const mapped = fromDatabaseError(lost);
        const unavailable = mapped instanceof ApiError && mapped.code === 'SERVICE_UNAVAILABLE';
        return {
          status: unavailable ? 503 : 500,
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify({ errors: [unavailable
            ? { message: mapped.message, extensions: { code: 'SERVICE_UNAVAILABLE' } }
            : { message: 'Internal server error: nothing was written', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }),
        };
      }
      return { status, headers: outcomeHeaders, body: text };
    };
    // mutations with an Idempotency-Key run once; retries get the first answer
    const outcome = req.method === 'POST'
      ? await services.idempotency.handle(principal, req.headers[IDEMPOTENCY_HEADER], body, execute)
      : await execute();
    res.writeHead(outcome.status, { 'x-request-id': requestId, ...outcome.headers });
    res.end(outcome.body);
  }

  /**
   * `POST /v1/keys/verify`. A gateway's token and keys are soon cached: then the answer is written
   * in the callback that receives the body, with no promise to wait on.
   */
  function handleVerify(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = process.hrtime.bigint();
    // during shutdown, gateways on keep-alive connections must go elsewhere instead of being served until the timeout
    if (app.shuttingDown) res.setHeader('connection', 'close');
    const done = (status: number) => metrics.observe('/v1/keys/verify', '', status, Number(process.hrtime.bigint() - started) / 1e9);
    const fail = (status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) => {
      sendJson(res, status, { error: { code, message } }, headers);
      done(status);
    };
    const answer = (result: VerificationResult) => {
      sendBody(res, 200, verificationBody(result));
      done(200);
    };
    const failed = (err: unknown) => {
      const mapped = fromDatabaseError(err);
      if (mapped instanceof ApiError && mapped.httpStatus !== 200) {
        const retryAfter = mapped.extensions.retryAfterSeconds;
        return fail(mapped.httpStatus, mapped.code, mapped.message, typeof retryAfter === 'number' ? { 'retry-after': String(retryAfter) } : {});
      }
      unexpected(req, res, err);
      done(500);
    };

    const verifyAs = (principal: Principal) => {
      try {
        requireVerifier(principal);
      } catch (err) {
        return fail(403, 'FORBIDDEN', (err as Error).message);
      }
      readBodyThen(req, 16_384, (err, text) => {
        if (err instanceof BodyTooLarge) return fail(413, 'BAD_USER_INPUT', 'The request body is too large');
        let input: { key?: unknown; instanceId?: unknown } = {};
        try {
          if (!err) input = JSON.parse(text) as typeof input;
        } catch {
          // not JSON: the check below answers
        }
        if (typeof input !== 'object' || input === null || typeof input.key !== 'string' || input.key.length > 1000) {
          return fail(400, 'BAD_USER_INPUT', 'The body must be {"key": string, "instanceId"?: string}');
        }
        if (input.instanceId != null && typeof input.instanceId !== 'string') return fail(400, 'BAD_USER_INPUT', 'instanceId must be a string');
        try {
          const result = services.verifier.verify(principal, input.key, (input.instanceId as string | undefined) ?? null);
          if (result instanceof Promise) result.then(answer).catch(failed);
          else answer(result);
        } catch (error) {
          failed(error);
        }
      });
    };

    const known = tokens.cached(req.headers.authorization);
    if (known) return verifyAs(known);
    tokens.authenticate(req.headers.authorization)
      .then(verifyAs, (err: unknown) => fail(401, 'UNAUTHENTICATED', (err as Error).message))
      .catch((err: unknown) => unexpected(req, res, err));
  }

  const ide = createIde({ devSecret: tokens.devSecret });

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const requestId = (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].length <= 200)
      ? req.headers['x-request-id'] : randomUUID();
    if (ide.handles(req, url)) return ide.serve(req, res, url);
    switch (url.pathname) {
      case '/v1/keys/verify': // with a query string
        if (req.method !== 'POST') return restError(res, 405, 'BAD_USER_INPUT', 'Use POST');
        return handleVerify(req, res);
      case '/graphql':
        if (req.method !== 'POST' && req.method !== 'GET') return restError(res, 405, 'BAD_USER_INPUT', 'Use GET or POST');
        return handleGraphQL(req, res, url, requestId);
      case '/healthz':
        return sendJson(res, 200, { status: 'ok' });
      case '/readyz': {
        const ready = !app.shuttingDown && (await services.db.ping(1000));
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : app.shuttingDown ? 'shutting down' : 'database unavailable' });
      }
      case '/metrics': {
        const text = await metrics.registry.metrics();
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(text);
        return;
      }
      default:
        return restError(res, 404, 'NOT_FOUND', `No route ${url.pathname}`);
    }
  }

  function unexpected(req: http.IncomingMessage, res: http.ServerResponse, err: unknown): void {
    if (err instanceof BodyTooLarge) {
      if (!res.headersSent) sendJson(res, 413, { errors: [{ message: 'The request body is too large', extensions: { code: 'BAD_USER_INPUT' } }] });
      return;
    }
    services.logger.error({ err, url: req.url }, 'request failed');
    if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
    else res.destroy();
  }

  app.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // the verification route is the hot path: no URL parsing, request ID or promise for it
    if (req.url === '/v1/keys/verify' && req.method === 'POST') {
      try {
        handleVerify(req, res);
      } catch (err) {
        unexpected(req, res, err);
      }
      return;
    }
    route(req, res).catch((err: unknown) => unexpected(req, res, err));
  });
  return app;
}

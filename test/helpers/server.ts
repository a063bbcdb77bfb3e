import { Writable } from 'node:stream';
import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { signToken } from '../../src/auth/tokens';
import type { Role } from '../../src/auth/principal';
import type { Clock } from '../../src/lib/clock';
import { startService, type RunningService } from '../../src/service';
import { createTestDatabase, serviceEnv, type TestDatabase } from './database';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; field?: string; [k: string]: unknown } }[];
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface TestServer {
  /** Base URL, e.g. http://127.0.0.1:34567 */
  baseUrl: string;
  service: RunningService;
  knex: Knex;
  database: TestDatabase;
  /** Signs a token for the running server. */
  token(opts: { account?: string | null; roles?: Role[]; sub?: string; ttl?: string }): Promise<string>;
  /** POSTs a GraphQL operation with the token (or none) and returns status and body. */
  gql<T = Record<string, unknown>>(token: string | null, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResponse<T>>;
  /** POSTs any body (operationName, extensions…) to /graphql; the answer keeps its headers. */
  post(token: string | null, body: unknown, headers?: Record<string, string>): Promise<GraphQLResponse & { headers: Headers }>;
  /** Like gql, but fails the test on any error and returns data. */
  ok<T = Record<string, unknown>>(token: string, query: string, variables?: Record<string, unknown>): Promise<T>;
  /** With `captureLogs`: every JSON log line so far, parsed; `rawLogs` is the text as written. */
  logs(): LogLine[];
  rawLogs(): string;
  stop(): Promise<void>;
}

/**
 * Starts the real service (HTTP server, database, verifier, usage buffer) on a random port with a
 * database of its own. `env` overrides configuration variables.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { clock?: Clock; database?: TestDatabase; captureLogs?: boolean } = {},
): Promise<TestServer> {
  // the database comes with its requests' login: a DATABASE_URL alone would leave that on another database
  if (env.DATABASE_URL !== undefined) throw new Error('give startTestServer a database (options.database), not DATABASE_URL');
  const database = options.database ?? await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    // on a server, requests connect as the login that can become the app role only, as in production
    ...serviceEnv(database),
    // longer than a client's idle connection is kept, so the test's fetch never reuses one the server is closing
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000',
    JWT_SECRET: TEST_JWT_SECRET,
    USAGE_FLUSH_INTERVAL_MS: '100',
    DATA_DIR: '/tmp/qckeys-test-data',
    ...env,
  });
  const chunks: string[] = [];
  const logDestination = options.captureLogs
    ? new Writable({ write(chunk: Buffer, _encoding, callback) { chunks.push(chunk.toString('utf8')); callback(); } })
    : undefined;
  const rawLogs = () => {
    if (!logDestination) throw new Error('start the server with captureLogs to read its logs');
    return chunks.join('');
  };
  const service = await startService(config, { clock: options.clock, logDestination });
  const baseUrl = service.url.replace(/\/graphql$/, '').replace('localhost', '127.0.0.1');

  const server: TestServer = {
    baseUrl,
    service,
    knex: service.db.knex,
    database,
    token: ({ account = 'acme', roles = ['admin'], sub = 'tester', ttl = '1h' }) =>
      signToken({ secret: config.jwt.secret ?? TEST_JWT_SECRET, account, roles, subject: sub, ttl }),
    async post(token, body, headers = {}) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: Omit<GraphQLResponse, 'status'> = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        parsed = { errors: [{ message: text }] };
      }
      return { status: res.status, headers: res.headers, ...parsed };
    },
    async gql(token, query, variables, headers = {}) {
      const answer: Partial<GraphQLResponse & { headers: Headers }> = await server.post(token, { query, variables }, headers);
      delete answer.headers;
      return answer as GraphQLResponse<never>;
    },
    async ok(token, query, variables) {
      const res = await server.gql(token, query, variables);
      if (res.errors?.length || res.status !== 200) {
        throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(res.errors)}`);
      }
      return res.data as never;
    },
    rawLogs,
    logs: () => rawLogs().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogLine),
    async stop() {
      await service.stop();
      // a database given by the caller is the caller's to drop
      if (!options.database) await database.drop();
    },
  };
  return server;
}

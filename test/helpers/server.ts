import type { Knex } from 'knex';
import { loadConfig } from '../../src/config';
import { signToken } from '../../src/auth/tokens';
import type { Role } from '../../src/auth/principal';
import type { Clock } from '../../src/lib/clock';
import { startService, type RunningService } from '../../src/service';
import { createTestDatabase, type TestDatabase } from './database';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string; field?: string; [k: string]: unknown } }[];
}

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
  /** Like gql, but fails the test on any error and returns data. */
  ok<T = Record<string, unknown>>(token: string, query: string, variables?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts the real service (HTTP server, database, verifier, usage buffer) on a random port with a
 * database of its own. `env` overrides configuration variables.
 */
export async function startTestServer(env: Record<string, string> = {}, options: { clock?: Clock; database?: TestDatabase } = {}): Promise<TestServer> {
  const database = options.database ?? await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: database.url,
    // on a server, requests connect as the login that can become the app role only, as in production
    ...(database.requestUrl ? { DATABASE_REQUEST_URL: database.requestUrl } : {}),
    // longer than a client's idle connection is kept, so the test's fetch never reuses one the server is closing
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000',
    JWT_SECRET: TEST_JWT_SECRET,
    USAGE_FLUSH_INTERVAL_MS: '100',
    DATA_DIR: '/tmp/qckeys-test-data',
    ...env,
  });
  const service = await startService(config, { clock: options.clock });
  const baseUrl = service.url.replace(/\/graphql$/, '').replace('localhost', '127.0.0.1');

  const server: TestServer = {
    baseUrl,
    service,
    knex: service.db.knex,
    database,
    token: ({ account = 'acme', roles = ['admin'], sub = 'tester', ttl = '1h' }) =>
      signToken({ secret: config.jwt.secret ?? TEST_JWT_SECRET, account, roles, subject: sub, ttl }),
    async gql(token, query, variables, headers = {}) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let body: Omit<GraphQLResponse, 'status'> = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        body = { errors: [{ message: text }] };
      }
      return { status: res.status, ...body } as GraphQLResponse<never>;
    },
    async ok(token, query, variables) {
      const res = await server.gql(token, query, variables);
      if (res.errors?.length || res.status !== 200) {
        throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(res.errors)}`);
      }
      return res.data as never;
    },
    async stop() {
      await service.stop();
      // a database given by the caller is the caller's to drop
      if (!options.database) await database.drop();
    },
  };
  return server;
}

import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { signToken } from '../../src/auth/tokens';
import type { Role } from '../../src/auth/principal';
import { startService, type RunningService } from '../../src/service';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { TEST_JWT_SECRET, type GraphQLResponse } from '../helpers/server';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

/** A running service whose JSON log lines the test can read. */
export interface CapturedServer {
  baseUrl: string;
  service: RunningService;
  database: TestDatabase;
  /** Every log line so far, parsed; `raw` is the text as written. */
  logs(): LogLine[];
  raw(): string;
  token(opts: { account?: string; roles?: Role[]; sub?: string }): Promise<string>;
  post(token: string | null, body: unknown, headers?: Record<string, string>): Promise<GraphQLResponse & { headers: Headers }>;
  stop(): Promise<void>;
}

export async function startCapturedServer(env: Record<string, string> = {}): Promise<CapturedServer> {
  const database = await createTestDatabase();
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) { chunks.push(chunk.toString('utf8')); callback(); },
  });
  const config = loadConfig({
    NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET,
    USAGE_FLUSH_INTERVAL_MS: '100', LOG_LEVEL: 'info', ...env,
  });
  const service = await startService(config, { logDestination: destination });
  const baseUrl = service.url.replace(/\/graphql$/, '').replace('localhost', '127.0.0.1');
  const raw = () => chunks.join('');
  return {
    baseUrl, service, database, raw,
    logs: () => raw().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogLine),
    token: ({ account = 'acme', roles = ['admin'], sub = 'tester' }) =>
      signToken({ secret: TEST_JWT_SECRET, account, roles, subject: sub, ttl: '1h' }),
    async post(token, body, headers = {}) {
      const res = await fetch(`${baseUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: Omit<GraphQLResponse, 'status'>;
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        parsed = { errors: [{ message: text }] };
      }
      return { status: res.status, headers: res.headers, ...parsed };
    },
    async stop() {
      await service.stop();
      await database.drop();
    },
  };
}

/** Waits until `check` is true, polling; bounded in time. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms`);
}

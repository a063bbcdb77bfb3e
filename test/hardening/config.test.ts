import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';

// One validated configuration: a wrong or missing variable stops start-up naming it; .env.example documents all.
const ROOT = path.resolve(__dirname, '../..');

function start(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATABASE_URL: 'memory://', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.on('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

test.each([
  ['PORT', { PORT: 'eighty' }],
  ['NODE_ENV=production needs JWT_SECRET', { NODE_ENV: 'production' }],
  ['JWT_SECRET', { JWT_SECRET: 'short' }],
  ['DB_TIMEOUT_MS', { JWT_SECRET: 'x'.repeat(32), DB_TIMEOUT_MS: '-5' }],
])('the server refuses to start and names %s', async (name, env) => {
  const { code, stderr } = await start(env);
  expect(code).toBe(2);
  expect(stderr).toContain('configuration error');
  expect(stderr).toContain(name);
}, 30_000);

test.each([
  ['GRAPHQL_MAX_DEPTH', '0'], ['GRAPHQL_MAX_ALIASES', 'many'], ['GRAPHQL_MAX_TOKENS', '1.5'], ['GRAPHQL_MAX_COST', ''],
  ['GRAPHQL_INTROSPECTION', 'yes'], ['MIGRATE_ON_START', 'maybe'], ['DATABASE_URL', 'mysql://x'], ['LOG_LEVEL', 'loud'],
  ['IDEMPOTENCY_SECRET', 'short'], ['SHUTDOWN_DRAIN_MS', '-1'], ['SHUTDOWN_TIMEOUT_MS', 'soon'], ['JWKS_URL', 'ftp://keys'],
  ['MAX_BODY_BYTES', '10'], ['USAGE_FLUSH_INTERVAL_MS', '0'], ['IDEMPOTENCY_WAIT_MS', '999999999'],
])('%s=%j is refused with a message naming it', (name, value) => {
  if (value === '') {
    expect(() => loadConfig({ [name]: value })).not.toThrow(); // empty means default
    return;
  }
  expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [name]: value })).toThrow(name);
});

test('.env.example documents every variable the configuration reads', () => {
  const source = fs.readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
  const read = new Set([...source.matchAll(/env, '([A-Z_]+)'|env\.([A-Z_]+)/g)].map((m) => m[1] ?? m[2]));
  expect(read.size).toBeGreaterThan(20);
  const documented = new Set([...fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8').matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]));
  expect([...read].filter((name) => !documented.has(name))).toEqual([]);
  expect([...documented].filter((name) => !read.has(name))).toEqual([]);
});

test('the documented defaults are the configuration defaults', () => {
  const config = loadConfig({});
  const example = fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8');
  const value = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(example)?.[1];
  expect(Number(value('PORT'))).toBe(config.port);
  expect(Number(value('DB_TIMEOUT_MS'))).toBe(config.dbTimeoutMs);
  expect(Number(value('GRAPHQL_MAX_DEPTH'))).toBe(config.limits.maxDepth);
  expect(Number(value('GRAPHQL_MAX_ALIASES'))).toBe(config.limits.maxAliases);
  expect(Number(value('GRAPHQL_MAX_TOKENS'))).toBe(config.limits.maxTokens);
  expect(Number(value('GRAPHQL_MAX_COST'))).toBe(config.limits.maxCost);
  expect(Number(value('MAX_BODY_BYTES'))).toBe(config.limits.maxBodyBytes);
  expect(Number(value('SHUTDOWN_TIMEOUT_MS'))).toBe(config.shutdownTimeoutMs);
  expect(Number(value('IDEMPOTENCY_WAIT_MS'))).toBe(config.idempotency.waitMs);
});

import fs from 'node:fs';
import pg from 'pg';
import { loadConfig } from '../../src/config';
import { childToken, createKeyAt, startChildServer, verifyAt, type ChildServer } from '../helpers/child-server';
import { createTestDatabase, serverUrl, serviceEnv, type TestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { metricDelta } from '../helpers/metrics';
import { startTestServer, type TestServer } from '../helpers/server';

// POST /v1/keys/verify on VERIFY_PORT, served by a thread of its own (src/verify-thread.ts). Its
// connections are its own, so it needs a PostgreSQL server: the embedded database belongs to the
// main thread.
const onServer = serverUrl() ? describe : describe.skip;
jest.setTimeout(60_000);

describe('VERIFY_PORT and MAIN_THREAD_NICE', () => {
  const base = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };

  test('the verification thread needs a PostgreSQL server, and says so', () => {
    expect(() => loadConfig({ VERIFY_PORT: '4001' })).toThrow(/VERIFY_PORT needs DATABASE_URL/);
  });

  test('the other threads are lowered by 10 by default, by what MAIN_THREAD_NICE says, and only with VERIFY_PORT', () => {
    expect(loadConfig({ ...base, VERIFY_PORT: '4001' }).verifyThread).toEqual({ port: 4001, mainNice: 10 });
    expect(loadConfig({ ...base, VERIFY_PORT: '4001', MAIN_THREAD_NICE: '0' }).verifyThread).toEqual({ port: 4001, mainNice: 0 });
    expect(loadConfig(base).verifyThread).toEqual({ port: null, mainNice: 0 });
    expect(() => loadConfig({ ...base, MAIN_THREAD_NICE: '5' })).toThrow(/MAIN_THREAD_NICE applies only with VERIFY_PORT/);
    expect(() => loadConfig({ ...base, VERIFY_PORT: '4001', MAIN_THREAD_NICE: '20' })).toThrow(/MAIN_THREAD_NICE must be an integer between 0 and 19/);
    expect(() => loadConfig({ ...base, VERIFY_PORT: '65536' })).toThrow(/VERIFY_PORT must be an integer between 0 and 65535/);
  });
});

interface Reply { status: number; body: unknown }

async function post(url: string, path: string, init: { token?: string | null; body?: string; method?: string } = {}): Promise<Reply> {
  const res = await fetch(`${url}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.token != null && { authorization: `Bearer ${init.token}` } },
    ...init.body !== undefined && { body: init.body },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: compared as text
  }
  return { status: res.status, body };
}

onServer('the verification thread', () => {
  let database: TestDatabase;
  let server: TestServer;
  let thread: string;
  let acme: SeededAccount;
  let other: SeededAccount;
  let key: { id: string; secret: string };

  beforeAll(async () => {
    database = await createTestDatabase();
    // a long time to live: only the notification can make the thread forget a key in time; the
    // main thread keeps its priority (a test process would keep the lowered one)
    server = await startTestServer({ VERIFY_PORT: '0', MAIN_THREAD_NICE: '0', KEY_CACHE_TTL_MS: '600000' }, { database });
    thread = `http://127.0.0.1:${server.service.verifyPort}`;
    acme = await seedAccount(server, 'thread-acme');
    other = await seedAccount(server, 'thread-other');
    key = await acme.createKey({ name: 'gateway' });
  });
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  test('answers every role and every body exactly as the main port does', async () => {
    const platform = await server.token({ account: null, roles: ['verifier'] });
    const expired = await server.token({ account: 'thread-acme', roles: ['verifier'], ttl: '-1m' });
    const valid = JSON.stringify({ key: key.secret });
    const largest = JSON.stringify({ key: key.secret, instanceId: 'x'.repeat(16_384 - JSON.stringify({ key: key.secret, instanceId: '' }).length) });
    expect(Buffer.byteLength(largest)).toBe(16_384);
    const cases: [string, { token?: string | null; body?: string; method?: string }][] = [
      ['the account\'s verifier, a live key', { token: acme.verifier, body: valid }],
      ['its instance', { token: acme.verifier, body: JSON.stringify({ key: key.secret, instanceId: acme.instances.prod.id }) }],
      ['another instance', { token: acme.verifier, body: JSON.stringify({ key: key.secret, instanceId: acme.instances.snow.id }) }],
      ['another account\'s verifier', { token: other.verifier, body: valid }],
      ['a platform verifier', { token: platform, body: valid }],
      ['a viewer', { token: acme.viewer, body: valid }],
      ['an admin', { token: acme.admin, body: valid }],
      ['no token', { token: null, body: valid }],
      ['an expired token', { token: expired, body: valid }],
      ['a token of another secret', { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', body: valid }],
      ['an unknown secret', { token: acme.verifier, body: JSON.stringify({ key: `${key.secret.slice(0, -4)}AAAA` }) }],
      ['a body that is not JSON', { token: acme.verifier, body: 'key=' }],
      ['no key', { token: acme.verifier, body: '{}' }],
      ['a key of 1,001 characters', { token: acme.verifier, body: JSON.stringify({ key: 'k'.repeat(1001) }) }],
      ['an instance ID that is a number', { token: acme.verifier, body: JSON.stringify({ key: key.secret, instanceId: 7 }) }],
      ['the largest body allowed', { token: acme.verifier, body: largest }],
      ['a byte more', { token: acme.verifier, body: `${largest} ` }],
      ['GET', { token: acme.verifier, method: 'GET' }],
    ];
    for (const [name, request] of cases) {
      const [main, own] = [await post(server.baseUrl, '/v1/keys/verify', request), await post(thread, '/v1/keys/verify', request)];
      expect({ name, ...own }).toEqual({ name, ...main });
    }
    // nothing but verification and the process's liveness on its port
    expect(await post(thread, '/graphql', { token: acme.admin, body: '{"query":"{ viewer { accountId } }"}' })).toMatchObject({ status: 404 });
    expect(await post(thread, '/healthz', { method: 'GET' })).toEqual({ status: 200, body: { status: 'ok' } });
  });

  test('a port that is taken stops the start, with the reason', async () => {
    const taken = server.service.verifyPort as number;
    await expect(startTestServer({ VERIFY_PORT: String(taken), MAIN_THREAD_NICE: '0' }, { database }))
      .rejects.toThrow(/the verification thread could not start: listen EADDRINUSE/);
    // the thread of the server that holds the port still answers
    expect((await post(thread, '/healthz', { method: 'GET' })).status).toBe(200);
  });

  test('a key revoked through the main port is REVOKED on the thread (whose cache was warm) within one second', async () => {
    const revoked = await acme.createKey({ name: 'to revoke' });
    const verify = async () => (await post(thread, '/v1/keys/verify', { token: acme.verifier, body: JSON.stringify({ key: revoked.secret }) })).body as { code: string };
    expect((await verify()).code).toBe('VALID');
    expect((await verify()).code).toBe('VALID');
    await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { status } } }', { id: revoked.id });
    await eventually(async () => (await verify()).code === 'REVOKED', 1000);
  });

  test('its verifications are counted in usage and in the process\'s /metrics, each series once', async () => {
    const counted = await acme.createKey({ name: 'counted' });
    const usage = async () => Number((await server.knex.raw('select coalesce(sum(valid), 0)::int as n from usage_hourly where api_key_id = ?', [counted.id]) as { rows: { n: number }[] }).rows[0].n);
    const verifications = await metricDelta(server.baseUrl, 'qckeys_verifications_total', { code: 'VALID' }, async () => {
      for (let i = 0; i < 5; i++) expect((await post(thread, '/v1/keys/verify', { token: acme.verifier, body: JSON.stringify({ key: counted.secret }) })).status).toBe(200);
    });
    expect(verifications).toBe(5);
    await eventually(async () => (await usage()) === 5, 5000);
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const families = text.split('\n').filter((line) => line.startsWith('# TYPE '));
    expect(new Set(families).size).toBe(families.length);
    // the process's own metrics stay the main thread's, as without the thread
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^qckeys_db_pool_connections\{pool="system",state="free"\} \d/m);
  });
});

/** The verification thread's port, as the service prints it once it listens. */
async function threadPort(child: ChildServer): Promise<number> {
  const printed = () => /verification on its own thread at port (\d+)/i.exec(child.output())?.[1];
  await eventually(() => printed() !== undefined, 5000);
  return Number(printed());
}

onServer('the verification thread as the service runs it', () => {
  let database: TestDatabase;
  let child: ChildServer | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await child?.stop();
    await database?.drop();
  });

  test('runs at its priority while every other thread of the process is lowered by MAIN_THREAD_NICE', async () => {
    child = await startChildServer({ ...serviceEnv(database), VERIFY_PORT: '0', MAIN_THREAD_NICE: '5' });
    const port = await threadPort(child);
    const key = await createKeyAt(child.baseUrl, 'nice');
    const verifier = await childToken({ account: 'nice', roles: ['verifier'] });
    expect((await verifyAt(`http://127.0.0.1:${port}`, verifier, key.secret)).code).toBe('VALID');
    const pid = child.process.pid as number;
    // /proc/<pid>/task/<tid>/stat: the name in parentheses, then the fields from the state on; the nice value is the 19th field
    const threads = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      return { tid: Number(tid), name, nice: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) };
    });
    expect(threads.find((t) => t.tid === pid)?.nice).toBe(5);
    const atZero = threads.filter((t) => t.nice === 0);
    expect(atZero.map((t) => t.name)).toEqual(['WorkerThread']);
    expect(threads.filter((t) => t.nice !== 0).every((t) => t.nice === 5)).toBe(true);
  });

  test('stops with the service: its port closes, and the verifications it counted are written', async () => {
    await child?.stop();
    child = await startChildServer({ ...serviceEnv(database), VERIFY_PORT: '0', MAIN_THREAD_NICE: '0', USAGE_FLUSH_INTERVAL_MS: '60000', MIGRATE_ON_START: 'false' });
    const port = await threadPort(child);
    const key = await createKeyAt(child.baseUrl, 'stopping');
    const verifier = await childToken({ account: 'stopping', roles: ['verifier'] });
    for (let i = 0; i < 3; i++) expect((await verifyAt(`http://127.0.0.1:${port}`, verifier, key.secret)).code).toBe('VALID');
    expect(await child.signal('SIGTERM')).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('select coalesce(sum(valid), 0)::int as n from usage_hourly where api_key_id = $1', [key.id]);
      expect(rows[0].n).toBe(3);
    } finally {
      await client.end();
    }
  });
});

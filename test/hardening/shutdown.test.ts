import http from 'node:http';
import pg from 'pg';
import { createDurableDatabase, poolerUrl, serverUrl, type DurableDatabase } from '../helpers/database';
import { startChildServer, type ChildServer } from '../helpers/child-server';
import { startTestServer, TEST_JWT_SECRET } from '../helpers/server';
import { signToken } from '../../src/auth/tokens';

// SIGTERM: readiness 503 at once, stop accepting, finish in-flight requests (bounded), flush usage, close the pool, exit 0.
jest.setTimeout(60_000);

/** The service as a child process logging at info, so its "stopped" line can be read. */
const startChild = (env: Record<string, string>): Promise<ChildServer> => startChildServer({ LOG_LEVEL: 'info', ...env }, 45_000);

async function graphql(baseUrl: string, token: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: Record<string, Record<string, Record<string, string>>>; errors?: unknown[] };
}

/** A POST whose body arrives in two parts: in flight until `finish` is called. */
function slowRequest(baseUrl: string, token: string): { finish: () => void; response: Promise<{ status: number; body: string }> } {
  const body = JSON.stringify({ query: '{ viewer { subject accountId } }' });
  const url = new URL(`${baseUrl}/graphql`);
  let req!: http.ClientRequest;
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, 10));
  req.flushHeaders();
  return { finish: () => req.end(body.slice(10)), response };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function refused(baseUrl: string): Promise<boolean> {
  try {
    await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

let database: DurableDatabase;
let env: Record<string, string>;

beforeEach(async () => {
  database = await createDurableDatabase();
  env = database.env;
});
afterEach(async () => {
  await database.drop();
});

async function usageTotal(): Promise<number> {
  return (await database.query<{ n: number }>('select coalesce(sum(valid + rejected), 0)::int as n from usage_hourly'))[0].n;
}

test('SIGTERM: readiness 503 at once, in-flight request finishes, listener closes, usage flushed, exit 0', async () => {
  const child = await startChild({ ...env, SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_TIMEOUT_MS: '5000', USAGE_FLUSH_INTERVAL_MS: '60000' });
  try {
    const admin = await signToken({ secret: TEST_JWT_SECRET, account: 'acme', roles: ['admin'], subject: 'ops', ttl: '1h' });
    const channel = await graphql(child.baseUrl, admin, 'mutation { createChannel(input: { name: "IDE" }) { channel { id } } }');
    const channelId = channel.data?.createChannel.channel.id as string;
    const instance = await graphql(child.baseUrl, admin, 'mutation($i: CreateInstanceInput!) { createInstance(input: $i) { instance { id } } }',
      { i: { name: 'Prod', cloud: 'SALESFORCE', channelIds: [channelId] } });
    const created = await graphql(child.baseUrl, admin, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
      { i: { name: 'k', instanceId: instance.data?.createInstance.instance.id, channelId, developer: { name: 'Alice' } } });
    const secret = (created.data?.createApiKey as unknown as { secret: string }).secret;
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${child.baseUrl}/v1/keys/verify`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: JSON.stringify({ key: secret }),
      });
      expect(res.status).toBe(200);
    }
    expect((await fetch(`${child.baseUrl}/readyz`)).status).toBe(200);

    const inflight = slowRequest(child.baseUrl, admin);
    await sleep(100);
    const exited = child.signal('SIGTERM');
    await sleep(100);
    expect((await fetch(`${child.baseUrl}/readyz`)).status).toBe(503);

    inflight.finish();
    const answer = await inflight.response;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('"accountId":"acme"');

    // after the drain the listener is closed
    const deadline = Date.now() + 5000;
    while (!(await refused(child.baseUrl)) && Date.now() < deadline) await sleep(100);
    expect(await refused(child.baseUrl)).toBe(true);

    expect(await exited).toBe(0);
    expect(child.output()).toMatch(/"msg":"stopped"/);
    expect(await usageTotal()).toBe(3);
  } finally {
    child.process.kill('SIGKILL');
  }
});

test('the same signal sent again at once (to the whole process group, npm forwarding its copy) does not cut the drain short', async () => {
  const child = await startChild({ ...env, SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_TIMEOUT_MS: '5000', USAGE_FLUSH_INTERVAL_MS: '60000' });
  try {
    const verifier = await signToken({ secret: TEST_JWT_SECRET, account: 'acme', roles: ['verifier'], subject: 'gateway', ttl: '1h' });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${child.baseUrl}/v1/keys/verify`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${verifier}` }, body: JSON.stringify({ key: 'qck_unknown' }),
      });
      expect(res.status).toBe(200);
    }
    const exited = child.signal('SIGTERM');
    await sleep(50);
    child.process.kill('SIGTERM');
    await sleep(50);
    child.process.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(child.output()).toMatch(/"msg":"stopped"/);
    // the buffered counts were written by the drain
    expect(await usageTotal()).toBe(4);
  } finally {
    child.process.kill('SIGKILL');
  }
});

test('an interrupt after the grace period forces the exit during a long drain', async () => {
  const child = await startChild({ ...env, SHUTDOWN_DRAIN_MS: '60000' });
  try {
    const exited = child.signal('SIGTERM');
    await sleep(3500);
    expect(child.process.exitCode).toBeNull();
    const forced = Date.now();
    child.process.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(Date.now() - forced).toBeLessThan(2000);
    expect(child.output()).toMatch(/forced exit before the shutdown finished/);
  } finally {
    child.process.kill('SIGKILL');
  }
});

test('SIGTERM: a request that never completes is cut after SHUTDOWN_TIMEOUT_MS and the process still exits 0', async () => {
  const child = await startChild({ ...env, SHUTDOWN_TIMEOUT_MS: '1000' });
  try {
    const admin = await signToken({ secret: TEST_JWT_SECRET, account: 'acme', roles: ['admin'], subject: 'ops', ttl: '1h' });
    const stuck = slowRequest(child.baseUrl, admin);
    stuck.response.catch(() => undefined);
    await sleep(100);
    const started = Date.now();
    expect(await child.signal('SIGTERM')).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    await expect(stuck.response).rejects.toThrow();
  } finally {
    child.process.kill('SIGKILL');
  }
});

test('stop() finishes in-flight work, then closes the database pool', async () => {
  const server = await startTestServer({ SHUTDOWN_TIMEOUT_MS: '5000' });
  const admin = await server.token({ account: 'acme', roles: ['admin'] });
  const inflight = slowRequest(server.baseUrl, admin);
  await sleep(100);
  const stopping = server.service.stop();
  await sleep(200);
  inflight.finish();
  expect((await inflight.response).status).toBe(200);
  await stopping;
  await expect(server.knex.raw('select 1')).rejects.toThrow();
  if (serverUrl()) {
    const name = new URL(server.database.url).pathname.slice(1);
    // through a pooler, the service's connections are the pooler's clients (its server connections stay pooled)
    const pooler = poolerUrl();
    const adminConsole = pooler ? new URL(pooler) : null;
    if (adminConsole) adminConsole.pathname = '/pgbouncer';
    const client = new pg.Client({ connectionString: adminConsole?.toString() ?? serverUrl() as string });
    await client.connect();
    try {
      if (adminConsole) {
        const { rows } = await client.query<{ database: string }>('show clients');
        expect(rows.filter((r) => r.database === name)).toEqual([]);
      } else {
        const { rows } = await client.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where datname = $1 and application_name like 'qckeys%'`, [name]);
        expect(rows[0].n).toBe(0);
      }
    } finally {
      await client.end();
    }
  }
  await server.database.drop();
});

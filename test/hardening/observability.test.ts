import { autovacuumOff } from '../../src/db/database';
import { MAX_OPERATIONS, OTHER_OPERATION } from '../../src/metrics';
import { eventually } from '../helpers/eventually';
import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// Structured logs with request id, account, operation and duration (never a secret or token);
// unexpected errors masked for the client and logged with the request id; Prometheus metrics.
let server: TestServer;
let admin: string;
let verifier: string;
let secret: string;
let keyId: string;

const CREATE = `mutation CreateKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }`;

beforeAll(async () => {
  server = await startTestServer({ LOG_LEVEL: 'debug', USAGE_FLUSH_INTERVAL_MS: '60000' }, { captureLogs: true });
  admin = await server.token({ account: 'acme', roles: ['admin'], sub: 'alice' });
  verifier = await server.token({ account: 'acme', roles: ['verifier'], sub: 'gateway' });
  const channel = await server.post(admin, { query: 'mutation { createChannel(input: { name: "IDE" }) { channel { id } } }' });
  const channelId = (channel.data as { createChannel: { channel: { id: string } } }).createChannel.channel.id;
  const instance = await server.post(admin, {
    query: 'mutation($input: CreateInstanceInput!) { createInstance(input: $input) { instance { id } } }',
    variables: { input: { name: 'Prod', cloud: 'SALESFORCE', channelIds: [channelId] } },
  });
  const instanceId = (instance.data as { createInstance: { instance: { id: string } } }).createInstance.instance.id;
  const created = await server.post(admin, {
    query: CREATE, operationName: 'CreateKey',
    variables: { input: { name: 'logged key', instanceId, channelId, developer: { name: 'Alice' } } },
  }, { 'idempotency-key': 'observability-create' });
  const payload = (created.data as { createApiKey: { secret: string; apiKey: { id: string } } }).createApiKey;
  secret = payload.secret;
  keyId = payload.apiKey.id;
  // verify over REST and GraphQL, and renew (a second secret), so secrets pass through every path
  await fetch(`${server.baseUrl}/v1/keys/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${verifier}` }, body: JSON.stringify({ key: secret }),
  });
  await server.post(verifier, { query: 'mutation Verify($key: String!) { verifyApiKey(input: { key: $key }) { valid code } }', variables: { key: secret } });
  await server.post(verifier, { query: 'mutation Verify($key: String!) { verifyApiKey(input: { key: $key }) { valid code } }', variables: { key: 'qck_not-a-real-key' } });
});
afterAll(async () => { await server?.stop(); });

test('each GraphQL request is logged as JSON with request id, account, operation and duration', async () => {
  const res = await server.post(admin, { query: 'query Viewer { viewer { subject } }', operationName: 'Viewer' }, { 'x-request-id': 'req-observed-1' });
  expect(res.headers.get('x-request-id')).toBe('req-observed-1');
  await eventually(() => server.logs().some((l) => l.requestId === 'req-observed-1'));
  const line = server.logs().find((l) => l.requestId === 'req-observed-1' && l.msg === 'graphql request');
  expect(line).toMatchObject({ account: 'acme', operation: 'Viewer', status: 200, service: 'qckeys' });
  expect(typeof line?.durationMs).toBe('number');
  expect(typeof line?.time).toBe('number');
});

test('a generated request id is returned and logged', async () => {
  const res = await server.post(admin, { query: 'query Again { viewer { subject } }' });
  const id = res.headers.get('x-request-id');
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  await eventually(() => server.logs().some((l) => l.requestId === id && l.operation === 'Again'));
});

test('no log line holds a secret, a bearer token or the Idempotency-Key', async () => {
  const raw = server.rawLogs();
  expect(raw.length).toBeGreaterThan(0);
  expect(raw).not.toContain(secret);
  expect(raw).not.toContain(secret.slice(4, 24));
  for (const token of [admin, verifier]) {
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(token.split('.')[2]);
  }
  expect(raw).not.toContain('qck_not-a-real-key');
  expect(raw).not.toContain('observability-create');
});

test('an unexpected error is masked for the client and logged with the request id', async () => {
  const knex = server.service.db.knex;
  await knex.raw('alter table channels rename to channels_moved');
  try {
    const res = await server.post(admin, { query: 'query Channels { channels { id name } }' }, { 'x-request-id': 'req-broken-1' });
    const text = JSON.stringify(res);
    expect(res.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(text).not.toMatch(/relation|does not exist|select|from|channels_moved|stack|\.ts:/i);
    await eventually(() => server.logs().some((l) => l.requestId === 'req-broken-1' && l.level === 50));
    const logged = server.logs().find((l) => l.requestId === 'req-broken-1' && l.level === 50);
    expect(JSON.stringify(logged)).toMatch(/channels/);
  } finally {
    await knex.raw('alter table channels_moved rename to channels');
  }
});

async function scrape(): Promise<string> {
  const res = await fetch(`${server.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/text\/plain/);
  return res.text();
}

test('/metrics counts requests and times them per operation', async () => {
  await server.post(admin, { query: 'query Viewer { viewer { subject } }', operationName: 'Viewer' });
  const text = await scrape();
  expect(text).toMatch(/qckeys_http_requests_total\{route="\/graphql",operation="Viewer",status="200"\} [1-9]/);
  expect(text).toMatch(/qckeys_http_requests_total\{route="\/graphql",operation="CreateKey",status="200"\} 1/);
  expect(text).toMatch(/qckeys_http_request_duration_seconds_bucket\{le="0.5",route="\/graphql",operation="Viewer"\} [1-9]/);
  expect(text).toMatch(/qckeys_http_request_duration_seconds_count\{route="\/v1\/keys\/verify",operation=""\} 1/);
});

test('/metrics reports verification outcomes, usage-buffer depth, pool usage and idempotent requests', async () => {
  const text = await scrape();
  expect(text).toMatch(/qckeys_verifications_total\{code="VALID"\} 2/);
  expect(text).toMatch(/qckeys_verifications_total\{code="MALFORMED"\} 1/);
  expect(text).toMatch(/^qckeys_usage_buffer_depth \d+$/m);
  expect(text).toMatch(/qckeys_idempotent_requests_total\{result="executed"\} 1/);
  if (server.service.db.kind === 'postgres') {
    for (const pool of ['requests', 'system']) {
      for (const state of ['used', 'free', 'pending']) expect(text).toMatch(new RegExp(`qckeys_db_pool_connections\\{pool="${pool}",state="${state}"\\} \\d+`));
    }
  }
  expect(keyId).toMatch(/^key_/);
});

test('the usage-buffer depth gauge follows the buffer', async () => {
  // flushes run once a minute here: the three verifications above are still buffered
  const before = Number(/^qckeys_usage_buffer_depth (\d+)$/m.exec(await scrape())?.[1]);
  expect(before).toBe(3);
  await server.post(verifier, { query: 'mutation Verify($key: String!) { verifyApiKey(input: { key: $key }) { valid } }', variables: { key: secret } });
  expect(Number(/^qckeys_usage_buffer_depth (\d+)$/m.exec(await scrape())?.[1])).toBe(4);
  await server.service.services.usage.flush();
  expect(Number(/^qckeys_usage_buffer_depth (\d+)$/m.exec(await scrape())?.[1])).toBe(0);
});

test('operation names from clients get series up to a bound; later names are counted together', async () => {
  const extra = 25;
  const names = Array.from({ length: MAX_OPERATIONS + extra }, (_, i) => `Named${i}`);
  for (let i = 0; i < names.length; i += 20) {
    await Promise.all(names.slice(i, i + 20).map((name) => server.post(admin, { query: `query ${name} { viewer { subject } }`, operationName: name })));
  }
  const text = await scrape();
  const operations = new Set([...text.matchAll(/qckeys_http_requests_total\{route="\/graphql",operation="([^"]*)"/g)].map((m) => m[1]));
  expect(operations.size).toBe(MAX_OPERATIONS + 1);
  expect(operations.has(OTHER_OPERATION)).toBe(true);
  // the names sent before these, and the first of these, kept their own series until the bound was reached
  expect(operations.has('Viewer')).toBe(true);
  expect(operations.has('Named0')).toBe(true);
  expect(operations.has(names[names.length - 1])).toBe(false);
  const other = new RegExp(`qckeys_http_requests_total\\{route="/graphql",operation="\\(other\\)",status="200"\\} (\\d+)`).exec(text);
  expect(Number(other?.[1])).toBeGreaterThanOrEqual(extra);
});

test('the start warns when the database server does not vacuum by itself, and only then', async () => {
  // the embedded database has no autovacuum to turn on; a server's is a setting of its own
  const { db } = server.service;
  const warned = server.logs().some((l) => l.level === 40 && /autovacuum is off/.test(String(l.msg)));
  expect(warned).toBe(await autovacuumOff(db));
});

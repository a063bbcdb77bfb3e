import net from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server';

// What one connection may hold: slow clients, too many connections, oversized and over-nested bodies.
jest.setTimeout(60_000);

let server: TestServer;
let admin: string;
let verifier: string;
const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

beforeAll(async () => {
  server = await startTestServer({
    HTTP_REQUEST_TIMEOUT_MS: '1500', HTTP_HEADERS_TIMEOUT_MS: '1000', HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000', HTTP_MAX_CONNECTIONS: '20',
    METRICS_TOKEN,
  });
  admin = await server.token({ account: 'http-acme', roles: ['admin'] });
  verifier = await server.token({ account: 'http-acme', roles: ['verifier'] });
});
afterAll(async () => { await server.stop(); });

/** A raw connection: what it received, and when the server closed it. */
function connect(): Promise<{ socket: net.Socket; received: () => string; closed: Promise<number> }> {
  const url = new URL(server.baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let text = '';
    const socket = net.connect(Number(url.port), url.hostname, () => resolve({ socket, received: () => text, closed }));
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.on('data', (chunk) => { text += chunk.toString('utf8'); });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

const head = (path: string, headers: Record<string, string | number>) =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;

test('a 401 closes the connection at once, though the client is still sending its body', async () => {
  const { socket, received, closed } = await connect();
  socket.write(head('/v1/keys/verify', { authorization: 'Bearer nope', 'content-type': 'application/json', 'content-length': 1000 }));
  socket.write('{"key":"qck_');
  expect(await closed).toBeLessThan(1000);
  expect(received()).toMatch(/^HTTP\/1\.1 401 /);
  expect(received()).toMatch(/connection: close/i);
});

test('a body sent too slowly is cut off after HTTP_REQUEST_TIMEOUT_MS', async () => {
  const { socket, closed } = await connect();
  socket.write(head('/v1/keys/verify', { authorization: `Bearer ${verifier}`, 'content-type': 'application/json', 'content-length': 1000 }));
  const drip = setInterval(() => socket.write(' '), 200);
  try {
    const after = await closed;
    expect(after).toBeGreaterThanOrEqual(1400);
    expect(after).toBeLessThan(4000);
  } finally {
    clearInterval(drip);
  }
});

test('headers sent too slowly are cut off after HTTP_HEADERS_TIMEOUT_MS', async () => {
  const { socket, closed } = await connect();
  socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\n');
  const drip = setInterval(() => socket.write('x-slow: 1\r\n'), 200);
  try {
    expect(await closed).toBeLessThan(3500);
  } finally {
    clearInterval(drip);
  }
});

test('a body declared larger than allowed is answered 413 and the connection closed', async () => {
  const { socket, received, closed } = await connect();
  socket.write(head('/v1/keys/verify', { authorization: `Bearer ${verifier}`, 'content-type': 'application/json', 'content-length': 1_000_000 }));
  expect(await closed).toBeLessThan(1000);
  expect(received()).toMatch(/^HTTP\/1\.1 413 /);
});

test('connections past HTTP_MAX_CONNECTIONS are closed at once; the service keeps answering', async () => {
  const held = await Promise.all(Array.from({ length: 20 }, () => connect()));
  const extra = await connect();
  expect(await extra.closed).toBeLessThan(1000);
  for (const c of held) c.socket.destroy();
  await Promise.all(held.map((c) => c.closed));
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
});

describe('nested variables', () => {
  const nested = (depth: number) => JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown;
  const mutation = 'mutation($input: CreateTeamInput!) { createTeam(input: $input) { team { id } } }';

  test.each([[{}], [{ 'Idempotency-Key': 'nested-1' }]])('nested 100,000 deep (headers %j) are refused with 400 before anything runs', async (headers) => {
    const body = `{"query":${JSON.stringify(mutation)},"variables":{"input":{"name":"x","deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`;
    const res = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, ...headers }, body,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ message: 'The body nests deeper than 32 levels', extensions: { code: 'BAD_USER_INPUT' } }] });
  });

  test('32 levels are accepted as JSON (and refused by the schema, as unknown fields)', async () => {
    const res = await server.gql(admin, mutation, { input: { name: 'x', deep: nested(29) } }, { 'Idempotency-Key': 'nested-2' });
    expect(res.status).toBe(400);
    expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  test('a body that is not JSON is 400 BAD_USER_INPUT', async () => {
    const res = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` }, body: '{"query": ',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ message: 'The body is not valid JSON', extensions: { code: 'BAD_USER_INPUT' } }] });
  });
});

describe('/metrics behind METRICS_TOKEN', () => {
  test.each([['no token', undefined], ['a wrong token', 'Bearer metrics-token-0123456789abcdeX'], ['a user token', 'user']])('%s: 401', async (_what, authorization) => {
    const res = await fetch(`${server.baseUrl}/metrics`, { headers: authorization ? { authorization: authorization === 'user' ? `Bearer ${admin}` : authorization } : {} });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('qckeys_');
  });

  test('the token: 200, Prometheus text', async () => {
    const res = await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^qckeys_http_requests_total/m);
  });
});

test('with METRICS_PORT, /metrics is served on that port only', async () => {
  const other = await startTestServer({ METRICS_PORT: '0' });
  try {
    expect((await fetch(`${other.baseUrl}/metrics`)).status).toBe(404);
    const address = other.service.app.metricsServer?.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^qckeys_usage_buffer_depth 0$/m);
    expect((await fetch(`http://127.0.0.1:${port}/graphql`)).status).toBe(404);
  } finally {
    await other.stop();
  }
});

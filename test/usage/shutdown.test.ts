import http from 'node:http';
import { createDurableDatabase, type DurableDatabase } from '../helpers/database';
import { childToken, createKeyAt, gqlAt, startChildServer, verifyAt, type ChildServer } from '../helpers/child-server';

// The service runs as a child process on a database that outlives it: a PostgreSQL database, or
// an embedded one on disk (DATA_DIR). The flush interval is a minute, so only the shutdown flush
// can write the counts in time.
let database: DurableDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  database = await createDurableDatabase();
  env = { ...database.env, USAGE_FLUSH_INTERVAL_MS: '60000' };
});
afterAll(async () => {
  await database?.drop();
});

async function totalAt(baseUrl: string, account: string): Promise<{ total: number; valid: number; rejected: number }> {
  const viewer = await childToken({ account, roles: ['viewer'] });
  const data = await gqlAt<{ usage: { total: number; series: { valid: number; rejected: number }[] } }>(baseUrl, viewer,
    'query($from: DateTime!, $to: DateTime!) { usage(filter: { from: $from, to: $to }) { total series { valid rejected } } }',
    { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() });
  return {
    total: data.usage.total,
    valid: data.usage.series.reduce((n, s) => n + s.valid, 0),
    rejected: data.usage.series.reduce((n, s) => n + s.rejected, 0),
  };
}

let server: ChildServer | null = null;
afterAll(async () => { await server?.stop(); });

/** Answers verifications on 16 keep-alive connections until one fails; returns how many were answered VALID. */
function hammer(baseUrl: string, token: string, secret: string) {
  const { port } = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const body = JSON.stringify({ key: secret });
  const verifyOnce = () => new Promise<boolean>((resolve) => {
    const req = http.request({
      host: '127.0.0.1', port: Number(port), path: '/v1/keys/verify', method: 'POST', agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      res.on('end', () => resolve(res.statusCode === 200 && text.includes('"VALID"')));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
  const state = { answered: 0, failed: false };
  const workers = Array.from({ length: 16 }, async () => {
    while (!state.failed) {
      if (await verifyOnce()) state.answered++;
      else state.failed = true;
    }
  });
  return { state, done: Promise.all(workers).then(() => agent.destroy()) };
}

// One process lifetime and one restart: an embedded database is slow to create.
test('every verification answered before or while SIGTERM arrives is counted once the process has exited', async () => {
  server = await startChildServer(env, 90_000);
  const first = server;
  const acme = await createKeyAt(first.baseUrl, 'acme');
  const globex = await createKeyAt(first.baseUrl, 'globex');

  // answered before the signal: 150 valid, 50 rejected
  const acmeVerifier = await childToken({ account: 'acme', roles: ['verifier'] });
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) => verifyAt(first.baseUrl, acmeVerifier, acme.secret, i % 4 === 0 ? 'Instance_elsewhere' : undefined)));
  }
  expect(await totalAt(first.baseUrl, 'acme')).toEqual({ total: 0, valid: 0, rejected: 0 }); // still buffered

  // in flight when the signal arrives
  const load = hammer(first.baseUrl, await childToken({ account: 'globex', roles: ['verifier'] }), globex.secret);
  const deadline = Date.now() + 30_000;
  while (load.state.answered < 300 && !load.state.failed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  expect(load.state.failed).toBe(false);
  const signalled = Date.now();
  const exit = first.signal('SIGTERM');
  await load.done;
  expect(await exit).toBe(0);
  // keep-alive clients are turned away promptly, not served until the shutdown timeout
  expect(Date.now() - signalled).toBeLessThan(5000);

  server = await startChildServer(env, 90_000);
  expect(await totalAt(server.baseUrl, 'acme')).toEqual({ total: 200, valid: 150, rejected: 50 });
  expect((await totalAt(server.baseUrl, 'globex')).total).toBe(load.state.answered);
}, 240_000);

import { serverUrl } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { metricValue } from '../helpers/metrics';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

// Overload is not an outage: when every connection of the requests' pool is busy, a request
// waits in line for DB_POOL_WAIT_MS, then gets 503 with Retry-After; readiness stays 200, and
// verification, which has connections of its own, is not held up. On a PostgreSQL server: the
// embedded database has one connection for everything.
jest.setTimeout(90_000);
const describeOnPostgres = serverUrl() ? describe : describe.skip;

describeOnPostgres('a saturated pool of requests (DB_POOL_MAX=1)', () => {
  let server: TestServer;
  let acme: SeededAccount;
  beforeAll(async () => {
    server = await startTestServer({ DB_POOL_MAX: '1', DB_POOL_WAIT_MS: '400' });
    acme = await seedAccount(server, 'busy');
  });
  afterAll(async () => { await server?.stop(); });

  /** Holds the requests' one connection for `ms`, as a long request would. */
  const hold = (ms: number) => server.service.db.transaction('busy', (tx) => tx.rows({ text: `select pg_sleep(${ms / 1000})` }));

  test('a request that cannot get a connection within DB_POOL_WAIT_MS gets 503 with Retry-After, counted; readiness stays 200', async () => {
    const key = await acme.createKey({ name: 'verified while busy' });
    const timeoutsBefore = await metricValue(server.baseUrl, 'qckeys_db_pool_wait_timeouts_total', { pool: 'requests' });
    const held = hold(2000);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const res = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.viewer}` },
      body: JSON.stringify({ query: '{ apiKeys { totalCount } }' }),
    });
    const waited = Date.now() - started;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(1000);
    expect(await metricValue(server.baseUrl, 'qckeys_db_pool_wait_timeouts_total', { pool: 'requests' })).toBe(timeoutsBefore + 1);
    // not an outage
    expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
    // verification looks keys up on connections of its own
    const verifyStarted = Date.now();
    expect((await verifyRest(server, acme.verifier, key.secret)).code).toBe('VALID');
    expect(Date.now() - verifyStarted).toBeLessThan(1000);
    await held;
  });

  test('requests that can be served in time wait in line and all succeed', async () => {
    const held = hold(200);
    const answers = await Promise.all(Array.from({ length: 5 }, () => server.gql(acme.viewer, '{ apiKeys { totalCount } }')));
    await held;
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
  });
});

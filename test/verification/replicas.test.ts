import { createTestDatabase, serverUrl, serviceEnv, type TestDatabase } from '../helpers/database';
import { childToken, createKeyAt, gqlAt, startChildServer, verifyAt, type ChildServer } from '../helpers/child-server';
import { eventually } from '../helpers/eventually';

// Two replicas share a database only on a PostgreSQL server (an embedded database belongs to one process).
const onServer = serverUrl() ? describe : describe.skip;

onServer('two server processes on one PostgreSQL database', () => {
  let database: TestDatabase;
  let a: ChildServer;
  let b: ChildServer;

  beforeAll(async () => {
    database = await createTestDatabase();
    // a long time to live: only the notification can make B forget the key in time
    const env = { ...serviceEnv(database), KEY_CACHE_TTL_MS: '600000' };
    a = await startChildServer(env);
    b = await startChildServer({ ...env, MIGRATE_ON_START: 'false' });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
  });

  test('a key revoked through A is REVOKED on B (whose cache was warm) within one second', async () => {
    const key = await createKeyAt(a.baseUrl, 'acme');
    const verifier = await childToken({ account: 'acme', roles: ['verifier'] });
    expect((await verifyAt(b.baseUrl, verifier, key.secret)).code).toBe('VALID');
    expect((await verifyAt(b.baseUrl, verifier, key.secret)).code).toBe('VALID');

    const admin = await childToken({ account: 'acme', roles: ['admin'] });
    await gqlAt(a.baseUrl, admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { status } } }', { id: key.id });
    await eventually(async () => (await verifyAt(b.baseUrl, verifier, key.secret)).code === 'REVOKED', 1000);
  });

  test('a renewal through B ends the old secret on A within one second', async () => {
    const key = await createKeyAt(b.baseUrl, 'globex');
    const platform = await childToken({ account: null, roles: ['verifier'] });
    expect(await verifyAt(a.baseUrl, platform, key.secret)).toMatchObject({ code: 'VALID', accountId: 'globex', keyId: key.id });
    const admin = await childToken({ account: 'globex', roles: ['admin'] });
    await gqlAt(b.baseUrl, admin, 'mutation($id: ID!) { renewApiKey(input: { id: $id }) { secret } }', { id: key.id });
    await eventually(async () => (await verifyAt(a.baseUrl, platform, key.secret)).code === 'NOT_FOUND', 1000);
  });
});

import pg from 'pg';
import { KeyCache } from '../../src/modules/verification/cache';
import type { VerifiableKey } from '../../src/modules/verification/model';
import { serverUrl } from '../helpers/database';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { eventually } from '../helpers/eventually';
import { verifyRest } from './verify';

const keyOf = (id: string): VerifiableKey => ({
  id, accountId: 'acme', instanceId: 'i', channelId: 'c', developerId: 'd', cloud: 'SALESFORCE', teamIds: [],
  expiresAt: new Date(Date.now() + 60_000), revokedAt: null, secretValidUntil: null,
});

describe('KeyCache', () => {
  test('forgets an entry after its time to live', () => {
    const cache = new KeyCache(1000, () => 0);
    cache.set('d1', keyOf('k1'), cache.generation, 0);
    cache.set('d2', null, cache.generation, 0);
    expect(cache.get('d1', 999)?.id).toBe('k1');
    expect(cache.get('d2', 999)).toBeNull();
    expect(cache.get('d1', 1000)).toBeUndefined();
    expect(cache.get('d2', 1000)).toBeUndefined();
  });

  test('invalidating a key drops every secret of it, and only those', () => {
    const cache = new KeyCache(60_000, Date.now);
    cache.set('old', keyOf('k1'), cache.generation);
    cache.set('new', keyOf('k1'), cache.generation);
    cache.set('other', keyOf('k2'), cache.generation);
    cache.invalidateKeys(['k1']);
    expect(cache.get('old')).toBeUndefined();
    expect(cache.get('new')).toBeUndefined();
    expect(cache.get('other')?.id).toBe('k2');
  });

  test('a lookup that started before an invalidation is not cached', () => {
    const cache = new KeyCache(60_000, Date.now);
    const before = cache.generation;
    cache.invalidateKeys(['k9']);
    cache.set('d', keyOf('k1'), before);
    expect(cache.get('d')).toBeUndefined();
  });

  test('clear drops everything; a zero time to live caches nothing', () => {
    const cache = new KeyCache(60_000, Date.now);
    cache.set('a', keyOf('k1'), cache.generation);
    cache.clear();
    expect(cache.size).toBe(0);
    const off = new KeyCache(0, Date.now);
    off.set('a', keyOf('k1'), off.generation);
    expect(off.size).toBe(0);
  });

  test('unknown digests are bounded on their own: a flood of guesses does not push known keys out', () => {
    const cache = new KeyCache(60_000, Date.now, 2, 3);
    cache.set('a', keyOf('k1'), cache.generation);
    cache.set('b', keyOf('k2'), cache.generation);
    for (let i = 0; i < 100; i++) cache.set(`guess ${i}`, null, cache.generation);
    expect(cache.get('a')?.id).toBe('k1');
    expect(cache.get('b')?.id).toBe('k2');
    expect(cache.size).toBe(5);
    expect(cache.get('guess 99')).toBeNull();
    expect(cache.get('guess 96')).toBeUndefined(); // the oldest guesses dropped
    expect(cache.get('guess 97', Date.now() + 60_000)).toBeUndefined(); // and guesses expire
  });

  test('holds at most its maximum, dropping the oldest', () => {
    const cache = new KeyCache(60_000, Date.now, 2);
    cache.set('a', keyOf('k1'), cache.generation);
    cache.set('b', keyOf('k2'), cache.generation);
    cache.set('c', keyOf('k3'), cache.generation);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')?.id).toBe('k3');
  });
});

describe('the verifier cache of a running server', () => {
  let server: TestServer;
  let acme: SeededAccount;
  beforeAll(async () => {
    server = await startTestServer();
    acme = await seedAccount(server, 'acme');
  }, 120_000);
  afterAll(async () => { await server.stop(); });

  const code = async (secret: string, instanceId?: string) => (await verifyRest(server, acme.verifier, secret, instanceId)).code;
  const mutate = (query: string, input: Record<string, unknown>) => server.ok(acme.admin, query, { input });

  test('answers a warm key from memory: a change made behind its back is not seen', async () => {
    const key = await acme.createKey();
    expect(await code(key.secret)).toBe('VALID');
    // no NOTIFY: the cache keeps its answer (the time to live bounds how long)
    await server.knex('api_keys').where({ id: key.id }).update({ revoked_at: new Date() });
    expect(await code(key.secret)).toBe('VALID');
  });

  test('the replica that made a change answers the new state at once, without waiting for its notification', async () => {
    const key = await acme.createKey();
    const changes: string[][] = [];
    const unsubscribe = server.service.services.keyChanges.listen((ids) => changes.push([...ids]));
    try {
      expect(await code(key.secret)).toBe('VALID');
      await mutate('mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { id } } }', { id: key.id });
      // heard in this process before the mutation's answer left, whatever the NOTIFY does
      expect(changes).toContainEqual([key.id]);
      expect(await code(key.secret)).toBe('REVOKED');
    } finally {
      unsubscribe();
    }
  });

  test.each([
    ['revoke', 'REVOKED'],
    ['renew', 'NOT_FOUND'],
    ['move to another instance', 'INSTANCE_MISMATCH'],
    ['delete', 'NOT_FOUND'],
  ])('%s of a warm key takes effect within a second', async (change, expected) => {
    const key = await acme.createKey();
    expect(await code(key.secret, acme.instances.prod.id)).toBe('VALID');
    if (change === 'revoke') await mutate('mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { id } } }', { id: key.id });
    if (change === 'renew') await mutate('mutation($input: RenewApiKeyInput!) { renewApiKey(input: $input) { secret } }', { id: key.id });
    if (change === 'move to another instance') {
      await mutate('mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { id } } }', { id: key.id, instanceId: acme.instances.snow.id });
    }
    if (change === 'delete') await mutate('mutation($input: DeleteApiKeyInput!) { deleteApiKey(input: $input) { deletedApiKeyId } }', { id: key.id });
    await eventually(async () => (await code(key.secret, acme.instances.prod.id)) === expected, 1000);
  });

  test('revoking through a developer deactivation takes effect within a second', async () => {
    const key = await acme.createKey({ developer: { name: 'Leaver' } });
    expect(await code(key.secret)).toBe('VALID');
    const { developers } = await server.ok<{ developers: { edges: { node: { id: string; name: string } }[] } }>(acme.admin,
      '{ developers(search: "Leaver") { edges { node { id name } } } }');
    await mutate('mutation($input: DeactivateDeveloperInput!) { deactivateDeveloper(input: $input) { developer { id } } }',
      { id: developers.edges[0].node.id, revokeApiKeys: true });
    await eventually(async () => (await code(key.secret)) === 'REVOKED', 1000);
  });

  const onServer = serverUrl() ? test : test.skip;
  onServer('drops the whole cache when the listener session is lost, and hears changes again after reconnecting (PostgreSQL)', async () => {
    const key = await acme.createKey();
    expect(await code(key.secret)).toBe('VALID');
    expect(server.service.services.verifier.cache.size).toBeGreaterThan(0);
    const admin = new pg.Client({ connectionString: server.database.url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        `select count(*)::int as n from (select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and application_name = 'qckeys-listen') t`);
      expect(rows[0].n).toBe(1);
    } finally {
      await admin.end();
    }
    await eventually(async () => server.service.services.verifier.cache.size === 0, 1000);
    // once reconnected, a change made on the database is heard again
    await eventually(async () => {
      const probe = new pg.Client({ connectionString: server.database.url });
      await probe.connect();
      try {
        const { rows } = await probe.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = 'qckeys-listen'`);
        return rows[0].n === 1;
      } finally {
        await probe.end();
      }
    }, 5000, 100);
    expect(await code(key.secret)).toBe('VALID');
    await mutate('mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { id } } }', { id: key.id });
    await eventually(async () => (await code(key.secret)) === 'REVOKED', 1000);
  });
});

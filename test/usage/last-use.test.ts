// ApiKey.lastUsedAt is kept to the minute: a flush writes a key's last use only when it moves by a
// minute or more, so a key in steady use costs one write a minute, not one per flush.
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

let skewMs = 0;
const clock = () => Date.now() + skewMs;
let server: TestServer;
let acme: SeededAccount;

beforeAll(async () => {
  server = await startTestServer({ USAGE_FLUSH_INTERVAL_MS: '60000' }, { clock });
  acme = await seedAccount(server, 'acme');
}, 60_000);
afterAll(async () => { await server.stop(); });

/** Verifies the key once and flushes the counts; answers the key's lastUsedAt and the usage the flush wrote in all. */
async function useAndFlush(key: { id: string; secret: string }): Promise<{ lastUsedAt: number; total: number }> {
  expect((await verifyRest(server, acme.verifier, key.secret)).code).toBe('VALID');
  await server.service.services.usage.flush();
  const { apiKey } = await server.ok<{ apiKey: { lastUsedAt: string } }>(acme.viewer, 'query($id: ID!) { apiKey(id: $id) { lastUsedAt } }', { id: key.id });
  const { rows } = await server.knex.raw('select coalesce(sum(valid), 0)::int as n from usage_hourly where api_key_id = ?', [key.id]);
  return { lastUsedAt: Date.parse(apiKey.lastUsedAt), total: (rows as { n: number }[])[0].n };
}

test('a use within a minute of the recorded one is counted but does not move lastUsedAt; a later one does', async () => {
  const key = await acme.createKey({ name: 'steady' });
  const first = await useAndFlush(key);
  expect(first.total).toBe(1);
  expect(Math.abs(first.lastUsedAt - clock())).toBeLessThan(5_000);

  skewMs += 59_000;
  const within = await useAndFlush(key);
  expect(within).toEqual({ lastUsedAt: first.lastUsedAt, total: 2 });

  skewMs += 2_000;
  const after = await useAndFlush(key);
  expect(after.total).toBe(3);
  expect(after.lastUsedAt - first.lastUsedAt).toBeGreaterThanOrEqual(61_000);
});

test('keys whose last use does not move are not written at all', async () => {
  const keys = await Promise.all(['a', 'b', 'c'].map((name) => acme.createKey({ name: `quiet ${name}` })));
  for (const key of keys) await useAndFlush(key);
  const versions = async () => (await server.knex('api_keys').whereIn('id', keys.map((k) => k.id)).select('id', 'last_used_at', 'xmin'))
    .map((r: { id: string; last_used_at: Date; xmin: string }) => `${r.id} ${r.last_used_at.toISOString()} ${r.xmin}`).sort();
  const before = await versions();
  skewMs += 10_000;
  for (const key of keys) expect((await verifyRest(server, acme.verifier, key.secret)).code).toBe('VALID');
  await server.service.services.usage.flush();
  // the same row versions: no update touched them
  expect(await versions()).toEqual(before);
});

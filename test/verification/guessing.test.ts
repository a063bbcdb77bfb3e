import { generateSecret } from '../../src/modules/api-keys/secrets';
import { LookupLimiter } from '../../src/modules/verification/limiter';
import { metricValue } from '../helpers/metrics';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// Well-formed guesses are cheap to make (the checksum of the format is public): each distinct one
// used to cost a database lookup. A principal's lookups of unknown secrets are now limited.

jest.setTimeout(90_000);

const BURST = 20;
let server: TestServer;
let guesser: SeededAccount;
let bystander: SeededAccount;

beforeAll(async () => {
  server = await startTestServer({ UNKNOWN_KEY_LOOKUPS_PER_SECOND: '1', UNKNOWN_KEY_LOOKUP_BURST: String(BURST) });
  guesser = await seedAccount(server, 'guesser');
  bystander = await seedAccount(server, 'bystander');
});
afterAll(async () => { await server.stop(); });

const verify = (token: string, key: string) => fetch(`${server.baseUrl}/v1/keys/verify`, {
  method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ key }),
});

async function lookups(): Promise<Record<string, number>> {
  const of = (result: string) => metricValue(server.baseUrl, 'qckeys_key_lookups_total', { result });
  return { found: await of('found'), unknown: await of('unknown'), refused: await of('refused') };
}

test('a flood of distinct well-formed guesses costs at most the burst in lookups; the rest get 429 RATE_LIMITED with Retry-After', async () => {
  const before = await lookups();
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 200 }, () => verify(guesser.verifier, generateSecret())));
  const seconds = (Date.now() - started) / 1000;
  const statuses = answers.map((a) => a.status);
  // one token a second comes back while the flood runs
  const looked = statuses.filter((s) => s === 200).length;
  expect(looked).toBeGreaterThanOrEqual(BURST);
  expect(looked).toBeLessThanOrEqual(BURST + Math.ceil(seconds));
  const refused = answers.filter((a) => a.status === 429);
  expect(refused.length).toBe(200 - looked);
  expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(await refused[0].json()).toEqual({ error: { code: 'RATE_LIMITED', message: expect.stringContaining('unknown keys'), retryAfterSeconds: expect.any(Number) } });
  const after = await lookups();
  expect(after.unknown - before.unknown).toBe(looked);
  expect(after.refused - before.refused).toBe(200 - looked);
});

test('the same flood through GraphQL answers RATE_LIMITED, with 429 when the whole request failed', async () => {
  const guess = () => server.gql(guesser.verifier, 'mutation($k: String!) { verifyApiKey(input: { key: $k }) { valid code } }', { k: generateSecret() });
  // the tokens that came back since the last test first
  let res = await guess();
  for (let i = 0; i < BURST && res.status === 200; i++) res = await guess();
  expect(res.status).toBe(429);
  expect(res.data ?? null).toBeNull();
  expect(res.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
});

test('the exhausted principal still verifies keys the cache knows, and guesses it made before cost nothing again', async () => {
  const key = await guesser.createKey({ name: 'known before' });
  // another principal of the account puts the key in the cache
  expect((await verify(guesser.admin, key.secret)).status).toBe(200);
  const answer = await verify(guesser.verifier, key.secret);
  expect(answer.status).toBe(200);
  expect(await answer.json()).toMatchObject({ valid: true, code: 'VALID' });
});

test('another principal, of another account or of the same one, is not limited by the flood', async () => {
  const keys = await Promise.all(Array.from({ length: 5 }, (_, i) => bystander.createKey({ name: `bystander ${i}` })));
  const started = Date.now();
  for (const key of keys) {
    const answer = await verify(bystander.verifier, key.secret);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ valid: true, code: 'VALID' });
  }
  expect(Date.now() - started).toBeLessThan(5_000);
  const ownKey = await guesser.createKey({ name: 'admin of the guessing account' });
  expect((await verify(guesser.admin, ownKey.secret)).status).toBe(200);
  expect((await verify(guesser.admin, generateSecret())).status).toBe(200);
});

describe('the token bucket', () => {
  test('refills at its rate up to its burst, and a lookup that found a key gives its token back', () => {
    let now = 0;
    const limiter = new LookupLimiter({ ratePerSecond: 2, burst: 3 }, () => now);
    expect([limiter.take('p'), limiter.take('p'), limiter.take('p')]).toEqual([0, 0, 0]);
    expect(limiter.take('p')).toBe(1);
    now += 500; // one token back
    expect(limiter.take('p')).toBe(0);
    expect(limiter.take('p')).toBe(1);
    limiter.giveBack('p');
    expect(limiter.take('p')).toBe(0);
    now += 60_000; // never more than the burst
    expect([limiter.take('p'), limiter.take('p'), limiter.take('p'), limiter.take('p')]).toEqual([0, 0, 0, 1]);
    expect(limiter.take('q')).toBe(0);
  });

  test('with a slow rate, the wait is the time until the next token', () => {
    let now = 0;
    const limiter = new LookupLimiter({ ratePerSecond: 0.1, burst: 1 }, () => now);
    expect(limiter.take('p')).toBe(0);
    expect(limiter.take('p')).toBe(10);
    now += 5_000;
    expect(limiter.take('p')).toBe(5);
  });

  test('remembers a bounded number of principals', () => {
    const limiter = new LookupLimiter({ ratePerSecond: 1, burst: 1 }, () => 0, 2);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('b')).toBe(0);
    expect(limiter.take('c')).toBe(0); // 'a', least recently used, is forgotten
    expect(limiter.take('b')).toBe(1);
    expect(limiter.take('a')).toBe(0);
  });
});

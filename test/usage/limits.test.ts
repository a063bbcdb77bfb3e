import { metricDelta } from '../helpers/metrics';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// A request's usage reports hold at most USAGE_MAX_POINTS (10,000) points: series × buckets,
// times the keys they are asked for. More is refused before any statement runs.
jest.setTimeout(90_000);

let server: TestServer;
let acme: SeededAccount;
const HOUR = 3_600_000;
const to = new Date(Date.UTC(2026, 10, 1));
const hoursBack = (n: number) => new Date(to.getTime() - n * HOUR).toISOString();

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'limits');
  await acme.createKey({ name: 'a key' });
});
afterAll(async () => { await server.stop(); });

/** Sends a document; its answer, and how many statements the requests' pool ran meanwhile. */
async function send(query: string, variables: Record<string, unknown> = {}) {
  let res!: Awaited<ReturnType<TestServer['gql']>>;
  const statements = await metricDelta(server.baseUrl, 'qckeys_db_statements_total', { pool: 'requests' }, async () => {
    res = await server.gql(acme.viewer, query, variables);
  });
  return { res, statements };
}

const REPORT = (alias: string, hours: number, groupBy: string, first: number) =>
  `${alias}: usage(filter: { from: "${hoursBack(hours)}", to: "${to.toISOString()}" }, groupBy: ${groupBy}, granularity: HOUR, first: ${first}) { total series { points { total } } }`;

test('the report of the finding (by key, hourly, 10,000 hours) is refused with 400 before anything runs', async () => {
  const { res, statements } = await send(`{ ${REPORT('r', 10_000, 'API_KEY', 10)} }`);
  expect(res.status).toBe(400);
  expect(res.errors?.[0].extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'usage' });
  expect(res.errors?.[0].message).toMatch(/120000 points .* at most 10000/);
  expect(statements).toBe(0);
});

test('reports are counted together: three aliases over the bound are refused, two under it run', async () => {
  // (first 1 + OTHERS + UNKNOWN_KEY) × 1,334 hours = 4,002 points each
  const three = await send(`{ ${['a', 'b', 'c'].map((a) => REPORT(a, 1334, 'CHANNEL', 1)).join(' ')} }`);
  expect(three.res.status).toBe(400);
  expect(three.res.errors?.[0].message).toMatch(/12006 points/);
  expect(three.statements).toBe(0);
  const two = await send(`{ ${['a', 'b'].map((a) => REPORT(a, 1334, 'CHANNEL', 1)).join(' ')} }`);
  expect(two.res.errors).toBeUndefined();
});

test('the largest reports allowed run, one bucket more is refused', async () => {
  // (1 + OTHERS + UNKNOWN_KEY) × 3,333 hours = 9,999; by team, with NO_TEAM too: 4 × 2,500 = 10,000
  for (const [groupBy, hours] of [['API_KEY', 3333], ['TEAM', 2500]] as const) {
    expect((await send(`{ ${REPORT('r', hours, groupBy, 1)} }`)).res.errors).toBeUndefined();
    expect((await send(`{ ${REPORT('r', hours + 1, groupBy, 1)} }`)).res.status).toBe(400);
  }
});

test('ApiKey.usage counts once per key of the page: 100 keys × 120 hours is refused, 50 × 120 runs', async () => {
  const page = (first: number) => `{ apiKeys(first: ${first}) { totalCount edges { node { usage(from: "${hoursBack(120)}", to: "${to.toISOString()}", granularity: HOUR) { total } } } } }`;
  const hundred = await send(page(100));
  expect(hundred.res.status).toBe(400);
  expect(hundred.res.errors?.[0].message).toMatch(/12000 points/);
  expect(hundred.statements).toBe(0);
  expect((await send(page(50))).res.errors).toBeUndefined();
});

test('fragments and variables are counted as written', async () => {
  const query = `query($from: DateTime!, $to: DateTime!, $n: Int) { ...R ... on Query { b: usage(filter: { from: $from, to: $to }, granularity: HOUR, first: $n) { total } } }
    fragment R on Query { a: usage(filter: { from: $from, to: $to }, granularity: HOUR, first: $n) { total } }`;
  const variables = { from: hoursBack(2000), to: to.toISOString(), n: 1 };
  // (1 + 2) × 2,000 each: 12,000 together
  const { res, statements } = await send(query, variables);
  expect(res.status).toBe(400);
  expect(statements).toBe(0);
  expect((await send(query, { ...variables, from: hoursBack(1500) })).res.errors).toBeUndefined();
});

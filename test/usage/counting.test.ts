import { generateSecret } from '../../src/modules/api-keys/secrets';
import { metricDelta } from '../helpers/metrics';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { eventually } from '../helpers/eventually';
import { verifyGraphQL, verifyRest } from '../verification/verify';
import { byLabel, usage, type Filter, type Report } from './report';

const HOUR = 3_600_000;
let server: TestServer;

// the default flush interval, so "shows within 2 seconds" is checked as configured out of the box
beforeAll(async () => { server = await startTestServer({ USAGE_FLUSH_INTERVAL_MS: '500' }); }, 120_000);
afterAll(async () => { await server.stop(); });

const window = (): Filter => ({ from: new Date(Date.now() - 2 * 24 * HOUR).toISOString(), to: new Date(Date.now() + 24 * HOUR).toISOString() });

async function waitForTotal(token: string, filter: Filter, total: number): Promise<number> {
  return eventually(async () => (await usage(server, token, filter)).total === total, 2000, 50);
}

interface Fixture {
  acme: SeededAccount;
  k1: string; k2: string; k3: string;
  alice: string; bob: string; core: string; edge: string;
}

/**
 * k1 (Prod, IDE, Alice, Core): 3 valid + 1 rejected; k2 (Prod, CI, Bob, Core+Edge): 2 valid;
 * k3 (ServiceNow, IDE, Alice, no team): 1 valid + 2 rejected; 2 rejected without a key.
 */
async function fixture(account: string): Promise<Fixture> {
  const acme = await seedAccount(server, account);
  const { prod, snow } = acme.instances;
  const { ide, ci } = acme.channels;
  const k1 = await acme.createKey({ channelId: ide.id, developer: { name: 'Alice' }, newTeamNames: ['Core'] });
  const k2 = await acme.createKey({ channelId: ci.id, developer: { name: 'Bob' }, newTeamNames: ['Core', 'Edge'] });
  const k3 = await acme.createKey({ instanceId: snow.id, channelId: ide.id, developer: { name: 'Alice' } });
  const info = await server.ok<{ a: { developer: { id: string }; teams: { id: string; name: string }[] }; b: { developer: { id: string }; teams: { id: string; name: string }[] } }>(
    acme.viewer, 'query($a: ID!, $b: ID!) { a: apiKey(id: $a) { developer { id } teams { id name } } b: apiKey(id: $b) { developer { id } teams { id name } } }',
    { a: k1.id, b: k2.id });
  const team = (name: string) => info.b.teams.find((t) => t.name === name)?.id as string;

  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < 3; i++) runs.push(verifyRest(server, acme.verifier, k1.secret, prod.id));
  runs.push(verifyGraphQL(server, acme.verifier, k1.secret, snow.id));
  for (let i = 0; i < 2; i++) runs.push(verifyGraphQL(server, acme.verifier, k2.secret));
  runs.push(verifyRest(server, acme.verifier, k3.secret));
  for (let i = 0; i < 2; i++) runs.push(verifyRest(server, acme.verifier, k3.secret, prod.id));
  runs.push(verifyRest(server, acme.verifier, generateSecret()));
  runs.push(verifyGraphQL(server, acme.verifier, 'qck_typo'));
  await Promise.all(runs);
  await waitForTotal(acme.viewer, window(), 11);
  return { acme, k1: k1.id, k2: k2.id, k3: k3.id, alice: info.a.developer.id, bob: info.b.developer.id, core: team('Core'), edge: team('Edge') };
}

let f: Fixture;
beforeAll(async () => { f = await fixture('acme'); }, 120_000);

test('N verifications in channel X and M in channel Y show as N and M, within 2 seconds', async () => {
  const acme = await seedAccount(server, 'counts');
  const ide = await acme.createKey({ channelId: acme.channels.ide.id });
  const ci = await acme.createKey({ channelId: acme.channels.ci.id });
  await Promise.all([
    ...Array.from({ length: 7 }, () => verifyRest(server, acme.verifier, ide.secret)),
    ...Array.from({ length: 4 }, () => verifyRest(server, acme.verifier, ci.secret)),
  ]);
  // fails unless the report shows them within 2 seconds of the last answer
  await waitForTotal(acme.viewer, window(), 11);
  const report = await usage(server, acme.viewer, window());
  expect(report.groupBy).toBe('CHANNEL');
  expect(byLabel(report)).toEqual({ IDE: [7, 7, 0], CI: [4, 4, 0] });
  expect(report.series.find((s) => s.label === 'IDE')?.key).toBe(acme.channels.ide.id);
});

test('the report splits valid from rejected and counts keyless rejections in the account total', async () => {
  const report = await usage(server, f.acme.viewer, window());
  expect(report.total).toBe(11);
  expect(byLabel(report)).toEqual({ IDE: [7, 4, 3], CI: [2, 2, 0], '(unknown key)': [2, 0, 2] });
});

test.each([
  ['INSTANCE', { 'Prod org': [6, 5, 1], 'ServiceNow dev': [3, 1, 2], '(unknown key)': [2, 0, 2] }],
  ['DEVELOPER', { Alice: [7, 4, 3], Bob: [2, 2, 0], '(unknown key)': [2, 0, 2] }],
  ['API_KEY', { 'key 1': [4, 3, 1], 'key 2': [2, 2, 0], 'key 3': [3, 1, 2], '(unknown key)': [2, 0, 2] }],
  ['CLOUD', { SALESFORCE: [6, 5, 1], SERVICENOW: [3, 1, 2], '(unknown key)': [2, 0, 2] }],
  // keys in no team apart from secrets that matched no key
  ['TEAM', { Core: [6, 5, 1], Edge: [2, 2, 0], '(no team)': [3, 1, 2], '(unknown key)': [2, 0, 2] }],
])('grouped by %s', async (groupBy, expected) => {
  const report = await usage(server, f.acme.viewer, window(), groupBy);
  expect(report.groupBy).toBe(groupBy);
  expect(byLabel(report)).toEqual(expected);
  // a key in two teams shows in both series but counts once in the total
  expect(report.total).toBe(11);
});

test('series carry the IDs of what they group by', async () => {
  const keys = (await usage(server, f.acme.viewer, window(), 'API_KEY')).series.map((s) => s.key).sort();
  expect(keys).toEqual([f.k1, f.k2, f.k3, 'none'].sort());
  const teams = (await usage(server, f.acme.viewer, window(), 'TEAM')).series.map((s) => [s.key, s.kind]);
  expect(teams).toEqual([[f.core, 'VALUE'], [f.edge, 'VALUE'], ['no-team', 'NO_TEAM'], ['none', 'UNKNOWN_KEY']]);
});

test('first keeps the busiest values, sums the rest in OTHERS, and seriesCount tells how many there were', async () => {
  const report = await usage(server, f.acme.viewer, window(), 'API_KEY', 'DAY', 1);
  expect(report.series.map((s) => [s.kind, s.label, s.total, s.valid, s.rejected])).toEqual([
    ['VALUE', 'key 1', 4, 3, 1],
    ['OTHERS', '(others)', 5, 3, 2],
    ['UNKNOWN_KEY', '(unknown key)', 2, 0, 2],
  ]);
  expect(report.series[1].key).toBe('others');
  expect(report.seriesCount).toBe(3);
  expect(report.total).toBe(11);
  // every bucket of OTHERS is the sum of the values it stands for
  const full = await usage(server, f.acme.viewer, window(), 'API_KEY', 'DAY', 10);
  const rest = full.series.filter((s) => s.kind === 'VALUE' && s.label !== 'key 1');
  expect(report.series[1].points.map((p) => p.total)).toEqual(rest[0].points.map((_p, i) => rest.reduce((n, s) => n + s.points[i].total, 0)));
  expect(full.series.some((s) => s.kind === 'OTHERS')).toBe(false);
});

test.each([[0], [101], [-1]])('first %d is BAD_USER_INPUT', async (first) => {
  const res = await server.gql(f.acme.viewer, 'query($f: UsageFilter!, $n: Int) { usage(filter: $f, first: $n) { total } }', { f: window(), n: first });
  expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
});

test.each<[string, (fx: Fixture) => Partial<Filter>, number]>([
  ['channelIds', (fx) => ({ channelIds: [fx.acme.channels.ci.id] }), 2],
  ['instanceIds', (fx) => ({ instanceIds: [fx.acme.instances.snow.id] }), 3],
  ['teamIds', (fx) => ({ teamIds: [fx.edge] }), 2],
  ['developerIds', (fx) => ({ developerIds: [fx.bob] }), 2],
  ['apiKeyIds', (fx) => ({ apiKeyIds: [fx.k1, fx.k3] }), 7],
  ['clouds', () => ({ clouds: ['SERVICENOW'] }), 3],
  ['channelIds and instanceIds together', (fx) => ({ channelIds: [fx.acme.channels.ide.id], instanceIds: [fx.acme.instances.prod.id] }), 4],
])('filtered by %s', async (_name, extra, total) => {
  const report = await usage(server, f.acme.viewer, { ...window(), ...extra(f) });
  expect(report.total).toBe(total);
  expect(report.series.reduce((n, s) => n + s.total, 0)).toBe(total);
});

test('a team filter grouped by team shows only the asked-for teams', async () => {
  const report = await usage(server, f.acme.viewer, { ...window(), teamIds: [f.core] }, 'TEAM');
  expect(byLabel(report)).toEqual({ Core: [6, 5, 1] });
  expect(report.total).toBe(6);
});

test('hourly buckets are zero-filled across the range', async () => {
  const now = Date.now();
  const from = new Date(Math.floor(now / HOUR) * HOUR - 5 * HOUR);
  const to = new Date(Math.floor(now / HOUR) * HOUR + HOUR);
  const report: Report = await usage(server, f.acme.viewer, { from: from.toISOString(), to: to.toISOString() }, 'CHANNEL', 'HOUR');
  for (const series of report.series) {
    expect(series.points.map((p) => Date.parse(p.start))).toEqual(Array.from({ length: 6 }, (_, i) => from.getTime() + i * HOUR));
    expect(series.points.slice(0, 4).every((p) => p.total === 0 && p.valid === 0 && p.rejected === 0)).toBe(true);
    expect(series.points.reduce((n, p) => n + p.total, 0)).toBe(series.total);
  }
});

test("another account's usage is invisible, and a verifier may not read usage", async () => {
  const other = await seedAccount(server, 'other');
  const report = await usage(server, other.viewer, window());
  expect(report).toMatchObject({ total: 0, series: [] });
  const filtered = await usage(server, other.viewer, { ...window(), apiKeyIds: [f.k1] });
  expect(filtered.total).toBe(0);
  const denied = await server.gql(f.acme.verifier, '{ usage(filter: { from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z" }) { total } }');
  expect(denied.errors?.[0].extensions?.code).toBe('FORBIDDEN');
});

test('a deleted key keeps its usage', async () => {
  const acme = await seedAccount(server, 'deleting');
  const key = await acme.createKey();
  await verifyRest(server, acme.verifier, key.secret);
  await waitForTotal(acme.viewer, window(), 1);
  await server.ok(acme.admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: key.id });
  await verifyRest(server, acme.verifier, key.secret);
  await waitForTotal(acme.viewer, window(), 2);
  expect(byLabel(await usage(server, acme.viewer, window(), 'API_KEY'))).toEqual({ 'key 1': [1, 1, 0], '(unknown key)': [1, 0, 1] });
});

test('a platform verifier counts under the key\'s account', async () => {
  const acme = await seedAccount(server, 'platformed');
  const key = await acme.createKey();
  const platform = await server.token({ account: null, roles: ['verifier'] });
  await verifyRest(server, platform, key.secret);
  await verifyRest(server, platform, key.secret, acme.instances.snow.id);
  await waitForTotal(acme.viewer, window(), 2);
  expect(byLabel(await usage(server, acme.viewer, window()))).toEqual({ IDE: [2, 1, 1] });
});

test('the range is validated', async () => {
  const res = await server.gql(f.acme.viewer, '{ usage(filter: { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z" }) { total } }');
  expect(res.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.to' });
});

describe('ApiKey.lastUsedAt and ApiKey.usage', () => {
  const PAGE = `query($first: Int!, $from: DateTime!, $to: DateTime!) {
    apiKeys(first: $first, orderBy: { field: NAME, direction: ASC }) {
      edges { node { name lastUsedAt usage(from: $from, to: $to, granularity: DAY) { key total valid rejected points { total } } } }
    }
  }`;
  type Page = { apiKeys: { edges: { node: { name: string; lastUsedAt: string | null; usage: { key: string; total: number; valid: number; rejected: number } } }[] } };

  test('show each key\'s last use and its own counts', async () => {
    const before = Date.now() - 60_000;
    const page = await server.ok<Page>(f.acme.viewer, PAGE, { first: 10, ...window() });
    const nodes = Object.fromEntries(page.apiKeys.edges.map((e) => [e.node.name, e.node]));
    expect(nodes['key 1'].usage).toMatchObject({ key: f.k1, total: 4, valid: 3, rejected: 1 });
    expect(nodes['key 2'].usage).toMatchObject({ key: f.k2, total: 2, valid: 2, rejected: 0 });
    expect(nodes['key 3'].usage).toMatchObject({ key: f.k3, total: 3, valid: 1, rejected: 2 });
    for (const node of Object.values(nodes)) {
      expect(Date.parse(node.lastUsedAt ?? '')).toBeGreaterThan(before);
      expect(Date.parse(node.lastUsedAt ?? '')).toBeLessThanOrEqual(Date.now());
    }
  });

  test('a key never verified has no last use and zero-filled usage', async () => {
    const acme = await seedAccount(server, 'unused');
    await acme.createKey();
    const page = await server.ok<Page>(acme.viewer, PAGE, { first: 10, ...window() });
    expect(page.apiKeys.edges[0].node.lastUsedAt).toBeNull();
    expect(page.apiKeys.edges[0].node.usage.total).toBe(0);
  });

  test('load for a whole page in a fixed number of statements', async () => {
    const acme = await seedAccount(server, 'paged');
    const keys = await Promise.all(Array.from({ length: 8 }, (_, i) => acme.createKey({ name: `paged ${i}` })));
    await Promise.all(keys.map((k) => verifyRest(server, acme.verifier, k.secret)));
    await waitForTotal(acme.viewer, window(), 8);
    const statements = (first: number) => metricDelta(server.baseUrl, 'qckeys_db_statements_total', { pool: 'requests' }, async () => {
      const page = await server.ok<Page>(acme.viewer, PAGE, { first, ...window() });
      expect(page.apiKeys.edges).toHaveLength(first);
      expect(page.apiKeys.edges.every((e) => e.node.usage.total === 1 && e.node.lastUsedAt !== null)).toBe(true);
    });
    // the page, and the usage of all its keys
    const two = await statements(2);
    expect(two).toBe(2);
    expect(await statements(8)).toBe(two);
  });
});

// Rejections by reason: every rejected verification is counted under the code it was answered
// with, on the report, on each series and on each point, through the HTTP server.
import { generateSecret } from '../../src/modules/api-keys/secrets';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { eventually } from '../helpers/eventually';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyGraphQL, verifyRest } from '../verification/verify';

const HOUR = 3_600_000;
let server: TestServer;
let acme: SeededAccount;

interface Rejections { expired: number; revoked: number; instanceMismatch: number; notFound: number; malformed: number; unrecorded: number }
interface Series { key: string; kind: string; label: string; total: number; rejected: number; rejections: Rejections; points: { rejected: number; rejections: Rejections }[] }
interface Report { total: number; rejections: Rejections; series: Series[] }

const REJECTIONS = 'rejections { expired revoked instanceMismatch notFound malformed unrecorded }';
const REPORT = `query($filter: UsageFilter!, $groupBy: UsageDimension!, $granularity: UsageGranularity!) {
  usage(filter: $filter, groupBy: $groupBy, granularity: $granularity) {
    total ${REJECTIONS} series { key kind label total rejected ${REJECTIONS} points { rejected ${REJECTIONS} } }
  }
}`;
const filter = () => ({ from: new Date(Date.now() - 24 * HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() });
const report = async (groupBy: string, granularity = 'DAY') =>
  (await server.ok<{ usage: Report }>(acme.viewer, REPORT, { filter: filter(), groupBy, granularity })).usage;
const none: Rejections = { expired: 0, revoked: 0, instanceMismatch: 0, notFound: 0, malformed: 0, unrecorded: 0 };
const reasons = (r: Partial<Rejections>): Rejections => ({ ...none, ...r });

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'reasons-co');
  const { prod, snow } = acme.instances;
  const { ide, ci } = acme.channels;
  // IDE: one valid key used from the wrong instance, one revoked key in two teams; CI: one expired key
  const good = await acme.createKey({ channelId: ide.id, newTeamNames: ['Core'] });
  const revoked = await acme.createKey({ channelId: ide.id, newTeamNames: ['Core', 'Edge'] });
  const expired = await acme.createKey({ channelId: ci.id });
  await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id, reason: "leaked" }) { apiKey { id } } }', { id: revoked.id });
  await server.knex('api_keys').where({ id: expired.id }).update({ expires_at: new Date(Date.now() - 1000) });

  const runs: Promise<unknown>[] = [];
  for (let i = 0; i < 3; i++) runs.push(verifyRest(server, acme.verifier, good.secret, prod.id)); // VALID
  runs.push(verifyGraphQL(server, acme.verifier, good.secret, snow.id)); // INSTANCE_MISMATCH
  for (let i = 0; i < 2; i++) runs.push(verifyRest(server, acme.verifier, revoked.secret)); // REVOKED
  runs.push(verifyGraphQL(server, acme.verifier, expired.secret)); // EXPIRED
  for (let i = 0; i < 2; i++) runs.push(verifyRest(server, acme.verifier, generateSecret())); // NOT_FOUND
  runs.push(verifyRest(server, acme.verifier, 'qck_typo')); // MALFORMED
  await Promise.all(runs);
  await eventually(async () => (await report('CHANNEL')).total === 10, 5000, 50);
}, 120_000);

afterAll(async () => { await server.stop(); });

test('the report splits its rejections by reason, and they add up to its rejected verifications', async () => {
  const r = await report('CHANNEL');
  expect(r.rejections).toEqual(reasons({ expired: 1, revoked: 2, instanceMismatch: 1, notFound: 2, malformed: 1 }));
  const bySeries = Object.fromEntries(r.series.map((s) => [s.label, [s.kind, s.rejected, s.rejections]]));
  expect(bySeries).toEqual({
    IDE: ['VALUE', 3, reasons({ revoked: 2, instanceMismatch: 1 })],
    CI: ['VALUE', 1, reasons({ expired: 1 })],
    '(unknown key)': ['UNKNOWN_KEY', 3, reasons({ notFound: 2, malformed: 1 })],
  });
});

test('each point splits its rejections too, and the points add up to their series', async () => {
  const r = await report('CHANNEL', 'HOUR');
  for (const s of r.series) {
    const summed = { ...none };
    for (const p of s.points) {
      const { expired, revoked, instanceMismatch, notFound, malformed, unrecorded } = p.rejections;
      expect(expired + revoked + instanceMismatch + notFound + malformed + unrecorded).toBe(p.rejected);
      for (const k of Object.keys(summed) as (keyof Rejections)[]) summed[k] += p.rejections[k];
    }
    expect(summed).toEqual(s.rejections);
  }
  expect(r.series.find((s) => s.label === 'IDE')?.points.filter((p) => p.rejected > 0)).toEqual([{ rejected: 3, rejections: reasons({ revoked: 2, instanceMismatch: 1 }) }]);
});

test('by team, a key in two teams counts in both series, and once in the report', async () => {
  const r = await report('TEAM');
  const bySeries = Object.fromEntries(r.series.map((s) => [s.label, s.rejections]));
  expect(bySeries).toEqual({
    Core: reasons({ revoked: 2, instanceMismatch: 1 }),
    Edge: reasons({ revoked: 2 }),
    '(no team)': reasons({ expired: 1 }),
    '(unknown key)': reasons({ notFound: 2, malformed: 1 }),
  });
  expect(r.rejections).toEqual(reasons({ expired: 1, revoked: 2, instanceMismatch: 1, notFound: 2, malformed: 1 }));
});

test('by channel over whole days the daily roll-up keeps the reasons as the hourly rows do', async () => {
  // two whole days before today: read from the daily roll-up, written by its triggers from the hourly rows
  const today = Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR;
  const day = new Date(today - 2 * 24 * HOUR);
  await server.knex.raw(
    `insert into usage_hourly (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected, revoked, not_found)
     values (?, ?, 'key_x', ?, 'ins_x', 'dev_x', 'SALESFORCE', '{}', 4, 3, 2, 0), (?, ?, '', '', '', '', '', '{}', 0, 1, 0, 1)`,
    [acme.account, day, acme.channels.ci.id, acme.account, new Date(day.getTime() + HOUR)]);
  const from = new Date(day.getTime() - 24 * HOUR).toISOString();
  const to = new Date(today).toISOString();
  const r = (await server.ok<{ usage: Report }>(acme.viewer, REPORT, { filter: { from, to }, groupBy: 'CHANNEL', granularity: 'DAY' })).usage;
  // the row written without a reason for one of its rejections shows it as unrecorded
  expect(Object.fromEntries(r.series.map((s) => [s.label, s.rejections]))).toEqual({
    CI: reasons({ revoked: 2, unrecorded: 1 }),
    '(unknown key)': reasons({ notFound: 1 }),
  });
  const daily = await server.knex('usage_daily_channels').where({ account_id: acme.account, day }).sum({ rejected: 'rejected', revoked: 'revoked', not_found: 'not_found' });
  expect(daily.map((d) => ({ rejected: Number(d.rejected), revoked: Number(d.revoked), not_found: Number(d.not_found) }))).toEqual([{ rejected: 4, revoked: 2, not_found: 1 }]);
});

// Reports by channel or cloud read a daily roll-up for whole days: they must add up to exactly
// what the hourly rows hold, however those rows were written, changed or pruned.
import type { UsageGranularity } from '../../src/generated/graphql';
import { startTestServer, type TestServer } from '../helpers/server';

const ACCOUNT = 'rollup-co';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface HourlyRow { hour: number; key: string; channel: string; cloud: string; valid: number; rejected: number }

let server: TestServer;
let viewer: string;
const rows: HourlyRow[] = [];
// a Sunday-to-Thursday span, so weeks split it
const start = Date.UTC(2026, 9, 25);

beforeAll(async () => {
  server = await startTestServer();
  viewer = await server.token({ account: ACCOUNT, roles: ['viewer'] });
  const channels = ['chn_A', 'chn_B', 'chn_C'];
  const clouds = ['SALESFORCE', 'M365'];
  for (let h = 0; h < 5 * 24; h += 5) {
    for (let k = 0; k < 4; k++) {
      rows.push({ hour: start + h * HOUR, key: `key_${k}`, channel: channels[(h + k) % 3], cloud: clouds[k % 2], valid: 1 + ((h * 7 + k) % 11), rejected: (h + k) % 3 });
    }
  }
  const insert = (list: HourlyRow[], shard: number) => server.knex.raw(
    `insert into usage_hourly as u (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, shard, valid, rejected)
     select ?, h, k, c, 'ins_1', 'dev_1', cl, '{}', ?, v, r from unnest(?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::int[], ?::int[]) as x(h, k, c, cl, v, r)
     on conflict (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, shard)
     do update set valid = u.valid + excluded.valid, rejected = u.rejected + excluded.rejected`,
    [ACCOUNT, shard, list.map((r) => new Date(r.hour).toISOString()), list.map((r) => r.key), list.map((r) => r.channel), list.map((r) => r.cloud),
      list.map((r) => r.valid), list.map((r) => r.rejected)],
  );
  await insert(rows, 3);
  // the same rows again, as another process's flush on the same shard adds them (ON CONFLICT … DO UPDATE)
  await insert(rows.slice(0, 40), 3);
  // and the same again, from a process on another shard (rows of their own, summed by reports)
  await insert(rows.slice(20, 60), 11);
  rows.forEach((r, i) => {
    const times = 1 + (i < 40 ? 1 : 0) + (i >= 20 && i < 60 ? 1 : 0);
    r.valid *= times;
    r.rejected *= times;
  });
  // pruning removes some hours altogether
  const pruned = rows.filter((r) => r.hour < start + 12 * HOUR);
  await server.knex('usage_hourly').where({ account_id: ACCOUNT }).where('hour', '<', new Date(start + 12 * HOUR)).delete();
  rows.splice(0, rows.length, ...rows.filter((r) => !pruned.includes(r)));
});

afterAll(async () => { await server.stop(); });

interface Series { key: string; total: number; valid: number; rejected: number; points: { start: string; valid: number; rejected: number }[] }

async function report(groupBy: 'CHANNEL' | 'CLOUD', granularity: UsageGranularity, from: number, to: number, channelIds: string[] | null) {
  const data = await server.ok<{ usage: { total: number; series: Series[] } }>(viewer,
    `query($f: UsageFilter!, $g: UsageDimension!, $u: UsageGranularity!) { usage(filter: $f, groupBy: $g, granularity: $u) {
      total series { key total valid rejected points { start valid rejected } } } }`,
    { f: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), channelIds }, g: groupBy, u: granularity });
  return data.usage;
}

/**
 * The start of the bucket a time falls in, written out for the span the rows cover (Sunday 25 to
 * Thursday 29 October 2026, UTC): weeks start on Mondays, so the Sunday is in the week of the 19th.
 */
function bucketOf(time: number, granularity: UsageGranularity): number {
  const day = Math.floor((time - start) / DAY);
  if (day < 0 || day > 4) throw new Error(`${new Date(time).toISOString()} is outside the rows' span`);
  if (granularity === 'HOUR') return Math.floor(time / HOUR) * HOUR;
  if (granularity === 'DAY') return start + day * DAY;
  if (granularity === 'WEEK') return day === 0 ? Date.UTC(2026, 9, 19) : Date.UTC(2026, 9, 26);
  return Date.UTC(2026, 9, 1);
}

function expected(groupBy: 'CHANNEL' | 'CLOUD', granularity: UsageGranularity, from: number, to: number, channelIds: string[] | null) {
  const first = bucketOf(from, granularity);
  const sums = new Map<string, Map<number, { valid: number; rejected: number }>>();
  for (const r of rows) {
    if (r.hour < first || r.hour >= to) continue;
    if (channelIds && !channelIds.includes(r.channel)) continue;
    const key = groupBy === 'CHANNEL' ? r.channel : r.cloud;
    const bucket = bucketOf(r.hour, granularity);
    const byBucket = sums.get(key) ?? new Map<number, { valid: number; rejected: number }>();
    const s = byBucket.get(bucket) ?? { valid: 0, rejected: 0 };
    s.valid += r.valid;
    s.rejected += r.rejected;
    byBucket.set(bucket, s);
    sums.set(key, byBucket);
  }
  return sums;
}

// every case names its channel filter (null: none), so jest passes no `done` callback in its place
const cases: [string, 'CHANNEL' | 'CLOUD', UsageGranularity, number, number, string[] | null][] = [
  ['whole days by channel', 'CHANNEL', 'DAY', start, start + 5 * DAY, null],
  ['partial first and last days by channel', 'CHANNEL', 'DAY', start + 7 * HOUR + 1234, start + 3 * DAY + 13 * HOUR + 5, null],
  ['weeks by cloud', 'CLOUD', 'WEEK', start + 3 * HOUR, start + 4 * DAY + 20 * HOUR, null],
  ['months by channel, two channels', 'CHANNEL', 'MONTH', start + 30 * HOUR, start + 5 * DAY, ['chn_A', 'chn_C']],
  ['within one day', 'CLOUD', 'DAY', start + DAY + 2 * HOUR, start + DAY + 9 * HOUR, null],
  // no row later on the last day: its daily row stands for it; then rows later that day: its hours
  ['last day up to after its last row', 'CHANNEL', 'DAY', start, start + 4 * DAY + 22 * HOUR, null],
  ['last day up to before a later row', 'CLOUD', 'WEEK', start, start + 4 * DAY + 17 * HOUR, null],
  ['hours (hourly rows only)', 'CHANNEL', 'HOUR', start + 11 * HOUR, start + 2 * DAY, null],
];

test.each(cases)('usage %s adds up to the hourly rows', async (_name, groupBy, granularity, from, to, channelIds) => {
  const got = await report(groupBy, granularity, from, to, channelIds);
  const want = expected(groupBy, granularity, from, to, channelIds);
  expect(got.series.map((s) => s.key).sort()).toEqual([...want.keys()].sort());
  let total = 0;
  for (const s of got.series) {
    const buckets = want.get(s.key) as Map<number, { valid: number; rejected: number }>;
    const nonZero = s.points.filter((p) => p.valid || p.rejected)
      .map((p) => [new Date(p.start).getTime(), { valid: p.valid, rejected: p.rejected }] as const);
    expect(new Map(nonZero)).toEqual(buckets);
    total += s.total;
  }
  expect(got.total).toBe(total);
});

test('the daily roll-up holds no empty rows after pruning', async () => {
  const { rows: empty } = await server.knex.raw(`select count(*)::int as n from usage_daily_channels where valid = 0 and rejected = 0`);
  expect((empty as { n: number }[])[0].n).toBe(0);
});

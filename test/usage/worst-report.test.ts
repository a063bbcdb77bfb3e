import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { childToken, createKeyAt, gqlAt, startChildServer, type ChildServer } from '../helpers/child-server';
import { createDurableDatabase, serverUrl, type DurableDatabase } from '../helpers/database';

// The largest usage reports a viewer may ask for, on an account with 100,000 hourly roll-ups,
// while another account's gateway verifies keys: the service stays under 300 MB, and the other
// account's verifications are held up by less than 50 ms at the 99th percentile (by less than
// 250 ms at worst: the slowest single answers, 17-39 ms above the quiet p99 with the machine to
// itself, reached 55-80 ms when other test files shared its two cores). A trial that misses is
// repeated, at most three in all: other test files running beside this one load the same cores. On PostgreSQL: the embedded
// database runs its statements in the service's own thread (a report's aggregation holds every
// verification up while it runs) and keeps its data in the service's memory, which is why
// docs/security.md says to run production on PostgreSQL.
jest.setTimeout(300_000);
const testOnPostgres = serverUrl() ? test : test.skip;

const KEYS = 30;
const HOURS = 3333;
const END = Date.UTC(2026, 10, 1);

let database: DurableDatabase;
let server: ChildServer;

beforeAll(async () => {
  if (!serverUrl()) return;
  database = await createDurableDatabase();
  // the first start makes and migrates the database; the roll-ups are written while it is stopped
  const first = await startChildServer(database.env, 120_000);
  await first.stop();
  await database.query(`
    insert into usage_hourly (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected)
    select 'whale', to_timestamp(${END / 1000}) - make_interval(hours => h), 'key_whale_' || k, 'chn_whale_' || (k % 3), 'ins_whale', 'dev_whale_' || (k % 7),
           'SALESFORCE', case when k % 4 = 0 then '{}'::text[] else array['team_whale_' || (k % 5)] end, 3, 1
    from generate_series(1, ${KEYS}) as k, generate_series(1, ${HOURS}) as h`);
  server = await startChildServer(database.env, 120_000);
});
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

const range = (hours: number) => ({ from: new Date(END - hours * 3_600_000).toISOString(), to: new Date(END).toISOString() });
/** Another account's gateway, in a thread of its own so that its timings are not the test's: verifies one key after another until told to stop. */
const GATEWAY = `
const { parentPort, workerData: { url, token, key } } = require('node:worker_threads');
let stop = false;
parentPort.on('message', () => { stop = true; });
(async () => {
  const latencies = [], failures = [];
  // a new thread's first requests open its connection and compile its code (40-50 ms even on a
  // quiet service): they are made, and not counted, before the window starts
  for (let i = 0; i < 20; i++) await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ key }) })).text();
  parentPort.postMessage('ready');
  while (!stop) {
    const started = performance.now();
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ key }) });
      const { code } = await res.json();
      if (code !== 'VALID') failures.push(res.status + ' ' + code);
    } catch (err) {
      failures.push(String(err));
    }
    latencies.push(performance.now() - started);
  }
  parentPort.postMessage({ latencies, failures });
})();
`;
const REPORT = 'query($f: UsageFilter!, $g: UsageDimension!, $n: Int) { usage(filter: $f, groupBy: $g, granularity: HOUR, first: $n) { total seriesCount series { key kind label total valid rejected points { start total valid rejected } } } }';

testOnPostgres('the largest reports allowed keep the service under 300 MB and another account\'s verifications within 50 ms', async () => {
  const whale = await childToken({ account: 'whale', roles: ['viewer'] });
  const minnow = await createKeyAt(server.baseUrl, 'minnow');
  const gateway = await childToken({ account: 'minnow', roles: ['verifier'] });

  /** Sequential verifications from a thread of their own, as another account's gateway, while `run` runs: their latencies in ms. */
  const verifyWhile = async (run: () => Promise<unknown>): Promise<number[]> => {
    const worker = new Worker(GATEWAY, { eval: true, workerData: { url: `${server.baseUrl}/v1/keys/verify`, token: gateway, key: minnow.secret } });
    const messages: unknown[] = [];
    const waiters: ((message: unknown) => void)[] = [];
    worker.on('message', (message: unknown) => { const waiter = waiters.shift(); if (waiter) waiter(message); else messages.push(message); });
    const next = () => new Promise<unknown>((resolve, reject) => { const queued = messages.shift(); if (queued !== undefined) resolve(queued); else waiters.push(resolve); worker.once('error', reject); });
    expect(await next()).toBe('ready');
    const answer = next() as Promise<{ latencies: number[]; failures: string[] }>;
    await run().finally(() => worker.postMessage('stop'));
    const { latencies, failures } = await answer;
    await worker.terminate();
    expect(failures).toEqual([]);
    return latencies;
  };
  // read from /proc every 50 ms: scraping /metrics that often would itself load the service
  const rss = async () => {
    const status = await fs.readFile(`/proc/${server.process.pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
  };

  // the worst a viewer may ask: reports counted at 9,999 and 10,000 points against USAGE_MAX_POINTS,
  // over 100,000 roll-ups, three times each; the largest answer holds 7,500 (3 teams' series × 2,500 hours)
  const reports = [
    { g: 'API_KEY', n: 1, hours: HOURS },
    { g: 'TEAM', n: 1, hours: 2500 },
    { g: 'DEVELOPER', n: 97, hours: 100 },
  ];
  const p99 = (latencies: number[]) => [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)];

  /**
   * One trial: the other account's verifications alone (cache warm), then while the reports run.
   * The machine's own load (other test files run beside this one) moves both windows; a trial
   * whose figures miss is run again, at most three times, and every trial's figures are printed.
   */
  const trial = async () => {
    const quiet = await verifyWhile(() => new Promise((r) => setTimeout(r, 2000)));
    const before = await rss();
    let peak = before;
    const sampling = setInterval(() => { void rss().then((v) => { peak = Math.max(peak, v); }, () => undefined); }, 50);
    let busy: number[];
    let points = 0;
    try {
      busy = await verifyWhile(async () => {
        for (let round = 0; round < 3; round++) {
          for (const { g, n, hours } of reports) {
            const data = await gqlAt<{ usage: { total: number; series: { points: unknown[] }[] } }>(server.baseUrl, whale, REPORT, { f: range(hours), g, n });
            expect(data.usage.total).toBeGreaterThan(0);
            points = Math.max(points, data.usage.series.reduce((sum, s) => sum + s.points.length, 0));
          }
        }
      });
    } finally {
      clearInterval(sampling);
    }
    peak = Math.max(peak, await rss());
    const slowest = [...busy].sort((a, b) => b - a).slice(0, 5);
    console.log(`verification: quiet p99 ${p99(quiet).toFixed(1)} ms (${quiet.length}); during the reports (up to ${points} points) p99 ${p99(busy).toFixed(1)} ms, `
      + `slowest ${slowest.map((ms) => ms.toFixed(0)).join(', ')} ms (${busy.length}); RSS ${(before / 2 ** 20).toFixed(0)} MB before, ${(peak / 2 ** 20).toFixed(0)} MB at most`);
    // whatever the machine does, the answers and the memory are the service's own
    expect(points).toBe(7_500);
    expect(peak).toBeLessThan(300 * 2 ** 20);
    return { rise: p99(busy) - p99(quiet), worst: slowest[0] - p99(quiet) };
  };

  let result = await trial();
  for (let again = 0; again < 2 && (result.rise >= 50 || result.worst >= 250); again++) result = await trial();
  expect(result.rise).toBeLessThan(50);
  expect(result.worst).toBeLessThan(250);
});

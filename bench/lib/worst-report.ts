// The largest usage reports a viewer may ask for, and another account's gateway verifying keys
// meanwhile: shared by `npm run bench:reports` (bench/reports.ts), which measures what they cost
// another account on a quiet machine, and test/usage/worst-report.test.ts, which holds them to
// looser bounds beside the other test files.
import { Worker } from 'node:worker_threads';

/** An account's hourly roll-ups: `keys` keys over `hours` hours up to `end`. */
export const ROLLUP_KEYS = 30;
export const ROLLUP_HOURS = 3333;
export const ROLLUP_END = Date.UTC(2026, 10, 1);

/** SQL that writes the roll-ups of account `whale` (100,000 rows), run while the service is stopped. */
export const WHALE_ROLLUPS = `
  insert into usage_hourly (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected)
  select 'whale', to_timestamp(${ROLLUP_END / 1000}) - make_interval(hours => h), 'key_whale_' || k, 'chn_whale_' || (k % 3), 'ins_whale', 'dev_whale_' || (k % 7),
         'SALESFORCE', case when k % 4 = 0 then '{}'::text[] else array['team_whale_' || (k % 5)] end, 3, 1
  from generate_series(1, ${ROLLUP_KEYS}) as k, generate_series(1, ${ROLLUP_HOURS}) as h`;

export const REPORT = 'query($f: UsageFilter!, $g: UsageDimension!, $n: Int) { usage(filter: $f, groupBy: $g, granularity: HOUR, first: $n) { total seriesCount series { key kind label total valid rejected points { start total valid rejected } } } }';

/**
 * The worst a viewer may ask: reports counted at 9,999 and 10,000 points against
 * USAGE_MAX_POINTS, over the 100,000 roll-ups; the largest answer holds 7,500 points (3 teams'
 * series × 2,500 hours).
 */
export const WORST_REPORTS = [
  { g: 'API_KEY', n: 1, hours: ROLLUP_HOURS },
  { g: 'TEAM', n: 1, hours: 2500 },
  { g: 'DEVELOPER', n: 97, hours: 100 },
] as const;
export const LARGEST_ANSWER_POINTS = 7_500;

/** The variables of one of WORST_REPORTS. */
export const reportVariables = (r: (typeof WORST_REPORTS)[number]) => ({
  f: { from: new Date(ROLLUP_END - r.hours * 3_600_000).toISOString(), to: new Date(ROLLUP_END).toISOString() }, g: r.g, n: r.n,
});

/** Another account's gateway, in a thread of its own so that its timings are not its parent's: verifies one key after another until told to stop. */
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

/** Sequential verifications of `key` at `baseUrl` from a thread of their own while `run` runs: their latencies in ms, and the answers that were not VALID. */
export async function verifyWhile(baseUrl: string, token: string, key: string, run: () => Promise<unknown>): Promise<{ latencies: number[]; failures: string[] }> {
  const worker = new Worker(GATEWAY, { eval: true, workerData: { url: `${baseUrl}/v1/keys/verify`, token, key } });
  const messages: unknown[] = [];
  const waiters: ((message: unknown) => void)[] = [];
  worker.on('message', (message: unknown) => { const waiter = waiters.shift(); if (waiter) waiter(message); else messages.push(message); });
  const next = () => new Promise<unknown>((resolve, reject) => { const queued = messages.shift(); if (queued !== undefined) resolve(queued); else waiters.push(resolve); worker.once('error', reject); });
  try {
    if ((await next()) !== 'ready') throw new Error('the gateway thread did not start');
    const answer = next() as Promise<{ latencies: number[]; failures: string[] }>;
    await run().finally(() => worker.postMessage('stop'));
    return await answer;
  } finally {
    await worker.terminate();
  }
}

export const p99 = (latencies: number[]) => [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)];

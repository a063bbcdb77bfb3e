import fs from 'node:fs/promises';
import { LARGEST_ANSWER_POINTS, p99, REPORT, reportVariables, verifyWhile, WHALE_ROLLUPS, WORST_REPORTS } from '../../bench/lib/worst-report';
import { childToken, createKeyAt, gqlAt, startChildServer, type ChildServer } from '../helpers/child-server';
import { createDurableDatabase, serverUrl, type DurableDatabase } from '../helpers/database';

// The largest usage reports a viewer may ask for, on an account with 100,000 hourly roll-ups,
// while another account's gateway verifies keys: the service stays under 300 MB, and the other
// account's verifications are held up by less than 50 ms at the 99th percentile (by less than
// 250 ms at worst: the slowest single answers reached 55-80 ms above the quiet p99 when other
// test files shared the two cores; `npm run bench:reports` measures them on a quiet machine
// against 50 ms). A trial that misses is repeated, at most three in all: other test files
// running beside this one load the same cores. On PostgreSQL: the embedded
// database runs its statements in the service's own thread (a report's aggregation holds every
// verification up while it runs) and keeps its data in the service's memory, which is why
// docs/security.md says to run production on PostgreSQL.
jest.setTimeout(300_000);
const testOnPostgres = serverUrl() ? test : test.skip;

let database: DurableDatabase;
let server: ChildServer;

beforeAll(async () => {
  if (!serverUrl()) return;
  database = await createDurableDatabase();
  // the first start makes and migrates the database; the roll-ups are written while it is stopped
  const first = await startChildServer(database.env, 120_000);
  await first.stop();
  await database.query(WHALE_ROLLUPS);
  server = await startChildServer(database.env, 120_000);
});
afterAll(async () => {
  await server?.stop();
  await database?.drop();
});

testOnPostgres('the largest reports allowed keep the service under 300 MB and another account\'s verifications within 50 ms', async () => {
  const whale = await childToken({ account: 'whale', roles: ['viewer'] });
  const minnow = await createKeyAt(server.baseUrl, 'minnow');
  const gateway = await childToken({ account: 'minnow', roles: ['verifier'] });

  /** The other account's verifications while `run` runs: their latencies in ms; every answer VALID. */
  const verifyWhileRunning = async (run: () => Promise<unknown>): Promise<number[]> => {
    const { latencies, failures } = await verifyWhile(server.baseUrl, gateway, minnow.secret, run);
    expect(failures).toEqual([]);
    return latencies;
  };
  // read from /proc every 50 ms: scraping /metrics that often would itself load the service
  const rss = async () => {
    const status = await fs.readFile(`/proc/${server.process.pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
  };

  /**
   * One trial: the other account's verifications alone (cache warm), then while the reports run.
   * The machine's own load (other test files run beside this one) moves both windows; a trial
   * whose figures miss is run again, at most three times, and every trial's figures are printed.
   */
  const trial = async () => {
    const quiet = await verifyWhileRunning(() => new Promise((r) => setTimeout(r, 2000)));
    const before = await rss();
    let peak = before;
    const sampling = setInterval(() => { void rss().then((v) => { peak = Math.max(peak, v); }, () => undefined); }, 50);
    let busy: number[];
    let points = 0;
    try {
      busy = await verifyWhileRunning(async () => {
        for (let round = 0; round < 3; round++) {
          for (const report of WORST_REPORTS) {
            const data = await gqlAt<{ usage: { total: number; series: { points: unknown[] }[] } }>(server.baseUrl, whale, REPORT, reportVariables(report));
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
    expect(points).toBe(LARGEST_ANSWER_POINTS);
    expect(peak).toBeLessThan(300 * 2 ** 20);
    return { rise: p99(busy) - p99(quiet), worst: slowest[0] - p99(quiet) };
  };

  let result = await trial();
  for (let again = 0; again < 2 && (result.rise >= 50 || result.worst >= 250); again++) result = await trial();
  expect(result.rise).toBeLessThan(50);
  expect(result.worst).toBeLessThan(250);
});

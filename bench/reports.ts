// npm run bench:reports: the largest usage reports a viewer may ask for (bench/lib/worst-report.ts),
// on an account with 100,000 hourly roll-ups, while another account's gateway verifies a key one
// request after another from a thread of its own. Per trial: the gateway's latencies alone, then
// while the reports run three times over; the delay of its slowest verification beside its own
// median and p99 alone in the same trial, and the service's peak RSS over the run; then the
// service's CPU per report with nothing else running. Targets: no
// verification held up by more than 50 ms, RSS ≤ 300 MB.
//
// It runs the built service (as `npm start` does) on a database of its own on 127.0.0.1, made
// afresh and dropped at the end: BENCH_REPORTS_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/qckeys_bench_reports). BENCH_TRIALS: trials (3).
import path from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/tokens';
import { createKeyWith, gqlAt } from './lib/api';
import { ensureBuilt } from './lib/build';
import { median } from './lib/load';
import { machine } from './lib/report';
import { startBenchServer } from './lib/server';
import { LARGEST_ANSWER_POINTS, p99, REPORT, reportVariables, verifyWhile, WHALE_ROLLUPS, WORST_REPORTS } from './lib/worst-report';

const ROOT = path.resolve(__dirname, '..');
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const DATABASE_URL = process.env.BENCH_REPORTS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/qckeys_bench_reports';
const TRIALS = Math.max(1, Number(process.env.BENCH_TRIALS ?? 3));
const QUIET_MS = 3000;
const CPU_RUNS = 10;
const DELAY_TARGET_MS = 50;
const RSS_TARGET_MB = 300;

/** Drops the database the URL names (when `create`, makes it again, empty), connecting to `postgres`. */
async function resetDatabase(url: string, create: boolean): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
    if (create) await client.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

const ms = (v: number) => v.toFixed(1);

async function main(): Promise<void> {
  const host = new URL(DATABASE_URL).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') throw new Error('the benchmarks run on 127.0.0.1 only');
  ensureBuilt(ROOT);
  await resetDatabase(DATABASE_URL, true);
  const env = { DATABASE_URL, JWT_SECRET, MIGRATE_ON_START: 'true', NODE_ENV: 'production' };
  try {
    // the first start migrates the database; the roll-ups are written while the service is stopped
    await (await startBenchServer(env)).stop();
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    const version = (await db.query<{ v: string }>('select version() as v')).rows[0].v;
    await db.query(WHALE_ROLLUPS);
    await db.query('vacuum analyze usage_hourly');
    await db.end();
    console.log(`machine: ${machine(version)}`);
    const server = await startBenchServer(env);
    try {
      const whale = await signToken({ secret: JWT_SECRET, account: 'whale', roles: ['viewer'], subject: 'bench', ttl: '1h' });
      const admin = await signToken({ secret: JWT_SECRET, account: 'minnow', roles: ['admin'], subject: 'bench', ttl: '1h' });
      const gateway = await signToken({ secret: JWT_SECRET, account: 'minnow', roles: ['verifier'], subject: 'gateway', ttl: '1h' });
      const key = await createKeyWith(server.baseUrl, admin);
      const lines: string[] = [];
      let worstDelay = 0;
      for (let trial = 1; trial <= TRIALS; trial++) {
        const quiet = await verifyWhile(server.baseUrl, gateway, key.secret, () => new Promise((r) => setTimeout(r, QUIET_MS)));
        const reportMs: number[] = [];
        let points = 0;
        const busy = await verifyWhile(server.baseUrl, gateway, key.secret, async () => {
          for (let round = 0; round < 3; round++) {
            for (const report of WORST_REPORTS) {
              const started = performance.now();
              const data = await gqlAt<{ usage: { series: { points: unknown[] }[] } }>(server.baseUrl, whale, REPORT, reportVariables(report));
              reportMs.push(performance.now() - started);
              points = Math.max(points, data.usage.series.reduce((sum, s) => sum + s.points.length, 0));
            }
          }
        });
        const failures = [...quiet.failures, ...busy.failures];
        if (failures.length) throw new Error(`verifications failed: ${failures.slice(0, 5).join(', ')}`);
        if (points !== LARGEST_ANSWER_POINTS) throw new Error(`the largest answer held ${points} points, not ${LARGEST_ANSWER_POINTS}`);
        const slowest = Math.max(...busy.latencies);
        const delay = slowest - median(quiet.latencies);
        worstDelay = Math.max(worstDelay, delay);
        lines.push(`| ${trial} | ${quiet.latencies.length} | ${ms(median(quiet.latencies))} | ${ms(p99(quiet.latencies))} | ${busy.latencies.length} | ${ms(median(busy.latencies))} | `
          + `${ms(p99(busy.latencies))} | ${ms(slowest)} | ${ms(delay)} | ${ms(median(reportMs))} / ${ms(Math.max(...reportMs))} |`);
      }
      // the service's own work per report, with nothing else running: its CPU over 10 runs of each
      const cpu: string[] = [];
      for (const report of WORST_REPORTS) {
        const before = (await server.stats()).cpuMs;
        let bytes = 0;
        for (let run = 0; run < CPU_RUNS; run++) bytes = JSON.stringify(await gqlAt(server.baseUrl, whale, REPORT, reportVariables(report))).length;
        cpu.push(`${report.g} (${(bytes / 1024).toFixed(0)} KB): ${ms(((await server.stats()).cpuMs - before) / CPU_RUNS)} ms`);
      }
      const peak = (await server.stats()).peakRssMb;
      console.log(`\nThe gateway's verifications alone, then while the ${WORST_REPORTS.length} largest reports run three times over (answers up to ${LARGEST_ANSWER_POINTS.toLocaleString('en-US')} points); ms:\n`);
      console.log('| trial | alone: n | p50 | p99 | during the reports: n | p50 | p99 | slowest | delay (slowest − p50 alone) | report p50 / slowest |');
      console.log('|---|---|---|---|---|---|---|---|---|---|');
      for (const line of lines) console.log(line);
      const met = (ok: boolean) => (ok ? 'met' : 'NOT MET');
      console.log(`\nthe service's CPU per report, alone: ${cpu.join('; ')}`);
      console.log(`\nworst delay ${ms(worstDelay)} ms (target ≤ ${DELAY_TARGET_MS} ms: ${met(worstDelay <= DELAY_TARGET_MS)}); `
        + `service's peak RSS ${peak.toFixed(0)} MB (target ≤ ${RSS_TARGET_MB} MB: ${met(peak <= RSS_TARGET_MB)})`);
    } finally {
      await server.stop();
    }
  } finally {
    await resetDatabase(DATABASE_URL, false);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

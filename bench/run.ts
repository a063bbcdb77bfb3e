// Benchmarks of the service against the seeded PostgreSQL database, on 127.0.0.1 only.
// npm run bench [-- list filter usage bulk verify startup]   (all by default)
// Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/qckeys_bench),
// BENCH_DURATION seconds per load run (10), BENCH_CONNECTIONS (16), BENCH_USAGE_CONNECTIONS (4).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/tokens';
import { ensureDatabase } from '../scripts/seed/database';
import { runLoad, percentile, type LoadResult } from './lib/load';
import { ensureBuilt } from './lib/build';
import { machine, renderTable, type Row } from './lib/report';
import { SERVER_NODE_FLAGS, startBenchServer, type BenchServer } from './lib/server';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/qckeys_bench';
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const SCENARIOS = ['list', 'filter', 'usage', 'bulk', 'verify', 'startup'] as const;
type Scenario = (typeof SCENARIOS)[number];

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DURATION = env('BENCH_DURATION', 10);
const CONNECTIONS = env('BENCH_CONNECTIONS', 16);
const USAGE_CONNECTIONS = env('BENCH_USAGE_CONNECTIONS', 4);
const ROOT = path.resolve(__dirname, '..');

const LIST_FIELDS = `edges { cursor node { id name hint status expiresAt lastUsedAt
  developer { id name } instance { id name cloud } channel { id name } teams { id name } } } pageInfo { hasNextPage endCursor }`;
const LIST = `query List($first: Int, $after: String, $filter: ApiKeyFilter, $orderBy: ApiKeyOrder) {
  apiKeys(first: $first, after: $after, filter: $filter, orderBy: $orderBy) { ${LIST_FIELDS} } }`;
const VIEWER = '{ viewer { accountId } }';
const USAGE = `query Usage($filter: UsageFilter!) { usage(filter: $filter, groupBy: CHANNEL, granularity: DAY) {
  total series { key label total valid rejected points { start total } } } }`;

interface Bench {
  server: BenchServer;
  db: pg.Pool;
  url: string;
  account: string;
  token: string;
  rows: Row[];
  /** Unfiltered first page, when measured in this run (the filters' baseline). */
  firstPage?: LoadResult;
}

const body = (query: string, variables: Record<string, unknown> = {}) => JSON.stringify({ query, variables });

async function gql<T>(b: Bench, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${b.server.baseUrl}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${b.token}` }, body: body(query, variables),
  });
  const json = (await res.json()) as { data?: T; errors?: unknown[] };
  if (json.errors?.length || !json.data) throw new Error(`GraphQL failed: ${JSON.stringify(json.errors)}`);
  return json.data;
}

/** Runs a load and measures the statements the server ran per request meanwhile. */
async function measure(b: Bench, bodies: string[], connections = CONNECTIONS): Promise<LoadResult & { statementsPerRequest: number; cpuMs: number }> {
  const before = await b.server.stats();
  const result = await runLoad({
    url: `${b.server.baseUrl}/graphql`, bodies, headers: { authorization: `Bearer ${b.token}` }, connections, durationSeconds: DURATION,
  });
  const after = await b.server.stats();
  if (result.failures || result.errors) throw new Error(`load had ${result.failures} failed responses and ${result.errors} errors`);
  const n = Math.max(1, result.requests);
  return { ...result, statementsPerRequest: (after.statements - before.statements) / n, cpuMs: (after.cpuMs - before.cpuMs) / n };
}

/**
 * Statements one request runs, the fewest of three tries (timers of the service, such as usage
 * pruning a minute after start, may run statements at the same time).
 */
async function statementsOf(b: Bench, query: string, variables: Record<string, unknown>): Promise<number> {
  let fewest = Infinity;
  for (let i = 0; i < 3; i++) {
    const before = await b.server.stats();
    await gql(b, query, variables);
    fewest = Math.min(fewest, (await b.server.stats()).statements - before.statements);
  }
  return fewest;
}

const ratio = (a: number, base: number) => (base > 0 ? `${(a / base).toFixed(2)}×` : '-');
const f1 = (v: number) => v.toFixed(1);

async function listScenario(b: Bench): Promise<void> {
  const peak = async () => (await b.server.stats()).peakRssMb;
  const viewer = await measure(b, [body(VIEWER)]);
  const page = await measure(b, [body(LIST, { first: 50 })]);
  b.firstPage = page;
  const s10 = await statementsOf(b, LIST, { first: 10 });
  const s50 = await statementsOf(b, LIST, { first: 50 });
  const s100 = await statementsOf(b, LIST, { first: 100 });
  b.rows.push({
    scenario: `baseline: { viewer { accountId } } (${CONNECTIONS} conns)`, rps: viewer.rps, p50: viewer.p50, p95: viewer.p95, p99: viewer.p99,
    statements: f1(viewer.statementsPerRequest), cpuMs: viewer.cpuMs, peakRssMb: await peak(), baseline: '-', ratio: '-', target: '-', met: null,
  });
  b.rows.push({
    scenario: `first page of 50 keys, 100k-key account (${CONNECTIONS} conns)`, rps: page.rps, p50: page.p50, p95: page.p95, p99: page.p99,
    statements: `${f1(page.statementsPerRequest)} (10/50/100 rows: ${s10}/${s50}/${s100})`, cpuMs: page.cpuMs, peakRssMb: await peak(),
    baseline: `viewer ${Math.round(viewer.rps)} req/s`, ratio: ratio(page.rps, viewer.rps),
    target: '>= 1,000 req/s, p95 <= 25 ms, fixed SQL', met: page.rps >= 1000 && page.p95 <= 25 && s10 === s50 && s50 === s100,
  });
}

async function filterScenario(b: Bench): Promise<void> {
  const base = b.firstPage ?? await measure(b, [body(LIST, { first: 50 })]);
  const { rows: [team] } = await b.db.query<{ id: string; n: number }>(
    `select kt.team_id as id, count(*)::int as n from api_key_teams kt join teams t on t.id = kt.team_id
     where t.account_id = $1 group by 1 order by 2 desc`, [b.account],
  ).then((r) => ({ rows: [r.rows[Math.floor(r.rows.length / 2)]] }));
  // the cursor after 5,000 rows, by walking the listing as a client would
  let after: string | null = null;
  for (let seen = 0; seen < 5000; seen += 100) {
    const data: { apiKeys: { pageInfo: { endCursor: string } } } = await gql(b, LIST, { first: 100, after });
    after = data.apiKeys.pageInfo.endCursor;
  }
  const variants: [string, Record<string, unknown>][] = [
    ['name search "ledger" (a word in 6% of the names)', { filter: { search: 'ledger' } }],
    ['name search "knowledge 331" (2 names)', { filter: { search: 'knowledge 331' } }],
    [`one team (median team, ${team?.n ?? 0} keys)`, { filter: { teamIds: team ? [team.id] : [] } }],
    ['status ACTIVE', { filter: { statuses: ['ACTIVE'] } }],
    ['sorted by EXPIRES_AT', { orderBy: { field: 'EXPIRES_AT', direction: 'ASC' } }],
    ['deep page (after 5,000 rows)', { after }],
  ];
  for (const [label, variables] of variants) {
    const r = await measure(b, [body(LIST, { first: 50, ...variables })]);
    b.rows.push({
      scenario: `filtered: ${label}`, rps: r.rps, p50: r.p50, p95: r.p95, p99: r.p99, statements: f1(r.statementsPerRequest), cpuMs: r.cpuMs,
      peakRssMb: (await b.server.stats()).peakRssMb, baseline: `first page p95 ${f1(base.p95)} ms`, ratio: ratio(r.p95, base.p95),
      target: 'p95 <= 25 ms', met: r.p95 <= 25,
    });
  }
}

async function usageScenario(b: Bench): Promise<void> {
  const to = new Date();
  const from = new Date(to.getTime() - 90 * 86_400_000);
  const variables = { filter: { from: from.toISOString(), to: to.toISOString() } };
  const report: { usage: { total: number } } = await gql(b, USAGE, variables);
  const r = await measure(b, [body(USAGE, variables)], USAGE_CONNECTIONS);
  // the same totals by a plain GROUP BY over the roll-ups, their indexes out of reach (sequential scan)
  const client = await b.db.connect();
  const times: number[] = [];
  let total = 0;
  try {
    await client.query('begin');
    await client.query('set local enable_indexscan = off; set local enable_bitmapscan = off; set local enable_indexonlyscan = off');
    const started = Date.now();
    while (times.length < 5 || (Date.now() - started < DURATION * 1000 && times.length < 50)) {
      const t = process.hrtime.bigint();
      const res = await client.query<{ channel_id: string; day: Date; n: number }>(
        `select channel_id, date_trunc('day', hour at time zone 'UTC') as day, sum(valid + rejected)::int as n
         from usage_hourly where account_id = $1 and hour >= $2 and hour < $3 group by 1, 2`,
        [b.account, new Date(Math.floor(from.getTime() / 86_400_000) * 86_400_000), to],
      );
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      total = res.rows.reduce((n, row) => n + row.n, 0);
    }
    await client.query('rollback');
  } finally {
    client.release();
  }
  const sorted = Float64Array.from(times).sort();
  const baseP95 = percentile(sorted, 95);
  b.rows.push({
    scenario: `usage by CHANNEL, DAY, 90 days, busiest account (${USAGE_CONNECTIONS} conns)`, rps: r.rps, p50: r.p50, p95: r.p95, p99: r.p99,
    statements: f1(r.statementsPerRequest), cpuMs: r.cpuMs, peakRssMb: (await b.server.stats()).peakRssMb,
    baseline: `GROUP BY, no index: p50 ${f1(percentile(sorted, 50))} / p95 ${f1(baseP95)} ms (1 conn)`, ratio: ratio(r.p95, baseP95),
    target: 'p95 <= 50 ms, same totals', met: r.p95 <= 50 && total === report.usage.total,
    note: `report total ${report.usage.total.toLocaleString('en-US')}, GROUP BY total ${total.toLocaleString('en-US')}`,
  });
}

async function bulkScenario(b: Bench): Promise<void> {
  // the 10,000 live keys that expire first: `expiresBefore` the 10,001st
  const { rows } = await b.db.query<{ expires_at: Date }>(
    `select expires_at from api_keys where account_id = $1 and deleted_at is null order by expires_at offset 10000 limit 1`, [b.account],
  );
  if (!rows[0]) throw new Error('the busiest account has fewer than 10,001 keys');
  const filter = { expiresBefore: rows[0].expires_at.toISOString() };
  const teamName = `bench bulk ${Date.now().toString(36)}`;
  const mutation = `mutation($input: UpdateApiKeyTeamsInput!) { updateApiKeyTeams(input: $input) { updatedCount apiKeys { id } } }`;
  const timed = async (input: Record<string, unknown>) => {
    const before = await b.server.stats();
    const t = process.hrtime.bigint();
    const data: { updateApiKeyTeams: { updatedCount: number } } = await gql(b, mutation, { input });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    return { ms, count: data.updateApiKeyTeams.updatedCount, statements: (await b.server.stats()).statements - before.statements };
  };
  const add = await timed({ filter, addNewTeamNames: [teamName] });
  const { rows: [team] } = await b.db.query<{ id: string }>('select id from teams where account_id = $1 and name = $2', [b.account, teamName]);
  const events = await b.db.query<{ n: number; instants: number }>(
    `select count(*)::int as n, count(distinct at)::int as instants from api_key_events
     where account_id = $1 and type = 'TEAMS_CHANGED' and changes->'teams'->'to' ? $2`, [b.account, teamName],
  );
  const remove = await timed({ filter, removeTeamIds: [team.id] });
  await b.db.query('delete from teams where id = $1', [team.id]);
  const { n, instants } = events.rows[0];
  const oneTransaction = instants === 1;
  for (const [label, r] of [['add a new team', add], ['remove that team', remove]] as const) {
    b.rows.push({
      scenario: `updateApiKeyTeams by filter over 10,000 keys: ${label}`, rps: null, p50: r.ms, p95: null, p99: null,
      statements: String(r.statements), peakRssMb: (await b.server.stats()).peakRssMb, baseline: '-', ratio: '-',
      target: '<= 2 s, one transaction, one event per key',
      met: r.ms <= 2000 && r.count === 10_000 && (label !== 'add a new team' || (n === 10_000 && oneTransaction)),
      note: label === 'add a new team'
        ? `${r.count.toLocaleString('en-US')} keys changed, ${n.toLocaleString('en-US')} TEAMS_CHANGED events, all at ${instants} instant(s) (one transaction)`
        : undefined,
    });
  }
}

/**
 * The verification bench is bench/verify.ts (its own servers: the service and a bare
 * `http.createServer`); it runs as a child process on the same database and its figures are
 * read back from its output.
 */
async function verifyScenario(b: { url: string; rows: Row[] }): Promise<void> {
  const script = path.join(ROOT, 'bench', 'verify.ts');
  const target = '>= 60% of bare node http, p99 <= 5 ms at 50 conns';
  if (!fs.existsSync(script)) {
    b.rows.push({
      scenario: 'REST verification, warm cache', rps: null, p50: null, p95: null, p99: null, statements: '-', peakRssMb: null,
      baseline: '-', ratio: '-', target, met: null, note: 'bench/verify.ts is not in this checkout',
    });
    return;
  }
  // BENCH_CONNECTIONS is this suite's (16); verify.ts has its own default (50)
  const inherited = { ...process.env };
  delete inherited.BENCH_CONNECTIONS;
  const output = await new Promise<string>((resolve) => {
    let text = '';
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT, env: { ...inherited, BENCH_DATABASE_URL: b.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
    child.on('exit', (code) => resolve(`${text}\n(exit ${code})`));
  });
  const figures = (label: string) => {
    // requests, req/s, p50 ms, p99 ms, server CPU µs/req ("NaN" where /proc is missing)
    const m = new RegExp(`^${label}\\s+([\\d,]+)\\s+([\\d,.]+)\\s+([\\d,.]+)\\s+([\\d,.]+)\\s+([\\d,.]+|NaN)`, 'm').exec(output);
    const value = (text: string) => Number(text.replace(/,/g, ''));
    return m ? { rps: value(m[2]), p50: value(m[3]), p99: value(m[4]), cpuMs: value(m[5]) / 1000 } : null;
  };
  const bare = figures('bare http\\.createServer');
  const verify = figures('POST /v1/keys/verify');
  if (!bare || !verify) {
    b.rows.push({
      scenario: 'REST verification, warm cache (bench/verify.ts)', rps: null, p50: null, p95: null, p99: null, statements: '-', peakRssMb: null,
      baseline: '-', ratio: '-', target, met: null, note: `could not read its figures; its output:\n${output.trim().split('\n').map((l) => `    ${l}`).join('\n')}`,
    });
    return;
  }
  const verdicts = output.split('\n').filter((l) => /^(PASS|FAIL) /.test(l));
  b.rows.push({
    scenario: 'baseline: bare http.createServer, fixed JSON (50 conns)', rps: bare.rps, p50: bare.p50, p95: null, p99: bare.p99, statements: '-', cpuMs: bare.cpuMs,
    peakRssMb: null, baseline: '-', ratio: '-', target: '-', met: null,
  });
  b.rows.push({
    scenario: 'REST verification, warm cache (50 conns, bench/verify.ts)', rps: verify.rps, p50: verify.p50, p95: null, p99: verify.p99, statements: '-', cpuMs: verify.cpuMs,
    peakRssMb: null, baseline: `bare ${Math.round(bare.rps)} req/s`, ratio: ratio(verify.rps, bare.rps), target,
    met: verdicts.length > 0 && verdicts.every((l) => l.startsWith('PASS')), note: verdicts.join('; '),
  });
}

async function timeToReady(dataDir: string): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, path.join(ROOT, 'dist', 'src', 'server.js')], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'development', JWT_SECRET },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /GraphQL at (http:\/\/\S+)\/graphql/.exec(out);
        if (m) resolve(m[1].replace('localhost', '127.0.0.1'));
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before it listened`)));
    });
    for (;;) {
      const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) return Number(process.hrtime.bigint() - started) / 1e6;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

async function startupScenario(b: { rows: Row[] }): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-startup-'));
  try {
    const cold = await timeToReady(dir);
    const warm = await timeToReady(dir);
    for (const [label, msToReady] of [['fresh data directory (a copy of the build\'s template)', cold], ['existing data directory', warm]] as const) {
      b.rows.push({
        scenario: `start on the embedded database to /readyz 200: ${label}`, rps: null, p50: msToReady, p95: null, p99: null, statements: '-',
        peakRssMb: null, baseline: '-', ratio: '-', target: '<= 3 s after build', met: msToReady <= 3000,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !SCENARIOS.includes(a as Scenario));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  const scenarios = new Set<Scenario>(asked.length ? (asked as Scenario[]) : SCENARIOS);
  ensureBuilt(ROOT);
  const rows: Row[] = [];
  const url = process.env.DATABASE_URL || DEFAULT_URL;
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('the benchmarks run on PostgreSQL: DATABASE_URL=postgres://…');
  if (new URL(url).hostname !== '127.0.0.1' && new URL(url).hostname !== 'localhost') throw new Error('the benchmarks run on 127.0.0.1 only');
  const needsData = [...scenarios].some((s) => s !== 'startup' && s !== 'verify');
  if (scenarios.has('verify')) await ensureDatabase(url);
  let version = '';
  if (needsData) {
    await ensureDatabase(url);
    const db = new pg.Pool({ connectionString: url, max: 2 });
    try {
      version = (await db.query<{ v: string }>('select version() as v')).rows[0].v;
      const top = await db.query<{ account_id: string; n: number }>(
        `select account_id, count(*)::int as n from api_keys where deleted_at is null group by 1 order by 2 desc limit 1`,
      ).catch(() => ({ rows: [] as { account_id: string; n: number }[] }));
      if (!top.rows[0]) {
        throw new Error(`no keys in ${url}; seed it first: DATABASE_URL=${url} npm run seed -- --secrets-out bench/secrets.json`);
      }
      const account = top.rows[0].account_id;
      console.log(`benchmarking ${url.replace(/\/\/[^@/]*@/, '//')}: busiest account ${account} (${top.rows[0].n.toLocaleString('en-US')} keys), `
        + `${DURATION} s per run`);
      // as deployed: NODE_ENV=production (graphql-js skips its development-time checks), request logs off
      const server = await startBenchServer({ DATABASE_URL: url, JWT_SECRET, MIGRATE_ON_START: 'true', NODE_ENV: 'production', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
      const token = await signToken({ secret: JWT_SECRET, account, roles: ['admin'], subject: 'bench', ttl: '4h' });
      const bench: Bench = { server, db, url, account, token, rows };
      try {
        if (scenarios.has('list')) await listScenario(bench);
        if (scenarios.has('filter')) await filterScenario(bench);
        if (scenarios.has('usage')) await usageScenario(bench);
        if (scenarios.has('bulk')) await bulkScenario(bench);
        const peak = (await server.stats()).peakRssMb;
        rows.push({
          scenario: 'whole server process under the runs above', rps: null, p50: null, p95: null, p99: null, statements: '-',
          peakRssMb: peak, baseline: '-', ratio: '-', target: 'peak RSS <= 300 MB', met: peak <= 300,
        });
      } finally {
        await server.stop();
      }
    } finally {
      await db.end();
    }
  }
  if (scenarios.has('verify')) await verifyScenario({ url, rows });
  if (scenarios.has('startup')) await startupScenario({ rows });
  if (!version) {
    const c = new pg.Client({ connectionString: url });
    version = await c.connect().then(() => c.query<{ v: string }>('select version() as v')).then((r) => r.rows[0].v, () => 'PostgreSQL (not reachable)');
    await c.end().catch(() => undefined);
  }
  console.log(`\n${renderTable(rows)}\n\nmachine: ${machine(version)}`);
  if (rows.some((r) => r.met === false)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});

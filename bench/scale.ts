// Scale-out on one machine: the same listing and verification load on 1 and 3 service processes,
// straight to PostgreSQL or through PgBouncer (transaction pooling), on the primary alone or with a
// streaming replica taking the queries; then 8 processes flushing usage of the same keys at once.
// Figures are ratios to the first configuration measured in the same run, and the CPU the
// primary (and the replica) spent per request, read from /proc for their server processes.
//
// npm run bench:scale [-- processes | flush]   both by default (also `npm run bench`, group scale)
// Needs root on the machine of the primary (127.0.0.1:5432): it brings up scripts/pg-rig.sh (a
// replica on 5433, PgBouncer on 6432) when it does not run, and takes it down again afterwards.
// Environment:
//   BENCH_DATABASE_URL or DATABASE_URL  the seeded database (default postgres://postgres@127.0.0.1:5432/qckeys_bench)
//   BENCH_DURATION           seconds of each load (6)
//   BENCH_SCALE_CONNECTIONS  connections of each load, spread over the processes (16)
//   BENCH_SECRETS            the seed's --secrets-out file (default data/bench-secrets.json)
//   BENCH_RESULTS            folder of the Markdown and JSON results (bench/results, git-ignored)
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/tokens';
import { ensureBuilt } from './lib/build';
import { bodyOf, clientOperations } from './lib/documents';
import { percentile, runLoad, type LoadResult } from './lib/load';
import { machine } from './lib/report';
import { startBenchServer, type BenchServer } from './lib/server';

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/qckeys_bench';
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const DURATION = Number(process.env.BENCH_DURATION ?? 6);
const CONNECTIONS = Number(process.env.BENCH_SCALE_CONNECTIONS ?? 16);
const RESULTS = process.env.BENCH_RESULTS ? path.resolve(process.env.BENCH_RESULTS) : path.join(ROOT, 'bench', 'results');
const RIG = path.join(ROOT, 'scripts', 'pg-rig.sh');
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const sh = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile('bash', [RIG, ...args], { timeout: 600_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
    resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
  });
});

const withDatabase = (url: string, name: string) => {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
};

// ---- CPU of a PostgreSQL server (postmaster and its children) or of one process, from /proc ----

function statFields(pid: number): string[] | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command (field 2) is in parentheses and may hold spaces
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // exited
  }
}

/** CPU seconds of a process, with its exited children's (`children`) or without. */
function cpuSeconds(pid: number, children: boolean): number {
  const f = statFields(pid);
  if (!f) return 0;
  // after the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return ticks / TICKS_PER_SECOND;
}

/** CPU seconds of a PostgreSQL server so far: the postmaster, the backends that exited, the live ones. */
function serverCpu(postmaster: number): number {
  let total = cpuSeconds(postmaster, true);
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) total += cpuSeconds(Number(entry), false);
  }
  return total;
}

async function postmasterOf(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ dir: string }>('select current_setting(\'data_directory\') as dir');
    return Number(fs.readFileSync(path.join(rows[0].dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  } finally {
    await client.end();
  }
}

// ---- load spread over several processes ----

/** One load over every process at once, `connections` spread over them; rates add up. */
async function spread(servers: BenchServer[], route: string, bodies: string[], token: string, seconds: number, graphql: boolean): Promise<LoadResult> {
  const share = (i: number) => Math.floor(CONNECTIONS / servers.length) + (i < CONNECTIONS % servers.length ? 1 : 0);
  const runs = await Promise.all(servers.map((s, i) => runLoad({
    url: `${s.baseUrl}${route}`, bodies, headers: { authorization: `Bearer ${token}` }, connections: share(i), durationSeconds: seconds, checkGraphqlErrors: graphql,
  })));
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of runs) { all.set(r.latencies, at); at += r.latencies.length; }
  all.sort();
  const wall = Math.max(...runs.map((r) => r.seconds));
  const sum = (of: (r: LoadResult) => number) => runs.reduce((n, r) => n + of(r), 0);
  return {
    requests: all.length, rps: all.length / wall, seconds: wall, latencies: all,
    p50: percentile(all, 50), p95: percentile(all, 95), p975: percentile(all, 97.5), p99: percentile(all, 99),
    errors: sum((r) => r.errors), non2xx: sum((r) => r.non2xx), graphqlErrors: sum((r) => r.graphqlErrors),
  };
}

interface Measured { load: LoadResult; primaryMsPerRequest: number; replicaMsPerRequest: number | null; poolerMsPerRequest: number | null }

interface Servers { primary: number; replica: number; pooler: number }

/** Runs a load and reads the CPU the primary, the replica and PgBouncer spent on it. */
async function measured(pids: Servers, run: () => Promise<LoadResult>, replica: boolean, pooled: boolean): Promise<Measured> {
  const before = { primary: serverCpu(pids.primary), replica: serverCpu(pids.replica), pooler: cpuSeconds(pids.pooler, false) };
  const load = await run();
  const per = (seconds: number) => (seconds * 1000) / Math.max(1, load.requests);
  return {
    load,
    primaryMsPerRequest: per(serverCpu(pids.primary) - before.primary),
    replicaMsPerRequest: replica ? per(serverCpu(pids.replica) - before.replica) : null,
    poolerMsPerRequest: pooled ? per(cpuSeconds(pids.pooler, false) - before.pooler) : null,
  };
}

interface Configuration { name: string; processes: number; pooled: boolean; replica: boolean; prepared: boolean }

const CONFIGURATIONS: Configuration[] = [
  { name: '1 process, direct, primary only', processes: 1, pooled: false, replica: false, prepared: true },
  { name: '1 process, direct, primary only, no prepared statements', processes: 1, pooled: false, replica: false, prepared: false },
  { name: '3 processes, direct, primary only', processes: 3, pooled: false, replica: false, prepared: true },
  { name: '3 processes, through PgBouncer (transaction pooling, no prepared statements)', processes: 3, pooled: true, replica: false, prepared: false },
  { name: '3 processes, direct, primary + replica', processes: 3, pooled: false, replica: true, prepared: true },
];

interface Secret { accountId: string; keyId: string; secret: string; status: string; instanceId: string }

async function main(): Promise<void> {
  const url = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_URL;
  const parsed = new URL(url);
  if (parsed.hostname !== '127.0.0.1' && parsed.hostname !== 'localhost') throw new Error('the benchmarks run on 127.0.0.1 only');
  const database = parsed.pathname.slice(1);
  ensureBuilt(ROOT);

  const admin = new pg.Pool({ connectionString: url, max: 2 });
  const top = (await admin.query<{ account_id: string; n: number }>(
    'select account_id, count(*)::int as n from api_keys where deleted_at is null group by 1 order by 2 desc limit 1')).rows[0];
  if (!top) throw new Error(`no keys in ${url}: seed it first (npm run seed -- --secrets-out data/bench-secrets.json)`);
  const account = top.account_id;
  const file = process.env.BENCH_SECRETS ? path.resolve(process.env.BENCH_SECRETS) : path.join(ROOT, 'data', 'bench-secrets.json');
  if (!fs.existsSync(file)) throw new Error(`no secrets in ${file}: seed with --secrets-out`);
  const secrets = (JSON.parse(fs.readFileSync(file, 'utf8')) as Secret[] | { secrets: Secret[] });
  const candidates = (Array.isArray(secrets) ? secrets : secrets.secrets).filter((s) => s.status === 'ACTIVE' && s.accountId === account).slice(0, 200);
  const live = new Set((await admin.query<{ id: string }>(
    'select id from api_keys where id = any($1) and deleted_at is null and revoked_at is null and expires_at > now()', [candidates.map((s) => s.keyId)])).rows.map((r) => r.id));
  const keys = candidates.filter((s) => live.has(s.keyId));
  if (keys.length === 0) throw new Error(`no active seeded key of ${account} in ${file}`);
  const version = (await admin.query<{ v: string }>('select version() as v')).rows[0].v;
  await admin.end();

  const asked = process.argv.slice(2);
  const unknown = asked.filter((a) => a !== 'processes' && a !== 'flush');
  if (unknown.length) throw new Error(`unknown part ${unknown.join(', ')}; choose from processes, flush`);
  const parts = new Set(asked.length ? asked : ['processes', 'flush']);
  const wasUp = (await sh(['status'])).code === 0;
  const up = await sh(['up']);
  if (up.code !== 0) throw new Error(`scripts/pg-rig.sh up failed:\n${up.stderr}${up.stdout}`);
  const rig = Object.fromEntries(up.stdout.split('\n').filter((l) => l.startsWith('PG_RIG_')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const replicaUrl = withDatabase(rig.PG_RIG_REPLICA_URL, database);
  const poolerUrl = withDatabase(rig.PG_RIG_BOUNCER_URL, database);
  const pids: Servers = {
    primary: await postmasterOf(url),
    replica: await postmasterOf(replicaUrl),
    pooler: Number(fs.readFileSync(path.join(process.env.PG_RIG_DIR ?? '/tmp/qckeys-pg-rig', 'pgbouncer.pid'), 'utf8').trim()),
  };

  const listing = clientOperations(ROOT).find((o) => o.name === 'ApiKeys');
  if (!listing) throw new Error('client/operations has no ApiKeys');
  const listingBody = bodyOf(listing, { first: 50 });
  const verifyBodies = keys.map((s) => JSON.stringify({ key: s.secret, instanceId: s.instanceId }));
  // a viewer (who never writes, so read-your-writes never holds its reads on the primary) and a gateway
  const viewer = await signToken({ secret: JWT_SECRET, account, roles: ['viewer'], subject: 'bench-viewer', ttl: '4h' });
  const gateway = await signToken({ secret: JWT_SECRET, account, roles: ['verifier'], subject: 'bench-gateway', ttl: '4h' });

  const lines: string[] = [];
  const say = (line: string) => { lines.push(line); console.log(line); };
  say(`machine: ${machine(version)}`);
  say(`data: ${database}, busiest account ${account} with ${top.n.toLocaleString('en-US')} keys; ${keys.length} seeded secrets verified in turn`);
  say(`each load: ${DURATION} s, ${CONNECTIONS} connections spread over the processes; listing = client/operations ApiKeys (first 50, totalCount) as a viewer; verification = POST /v1/keys/verify`);
  say('CPU per request: CPU seconds of the server\'s processes (postmaster and backends, from /proc) over the successful answers of the load');

  interface Result { config: Configuration; listing: Measured; verification: Measured }
  const results: Result[] = [];
  try {
    for (const config of parts.has('processes') ? CONFIGURATIONS : []) {
      const env = {
        DATABASE_URL: config.pooled ? poolerUrl : url, JWT_SECRET, NODE_ENV: 'production', LOG_LEVEL: 'warn',
        DB_PREPARED_STATEMENTS: String(config.prepared),
        ...config.pooled && { DATABASE_LISTEN_URL: url },
        ...config.replica && { DATABASE_REPLICA_URL: replicaUrl },
      };
      const servers: BenchServer[] = [];
      try {
        for (let i = 0; i < config.processes; i++) servers.push(await startBenchServer({ ...env, MIGRATE_ON_START: i === 0 ? 'true' : 'false' }));
        // warm: JIT, caches, connections
        await spread(servers, '/graphql', [listingBody], viewer, 2, true);
        await spread(servers, '/v1/keys/verify', verifyBodies, gateway, 1, false);
        const listed = await measured(pids, () => spread(servers, '/graphql', [listingBody], viewer, DURATION, true), config.replica, config.pooled);
        const verified = await measured(pids, () => spread(servers, '/v1/keys/verify', verifyBodies, gateway, DURATION, false), config.replica, config.pooled);
        results.push({ config, listing: listed, verification: verified });
        console.log(`${config.name}: listing ${Math.round(listed.load.rps)} req/s, verification ${Math.round(verified.load.rps)} req/s`);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    }
    const flush = parts.has('flush') ? await flushers(url, pids.primary, account, verifyBodies, gateway, keys.map((k) => k.keyId)) : '';

    const base = results[0] as Result | undefined;
    const ms = (v: number | null) => (v === null ? '-' : v.toFixed(2));
    const failures = (m: Measured) => m.load.non2xx + m.load.errors + m.load.graphqlErrors;
    const table = [
      '| configuration | listing req/s | × 1 process | listing p97.5 ms | primary CPU ms / listing | replica CPU ms / listing | verification req/s | × 1 process | verification p97.5 ms | primary CPU ms / verification | PgBouncer CPU ms / request | failed |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...results.map((r) => `| ${r.config.name} | ${Math.round(r.listing.load.rps)} | ${(r.listing.load.rps / base!.listing.load.rps).toFixed(2)}× | ${r.listing.load.p975.toFixed(1)} `
        + `| ${ms(r.listing.primaryMsPerRequest)} | ${ms(r.listing.replicaMsPerRequest)} | ${Math.round(r.verification.load.rps)} | ${(r.verification.load.rps / base!.verification.load.rps).toFixed(2)}× `
        + `| ${r.verification.load.p975.toFixed(2)} | ${ms(r.verification.primaryMsPerRequest)} | ${r.listing.poolerMsPerRequest === null ? '-' : `${ms(r.listing.poolerMsPerRequest)} / ${ms(r.verification.poolerMsPerRequest)}`} `
        + `| ${failures(r.listing) + failures(r.verification)} |`),
    ].join('\n');
    const [one, five] = os.loadavg();
    say(`load average at the end: ${one.toFixed(1)} / ${five.toFixed(1)} (1 / 5 min)`);
    const tables = [base ? table : '', flush].filter(Boolean).join('\n\n');
    console.log(`\n${tables}\n`);
    fs.mkdirSync(RESULTS, { recursive: true });
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
    const out = path.join(RESULTS, `scale-${stamp}.md`);
    fs.writeFileSync(out, `# qckeys scale-out, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC\n\n${lines.map((l) => `- ${l}`).join('\n')}\n\n${tables}\n`);
    console.log(`written to ${path.relative(process.cwd(), out)}`);
    if (results.some((r) => failures(r.listing) + failures(r.verification) > 0)) process.exitCode = 1;
  } finally {
    if (!wasUp) await sh(['down']);
  }
}

/**
 * Write amplification and lock queues: 8 processes verify the same keys at once and flush their
 * counts every 500 ms (the default) into the same roll-up rows. Reports how many verifications were answered
 * and counted (none may be lost), the flushes' lock waits seen in pg_stat_activity (sampled every
 * 10 ms), and the writes of last_used_at.
 */
async function flushers(url: string, primary: number, account: string, bodies: string[], token: string, keyIds: string[]): Promise<string> {
  const lines: string[] = [];
  // all on one shard (as before the roll-ups were sharded: every flush on the same rows and lock), then one each
  for (const sharding of ['all on shard 0', 'shards 0–7, one each'] as const) {
    lines.push(await flushRun(url, primary, account, bodies, token, keyIds, sharding === 'all on shard 0' ? () => 0 : (i) => i, sharding));
  }
  return lines.join('\n\n');
}

async function flushRun(url: string, primary: number, account: string, bodies: string[], token: string, keyIds: string[], shardOf: (i: number) => number, sharding: string): Promise<string> {
  const PROCESSES = 8;
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const counted = async () => Number((await db.query<{ n: string }>(
    `select coalesce(sum(valid + rejected), 0)::bigint as n from usage_hourly where account_id = $1 and api_key_id = any($2) and hour >= date_trunc('hour', now()) - interval '1 hour'`,
    [account, keyIds])).rows[0].n);
  const lastUseWrites = async () => Number((await db.query<{ n: string }>(
    `select coalesce(sum(n_tup_upd), 0)::bigint as n from pg_stat_user_tables where relname = 'api_keys'`)).rows[0].n);
  const servers: BenchServer[] = [];
  try {
    for (let i = 0; i < PROCESSES; i++) {
      servers.push(await startBenchServer({ DATABASE_URL: url, JWT_SECRET, NODE_ENV: 'production', LOG_LEVEL: 'warn', MIGRATE_ON_START: i === 0 ? 'true' : 'false', DB_POOL_MAX: '4', USAGE_SHARD: String(shardOf(i)) }));
    }
    await spread(servers, '/v1/keys/verify', bodies, token, 1, false);
    await new Promise((r) => setTimeout(r, 1000)); // the warm-up's counts flushed
    const before = await counted();
    const updatesBefore = await lastUseWrites();
    let samples = 0;
    let waiting = 0;
    let flushing = 0;
    const locks = new Map<string, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await db.query<{ wait: string | null; event: string | null; query: string }>(
          `select wait_event_type as wait, wait_event as event, query from pg_stat_activity where datname = current_database() and application_name = 'qckeys-system' and state = 'active'`);
        samples++;
        for (const r of rows) {
          if (!/usage_hourly|last_used_at/.test(r.query)) continue;
          flushing++;
          if (r.wait !== 'Lock') continue;
          waiting++;
          locks.set(r.event ?? '?', (locks.get(r.event ?? '?') ?? 0) + 1);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const cpuBefore = serverCpu(primary);
    const load = await spread(servers, '/v1/keys/verify', bodies, token, DURATION, false);
    const cpu = serverCpu(primary) - cpuBefore;
    sampling = false;
    await sampler;
    await Promise.all(servers.splice(0).map((s) => s.stop())); // each flushes what it holds on its way out
    await new Promise((r) => setTimeout(r, 1500)); // table statistics reach pg_stat_user_tables within a second
    const written = (await counted()) - before;
    const updates = (await lastUseWrites()) - updatesBefore;
    const answered = load.requests + load.non2xx;
    return [
      `**${PROCESSES} processes flushing the same ${keyIds.length} keys, ${sharding}** (USAGE_FLUSH_INTERVAL_MS 500 ms, the default, ${CONNECTIONS} connections, ${DURATION} s): `
        + `${answered.toLocaleString('en-US')} verifications answered, ${written.toLocaleString('en-US')} counted in usage_hourly (${written === answered ? 'none lost' : `${answered - written} missing`}), `
        + `${Math.round(load.rps)} req/s, p97.5 ${load.p975.toFixed(2)} ms, the primary's CPU ${cpu.toFixed(1)} s (${((cpu * 1000) / Math.max(1, load.requests)).toFixed(3)} ms per verification); `
        + `flush statements seen active in ${samples} samples of pg_stat_activity: ${flushing}, of which waiting on a lock: ${waiting} (${flushing ? ((100 * waiting) / flushing).toFixed(1) : '0'} %`
        + `${locks.size ? `: ${[...locks].map(([event, n]) => `${event} ${n}`).join(', ')}` : ''}); `
        + `api_keys rows updated (last_used_at, at most once a minute per key): ${updates.toLocaleString('en-US')}.`,
    ].join('\n');
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await db.end();
  }
}

main().catch((err: unknown) => {
  console.error(`bench:scale: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(2);
});

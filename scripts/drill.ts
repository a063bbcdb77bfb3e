// A fault drill on this machine: three service processes on one PostgreSQL database take
// verifications, mutations and listings at once; PostgreSQL is restarted in the middle, and one
// process is killed with SIGKILL. Then: is every acknowledged mutation there, how many counts were
// lost against the bound (one flush interval of the killed process), how soon did each process
// recover, and did /readyz tell the truth throughout?
//
//   npm run drill            (needs the build, and a local PostgreSQL cluster this user may restart)
//
// Environment: DRILL_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres, where the
// drill makes a database of its own and drops it after), DRILL_SECONDS (default 24).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/tokens';

const ROOT = path.resolve(__dirname, '..');
const BASE_URL = process.env.DRILL_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECONDS = Number(process.env.DRILL_SECONDS ?? 24);
const SECRET = 'drill-secret-that-is-long-enough-for-hs256-0123456789';
const FLUSH_MS = 500;
const RESTART_AT = 0.25;
const KILL_AT = 0.6;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

interface Replica { name: string; url: string; process: ChildProcess; killed: boolean }

async function startReplica(name: string, databaseUrl: string): Promise<Replica> {
  const built = path.join(ROOT, 'dist', 'src', 'server.js');
  const args = fs.existsSync(built) ? [built] : ['--import', 'tsx', path.join(ROOT, 'src', 'server.ts')];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl, JWT_SECRET: SECRET, LOG_LEVEL: 'warn', USAGE_FLUSH_INTERVAL_MS: String(FLUSH_MS),
      SHUTDOWN_TIMEOUT_MS: '15000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphQL at (http:\/\/\S+)\/graphql/.exec(output);
      if (match) { clearTimeout(timer); resolve(match[1].replace('localhost', '127.0.0.1')); }
    });
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}:\n${output}`)); });
  });
  return { name, url, process: child, killed: false };
}

async function gql<T>(url: string, token: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(10_000),
  });
  const body = (await res.json()) as { data?: T; errors?: { extensions?: { code?: string } }[] };
  return { status: res.status, data: body.data, code: body.errors?.[0]?.extensions?.code };
}

function postgresCluster(): { version: string; name: string } {
  const version = fs.readdirSync('/etc/postgresql').sort().pop() as string;
  return { version, name: 'main' };
}

/**
 * Runs a command without blocking the drill: the probes and loads must go on while PostgreSQL
 * restarts, or nothing would be seen of the outage.
 */
function run(command: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((resolve) => execFile(command, args, { encoding: 'utf8' }, (err, _stdout, stderr) => resolve({ ok: !err, stderr })));
}

async function pgReady(): Promise<boolean> {
  return (await run('pg_isready', ['-h', '127.0.0.1', '-p', '5432', '-q'])).ok;
}

async function main(): Promise<void> {
  const dbName = `qckeys_drill_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: BASE_URL });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  await admin.end();
  const url = new URL(BASE_URL);
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();

  const replicas: Replica[] = [];
  const figures: Record<string, unknown> = {};
  try {
    // the first applies the migrations, then the others start
    replicas.push(await startReplica('A', databaseUrl));
    replicas.push(...(await Promise.all([startReplica('B', databaseUrl), startReplica('C', databaseUrl)])));
    const [a] = replicas;
    const adminToken = await signToken({ secret: SECRET, account: 'drill', roles: ['admin'], subject: 'drill', ttl: '1h' });
    const verifierToken = await signToken({ secret: SECRET, account: 'drill', roles: ['verifier'], subject: 'gateway', ttl: '1h' });
    const channel = (await gql<{ createChannel: { channel: { id: string } } }>(a.url, adminToken, 'mutation { createChannel(input: { name: "Drill" }) { channel { id } } }')).data?.createChannel.channel.id as string;
    const instance = (await gql<{ createInstance: { instance: { id: string } } }>(a.url, adminToken,
      'mutation($c: [ID!]!) { createInstance(input: { name: "Drill org", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }', { c: [channel] })).data?.createInstance.instance.id as string;
    const CREATE = 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }';
    const seed = await gql<{ createApiKey: { secret: string } }>(a.url, adminToken, CREATE,
      { i: { name: 'verified', instanceId: instance, channelId: channel, developer: { name: 'Drill' } } });
    const secret = seed.data?.createApiKey.secret as string;

    const started = now();
    const elapsed = () => (now() - started) / 1000;
    const end = started + SECONDS * 1000;
    const acknowledged = { verifications: new Map<string, number[]>(), mutations: [] as string[], listings: 0 };
    const failures: Record<string, number> = {};
    const fail = (what: string, code: string) => { failures[`${what} ${code}`] = (failures[`${what} ${code}`] ?? 0) + 1; };
    const readiness = new Map<string, { t: number; ready: boolean }[]>(replicas.map((r) => [r.name, []]));
    for (const r of replicas) acknowledged.verifications.set(r.name, []);
    let pgDown: { from: number; to: number } | null = null;
    let killedAt: number | null = null;

    const live = () => replicas.filter((r) => !r.killed);
    const verifyLoop = async (r: Replica) => {
      while (now() < end && !r.killed) {
        try {
          const res = await fetch(`${r.url}/v1/keys/verify`, {
            method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${verifierToken}` },
            body: JSON.stringify({ key: secret }), signal: AbortSignal.timeout(5000),
          });
          const body = (await res.json()) as { code?: string; error?: { code: string } };
          if (res.status === 200 && body.code === 'VALID') acknowledged.verifications.get(r.name)?.push(elapsed());
          else fail('verification', body.error?.code ?? String(res.status));
        } catch {
          fail('verification', r.killed ? 'killed' : 'network');
        }
        await sleep(5);
      }
    };
    const mutationLoop = async () => {
      for (let i = 0; now() < end; i++) {
        const r = live()[i % live().length];
        const idempotencyKey = randomUUID();
        const input = { i: { name: `drill ${i}`, instanceId: instance, channelId: channel, developer: { name: 'Drill' } } };
        try {
          const res = await gql<{ createApiKey: { apiKey: { id: string } } }>(r.url, adminToken, CREATE, input, { 'idempotency-key': idempotencyKey });
          if (res.status === 200 && res.data?.createApiKey) acknowledged.mutations.push(res.data.createApiKey.apiKey.id);
          else fail('mutation', res.code ?? String(res.status));
        } catch {
          fail('mutation', 'network');
        }
        await sleep(20);
      }
    };
    const listingLoop = async () => {
      for (let i = 0; now() < end; i++) {
        const r = live()[i % live().length];
        try {
          const res = await gql<{ apiKeys: { totalCount: number } }>(r.url, adminToken, '{ apiKeys(first: 50) { totalCount edges { node { id name developer { name } teams { name } } } } }');
          if (res.status === 200 && res.data) acknowledged.listings++;
          else fail('listing', res.code ?? String(res.status));
        } catch {
          fail('listing', 'network');
        }
        await sleep(20);
      }
    };
    const readinessLoop = async () => {
      while (now() < end + 6000) {
        await Promise.all(live().map(async (r) => {
          const ready = await fetch(`${r.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then((res) => res.status === 200, () => false);
          readiness.get(r.name)?.push({ t: elapsed(), ready });
        }));
        await sleep(100);
      }
    };
    const faults = async () => {
      await sleep(SECONDS * 1000 * RESTART_AT);
      const cluster = postgresCluster();
      const from = elapsed();
      const restart = await run('pg_ctlcluster', ['--skip-systemctl-redirect', cluster.version, cluster.name, 'restart', '-m', 'fast']);
      if (!restart.ok) throw new Error(`pg_ctlcluster restart failed: ${restart.stderr}`);
      while (!(await pgReady())) await sleep(50);
      pgDown = { from, to: elapsed() };
      await sleep(SECONDS * 1000 * (KILL_AT - RESTART_AT));
      // SIGKILL between two flushes of C: whatever C counted since its last flush is lost
      const c = replicas[2];
      c.killed = true;
      killedAt = elapsed();
      c.process.kill('SIGKILL');
    };
    await Promise.all([...replicas.map(verifyLoop), mutationLoop(), listingLoop(), readinessLoop(), faults()]);

    // A and B stop as a deployment stops them: their counts are written
    for (const r of live()) {
      const exited = new Promise((resolve) => r.process.once('exit', resolve));
      r.process.kill('SIGTERM');
      await exited;
    }

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    try {
      const present = (await db.query<{ id: string }>('select id from api_keys where id = any($1::text[])', [acknowledged.mutations])).rows.length;
      const counted = (await db.query<{ n: number }>(`select coalesce(sum(valid), 0)::int as n from usage_hourly where account_id = 'drill'`)).rows[0].n;
      const acked = [...acknowledged.verifications.values()].reduce((n, list) => n + list.length, 0);
      const killedC = acknowledged.verifications.get('C') ?? [];
      // the bound: what C acknowledged within its last flush interval (and the flush under way) before the kill
      const bound = killedC.filter((t) => killedAt !== null && t > killedAt - (2 * FLUSH_MS) / 1000).length;
      const down = pgDown as { from: number; to: number } | null;
      const recovery = Object.fromEntries([...readiness].filter(([name]) => name !== 'C').map(([name, samples]) => {
        const after = down ? samples.find((s) => s.t >= down.to && s.ready) : undefined;
        const notReadyDuring = down ? samples.some((s) => s.t >= down.from && s.t <= down.to && !s.ready) : false;
        const falseAlarms = samples.filter((s) => !s.ready && (!down || s.t < down.from || s.t > down.to + 5)).length;
        return [name, { readyAgainAfterSeconds: after && down ? +(after.t - down.to).toFixed(2) : null, notReadyWhileDown: notReadyDuring, notReadyOutsideOutage: falseAlarms }];
      }));
      Object.assign(figures, {
        seconds: SECONDS,
        postgresDown: down ? { from: +down.from.toFixed(2), to: +down.to.toFixed(2), seconds: +(down.to - down.from).toFixed(2) } : null,
        killedCAt: killedAt,
        mutations: { acknowledged: acknowledged.mutations.length, present },
        verifications: { acknowledged: acked, counted, lost: acked - counted, boundOfLoss: bound },
        listings: acknowledged.listings,
        failures,
        readiness: recovery,
      });
    } finally {
      await db.end();
    }
  } finally {
    for (const r of replicas) if (r.process.exitCode === null && r.process.signalCode === null) r.process.kill('SIGKILL');
    const drop = new pg.Client({ connectionString: BASE_URL });
    for (let i = 0; i < 30; i++) {
      try {
        await drop.connect();
        break;
      } catch {
        await sleep(500);
      }
    }
    await drop.query(`drop database if exists ${dbName} with (force)`).catch(() => undefined);
    await drop.end().catch(() => undefined);
  }
  console.log(JSON.stringify(figures, null, 2));
  const f = figures as { mutations: { acknowledged: number; present: number }; verifications: { lost: number; boundOfLoss: number }; readiness: Record<string, { readyAgainAfterSeconds: number | null; notReadyWhileDown: boolean; notReadyOutsideOutage: number }> };
  const problems: string[] = [];
  if (f.mutations.present !== f.mutations.acknowledged) problems.push('an acknowledged mutation is missing');
  if (f.verifications.lost < 0 || f.verifications.lost > f.verifications.boundOfLoss) problems.push('more counts lost than one flush interval of the killed process');
  for (const [name, r] of Object.entries(f.readiness)) {
    if (r.readyAgainAfterSeconds === null || r.readyAgainAfterSeconds > 5) problems.push(`${name} was not ready within 5 s of PostgreSQL's return`);
    if (!r.notReadyWhileDown) problems.push(`${name} said ready while PostgreSQL was down`);
  }
  if (problems.length) {
    console.error(`drill failed: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log('drill passed');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

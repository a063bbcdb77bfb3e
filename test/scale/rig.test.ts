// The streaming replica and PgBouncer rig (scripts/pg-rig.sh, test/helpers/rig.ts): a replica
// that follows the primary and can be held back, a transaction pooler that shares server
// connections between clients, and nothing left running afterwards. Runs with the PostgreSQL
// server tests (TEST_DATABASE_URL), as root on the primary's machine.
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import type { Role } from '../../src/auth/principal';
import { childToken, createKeyAt, startChildServer, type ChildServer } from '../helpers/child-server';
import { eventually } from '../helpers/eventually';
import { rigRequested, rigStatus, startRig, type Rig, type RigDatabase } from '../helpers/rig';
import { concurrentWorkload } from '../helpers/scale-workload';

const describeRig = rigRequested() ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function within<T>(timeoutMs: number, check: () => Promise<T | null>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value !== null) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  return client;
}

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.once('connect', () => { socket.destroy(); resolve(true); });
  socket.once('error', () => resolve(false));
});

describeRig('a streaming replica and PgBouncer beside the primary', () => {
  let rig: Rig;
  let db: RigDatabase;
  let primary: pg.Client;
  let replica: pg.Client;

  beforeAll(async () => {
    rig = await startRig();
    db = await rig.createDatabase();
    primary = await connect(db.primaryUrl);
    replica = await connect(db.replicaUrl);
    await primary.query('create table notes (id int primary key, body text not null)');
    // the table on the replica too, before the first test asks it
    await rig.waitForReplay();
  }, 600_000);

  afterAll(async () => {
    await primary?.end().catch(() => undefined);
    await replica?.end().catch(() => undefined);
    await db?.drop().catch(() => undefined);
    // whatever a failed test left, nothing keeps running
    await rig?.down().catch(() => undefined);
  }, 180_000);

  const onReplica = async (id: number) => (await replica.query<{ body: string }>('select body from notes where id = $1', [id])).rows[0]?.body ?? null;

  test('the replica is a hot standby streaming from the primary, and the new database is on it', async () => {
    const { rows } = await replica.query<{ recovery: boolean; streaming: number; db: string }>(
      `select pg_is_in_recovery() as recovery, (select count(*)::int from pg_stat_wal_receiver where status = 'streaming') as streaming, current_database() as db`);
    expect(rows).toEqual([{ recovery: true, streaming: 1, db: db.name }]);
    await expect(replica.query(`insert into notes values (0, 'refused')`)).rejects.toMatchObject({ code: '25006' }); // read-only transaction
  });

  test('a row written on the primary appears on the replica', async () => {
    await primary.query(`insert into notes values (1, 'first')`);
    const seen = await within(10_000, () => onReplica(1));
    expect(seen.value).toBe('first');
    expect((await rig.lag()).paused).toBe(false);
  });

  test('with replay paused a new row does not appear, and the measured lag grows; resumed, it does', async () => {
    await rig.waitForReplay();
    await rig.pauseReplay();
    try {
      const before = await rig.lag();
      expect(before.paused).toBe(true);
      await primary.query(`insert into notes values (2, 'second')`);
      await sleep(300);
      await primary.query(`insert into notes select g, 'more' from generate_series(3, 1000) g`);
      await sleep(300);
      const after = await rig.lag();
      // the replica keeps receiving WAL, applies none of it
      expect(after.replayedLsn).toBe(before.replayedLsn);
      expect(after.replayBytes).toBeGreaterThan(before.replayBytes);
      expect(after.replayBytes).toBeGreaterThan(10_000);
      expect(after.replayDelayMs!).toBeGreaterThan(before.replayDelayMs! + 500);
      // received up to there (other databases of the cluster may have written more since)
      await within(10_000, async () => (await replica.query<{ ok: boolean }>(
        'select pg_last_wal_receive_lsn() >= $1::pg_lsn as ok', [after.primaryLsn])).rows[0].ok || null);
      expect(await onReplica(2)).toBeNull();
      expect((await replica.query<{ n: number }>('select count(*)::int as n from notes')).rows[0].n).toBe(1);
    } finally {
      await rig.resumeReplay();
    }
    const resumed = await within(10_000, () => onReplica(2));
    expect(resumed.value).toBe('second');
    await rig.waitForReplay();
    const caughtUp = await rig.lag();
    expect(caughtUp.paused).toBe(false);
    expect((await replica.query<{ n: number }>('select count(*)::int as n from notes')).rows[0].n).toBe(1000);
  });

  test('through PgBouncer a transaction works, and its local settings stay in it though clients share a server connection', async () => {
    const [a, b] = [await connect(db.bouncerUrl), await connect(db.bouncerUrl)];
    try {
      await a.query('begin');
      const inside = await a.query<{ account: string; pid: number }>(
        `select set_config('app.account_id', 'acct-a', true) as account, pg_backend_pid() as pid`);
      await a.query(`insert into notes values (2000, 'through the pooler')`);
      await a.query('commit');
      expect(inside.rows[0].account).toBe('acct-a');
      // the server connection goes back to the pool: client b gets it for its transaction
      const next = await b.query<{ account: string | null; pid: number }>(`select current_setting('app.account_id', true) as account, pg_backend_pid() as pid`);
      expect(next.rows[0].pid).toBe(inside.rows[0].pid);
      expect(next.rows[0].account ?? '').toBe('');
      expect((await primary.query('select body from notes where id = 2000')).rows).toEqual([{ body: 'through the pooler' }]);

      // what transaction pooling is about: a session-level setting would follow the server connection to the other client
      await a.query(`select set_config('rig.probe', 'set by a', false)`);
      const leaked = await b.query<{ probe: string | null }>(`select current_setting('rig.probe', true) as probe`);
      expect(leaked.rows[0].probe).toBe('set by a');
      await b.query('reset rig.probe');

      // a failed transaction leaves nothing behind either
      await b.query('begin');
      await b.query(`select set_config('app.account_id', 'acct-b', true)`);
      await expect(b.query('select 1 / 0')).rejects.toMatchObject({ code: '22012' });
      await b.query('rollback');
      const after = await a.query<{ account: string | null }>(`select current_setting('app.account_id', true) as account`);
      expect(after.rows[0].account ?? '').toBe('');
    } finally {
      await a.end();
      await b.end();
    }
  });

  describe('the service with a read replica (DATABASE_REPLICA_URL)', () => {
    const ACCOUNT = 'replica-co';
    const MAX_LAG_MS = 3000;
    let service: RigDatabase;
    let a: ChildServer;
    let b: ChildServer;
    let channelId: string;
    let instanceId: string;

    const env = (url: string) => ({
      DATABASE_URL: url, DATABASE_REPLICA_URL: service.replicaUrl, DATABASE_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS),
      DATABASE_REPLICA_CHECK_MS: '100', READ_YOUR_WRITES_MS: '5000', USAGE_FLUSH_INTERVAL_MS: '100',
    });
    /** A GraphQL request through a process: its data and where its reads went. */
    const ask = async <T>(server: ChildServer, bearer: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
      const res = await fetch(`${server.baseUrl}/graphql`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}`, ...headers },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: T; errors?: unknown[] };
      if (res.status !== 200 || body.errors) throw new Error(`GraphQL failed (${res.status}): ${JSON.stringify(body.errors)}`);
      return { data: body.data as T, readFrom: res.headers.get('x-read-from') };
    };
    const as = (sub: string, roles: Role[] = ['viewer'], account = ACCOUNT) => childToken({ account, roles, sub });
    const NAMES = '{ apiKeys(first: 100) { totalCount edges { node { name } } } }';
    const names = async (server: ChildServer, bearer: string, headers: Record<string, string> = {}) => {
      const { data, readFrom } = await ask<{ apiKeys: { totalCount: number; edges: { node: { name: string } }[] } }>(server, bearer, NAMES, {}, headers);
      return { names: data.apiKeys.edges.map((e) => e.node.name), count: data.apiKeys.totalCount, readFrom };
    };
    const create = async (server: ChildServer, bearer: string, name: string) => {
      await ask(server, bearer, 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }',
        { i: { name, instanceId, channelId, developer: { name: 'Ada' } } });
    };
    const readyz = async (server: ChildServer) => {
      const res = await fetch(`${server.baseUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as { status: string; reads: string; replicas: { name: string; inRotation: boolean; lagMs: number | null; bytesBehind: number | null; error: string | null }[] } };
    };
    const metric = async (server: ChildServer, line: RegExp) => {
      const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
      return Number(line.exec(text)?.[1] ?? NaN);
    };

    beforeAll(async () => {
      service = await rig.createDatabase();
      a = await startChildServer({ ...env(service.primaryUrl), MIGRATE_ON_START: 'true' }, 60_000);
      b = await startChildServer({ ...env(service.primaryUrl), MIGRATE_ON_START: 'false' }, 60_000);
      const key = await createKeyAt(a.baseUrl, ACCOUNT);
      ({ channelId, instanceId } = key);
      await rig.waitForReplay();
    }, 180_000);

    afterAll(async () => {
      await rig.resumeReplay().catch(() => undefined);
      await a?.stop();
      await b?.stop();
      await service?.drop().catch(() => undefined);
    }, 60_000);

    test('a query reads from the replica, under row-level security, and /readyz and /metrics show its lag and the routing', async () => {
      const viewer = await as('viewer-1');
      await eventually(async () => (await names(a, viewer)).readFrom === 'replica', 5000, 50);
      expect(await names(a, viewer)).toEqual({ names: ['k'], count: 1, readFrom: 'replica' });
      // another account's principal on the same replica sees nothing of it
      expect(await names(a, await as('other-viewer', ['viewer'], 'other-co'))).toEqual({ names: [], count: 0, readFrom: 'replica' });
      // the client can ask for the primary
      expect((await names(a, viewer, { 'x-read-primary': '1' })).readFrom).toBe('primary');

      const { status, body } = await readyz(a);
      expect(status).toBe(200);
      expect(body.reads).toBe('replicas');
      expect(body.replicas).toEqual([{ name: `127.0.0.1:5433/${service.name}`, inRotation: true, lagMs: expect.any(Number), bytesBehind: expect.any(Number), error: null }]);
      expect(body.replicas[0].lagMs).toBeLessThan(MAX_LAG_MS);
      expect(await metric(a, /^qckeys_db_reads_total\{target="replica"\} (\d+)$/m)).toBeGreaterThanOrEqual(3);
      expect(await metric(a, /^qckeys_db_reads_total\{target="primary_asked"\} (\d+)$/m)).toBe(1);
      expect(await metric(a, /^qckeys_db_replica_in_rotation\{replica="[^"]+"\} (\d+)$/m)).toBe(1);
      expect(await metric(a, /^qckeys_db_replica_lag_seconds\{replica="[^"]+"\} ([\d.e-]+)$/m)).toBeLessThan(MAX_LAG_MS / 1000);
    });

    test('with replay paused, the creator lists its new key at once through every process; another principal sees it once replay resumes', async () => {
      const creator = await as('creator', ['admin']);
      const viewer = await as('viewer-1');
      await rig.pauseReplay();
      try {
        await create(a, creator, 'made while paused');
        // read-your-writes: this process at once, the other one through its notification
        expect(await names(a, creator)).toEqual({ names: expect.arrayContaining(['made while paused']), count: 2, readFrom: 'primary' });
        expect(await names(b, creator)).toEqual({ names: expect.arrayContaining(['made while paused']), count: 2, readFrom: 'primary' });
        // another principal reads the replica, which has not replayed the key: lag, within the bound
        expect(await names(a, viewer)).toEqual({ names: ['k'], count: 1, readFrom: 'replica' });
      } finally {
        await rig.resumeReplay();
      }
      await eventually(async () => {
        const seen = await names(a, viewer);
        return seen.readFrom === 'replica' && seen.count === 2;
      }, 5000, 50);
    });

    test('a replica held back past the bound is out of rotation: reads go to the primary, and /readyz says so', async () => {
      const writer = await as('writer-2', ['admin']);
      const viewer = await as('viewer-1');
      await rig.pauseReplay();
      try {
        await create(a, writer, 'made while held back');
        await eventually(async () => (await readyz(a)).body.replicas[0].inRotation === false, MAX_LAG_MS + 3000, 100);
        const { status, body } = await readyz(a);
        expect(status).toBe(200);
        expect(body.reads).toBe('primary');
        expect(body.replicas[0].lagMs).toBeGreaterThan(MAX_LAG_MS);
        expect(body.replicas[0].bytesBehind).toBeGreaterThan(0);
        // the viewer gets fresh reads from the primary instead of stale ones
        expect(await names(a, viewer)).toEqual({ names: expect.arrayContaining(['made while held back']), count: 3, readFrom: 'primary' });
        expect(await metric(a, /^qckeys_db_reads_total\{target="primary_no_replica"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
        expect(await metric(a, /^qckeys_db_replica_in_rotation\{replica="[^"]+"\} (\d+)$/m)).toBe(0);
      } finally {
        await rig.resumeReplay();
      }
      await eventually(async () => (await names(a, viewer)).readFrom === 'replica', 5000, 50);
      expect((await readyz(a)).body.reads).toBe('replicas');
    });
  });

  describe('three service processes through PgBouncer (transaction pooling)', () => {
    let pooled: RigDatabase;
    const processes: ChildServer[] = [];

    beforeAll(async () => {
      pooled = await rig.createDatabase();
      // statements unprepared (PgBouncer 1.18 cannot keep them), LISTEN on a direct session
      const env = (migrate: boolean) => ({
        DATABASE_URL: pooled.bouncerUrl, DATABASE_LISTEN_URL: pooled.primaryUrl, DB_PREPARED_STATEMENTS: 'false',
        MIGRATE_ON_START: migrate ? 'true' : 'false', USAGE_FLUSH_INTERVAL_MS: '100',
      });
      processes.push(await startChildServer(env(true), 60_000));
      processes.push(...await Promise.all([startChildServer(env(false), 60_000), startChildServer(env(false), 60_000)]));
    }, 180_000);

    afterAll(async () => {
      await Promise.all(processes.map((p) => p.stop()));
      await pooled?.drop().catch(() => undefined);
    }, 60_000);

    test('lose no count and agree on every key within 1 s, with verifications, mutations and listings at once', async () => {
      await concurrentWorkload(processes, 'pooled-co');
    }, 180_000);
  });

  test('down stops the replica and PgBouncer and removes their directory', async () => {
    await primary.end();
    await replica.end().catch(() => undefined);
    await db.drop();
    const started = Date.now();
    await rig.down();
    const downMs = Date.now() - started;
    expect(await portOpen(5433)).toBe(false);
    expect(await portOpen(6432)).toBe(false);
    expect(fs.existsSync(process.env.PG_RIG_DIR ?? '/tmp/qckeys-pg-rig')).toBe(false);
    expect((await rigStatus()).running).toBe(false);
    expect(downMs).toBeLessThan(120_000);
  }, 180_000);
});

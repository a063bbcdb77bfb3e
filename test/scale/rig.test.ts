// The streaming replica and PgBouncer rig (scripts/pg-rig.sh, test/helpers/rig.ts): a replica
// that follows the primary and can be held back, a transaction pooler that shares server
// connections between clients, and nothing left running afterwards. Runs with the PostgreSQL
// server tests (TEST_DATABASE_URL), as root on the primary's machine.
import fs from 'node:fs';
import net from 'node:net';
import pg from 'pg';
import { rigRequested, rigStatus, startRig, type Rig, type RigDatabase } from '../helpers/rig';

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

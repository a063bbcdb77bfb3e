import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { poolerUrl, serverUrl } from './database';

/**
 * The streaming replica and PgBouncer of scripts/pg-rig.sh, for tests on a PostgreSQL server
 * (root on the machine of the primary, as in CI): `const rig = await startRig()` brings them up
 * or reuses them, `rig.createDatabase()` makes a database on the primary once it is on the
 * replica too, and `rig.down()` stops and removes everything.
 */

const SCRIPT = path.resolve(__dirname, '../../scripts/pg-rig.sh');

/**
 * Rig tests run when the PostgreSQL server tests are asked for (TEST_DATABASE_URL), but not in a
 * run through the rig's own PgBouncer (TEST_DATABASE_POOLER_URL), which they would take down.
 */
export function rigRequested(): boolean {
  return serverUrl() !== null && poolerUrl() === null;
}

function script(command: 'up' | 'down' | 'status', timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const primary = new URL(serverUrl() ?? 'postgres://127.0.0.1:5432/postgres');
  const env = { ...process.env, PG_RIG_PRIMARY_PORT: primary.port || '5432' };
  return new Promise((resolve) => {
    execFile('bash', [SCRIPT, command], { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** How far the replica is behind the primary. */
export interface ReplicaLag {
  /** The primary's current WAL position. */
  primaryLsn: string;
  /** WAL the replica has received (streaming goes on while replay is paused). */
  receivedLsn: string | null;
  /** WAL the replica has applied. */
  replayedLsn: string | null;
  /** Bytes of WAL written on the primary and not yet applied on the replica. */
  replayBytes: number;
  /** Commit time of the last transaction the replica applied. */
  lastReplayedAt: Date | null;
  /** Now minus that commit time: grows while nothing is applied. Null before the first transaction. */
  replayDelayMs: number | null;
  paused: boolean;
}

export interface RigDatabase {
  name: string;
  primaryUrl: string;
  replicaUrl: string;
  bouncerUrl: string;
  /** Drops it on the primary (replay resumed first, so the replica follows). */
  drop(): Promise<void>;
}

export interface Rig {
  primaryUrl: string;
  replicaUrl: string;
  bouncerUrl: string;
  /** A new database on the primary, returned once the replica has it too. */
  createDatabase(timeoutMs?: number): Promise<RigDatabase>;
  /** Stops applying WAL on the replica (it keeps receiving it); resolves once replay is paused. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  lag(): Promise<ReplicaLag>;
  /** Waits until the replica has applied the primary's WAL up to its position now. */
  waitForReplay(timeoutMs?: number): Promise<number>;
  /** `scripts/pg-rig.sh down`: stops the replica and PgBouncer, removes their files and the primary's change. */
  down(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Brings the rig up (`scripts/pg-rig.sh up`, which reuses what runs) and returns its handle. */
export async function startRig(timeoutMs = 600_000): Promise<Rig> {
  const up = await script('up', timeoutMs);
  if (up.code !== 0) throw new Error(`scripts/pg-rig.sh up failed (${up.code}):\n${up.stderr}${up.stdout}`);
  const urls = Object.fromEntries(up.stdout.split('\n').filter((l) => l.startsWith('PG_RIG_')).map((l) => {
    const i = l.indexOf('=');
    return [l.slice(0, i), l.slice(i + 1)];
  }));
  const primaryUrl = urls.PG_RIG_PRIMARY_URL;
  const replicaUrl = urls.PG_RIG_REPLICA_URL;
  const bouncerUrl = urls.PG_RIG_BOUNCER_URL;
  if (!primaryUrl || !replicaUrl || !bouncerUrl) throw new Error(`scripts/pg-rig.sh up printed no URLs:\n${up.stdout}`);

  const lag = async (): Promise<ReplicaLag> => {
    const [{ lsn }] = await query<{ lsn: string }>(primaryUrl, 'select pg_current_wal_lsn()::text as lsn');
    const [r] = await query<{ received: string | null; replayed: string | null; bytes: string | null; at: Date | null; delay: number | null; paused: boolean }>(replicaUrl, `
      select pg_last_wal_receive_lsn()::text as received, pg_last_wal_replay_lsn()::text as replayed,
             pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text as bytes,
             pg_last_xact_replay_timestamp() as at,
             (extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 as delay,
             pg_is_wal_replay_paused() as paused`, [lsn]);
    return {
      primaryLsn: lsn, receivedLsn: r.received, replayedLsn: r.replayed, replayBytes: Math.max(0, Number(r.bytes ?? 0)),
      lastReplayedAt: r.at, replayDelayMs: r.delay, paused: r.paused,
    };
  };

  const resumeReplay = async () => {
    await query(replicaUrl, 'select pg_wal_replay_resume()');
  };

  const waitForReplay = async (waitMs = 30_000): Promise<number> => {
    const started = Date.now();
    const [{ lsn }] = await query<{ lsn: string }>(primaryUrl, 'select pg_current_wal_lsn()::text as lsn');
    for (;;) {
      const [{ done }] = await query<{ done: boolean }>(replicaUrl, 'select coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as done', [lsn]);
      if (done) return Date.now() - started;
      if (Date.now() - started > waitMs) throw new Error(`the replica did not replay up to ${lsn} within ${waitMs} ms`);
      await sleep(20);
    }
  };

  return {
    primaryUrl, replicaUrl, bouncerUrl, lag, resumeReplay, waitForReplay,

    async createDatabase(waitMs = 60_000) {
      const name = `qckeys_rig_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
      await query(primaryUrl, `create database ${name}`);
      // databases belong to the cluster: the replica has it once it has replayed the creation
      const started = Date.now();
      for (;;) {
        const found = await query(replicaUrl, 'select 1 from pg_database where datname = $1', [name]).catch(() => []);
        if (found.length) break;
        if (Date.now() - started > waitMs) throw new Error(`database ${name} did not appear on the replica within ${waitMs} ms`);
        await sleep(20);
      }
      return {
        name,
        primaryUrl: withDatabase(primaryUrl, name),
        replicaUrl: withDatabase(replicaUrl, name),
        bouncerUrl: withDatabase(bouncerUrl, name),
        async drop() {
          await resumeReplay().catch(() => undefined);
          await query(primaryUrl, `drop database if exists ${name} with (force)`);
        },
      };
    },

    async pauseReplay() {
      await query(replicaUrl, 'select pg_wal_replay_pause()');
      // a pause is requested first, and takes effect at the next record
      for (let i = 0; i < 500; i++) {
        const [{ state }] = await query<{ state: string }>(replicaUrl, 'select pg_get_wal_replay_pause_state() as state');
        if (state === 'paused') return;
        await sleep(10);
      }
      throw new Error('replay did not pause');
    },

    async down() {
      const result = await script('down', 120_000);
      if (result.code !== 0) throw new Error(`scripts/pg-rig.sh down failed (${result.code}):\n${result.stderr}${result.stdout}`);
    },
  };
}

/** `scripts/pg-rig.sh status`: exit code 0 when the replica and PgBouncer run, 3 when not. */
export async function rigStatus(): Promise<{ running: boolean; output: string }> {
  const result = await script('status', 60_000);
  return { running: result.code === 0, output: result.stdout + result.stderr };
}

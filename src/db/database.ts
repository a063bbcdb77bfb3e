import fs from 'node:fs';
import knexFactory, { type Knex } from 'knex';
import type { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { DatabaseTarget } from '../config';
import type { Db, MutationDb } from './db';
import type { Driver, PoolStats } from './driver';
import { migrate, migrationConfig } from './migrations';
import { PgDriver, types } from './pg-driver';
import { openPglite, pgliteKnex, pgliteKnexConfig } from './pglite';
import { PgliteDriver } from './pglite-driver';
import { ReplicaSet, type ReplicaOptions } from './replicas';
import { inOwnTransaction, RequestTransaction } from './request';
import { ALL_ACCOUNTS, APP_ROLE, scopeSql, SYSTEM_ROLE, type ScopeRoles, type Tenant } from './tenant';
import { memoryFs, seedDataDir } from './template';

export interface DatabaseOptions {
  target: DatabaseTarget;
  /** Bound on opening a connection (a database that takes longer is taken for unreachable). */
  timeoutMs: number;
  /** Connections of the requests' pool. */
  poolMax: number;
  /** Connections of the service's own work across accounts (verification lookups, usage flushes, retention). */
  systemPoolMax?: number;
  /** Longest wait for a free connection before a request is answered 503 (overload). */
  poolWaitMs?: number;
  /** Whether the hottest statements are prepared on each connection. */
  preparedStatements?: boolean;
  /**
   * Embedded database: the template directory a new one starts from instead of running initdb
   * (src/db/template.ts). Absent: the built or cached template, if usable; null: none.
   */
  template?: string | null;
  /** Read replicas of the requests' reads (on a server only): their URLs and staleness bound. */
  replicas?: ReplicaOptions & { urls: string[] };
  onPoolWaitTimeout?: (pool: 'requests' | 'system' | 'replica') => void;
}

/** Called with each notification's payload; `onReset` when notifications may have been missed. */
export interface NotificationHandler {
  onMessage: (payload: string) => void;
  onReset: () => void;
}

export interface Database {
  kind: 'postgres' | 'pglite';
  /** The roles its transactions run as. */
  roles: ScopeRoles;
  /** knex as the connecting user, unscoped: migrations, the usage partitions' DDL (src/modules/usage/partitions.ts), scripts and tests. The service's own statements go through the methods below. */
  knex: Knex;
  /**
   * A GraphQL request's view of the database, scoped to the tenant (src/db/request.ts): on the
   * primary, unless it is sent to a read replica before its first statement.
   */
  request(tenant: Tenant): RequestTransaction;
  /** The read replicas and their measured lag; null without DATABASE_REPLICA_URL. */
  replicas: ReplicaSet | null;
  /** NOTIFY on the primary, outside any request's transaction. */
  notify(channel: string, payload: string): Promise<void>;
  /** Runs `work` in a transaction of its own scoped to the tenant: all of it is written or none. */
  transaction<T>(tenant: Tenant, work: (db: MutationDb) => Promise<T>): Promise<T>;
  /**
   * Parameterless statements run after the tenant's scope in one round trip (one implicit
   * transaction): the last one's rows. For the hottest path, the verification lookup.
   */
  once<R>(tenant: Tenant, text: string): Promise<R[]>;
  /** Subscribes to a NOTIFY channel on a dedicated session (reconnecting on failure). */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  /** True when the database answers a trivial query within `timeoutMs`. */
  ping(timeoutMs: number): Promise<boolean>;
  /** Each pool's figures: `requests` and `system` on a server (and `replica`, the replicas' together), `requests` alone on the embedded database (one connection). */
  stats(): { requests: PoolStats; system?: PoolStats; replica?: PoolStats };
  close(): Promise<void>;
}

/** The roles of a target's transactions (DATABASE_ROLE; `none`: the connecting user for all). */
function rolesOf(target: DatabaseTarget): ScopeRoles {
  const role = target.kind === 'postgres' && target.role !== undefined ? target.role : APP_ROLE;
  return role === null ? { account: null, system: null } : { account: role, system: SYSTEM_ROLE };
}

interface Engine {
  knex: Knex;
  requests: Driver;
  system: Driver;
  replicas: ReplicaSet | null;
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** knex for the connecting user of a server: migrations, scripts and tests. */
function postgresKnexConfig(url: string, timeoutMs: number): Knex.Config {
  return {
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: timeoutMs, application_name: 'qckeys-admin', types } as Knex.PgConnectionConfig,
    pool: { min: 0, max: 2, idleTimeoutMillis: 10_000 },
    acquireConnectionTimeout: timeoutMs,
    migrations: migrationConfig(),
  };
}

/** The embedded database of a target, its data directory first made from the template when new. */
function openEmbedded(target: Extract<DatabaseTarget, { kind: 'pglite' }>, template: string | null | undefined): PGlite {
  if (!target.dataDir) return openPglite({ fs: memoryFs(template) });
  seedDataDir(target.dataDir, template);
  fs.mkdirSync(target.dataDir, { recursive: true });
  return openPglite({ dataDir: target.dataDir });
}

/** knex's configuration for the target, as the connecting user (`npm run migrate`: knexfile.ts). */
export function knexConfig(target: DatabaseTarget, timeoutMs: number): Knex.Config {
  return target.kind === 'postgres' ? postgresKnexConfig(target.url, timeoutMs) : pgliteKnexConfig(openEmbedded(target, undefined));
}

function postgresEngine(target: Extract<DatabaseTarget, { kind: 'postgres' }>, options: DatabaseOptions): Engine {
  const statementTimeoutMs = Math.max(options.timeoutMs * 5, 10_000);
  const driver = (url: string, max: number, pool: 'requests' | 'system' | 'replica') => new PgDriver({
    url, max, waitMs: options.poolWaitMs ?? 1000, connectTimeoutMs: options.timeoutMs, statementTimeoutMs,
    applicationName: pool === 'system' ? 'qckeys-system' : 'qckeys', prepared: options.preparedStatements ?? true,
    onWaitTimeout: () => options.onPoolWaitTimeout?.(pool),
  });
  const knex = knexFactory(postgresKnexConfig(target.url, options.timeoutMs));
  const system = driver(target.url, options.systemPoolMax ?? 4, 'system');
  let replicas: ReplicaSet | null = null;
  if (options.replicas && options.replicas.urls.length > 0) {
    const { urls, ...bounds } = options.replicas;
    replicas = new ReplicaSet(urls.map((url) => ({
      name: replicaName(url),
      requests: driver(url, options.poolMax, 'replica'),
      // the measurement waits for nothing else: a busy replica is measured all the same
      monitor: new PgDriver({ url, max: 1, waitMs: bounds.checkMs, connectTimeoutMs: options.timeoutMs, statementTimeoutMs: bounds.maxLagMs, applicationName: 'qckeys-monitor', prepared: false }),
    })), async () => (await system.once<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn'))[0].lsn, bounds);
  }
  return {
    knex,
    requests: driver(target.requestUrl ?? target.url, options.poolMax, 'requests'),
    system,
    replicas,
    listen: (channel, handler) => listenPostgres(target.listenUrl ?? target.url, options.timeoutMs, channel, handler),
    async close() {
      await knex.destroy();
    },
  };
}

function pgliteEngine(target: Extract<DatabaseTarget, { kind: 'pglite' }>, options: DatabaseOptions): Engine {
  const pglite = openEmbedded(target, options.template);
  // one connection: requests and the service's own work share it, and its wait
  const driver = new PgliteDriver(pglite, (options.poolWaitMs ?? 1000) * 15, () => options.onPoolWaitTimeout?.('requests'));
  const knex = pgliteKnex(pglite);
  return {
    knex,
    requests: driver,
    system: driver,
    replicas: null,
    async listen(channel, handler) {
      const unlisten = await pglite.listen(channel, handler.onMessage);
      return async () => { await unlisten().catch(() => undefined); };
    },
    async close() {
      // knex-pglite closes the database it was given when knex is destroyed
      await knex.destroy();
      if (!pglite.closed) await pglite.close();
    },
  };
}

export function createDatabase(options: DatabaseOptions): Database {
  const { target } = options;
  const engine = target.kind === 'postgres' ? postgresEngine(target, options) : pgliteEngine(target, options);
  const roles = rolesOf(target);
  const scope = (tenant: Tenant) => scopeSql(roles, tenant);
  // the service's work across accounts has connections of its own: a flood of requests cannot hold up verification
  const driverOf = (tenant: Tenant) => (tenant === ALL_ACCOUNTS ? engine.system : engine.requests);
  const listeners: (() => Promise<void>)[] = [];
  const replicas = engine.replicas;
  const pickReplica = replicas ? () => replicas.pick() : undefined;

  return {
    kind: target.kind,
    roles,
    knex: engine.knex,
    // the platform verifier's reads (across accounts) stay on the primary, with the verification lookups
    request: (tenant) => new RequestTransaction(driverOf(tenant), scope(tenant), tenant === ALL_ACCOUNTS ? undefined : pickReplica),
    replicas,
    async notify(channel, payload) {
      await engine.system.once(`select pg_notify(${pg.escapeLiteral(channel)}, ${pg.escapeLiteral(payload)})`);
    },
    transaction: (tenant, work) => inOwnTransaction(driverOf(tenant), scope(tenant), work),
    once: (tenant, text) => driverOf(tenant).once(`${scope(tenant)}; ${text}`),
    async listen(channel, handler) {
      const stop = await engine.listen(channel, handler);
      listeners.push(stop);
      return stop;
    },
    async ping(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
      try {
        return await Promise.race([engine.system.once('select 1').then(() => true, () => false), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stats: () => (engine.system === engine.requests
      ? { requests: engine.requests.stats() }
      : { requests: engine.requests.stats(), system: engine.system.stats(), ...replicas && { replica: replicas.stats() } }),
    async close() {
      for (const stop of listeners.splice(0)) await stop();
      await replicas?.stop();
      await Promise.all([...new Set([engine.requests, engine.system, ...replicas?.drivers ?? []])].map((d) => d.end()));
      await engine.close();
    },
  };
}

/** How a replica is named in /readyz and /metrics: host:port/database, without credentials. */
function replicaName(url: string): string {
  const { host, pathname } = new URL(url);
  return `${host}${pathname}`;
}

/** LISTEN on a session of its own, reconnecting (after which notifications may have been missed: `onReset`). */
async function listenPostgres(url: string, timeoutMs: number, channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, application_name: 'qckeys-listen' });
    next.on('notification', (msg) => { if (msg.channel === channel) handler.onMessage(msg.payload ?? ''); });
    const reconnect = () => {
      if (stopped || client !== next) return;
      client = null;
      next.removeAllListeners('error');
      next.on('error', () => undefined);
      next.end().catch(() => undefined);
      handler.onReset();
      schedule();
    };
    // until `client` is this one, these handlers ignore what happens to it
    next.on('error', reconnect);
    next.on('end', reconnect);
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      await next.end().catch(() => undefined); // a half-open session must not linger
      throw err;
    }
    if (stopped) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
  };
  const schedule = () => {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().then(() => handler.onReset(), () => schedule());
    }, 500);
    retry.unref();
  };

  await connect().catch(() => schedule());
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const current = client;
    client = null;
    if (current) await current.end().catch(() => undefined);
  };
}

/** Whether the server vacuums tables by itself (as `on`). */
export const AUTOVACUUM_SQL = `select current_setting('autovacuum') = 'on' and current_setting('track_counts') = 'on' as on`;

/**
 * True on a server that does not vacuum tables by itself: a listing reads its pages from the
 * indexes alone only as far as vacuums keep the tables' pages all-visible
 * (migrations/20261201000130_key_tables_vacuumed_sooner.ts). The embedded database has no
 * autovacuum to turn on: false.
 */
export async function autovacuumOff(db: Database): Promise<boolean> {
  if (db.kind === 'pglite') return false;
  const { rows } = await db.knex.raw<{ rows: { on: boolean }[] }>(AUTOVACUUM_SQL);
  return rows[0]?.on !== true;
}

/**
 * Applies pending migrations (as the connecting user), then checks that the service's roles can
 * be used by the logins it connects with.
 */
export async function migrateLatest(db: Database): Promise<string[]> {
  const applied = await migrate(db.knex);
  const checks: [Tenant, string, string | null][] = [
    [ALL_ACCOUNTS, 'the connecting user (DATABASE_URL)', db.roles.system],
    ['-', "the requests' login (DATABASE_REQUEST_URL, else DATABASE_URL)", db.roles.account],
  ];
  for (const [tenant, who, role] of checks) {
    try {
      await db.transaction(tenant, (tx) => tx.rows({ text: 'select 1' }));
    } catch (err) {
      throw new Error(`${who} cannot switch to ${role === db.roles.account ? 'DATABASE_ROLE ' : ''}${role ?? 'its role'} (${(err as Error).message}): grant it, or set DATABASE_ROLE=none`, { cause: err });
    }
  }
  return applied;
}

export type { Db, MutationDb };

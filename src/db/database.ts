import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import type { DatabaseTarget } from '../config';
import { ALL_ACCOUNTS, DEFAULT_ROLE, enableScopes, scopeSettings, scopedTransaction } from './scope';
import { memoryFs, seedDataDir } from './template';

export interface DatabaseOptions {
  target: DatabaseTarget;
  /** Bound on acquiring a connection and on each statement. */
  timeoutMs: number;
  poolMax: number;
  /**
   * Embedded database: the template directory a new one starts from instead of running initdb
   * (src/db/template.ts). Absent: the built or cached template, if usable; null: none.
   */
  template?: string | null;
}

/** Called with each notification's payload; `onReset` when notifications may have been missed. */
export interface NotificationHandler {
  onMessage: (payload: string) => void;
  onReset: () => void;
}

export interface Database {
  knex: Knex;
  kind: 'postgres' | 'pglite';
  /** Subscribes to a NOTIFY channel on a dedicated session (reconnecting on failure). */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  /** True when the database answers a trivial query within `timeoutMs`. */
  ping(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}

const statementNames = new Map<string, { name: string }>();

/**
 * Options that make a statement a prepared one on a PostgreSQL server, named after its text:
 * each pooled connection parses it once, and after five runs PostgreSQL may keep one generic
 * plan for it instead of planning it on every run. For statements of the hottest paths whose text
 * comes from a small fixed set only, as each stays prepared on every connection for its life.
 * (The embedded database ignores the name.)
 */
export function preparedStatement(sql: string): { name: string } {
  let options = statementNames.get(sql);
  if (!options) {
    options = { name: `qk_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}` };
    statementNames.set(sql, options);
  }
  return options;
}

// Counts come back as int8; the app casts them in SQL, and parses any left over as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');
const MIGRATION_EXTENSION = __filename.endsWith('.ts') ? '.ts' : '.js';

/** The migration files this code runs (`.ts` from the sources, `.js` from the build), in the order they run. */
export function migrationFiles(directory = MIGRATIONS_DIR): string[] {
  return fs.readdirSync(directory)
    .filter((file) => file.endsWith(MIGRATION_EXTENSION) && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -MIGRATION_EXTENSION.length))
    .sort()
    .map((name) => path.join(directory, name + MIGRATION_EXTENSION));
}

/**
 * Migrations by name without extension, so a database migrated from the sources (`.ts`, through
 * tsx) and then served from the build (`.js`), or the other way round, sees the same history.
 */
export function migrationSource(directory = MIGRATIONS_DIR): Knex.MigrationSource<string> {
  return {
    async getMigrations() {
      return migrationFiles(directory).map((file) => path.basename(file, MIGRATION_EXTENSION));
    },
    getMigrationName: (name) => name,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    getMigration: async (name) => require(path.join(directory, name + MIGRATION_EXTENSION)) as Knex.Migration,
  };
}

function migrationConfig(): Knex.MigratorConfig {
  return { migrationSource: migrationSource(), tableName: 'knex_migrations' };
}

export function knexConfig(options: DatabaseOptions): Knex.Config {
  const { target } = options;
  if (target.kind === 'postgres') {
    return {
      client: 'pg',
      connection: {
        connectionString: target.url,
        connectionTimeoutMillis: options.timeoutMs,
        statement_timeout: Math.max(options.timeoutMs * 5, 10_000),
        application_name: 'qckeys',
      } as Knex.PgConnectionConfig,
      pool: { min: 0, max: options.poolMax, idleTimeoutMillis: 30_000 },
      acquireConnectionTimeout: options.timeoutMs,
      migrations: migrationConfig(),
    };
  }
  if (target.dataDir) {
    seedDataDir(target.dataDir, options.template);
    fs.mkdirSync(target.dataDir, { recursive: true });
  }
  const pglite = target.dataDir ? new PGlite(target.dataDir) : new PGlite({ fs: memoryFs(options.template) });
  return {
    client: ClientPgLite,
    dialect: 'postgres',
    connection: () => ({ pglite }) as object,
    acquireConnectionTimeout: options.timeoutMs * 15,
    migrations: migrationConfig(),
  };
}

function pgliteOf(knex: Knex): PGlite {
  return (knex.client as { pglite: PGlite }).pglite;
}

export function createDatabase(options: DatabaseOptions): Database {
  const knex = knexFactory(knexConfig(options));
  const kind = options.target.kind;
  // on a server, the service's transactions run as its role for one account (src/db/scope.ts);
  // the embedded database has one connection and one user: its transactions stay as they are
  if (options.target.kind === 'postgres') enableScopes(knex, { role: options.target.role === undefined ? DEFAULT_ROLE : options.target.role });
  const listeners: (() => Promise<void>)[] = [];

  async function listenPostgres(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    const url = (options.target as { url: string }).url;
    let client: pg.Client | null = null;
    let stopped = false;
    let retry: NodeJS.Timeout | null = null;

    const connect = async (): Promise<void> => {
      const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: options.timeoutMs, application_name: 'qckeys-listen' });
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
    const stop = async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      const current = client;
      client = null;
      if (current) await current.end().catch(() => undefined);
    };
    listeners.push(stop);
    return stop;
  }

  async function listenPglite(channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
    await knex.raw('select 1'); // make sure the embedded database is open
    const unlisten = await pgliteOf(knex).listen(channel, handler.onMessage);
    const stop = async () => { await unlisten().catch(() => undefined); };
    listeners.push(stop);
    return stop;
  }

  return {
    knex,
    kind,
    listen: kind === 'postgres' ? listenPostgres : listenPglite,
    async ping(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
      try {
        return await Promise.race([knex.raw('select 1').then(() => true, () => false), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      for (const stop of listeners.splice(0)) await stop();
      await knex.destroy();
    },
  };
}

/** Applies pending migrations (as the connecting user), then checks that the service's role can be used. */
export async function migrateLatest(db: Database): Promise<string[]> {
  // databases migrated before names lost their extension recorded `….ts` or `….js`
  if (await db.knex.schema.hasTable('knex_migrations')) {
    await db.knex('knex_migrations').update({ name: db.knex.raw(`regexp_replace(name, '\\.(ts|js)$', '')`) }).whereRaw(`name ~ '\\.(ts|js)$'`);
  }
  const [, applied] = (await db.knex.migrate.latest()) as [number, string[]];
  const role = scopeSettings(db.knex)?.role;
  if (role) {
    try {
      await scopedTransaction(db.knex, ALL_ACCOUNTS, (trx) => trx.raw('select 1'));
    } catch (err) {
      throw new Error(`The connecting user cannot switch to DATABASE_ROLE ${role} (${(err as Error).message}): grant it, or set DATABASE_ROLE=none`, { cause: err });
    }
  }
  return applied;
}

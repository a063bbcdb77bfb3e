import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { CACHED_TEMPLATE_DIR, ensureTemplate, findTemplate } from '../../src/db/template';

/**
 * The PostgreSQL server the tests run on, when asked for: TEST_DATABASE_URL, else
 * DATABASE_URL when it points at a server. Without either, tests use embedded databases.
 */
export function serverUrl(): string | null {
  const url = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  return url && /^postgres(ql)?:\/\//.test(url) ? url : null;
}

/**
 * Jest's global setup: without a PostgreSQL server, every test file's embedded databases start
 * from a template (src/db/template.ts), made here once when there is no usable one. Without one,
 * each of them runs initdb.
 */
export default async function ensureEmbeddedTemplate(): Promise<void> {
  if (serverUrl() || findTemplate()) return;
  await ensureTemplate(CACHED_TEMPLATE_DIR).catch((err: unknown) => {
    console.warn(`no template for the embedded databases (${err instanceof Error ? err.message : String(err)}): each test file runs initdb`);
  });
}

/**
 * A transaction pooler in front of the server (TEST_DATABASE_POOLER_URL, e.g. the PgBouncer of
 * scripts/pg-rig.sh): the test databases are made on the server, and the service reaches them
 * through the pooler, as it runs behind PgBouncer.
 */
export function poolerUrl(): string | null {
  const url = process.env.TEST_DATABASE_POOLER_URL;
  return serverUrl() && url && /^postgres(ql)?:\/\//.test(url) ? url : null;
}

export interface TestDatabase {
  /** A DATABASE_URL value for the service (through the pooler, with one). */
  url: string;
  /** On a server: the same database as the requests' login, qckeys_authenticator (DATABASE_REQUEST_URL). */
  requestUrl: string | null;
  /** Through a pooler: the database straight on the server, for LISTEN (DATABASE_LISTEN_URL). */
  listenUrl: string | null;
  drop(): Promise<void>;
}

/**
 * The environment that points the service at a test database: DATABASE_URL and, on a server, the
 * requests' login; through a pooler, LISTEN's direct session and no prepared statements.
 */
export function serviceEnv(database: TestDatabase): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    ...database.requestUrl && { DATABASE_REQUEST_URL: database.requestUrl },
    ...database.listenUrl && { DATABASE_LISTEN_URL: database.listenUrl, DB_PREPARED_STATEMENTS: 'false' },
  };
}

/** A database of its own for one test file: a fresh PostgreSQL database, or in-memory PGlite. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const base = serverUrl();
  if (!base) return { url: 'memory://', requestUrl: null, listenUrl: null, drop: async () => undefined };
  const name = `qckeys_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const direct = new URL(base);
  direct.pathname = `/${name}`;
  const pooler = poolerUrl();
  const url = new URL(pooler ?? base);
  url.pathname = `/${name}`;
  const requestUrl = new URL(url);
  requestUrl.username = 'qckeys_authenticator';
  requestUrl.password = '';
  return {
    url: url.toString(),
    requestUrl: requestUrl.toString(),
    listenUrl: pooler ? direct.toString() : null,
    async drop() {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(`drop database if exists ${name} with (force)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A database that outlives the service processes of one test: its env for them, and its cleanup. */
export interface DurableDatabase {
  /** DATABASE_URL of a fresh PostgreSQL database, or DATA_DIR of an embedded one on disk. */
  env: Record<string, string>;
  /** The PostgreSQL URL, or null for the embedded database (under `${dataDir}/pglite`). */
  url: string | null;
  dataDir: string | null;
  /** Runs SQL as the database's owner; on the embedded database, only while no service has it open. */
  query<R>(sql: string): Promise<R[]>;
  drop(): Promise<void>;
}

export async function createDurableDatabase(): Promise<DurableDatabase> {
  if (serverUrl()) {
    const database = await createTestDatabase();
    return {
      env: serviceEnv(database), url: database.url, dataDir: null,
      async query<R>(sql: string) {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          return (await client.query(sql)).rows as R[];
        } finally {
          await client.end();
        }
      },
      drop: () => database.drop(),
    };
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-durable-'));
  return {
    env: { DATA_DIR: dataDir },
    url: null,
    dataDir,
    async query<R>(sql: string) {
      const db = new PGlite(path.join(dataDir, 'pglite'));
      try {
        return (await db.query<R>(sql)).rows;
      } finally {
        await db.close();
      }
    },
    drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
  };
}

import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { migrationConfig } from './migrations';

/** PGlite answers bytea as Uint8Array; the service works with Buffers, as pg gives them. */
const parsers: PGliteOptions['parsers'] = { 17: (value: string) => Buffer.from(value.slice(2), 'hex') };

/** An embedded database in `dataDir`, or in memory on the file system given. */
export function openPglite(where: { dataDir: string } | { fs: NonNullable<PGliteOptions['fs']> }): PGlite {
  return 'dataDir' in where ? new PGlite(where.dataDir, { parsers }) : new PGlite({ fs: where.fs, parsers });
}

/** knex over an embedded database (migrations, scripts and tests; the service's own statements go through its driver). */
export function pgliteKnexConfig(pglite: PGlite): Knex.Config {
  return {
    client: ClientPgLite,
    dialect: 'postgres',
    connection: () => ({ pglite }) as object,
    // the first connection opens the database (initdb for a new one without a template): slow on a busy machine
    acquireConnectionTimeout: 120_000,
    migrations: migrationConfig(),
  };
}

export const pgliteKnex = (pglite: PGlite): Knex => knexFactory(pgliteKnexConfig(pglite));

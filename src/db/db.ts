import { createHash } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import type { Statement } from './driver';
import { ALL_ACCOUNTS, type Tenant } from './tenant';

/**
 * The query builder of the stores: knex without a connection, used only to write SQL
 * (`toSQL()`); the statements run through a {@link Db}. Awaiting a builder itself fails.
 */
export const qb: Knex = knexFactory({ client: 'pg' });

/** What a store runs SQL on: a request's transaction, a mutation's, or one of the service's own. */
export interface Db {
  rows<R>(query: Query): Promise<R[]>;
  /** The first row, or undefined. */
  first<R>(query: Query): Promise<R | undefined>;
  /** Rows a data-changing statement touched. */
  execute(query: Query): Promise<number>;
}

/** A statement built with {@link qb}, or written out. */
export type Query = Knex.QueryBuilder | Knex.Raw | Statement;

export function statementOf(query: Query): Statement {
  if (typeof (query as Statement).text === 'string') return query as Statement;
  query = query as Knex.QueryBuilder | Knex.Raw;
  const { sql, bindings } = query.toSQL().toNative();
  return { text: sql, values: bindings };
}

/**
 * A statement to prepare once per connection (named after its text): for the hottest
 * statements whose text comes from a small fixed set. The driver may run it unprepared
 * (`DB_PREPARED_STATEMENTS=false`, a pooler that cannot keep prepared statements).
 */
export function prepared(text: string, values: readonly unknown[]): Statement {
  return { text, values, name: `qk_${createHash('sha1').update(text).digest('hex').slice(0, 20)}` };
}

/** A mutation's transaction: statements, and work for once the mutation succeeded and once it is committed. */
export interface MutationDb extends Db {
  /** Runs `callback` once the mutation's work is done and kept (in this process, before its answer is sent). */
  afterSuccess(callback: () => void): void;
  /** Waits for `wait` once the transaction has committed, before the request's answer is sent. */
  afterCommit(wait: () => Promise<unknown>): void;
}

/** Rows by ID from a table with `id` and `account_id`: of the tenant's account, or of any for ALL_ACCOUNTS. */
export function byIds(table: string, tenant: Tenant, ids: readonly string[]): Knex.QueryBuilder {
  const q = qb(table).whereRaw('id = any(?::text[])', [[...ids]]);
  if (tenant !== ALL_ACCOUNTS) q.where({ account_id: tenant });
  return q;
}

/** Names of an account's rows by ID, from a table with `id`, `account_id` and `name`. */
export async function namesByIds(db: Db, table: string, accountId: string, ids: readonly string[]): Promise<Map<string, string>> {
  const rows = await db.rows<{ id: string; name: string }>(byIds(table, accountId, ids).select('id', 'name'));
  return new Map(rows.map((r) => [r.id, r.name]));
}

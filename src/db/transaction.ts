import type { Knex } from 'knex';
import { fromDatabaseError } from '../errors';
import type { Context } from '../context';

/**
 * Runs one mutation's work in one transaction (a savepoint in the request's transaction on a
 * server): all of it is written or none. Database errors become API errors; the request's
 * loaders are dropped afterwards, so what the mutation returns is read fresh.
 */
export async function inTransaction<T>(ctx: Context, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  try {
    return await ctx.scope.transaction(work);
  } catch (err) {
    throw fromDatabaseError(err);
  } finally {
    ctx.resetLoaders();
  }
}

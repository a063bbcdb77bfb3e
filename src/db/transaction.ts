import type { Context } from '../context';
import { fromDatabaseError } from '../errors';
import type { MutationDb } from './db';

/**
 * Runs one mutation's work in one transaction (a savepoint in the request's transaction on a
 * server): all of it is written or none. Database errors become API errors; the request's
 * loaders are dropped afterwards, so what the mutation returns is read fresh.
 */
export async function inTransaction<T>(ctx: Context, work: (tx: MutationDb) => Promise<T>): Promise<T> {
  try {
    return await ctx.db.mutation(work);
  } catch (err) {
    throw fromDatabaseError(err);
  } finally {
    ctx.resetLoaders();
  }
}

import type { Knex } from 'knex';
import type { GraphQLResponse } from './server';

export type GraphQLErrorEntry = NonNullable<GraphQLResponse['errors']>[number];

/**
 * Asserts that a response failed with exactly one error of this code (and input field, when
 * given) and returns that error.
 */
export function expectError(res: GraphQLResponse<unknown>, code: string, field?: string): GraphQLErrorEntry {
  expect(res.errors?.map((e) => e.extensions?.code)).toEqual([code]);
  const [error] = res.errors as GraphQLErrorEntry[];
  if (field !== undefined) expect(error.extensions?.field).toBe(field);
  return error;
}

/**
 * Tables a mutation may write. Usage roll-ups and keys' `last_used_at` are left out: verification
 * writes them in the background, a little after the request.
 */
const WRITABLE_TABLES = [
  'channels', 'instances', 'instance_channels', 'teams', 'developers', 'developer_instances',
  'api_keys', 'api_key_secrets', 'api_key_teams', 'api_key_events',
];

/** Every row of every writable table, in a stable order: compare two to prove nothing was written. */
export async function snapshot(knex: Knex): Promise<Record<string, unknown[]>> {
  const result: Record<string, unknown[]> = {};
  for (const table of WRITABLE_TABLES) {
    const rows: Record<string, unknown>[] = await knex(table).select('*');
    result[table] = rows
      .map((row) => {
        if (table === 'api_keys') delete row.last_used_at;
        return JSON.stringify(row);
      })
      .sort();
  }
  return result;
}

/** Runs `work` and asserts that no row changed meanwhile; returns what `work` returned. */
export async function withoutWrites<T>(knex: Knex, work: () => Promise<T>): Promise<T> {
  const before = await snapshot(knex);
  const result = await work();
  expect(await snapshot(knex)).toEqual(before);
  return result;
}

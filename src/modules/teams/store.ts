import type { Knex } from 'knex';
import { likePattern } from '../../lib/validate';
import { newId } from '../../lib/ids';
import type { TeamRecord } from './model';

interface TeamRow { id: string; account_id: string; name: string; created_at: Date }

export const toTeamRecord = (r: TeamRow): TeamRecord => ({ id: r.id, accountId: r.account_id, name: r.name, createdAt: r.created_at });

function searchTeams(db: Knex, accountId: string, search: string | null) {
  const q = db<TeamRow>('teams').where({ account_id: accountId });
  if (search) q.whereRaw("lower(name) like ? escape '\\'", [likePattern(search)]);
  return q;
}

/** A page of teams by (lower(name), id), after the cursor. */
export async function pageTeams(db: Knex, accountId: string, search: string | null, after: unknown[] | null, limit: number): Promise<TeamRecord[]> {
  const q = searchTeams(db, accountId, search).orderByRaw('lower(name), id').limit(limit);
  if (after) q.whereRaw('(lower(name), id) > (?, ?)', after as string[]);
  return (await q).map(toTeamRecord);
}

export async function countTeams(db: Knex, accountId: string, search: string | null): Promise<number> {
  const row = await searchTeams(db, accountId, search).count<{ n: number }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

export async function teamsByIds(db: Knex, accountId: string | null, ids: readonly string[]): Promise<TeamRecord[]> {
  const q = db<TeamRow>('teams').whereIn('id', ids);
  if (accountId !== null) q.where({ account_id: accountId });
  return (await q).map(toTeamRecord);
}

/** Live keys per team. */
export async function keyCountsOfTeams(db: Knex, teamIds: readonly string[]): Promise<{ teamId: string; n: number }[]> {
  const rows: { team_id: string; n: number }[] = await db('api_key_teams')
    .join('api_keys', 'api_keys.id', 'api_key_teams.api_key_id')
    .whereIn('api_key_teams.team_id', teamIds)
    .whereNull('api_keys.deleted_at')
    .groupBy('api_key_teams.team_id')
    .select('api_key_teams.team_id', db.raw('count(*)::int as n'));
  return rows.map((r) => ({ teamId: r.team_id, n: Number(r.n) }));
}

export async function insertTeam(db: Knex, r: TeamRecord): Promise<void> {
  await db('teams').insert({ id: r.id, account_id: r.accountId, name: r.name, created_at: r.createdAt });
}

export async function teamNameTaken(db: Knex, accountId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = db('teams').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await q.first('id')) !== undefined;
}

/**
 * The account's teams of these names (case-insensitive), created when missing. Concurrent
 * creators of the same name both end with the one team.
 */
export async function ensureTeamsByName(db: Knex, accountId: string, names: readonly string[]): Promise<TeamRecord[]> {
  if (names.length === 0) return [];
  const now = new Date();
  await db.raw(
    `insert into teams (id, account_id, name, created_at)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[])
     on conflict (account_id, lower(name)) do nothing`,
    [names.map(() => newId("Team")), names.map(() => accountId), [...names], names.map(() => now)],
  );
  const rows: TeamRow[] = await db('teams').where({ account_id: accountId }).whereRaw('lower(name) = any(?::text[])', [names.map((n) => n.toLowerCase())]);
  return rows.map(toTeamRecord);
}

export async function renameTeamRow(db: Knex, accountId: string, id: string, name: string): Promise<TeamRecord | null> {
  const [row]: TeamRow[] = await db('teams').where({ id, account_id: accountId }).update({ name }).returning('*');
  return row ? toTeamRecord(row) : null;
}

export async function deleteTeamRow(db: Knex, accountId: string, id: string): Promise<boolean> {
  return (await db('teams').where({ id, account_id: accountId }).delete()) > 0;
}

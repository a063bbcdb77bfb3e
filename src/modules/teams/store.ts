import type { Knex } from 'knex';
import { byIds, namesByIds, qb, type Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import { newId } from '../../lib/ids';
import { likePattern } from '../../lib/validate';
import type { TeamRecord } from './model';

export interface TeamRow { id: string; account_id: string; name: string; created_at: Date | string }

/** A team row (from a table, or from JSON with its timestamp as text). */
export const toTeamRecord = (r: TeamRow): TeamRecord => ({ id: r.id, accountId: r.account_id, name: r.name, createdAt: new Date(r.created_at) });

function searchTeams(accountId: string, search: string | null): Knex.QueryBuilder {
  const q = qb('teams').where({ account_id: accountId });
  if (search) q.whereRaw("lower(name) like ? escape '\\'", [likePattern(search)]);
  return q;
}

/** A page of teams by (lower(name), id), after the cursor. */
export async function pageTeams(db: Db, accountId: string, search: string | null, after: unknown[] | null, limit: number): Promise<TeamRecord[]> {
  const q = searchTeams(accountId, search).orderByRaw('lower(name), id').limit(limit);
  if (after) q.whereRaw('(lower(name), id) > (?, ?)', after as string[]);
  return (await db.rows<TeamRow>(q)).map(toTeamRecord);
}

export async function countTeams(db: Db, accountId: string, search: string | null): Promise<number> {
  const row = await db.first<{ n: number }>(searchTeams(accountId, search).count({ n: '*' }));
  return Number(row?.n ?? 0);
}

/** Teams by ID, of the tenant's account. */
export async function teamsByIds(db: Db, tenant: Tenant, ids: readonly string[]): Promise<TeamRecord[]> {
  return (await db.rows<TeamRow>(byIds('teams', tenant, ids))).map(toTeamRecord);
}

export async function insertTeam(db: Db, r: TeamRecord): Promise<void> {
  await db.execute(qb('teams').insert({ id: r.id, account_id: r.accountId, name: r.name, created_at: r.createdAt }));
}

export async function teamNameTaken(db: Db, accountId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = qb('teams').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await db.first(q.first('id'))) !== undefined;
}

/**
 * The account's teams of these names (case-insensitive), created when missing. Concurrent
 * creators of the same name both end with the one team.
 */
export async function ensureTeamsByName(db: Db, accountId: string, names: readonly string[], now: Date): Promise<TeamRecord[]> {
  if (names.length === 0) return [];
  await db.execute(qb.raw(
    `insert into teams (id, account_id, name, created_at)
     select i, ?, n, ? from unnest(?::text[], ?::text[]) as x(i, n)
     on conflict (account_id, lower(name)) do nothing`,
    [accountId, now, names.map(() => newId('Team')), [...names]],
  ));
  const rows = await db.rows<TeamRow>(qb('teams').where({ account_id: accountId }).whereRaw('lower(name) = any(?::text[])', [names.map((n) => n.toLowerCase())]));
  return rows.map(toTeamRecord);
}

export async function renameTeamRow(db: Db, accountId: string, id: string, name: string): Promise<TeamRecord | null> {
  const row = await db.first<TeamRow>(qb('teams').where({ id, account_id: accountId }).update({ name }).returning('*'));
  return row ? toTeamRecord(row) : null;
}

export async function deleteTeamRow(db: Db, accountId: string, id: string): Promise<boolean> {
  return (await db.execute(qb('teams').where({ id, account_id: accountId }).delete())) > 0;
}

/** Names of teams by ID (usage labels). */
export const teamNames = (db: Db, accountId: string, ids: readonly string[]): Promise<Map<string, string>> => namesByIds(db, 'teams', accountId, ids);

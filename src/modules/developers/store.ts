import type { Knex } from 'knex';
import { byIds, namesByIds, qb, type Db } from '../../db/db';
import { ALL_ACCOUNTS, type Tenant } from '../../db/tenant';
import { newId } from '../../lib/ids';
import { likePattern } from '../../lib/validate';
import type { DeveloperRecord } from './model';

export interface DeveloperRow {
  id: string; account_id: string; name: string; active: boolean; created_at: Date | string; deactivated_at: Date | string | null;
}

/** A developer row (from a table, or from JSON with its timestamps as text). */
export const toDeveloperRecord = (r: DeveloperRow): DeveloperRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, active: r.active, createdAt: new Date(r.created_at),
  deactivatedAt: r.deactivated_at === null ? null : new Date(r.deactivated_at),
});

function matching(accountId: string, instanceId: string | null, search: string | null): Knex.QueryBuilder {
  const q = qb('developers as d').where('d.account_id', accountId);
  if (instanceId) {
    q.whereExists(qb('developer_instances as di').whereRaw('di.developer_id = d.id').where('di.account_id', accountId)
      .where('di.instance_id', instanceId).select(qb.raw('1')));
  }
  if (search) q.whereRaw(`lower(d.name) like ? escape '\\'`, [likePattern(search)]);
  return q;
}

export async function pageDevelopers(
  db: Db, accountId: string, instanceId: string | null, search: string | null, after: unknown[] | null, limit: number,
): Promise<DeveloperRecord[]> {
  const q = matching(accountId, instanceId, search).select('d.*').orderByRaw('lower(d.name), d.id').limit(limit);
  if (after) q.whereRaw('(lower(d.name), d.id) > (?, ?)', after as string[]);
  return (await db.rows<DeveloperRow>(q)).map(toDeveloperRecord);
}

export async function countDevelopers(db: Db, accountId: string, instanceId: string | null, search: string | null): Promise<number> {
  const row = await db.first<{ n: number }>(matching(accountId, instanceId, search).count({ n: '*' }));
  return Number(row?.n ?? 0);
}

/** Developers by ID, of the tenant's account. */
export async function developersByIds(db: Db, tenant: Tenant, ids: readonly string[]): Promise<DeveloperRecord[]> {
  return (await db.rows<DeveloperRow>(byIds('developers', tenant, ids))).map(toDeveloperRecord);
}

export async function instanceIdsOfDevelopers(db: Db, tenant: Tenant, developerIds: readonly string[]): Promise<{ developerId: string; instanceId: string }[]> {
  const q = qb('developer_instances as di')
    .join('instances as i', 'i.id', 'di.instance_id')
    .whereRaw('di.developer_id = any(?::text[])', [[...developerIds]])
    .orderByRaw('lower(i.name), i.id')
    .select('di.developer_id', 'di.instance_id');
  if (tenant !== ALL_ACCOUNTS) q.where('di.account_id', tenant);
  const rows = await db.rows<{ developer_id: string; instance_id: string }>(q);
  return rows.map((r) => ({ developerId: r.developer_id, instanceId: r.instance_id }));
}

export async function lockDeveloper(db: Db, accountId: string, id: string): Promise<DeveloperRecord | null> {
  const row = await db.first<DeveloperRow>(qb('developers').where({ id, account_id: accountId }).forUpdate().first());
  return row ? toDeveloperRecord(row) : null;
}

/** The account's developer of that name (case-insensitive), created when new. */
export async function ensureDeveloperByName(db: Db, accountId: string, name: string, now: Date): Promise<DeveloperRecord> {
  await db.execute(qb.raw(
    `insert into developers (id, account_id, name, active, created_at) values (?, ?, ?, true, ?)
     on conflict (account_id, lower(name)) do nothing`,
    [newId('Developer'), accountId, name, now],
  ));
  const row = await db.first<DeveloperRow>(qb('developers').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]).first());
  return toDeveloperRecord(row as DeveloperRow);
}

/** Records that the developer worked in the instance. */
export async function linkDeveloperToInstance(db: Db, accountId: string, developerId: string, instanceId: string, now: Date): Promise<void> {
  await db.execute(qb.raw(
    `insert into developer_instances (account_id, developer_id, instance_id, first_seen_at, last_seen_at) values (?, ?, ?, ?, ?)
     on conflict (developer_id, instance_id) do update set last_seen_at = excluded.last_seen_at`,
    [accountId, developerId, instanceId, now, now],
  ));
}

export async function deactivateDeveloperRow(db: Db, accountId: string, id: string, at: Date): Promise<DeveloperRecord> {
  const row = await db.first<DeveloperRow>(qb('developers').where({ id, account_id: accountId })
    .update({ active: false, deactivated_at: qb.raw('coalesce(deactivated_at, ?)', [at]) }).returning('*'));
  return toDeveloperRecord(row as DeveloperRow);
}

/** Names of developers by ID (usage labels). */
export const developerNames = (db: Db, accountId: string, ids: readonly string[]): Promise<Map<string, string>> => namesByIds(db, 'developers', accountId, ids);

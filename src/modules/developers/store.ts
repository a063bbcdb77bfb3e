import type { Knex } from 'knex';
import { newId } from '../../lib/ids';
import { likePattern } from '../../lib/validate';
import type { DeveloperRecord } from './model';

interface DeveloperRow { id: string; account_id: string; name: string; active: boolean; created_at: Date; deactivated_at: Date | null }

const toRecord = (r: DeveloperRow): DeveloperRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, active: r.active, createdAt: r.created_at, deactivatedAt: r.deactivated_at,
});

function matching(db: Knex, accountId: string, instanceId: string | null, search: string | null): Knex.QueryBuilder {
  const q = db('developers as d').where('d.account_id', accountId);
  if (instanceId) {
    q.whereExists(db('developer_instances as di').whereRaw('di.developer_id = d.id').where('di.instance_id', instanceId).select(db.raw('1')));
  }
  if (search) q.whereRaw(`lower(d.name) like ? escape '\\'`, [likePattern(search)]);
  return q;
}

export async function pageDevelopers(
  db: Knex, accountId: string, instanceId: string | null, search: string | null, after: unknown[] | null, limit: number,
): Promise<DeveloperRecord[]> {
  const q = matching(db, accountId, instanceId, search).select('d.*').orderByRaw('lower(d.name), d.id').limit(limit);
  if (after) q.whereRaw('(lower(d.name), d.id) > (?, ?)', after as string[]);
  return ((await q) as DeveloperRow[]).map(toRecord);
}

export async function countDevelopers(db: Knex, accountId: string, instanceId: string | null, search: string | null): Promise<number> {
  const row = await matching(db, accountId, instanceId, search).count<{ n: number }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

export async function developersByIds(db: Knex, accountId: string | null, ids: readonly string[]): Promise<DeveloperRecord[]> {
  const q = db<DeveloperRow>('developers').whereIn('id', ids);
  if (accountId !== null) q.where({ account_id: accountId });
  return (await q).map(toRecord);
}

export async function instanceIdsOfDevelopers(db: Knex, developerIds: readonly string[]): Promise<{ developerId: string; instanceId: string }[]> {
  const rows: { developer_id: string; instance_id: string }[] = await db('developer_instances as di')
    .join('instances as i', 'i.id', 'di.instance_id')
    .whereIn('di.developer_id', developerIds)
    .orderByRaw('lower(i.name), i.id')
    .select('di.developer_id', 'di.instance_id');
  return rows.map((r) => ({ developerId: r.developer_id, instanceId: r.instance_id }));
}

export async function activeKeyCounts(db: Knex, developerIds: readonly string[], now: Date): Promise<{ developerId: string; n: number }[]> {
  const rows: { developer_id: string; n: number }[] = await db('api_keys')
    .whereIn('developer_id', developerIds)
    .whereNull('deleted_at').whereNull('revoked_at').where('expires_at', '>', now)
    .groupBy('developer_id')
    .select('developer_id', db.raw('count(*)::int as n'));
  return rows.map((r) => ({ developerId: r.developer_id, n: Number(r.n) }));
}

export async function lockDeveloper(db: Knex, accountId: string, id: string): Promise<DeveloperRecord | null> {
  const row: DeveloperRow | undefined = await db('developers').where({ id, account_id: accountId }).forUpdate().first();
  return row ? toRecord(row) : null;
}

/** The account's developer of that name (case-insensitive), created when new. */
export async function ensureDeveloperByName(db: Knex, accountId: string, name: string): Promise<DeveloperRecord> {
  await db.raw(
    `insert into developers (id, account_id, name, active, created_at) values (?, ?, ?, true, now())
     on conflict (account_id, lower(name)) do nothing`,
    [newId('Developer'), accountId, name],
  );
  const row: DeveloperRow = await db('developers').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]).first();
  return toRecord(row);
}

/** Records that the developer worked in the instance. */
export async function linkDeveloperToInstance(db: Knex, accountId: string, developerId: string, instanceId: string): Promise<void> {
  await db.raw(
    `insert into developer_instances (account_id, developer_id, instance_id) values (?, ?, ?)
     on conflict (developer_id, instance_id) do update set last_seen_at = now()`,
    [accountId, developerId, instanceId],
  );
}

export async function deactivateDeveloperRow(db: Knex, accountId: string, id: string, at: Date): Promise<DeveloperRecord> {
  const [row]: DeveloperRow[] = await db('developers').where({ id, account_id: accountId })
    .update({ active: false, deactivated_at: db.raw('coalesce(deactivated_at, ?)', [at]) }).returning('*');
  return toRecord(row);
}

import type { Knex } from 'knex';
import type { ApiKeyOrderField, ApiKeyStatus, Cloud, OrderDirection } from '../../generated/graphql';
import { preparedStatement } from '../../db/database';
import type { PageRequest } from '../../lib/connection';
import { likePattern } from '../../lib/validate';
import type { ChannelRecord } from '../channels/model';
import type { DeveloperRecord } from '../developers/model';
import type { InstanceRecord } from '../instances/model';
import type { TeamRecord } from '../teams/model';
import type { ApiKeyEventRecord, ApiKeyRecord } from './model';
import type { KeyRelations } from './selection';

interface ApiKeyRow {
  id: string; account_id: string; name: string; hint: string; cloud: Cloud; instance_id: string; channel_id: string;
  developer_id: string; expires_at: Date; lifetime_seconds: number; created_at: Date; updated_at: Date;
  renewed_at: Date | null; revoked_at: Date | null; revocation_reason: string | null; last_used_at: Date | null;
  deleted_at: Date | null; version: number;
}

export const toApiKeyRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, hint: r.hint, cloud: r.cloud, instanceId: r.instance_id,
  channelId: r.channel_id, developerId: r.developer_id, expiresAt: r.expires_at, lifetimeSeconds: r.lifetime_seconds,
  createdAt: r.created_at, updatedAt: r.updated_at, renewedAt: r.renewed_at, revokedAt: r.revoked_at,
  revocationReason: r.revocation_reason, lastUsedAt: r.last_used_at, deletedAt: r.deleted_at, version: r.version,
});

const toRow = (k: ApiKeyRecord) => ({
  id: k.id, account_id: k.accountId, name: k.name, hint: k.hint, cloud: k.cloud, instance_id: k.instanceId,
  channel_id: k.channelId, developer_id: k.developerId, expires_at: k.expiresAt, lifetime_seconds: k.lifetimeSeconds,
  created_at: k.createdAt, updated_at: k.updatedAt, renewed_at: k.renewedAt, revoked_at: k.revokedAt,
  revocation_reason: k.revocationReason, last_used_at: k.lastUsedAt, deleted_at: k.deletedAt, version: k.version,
});

/** The listing's filter, validated. */
export interface KeyFilter {
  search: string | null;
  teamIds: string[];
  withoutTeam: boolean | null;
  developerIds: string[];
  channelIds: string[];
  instanceIds: string[];
  clouds: Cloud[];
  statuses: ApiKeyStatus[];
  expiresBefore: Date | null;
  expiresAfter: Date | null;
}

export interface KeyOrder { field: ApiKeyOrderField; direction: OrderDirection }

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;
const isText = (v: unknown): boolean => typeof v === 'string';
const isTimestamp = (v: unknown): boolean => typeof v === 'string' && ISO_TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v));

// SQL of each sort value, how a cursor value is cast back, and which cursor values the cast accepts.
const SORT: Record<ApiKeyOrderField, { expr: string; cast: string; valueOf: (k: ApiKeyRecord) => string; accepts: (v: unknown) => boolean }> = {
  NAME: { expr: 'lower(k.name)', cast: 'text', valueOf: (k) => k.name.toLowerCase(), accepts: isText },
  CREATED_AT: { expr: 'k.created_at', cast: 'timestamptz', valueOf: (k) => k.createdAt.toISOString(), accepts: isTimestamp },
  EXPIRES_AT: { expr: 'k.expires_at', cast: 'timestamptz', valueOf: (k) => k.expiresAt.toISOString(), accepts: isTimestamp },
  LAST_USED_AT: {
    expr: `coalesce(k.last_used_at, '-infinity'::timestamptz)`,
    cast: 'timestamptz',
    valueOf: (k) => k.lastUsedAt?.toISOString() ?? '-infinity',
    accepts: (v) => v === '-infinity' || isTimestamp(v),
  },
};

export const cursorOfKey = (order: KeyOrder) => (k: ApiKeyRecord): unknown[] => [SORT[order.field].valueOf(k), k.id];

/** True when cursor values fit this order (a cursor of another order would fail in SQL). */
export const isKeyCursor = (order: KeyOrder, values: unknown[]): boolean =>
  values.length === 2 && SORT[order.field].accepts(values[0]) && isText(values[1]);

/** Live keys of the account that match the filter, as `k`. */
function matching(db: Knex, accountId: string, f: KeyFilter, now: Date): Knex.QueryBuilder {
  const q = db('api_keys as k').where('k.account_id', accountId).whereNull('k.deleted_at');
  // through the names' own trigram index (migrations/20261126000030_key_name_search.ts)
  if (f.search) q.whereRaw('k.id = any(array(select api_key_ids_named_like(?, ?)))', [accountId, likePattern(f.search)]);
  if (f.teamIds.length) {
    q.whereExists(db('api_key_teams as kt').whereRaw('kt.api_key_id = k.id').whereIn('kt.team_id', f.teamIds).select(db.raw('1')));
  }
  if (f.withoutTeam !== null) {
    const hasTeam = db('api_key_teams as kt0').whereRaw('kt0.api_key_id = k.id').select(db.raw('1'));
    if (f.withoutTeam) q.whereNotExists(hasTeam);
    else q.whereExists(hasTeam);
  }
  if (f.developerIds.length) q.whereIn('k.developer_id', f.developerIds);
  if (f.channelIds.length) q.whereIn('k.channel_id', f.channelIds);
  if (f.instanceIds.length) q.whereIn('k.instance_id', f.instanceIds);
  if (f.clouds.length) q.whereIn('k.cloud', f.clouds);
  if (f.statuses.length && f.statuses.length < 3) {
    q.where((w) => {
      for (const status of f.statuses) {
        if (status === 'REVOKED') w.orWhereNotNull('k.revoked_at');
        if (status === 'ACTIVE') w.orWhere((a) => a.whereNull('k.revoked_at').where('k.expires_at', '>', now));
        if (status === 'EXPIRED') w.orWhere((e) => e.whereNull('k.revoked_at').where('k.expires_at', '<=', now));
      }
    });
  }
  if (f.expiresBefore) q.where('k.expires_at', '<', f.expiresBefore);
  if (f.expiresAfter) q.where('k.expires_at', '>=', f.expiresAfter);
  return q;
}

/**
 * How many keys, in the listing's order, a search reads before it turns to the names' index
 * (a word in 6 % of the names fills a page of 50 after ~850 keys).
 */
export const SEARCH_WALK_LIMIT = 1000;

/** The listing's order and cursor on `q` (keys as `k`), `limit` rows. */
function ordered(q: Knex.QueryBuilder, order: KeyOrder, page: PageRequest, limit: number): Knex.QueryBuilder {
  const sort = SORT[order.field];
  const ascending = (order.direction === 'ASC') !== page.backward;
  const dir = ascending ? 'asc' : 'desc';
  q.orderByRaw(`${sort.expr} ${dir}, k.id ${dir}`).limit(limit);
  if (page.cursor) {
    q.whereRaw(`(${sort.expr}, k.id) ${ascending ? '>' : '<'} (?::${sort.cast}, ?)`, page.cursor as string[]);
  }
  return q;
}

const records = async (q: Knex.QueryBuilder): Promise<ApiKeyRecord[]> => ((await q) as ApiKeyRow[]).map(toApiKeyRecord);

/**
 * One page of the listing by keyset: `limit + 1` rows in the page's direction.
 *
 * A search for a common word through the names' trigram index would read thousands of keys only
 * to sort them and keep 50 (43 ms for a word in 6 % of 100,000 names). So a search first reads
 * the listing's order, at most `walkLimit` keys, testing each name, and stops once the page is
 * full (2.3 ms for that word). When that falls short (a rarer word, other filters, the end of
 * the results), the page is read from every key the names' index matches.
 */
export async function pageKeys(
  db: Knex, accountId: string, f: KeyFilter, order: KeyOrder, page: PageRequest, now: Date, walkLimit = SEARCH_WALK_LIMIT,
): Promise<ApiKeyRecord[]> {
  const rows = page.limit + 1;
  const matched = () => records(ordered(matching(db, accountId, f, now).select('k.*'), order, page, rows));
  if (!f.search) return matched();
  const walk = ordered(matching(db, accountId, { ...f, search: null }, now).select('k.*'), order, page, walkLimit);
  const named = db.select('k.*').from(walk.as('k')).whereRaw(`lower(k.name) like ? escape '\\'`, [likePattern(f.search)]);
  const found = await records(ordered(named, order, { ...page, cursor: null }, rows));
  return found.length === rows ? found : matched();
}

export async function countKeys(db: Knex, accountId: string, f: KeyFilter, now: Date): Promise<number> {
  const row = await matching(db, accountId, f, now).count<{ n: number }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

/** Related objects of a page of keys, as the loaders would have fetched them one by one. */
export interface PageRelations {
  developers: DeveloperRecord[];
  instances: InstanceRecord[];
  channels: ChannelRecord[];
  /** Team IDs of each key (every key of the page, in team-name order), when teams were asked for. */
  teamIdsByKey: Map<string, string[]> | null;
  teams: TeamRecord[];
}

type Json = Record<string, string | boolean | null>;
const dateOf = (v: string | boolean | null) => new Date(v as string);
const orNull = (v: string | boolean | null) => (v === null ? null : new Date(v as string));

/**
 * The developers, instances, channels and teams a page of keys shows, in one statement
 * instead of one per loader (the listing primes the loaders with them).
 */
export async function relationsOfKeys(db: Knex, accountId: string, keys: readonly ApiKeyRecord[], wanted: KeyRelations): Promise<PageRelations> {
  const parts: string[] = [];
  const bindings: (string | string[])[] = [];
  const ids = (pick: (k: ApiKeyRecord) => string) => [...new Set(keys.map(pick))];
  if (wanted.developer) {
    parts.push(`(select coalesce(json_agg(json_build_object('id', d.id, 'accountId', d.account_id, 'name', d.name, 'active', d.active,
      'createdAt', d.created_at, 'deactivatedAt', d.deactivated_at)), '[]') from developers d where d.account_id = ? and d.id = any(?::text[])) as developers`);
    bindings.push(accountId, ids((k) => k.developerId));
  }
  if (wanted.instance) {
    parts.push(`(select coalesce(json_agg(json_build_object('id', i.id, 'accountId', i.account_id, 'name', i.name, 'cloud', i.cloud, 'url', i.url,
      'createdAt', i.created_at, 'updatedAt', i.updated_at)), '[]') from instances i where i.account_id = ? and i.id = any(?::text[])) as instances`);
    bindings.push(accountId, ids((k) => k.instanceId));
  }
  if (wanted.channel) {
    parts.push(`(select coalesce(json_agg(json_build_object('id', c.id, 'accountId', c.account_id, 'name', c.name, 'createdAt', c.created_at)), '[]')
      from channels c where c.account_id = ? and c.id = any(?::text[])) as channels`);
    bindings.push(accountId, ids((k) => k.channelId));
  }
  if (wanted.teams) {
    // each key's teams with the teams themselves, from one scan of the links (teams repeat across
    // keys). The keys are the account's, and so are their teams: a filter on the teams' account
    // here would turn the plan into a scan of every team of the account per link.
    parts.push(`(select coalesce(json_agg(json_build_array(kt.api_key_id, t.id, t.name, t.created_at) order by lower(t.name), t.id), '[]')
      from api_key_teams kt join teams t on t.id = kt.team_id where kt.api_key_id = any(?::text[])) as key_teams`);
    bindings.push(ids((k) => k.id));
  }
  const empty: PageRelations = { developers: [], instances: [], channels: [], teamIdsByKey: null, teams: [] };
  if (parts.length === 0 || keys.length === 0) return empty;
  // one of 15 texts, run for every page: prepared
  const sql = `select ${parts.join(', ')}`;
  const result = await db.raw(sql, bindings).options(preparedStatement(sql));
  const row = (result as { rows: Record<string, Json[] | string[][] | undefined>[] }).rows[0];
  const list = (name: string) => (row[name] ?? []) as Json[];
  let teamIdsByKey: Map<string, string[]> | null = null;
  const teams = new Map<string, TeamRecord>();
  if (wanted.teams) {
    teamIdsByKey = new Map(keys.map((k) => [k.id, [] as string[]]));
    for (const [keyId, teamId, name, createdAt] of (row.key_teams ?? []) as [string, string, string, string][]) {
      teamIdsByKey.get(keyId)?.push(teamId);
      if (!teams.has(teamId)) teams.set(teamId, { id: teamId, accountId, name, createdAt: new Date(createdAt) });
    }
  }
  return {
    developers: list('developers').map((d) => ({
      id: d.id as string, accountId: d.accountId as string, name: d.name as string, active: d.active as boolean,
      createdAt: dateOf(d.createdAt), deactivatedAt: orNull(d.deactivatedAt),
    })),
    instances: list('instances').map((i) => ({
      id: i.id as string, accountId: i.accountId as string, name: i.name as string, cloud: i.cloud as Cloud, url: i.url as string | null,
      createdAt: dateOf(i.createdAt), updatedAt: dateOf(i.updatedAt),
    })),
    channels: list('channels').map((c) => ({ id: c.id as string, accountId: c.accountId as string, name: c.name as string, createdAt: dateOf(c.createdAt) })),
    teamIdsByKey,
    teams: [...teams.values()],
  };
}

/** Every live key matching the filter, locked for a bulk change, in ID order (as {@link lockKeys}). */
export async function lockKeysMatching(db: Knex, accountId: string, f: KeyFilter, now: Date): Promise<ApiKeyRecord[]> {
  return records(matching(db, accountId, f, now).select('k.*').orderBy('k.id').forUpdate());
}

/** Live keys by ID; with an account, only that account's. */
export async function keysByIds(db: Knex, accountId: string | null, ids: readonly string[]): Promise<ApiKeyRecord[]> {
  const q = db<ApiKeyRow>('api_keys').whereRaw('id = any(?::text[])', [[...ids]]).whereNull('deleted_at');
  if (accountId !== null) q.where({ account_id: accountId });
  return (await q).map(toApiKeyRecord);
}

/** Live keys of the account, locked for update, in ID order (so concurrent bulk changes cannot deadlock). */
export async function lockKeys(db: Knex, accountId: string, ids: readonly string[]): Promise<ApiKeyRecord[]> {
  const rows: ApiKeyRow[] = await db('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]])
    .whereNull('deleted_at').orderBy('id').forUpdate();
  return rows.map(toApiKeyRecord);
}

export async function insertKey(db: Knex, key: ApiKeyRecord): Promise<void> {
  await db('api_keys').insert(toRow(key));
}

export async function saveKey(db: Knex, key: ApiKeyRecord): Promise<void> {
  const { id, account_id, ...fields } = toRow(key);
  await db('api_keys').where({ id, account_id }).update(fields);
}

// Lists of IDs travel as one array parameter (`= any(?)`): one statement however many keys a
// bulk change selects, instead of one placeholder per ID and chunks under the 65,535 limit.

/** Bumps version and updated_at of many keys at once. */
export async function touchKeys(db: Knex, accountId: string, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await db('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]])
    .update({ version: db.raw('version + 1'), updated_at: at });
}

export async function keyNameTaken(db: Knex, instanceId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = db('api_keys').where({ instance_id: instanceId }).whereNull('deleted_at').whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await q.first('id')) !== undefined;
}

export async function insertSecret(db: Knex, accountId: string, keyId: string, digest: Buffer): Promise<void> {
  await db('api_key_secrets').insert({ digest, account_id: accountId, api_key_id: keyId });
}

/**
 * Ends the current secrets of a key: they stop verifying at `validUntil` (a grace period),
 * or are removed at once when it is null. Secrets already in a grace period keep theirs.
 */
export async function retireSecrets(db: Knex, keyId: string, validUntil: Date | null): Promise<void> {
  if (validUntil === null) {
    await db('api_key_secrets').where({ api_key_id: keyId }).delete();
    return;
  }
  await db('api_key_secrets').where({ api_key_id: keyId }).whereNull('valid_until').update({ valid_until: validUntil });
  await db('api_key_secrets').where({ api_key_id: keyId }).where('valid_until', '<=', new Date()).delete();
}

export async function deleteSecrets(db: Knex, keyIds: readonly string[]): Promise<void> {
  await db('api_key_secrets').whereRaw('api_key_id = any(?::text[])', [[...keyIds]]).delete();
}

export async function teamIdsOfKeys(db: Knex, keyIds: readonly string[]): Promise<{ apiKeyId: string; teamId: string }[]> {
  const rows: { api_key_id: string; team_id: string }[] = await db('api_key_teams as kt')
    .join('teams as t', 't.id', 'kt.team_id')
    .whereRaw('kt.api_key_id = any(?::text[])', [[...keyIds]])
    .orderByRaw('lower(t.name), t.id')
    .select('kt.api_key_id', 'kt.team_id');
  return rows.map((r) => ({ apiKeyId: r.api_key_id, teamId: r.team_id }));
}

export async function addKeyTeams(db: Knex, accountId: string, pairs: { apiKeyId: string; teamId: string }[]): Promise<void> {
  if (pairs.length === 0) return;
  await db.raw(
    `insert into api_key_teams (account_id, api_key_id, team_id)
     select ?, k, t from unnest(?::text[], ?::text[]) as x(k, t)
     on conflict (api_key_id, team_id) do nothing`,
    [accountId, pairs.map((p) => p.apiKeyId), pairs.map((p) => p.teamId)],
  );
}

export async function removeKeyTeams(db: Knex, keyIds: readonly string[], teamIds: readonly string[]): Promise<void> {
  if (keyIds.length === 0 || teamIds.length === 0) return;
  await db('api_key_teams').whereRaw('api_key_id = any(?::text[])', [[...keyIds]]).whereRaw('team_id = any(?::text[])', [[...teamIds]]).delete();
}

/** Live, unrevoked, unexpired keys of a developer, locked. */
export async function lockActiveKeysOfDeveloper(db: Knex, accountId: string, developerId: string, now: Date): Promise<ApiKeyRecord[]> {
  const rows: ApiKeyRow[] = await db('api_keys')
    .where({ account_id: accountId, developer_id: developerId })
    .whereNull('deleted_at').whereNull('revoked_at').where('expires_at', '>', now)
    .orderBy('id').forUpdate();
  return rows.map(toApiKeyRecord);
}

// ---- history ----

interface EventRow { id: string; account_id: string; api_key_id: string; api_key_name: string; type: ApiKeyEventRecord['type']; actor: string; at: Date; changes: Record<string, unknown> | string | null }

const toEventRecord = (r: EventRow): ApiKeyEventRecord => ({
  id: r.id, accountId: r.account_id, apiKeyId: r.api_key_id, apiKeyName: r.api_key_name, type: r.type, actor: r.actor, at: r.at,
  changes: typeof r.changes === 'string' ? (JSON.parse(r.changes) as Record<string, unknown>) : r.changes,
});

export interface EventFilter {
  apiKeyIds: string[];
  types: string[];
  actor: string | null;
  from: Date | null;
  to: Date | null;
}

function matchingEvents(db: Knex, accountId: string, f: EventFilter): Knex.QueryBuilder {
  const q = db('api_key_events').where({ account_id: accountId });
  if (f.apiKeyIds.length) q.whereIn('api_key_id', f.apiKeyIds);
  if (f.types.length) q.whereIn('type', f.types);
  if (f.actor !== null) q.where({ actor: f.actor });
  if (f.from) q.where('at', '>=', f.from);
  if (f.to) q.where('at', '<', f.to);
  return q;
}

/** Newest first; event IDs are time-ordered, so the ID alone is the sort key. */
export async function pageEvents(db: Knex, accountId: string, f: EventFilter, afterId: string | null, limit: number): Promise<ApiKeyEventRecord[]> {
  const q = matchingEvents(db, accountId, f).orderBy('id', 'desc').limit(limit + 1);
  if (afterId) q.where('id', '<', afterId);
  return ((await q) as EventRow[]).map(toEventRecord);
}

export async function countEvents(db: Knex, accountId: string, f: EventFilter): Promise<number> {
  const row = await matchingEvents(db, accountId, f).count<{ n: number }>({ n: '*' }).first();
  return Number(row?.n ?? 0);
}

export async function eventById(db: Knex, accountId: string, id: string): Promise<ApiKeyEventRecord | null> {
  const row: EventRow | undefined = await db('api_key_events').where({ id, account_id: accountId }).first();
  return row ? toEventRecord(row) : null;
}

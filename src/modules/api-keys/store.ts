import type { Knex } from 'knex';
import { byIds, namesByIds, prepared, qb, type Db } from '../../db/db';
import { ALL_ACCOUNTS, type Tenant } from '../../db/tenant';
import type { ApiKeyOrderField, ApiKeyStatus, Cloud, OrderDirection } from '../../generated/graphql';
import type { PageRequest } from '../../lib/connection';
import { likePattern } from '../../lib/validate';
import type { ChannelRecord } from '../channels/model';
import { toChannelRecord, type ChannelRow } from '../channels/store';
import type { DeveloperRecord } from '../developers/model';
import { toDeveloperRecord, type DeveloperRow } from '../developers/store';
import type { InstanceRecord } from '../instances/model';
import { toInstanceRecord, type InstanceRow } from '../instances/store';
import type { TeamRecord } from '../teams/model';
import { toTeamRecord, type TeamRow } from '../teams/store';
import type { VerifiableKey } from '../verification/model';
import type { CatalogKind, CatalogRecords } from './catalog';
import type { ApiKeyEventRecord, ApiKeyRecord } from './model';
import type { KeyRelations } from './selection';

interface ApiKeyRow {
  id: string; account_id: string; name: string; hint: string; cloud: Cloud; instance_id: string; channel_id: string;
  developer_id: string; expires_at: Date; lifetime_seconds: number; created_at: Date; updated_at: Date;
  renewed_at: Date | null; revoked_at: Date | null; revocation_reason: string | null; last_used_at: Date | null;
  deleted_at: Date | null; version: number;
}

const toApiKeyRecord = (r: ApiKeyRow): ApiKeyRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, hint: r.hint, cloud: r.cloud, instanceId: r.instance_id,
  channelId: r.channel_id, developerId: r.developer_id, expiresAt: r.expires_at, lifetimeSeconds: r.lifetime_seconds,
  createdAt: r.created_at, updatedAt: r.updated_at, renewedAt: r.renewed_at, revokedAt: r.revoked_at,
  revocationReason: r.revocation_reason, lastUsedAt: r.last_used_at, deletedAt: r.deleted_at, version: r.version,
});

const toRow = (k: ApiKeyRecord): ApiKeyRow => ({
  id: k.id, account_id: k.accountId, name: k.name, hint: k.hint, cloud: k.cloud, instance_id: k.instanceId,
  channel_id: k.channelId, developer_id: k.developerId, expires_at: k.expiresAt, lifetime_seconds: k.lifetimeSeconds,
  created_at: k.createdAt, updated_at: k.updatedAt, renewed_at: k.renewedAt, revoked_at: k.revokedAt,
  revocation_reason: k.revocationReason, last_used_at: k.lastUsedAt, deleted_at: k.deletedAt, version: k.version,
});

const records = async (db: Db, q: Knex.QueryBuilder): Promise<ApiKeyRecord[]> => (await db.rows<ApiKeyRow>(q)).map(toApiKeyRecord);

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

// SQL of each sort value, the column it reads, how a cursor value is cast back, and which cursor values the cast accepts.
const SORT: Record<ApiKeyOrderField, { expr: string; column: string; cast: string; valueOf: (k: ApiKeyRecord) => string; accepts: (v: unknown) => boolean }> = {
  NAME: { expr: 'lower(k.name)', column: 'name', cast: 'text', valueOf: (k) => k.name.toLowerCase(), accepts: isText },
  CREATED_AT: { expr: 'k.created_at', column: 'created_at', cast: 'timestamptz', valueOf: (k) => k.createdAt.toISOString(), accepts: isTimestamp },
  EXPIRES_AT: { expr: 'k.expires_at', column: 'expires_at', cast: 'timestamptz', valueOf: (k) => k.expiresAt.toISOString(), accepts: isTimestamp },
  LAST_USED_AT: {
    expr: `coalesce(k.last_used_at, '-infinity'::timestamptz)`,
    column: 'last_used_at',
    cast: 'timestamptz',
    valueOf: (k) => k.lastUsedAt?.toISOString() ?? '-infinity',
    accepts: (v) => v === '-infinity' || isTimestamp(v),
  },
};

export const cursorOfKey = (order: KeyOrder) => (k: ApiKeyRecord): unknown[] => [SORT[order.field].valueOf(k), k.id];

/** True when cursor values fit this order (a cursor of another order would fail in SQL). */
export const isKeyCursor = (order: KeyOrder, values: unknown[]): boolean =>
  values.length === 2 && SORT[order.field].accepts(values[0]) && isText(values[1]);

/** The dimensions of the listing's filter that facets count by (the search is none: it narrows every facet). */
export type FilterDimension = 'team' | 'developer' | 'channel' | 'instance' | 'cloud' | 'status' | 'expiry';

/**
 * Each dimension the filter narrows, as a condition on keys `k` of one account; absent: not
 * filtered. A key's links to teams are its account's (the links' foreign key is (account_id,
 * api_key_id)), and row-level security checks them as well: naming the account a second time
 * made PostgreSQL count it twice, take three teams' 5,016 links for 1,315 and, in most plans,
 * read every one of their keys' rows to sort them (26–71 ms) rather than walk the order's index
 * until the page is full (2.1–2.2 ms).
 */
export function filterConditions(f: KeyFilter, now: Date, teamLinks = 0): Partial<Record<FilterDimension, Knex.Raw>> {
  const out: Partial<Record<FilterDimension, Knex.Raw>> = {};
  const team: Knex.Raw[] = [];
  if (f.teamIds.length) {
    team.push(teamsHashed(teamLinks)
      // an `in` under an `or` is not made a join: the key is tested against a hash of the links ({@link TEAM_LINKS})
      ? qb.raw('(k.id in (select kt.api_key_id from api_key_teams as kt where kt.team_id = any(?::text[])) or false)', [f.teamIds])
      : qb.raw('exists (select 1 from api_key_teams as kt where kt.api_key_id = k.id and kt.team_id = any(?::text[]))', [f.teamIds]));
  }
  if (f.withoutTeam !== null) {
    team.push(qb.raw(`${f.withoutTeam ? 'not ' : ''}exists (select 1 from api_key_teams as kt0 where kt0.api_key_id = k.id)`));
  }
  if (team.length) out.team = qb.raw(team.map(() => '?').join(' and '), team);
  if (f.developerIds.length) out.developer = qb.raw('k.developer_id = any(?::text[])', [f.developerIds]);
  if (f.channelIds.length) out.channel = qb.raw('k.channel_id = any(?::text[])', [f.channelIds]);
  if (f.instanceIds.length) out.instance = qb.raw('k.instance_id = any(?::text[])', [f.instanceIds]);
  if (f.clouds.length) out.cloud = qb.raw('k.cloud = any(?::text[])', [f.clouds]);
  if (f.statuses.length && f.statuses.length < 3) {
    const each = f.statuses.map((status) => (status === 'REVOKED' ? qb.raw('k.revoked_at is not null')
      : qb.raw(`(k.revoked_at is null and k.expires_at ${status === 'ACTIVE' ? '>' : '<='} ?)`, [now])));
    out.status = qb.raw(`(${each.map(() => '?').join(' or ')})`, each);
  }
  const expiry: Knex.Raw[] = [];
  if (f.expiresBefore) expiry.push(qb.raw('k.expires_at < ?', [f.expiresBefore]));
  if (f.expiresAfter) expiry.push(qb.raw('k.expires_at >= ?', [f.expiresAfter]));
  if (expiry.length) out.expiry = qb.raw(expiry.map(() => '?').join(' and '), expiry);
  return out;
}

/** Live keys of the account named like the filter's search, as `k` (every live key without one). */
export function liveKeys(accountId: string, f: Pick<KeyFilter, 'search'>): Knex.QueryBuilder {
  const q = qb('api_keys as k').where('k.account_id', accountId).whereNull('k.deleted_at');
  // through the names' own trigram index (migrations/20261126000030_key_name_search.ts)
  if (f.search) q.whereRaw('k.id = any(array(select api_key_ids_named_like(?, ?)))', [accountId, likePattern(f.search)]);
  return q;
}

/**
 * How a search within other filters finds its keys. Looking up each key the names' index matches
 * costs about 4 µs a key (a one-letter term matched 86,232 of 100,000 keys: 320–380 ms);
 * testing the name of each key the other filters match, about 1 µs. `namesOf`: the other
 * filters' keys, at most, whose names are tested without asking how many keys the term matches;
 * `namedUpTo`: the term's keys, at most, that are looked up; past both, the names are tested.
 */
export interface CountBounds { namesOf: number; namedUpTo: number }
export const COUNT_BOUNDS: CountBounds = { namesOf: 2500, namedUpTo: 10_000 };

/**
 * `with named as materialized (…)`: the IDs of the account's keys named like the pattern. A
 * statement reads it only where it needs it (PostgreSQL computes such a part when first read).
 */
const withNamed = (accountId: string, pattern: string, rest: string, bindings: readonly Knex.RawBinding[]): Knex.Raw =>
  qb.raw(`with named as materialized (select api_key_ids_named_like(?, ?) as id) ${rest}`, [accountId, pattern, ...bindings]);

/** A condition: the term's keys number at most `bound`. */
const namedAtMost = (bound: number): Knex.Raw => qb.raw('(select count(*) <= ? from (select 1 from named limit ?) as n)', [bound, bound + 1]);

/** A condition on `k`: its name tested against the pattern (about 1 µs a key). */
const nameLike = (pattern: string): Knex.Raw => qb.raw(`lower(k.name) like ? escape '\\'`, [pattern]);

/** A condition on `k`: one of the term's keys. */
const isNamed = qb.raw('k.id = any(array(select id from named))');

/**
 * Live keys of the account named like `search`, as `k`, with the columns `shape` selects: a term
 * matching at most `bound` keys has each looked up, a commoner one has every live key's name
 * tested. The way not taken is skipped whole (its one-time filter is false).
 */
export function liveKeysNamed(
  accountId: string, search: string, shape: (q: Knex.QueryBuilder) => Knex.QueryBuilder, bound = COUNT_BOUNDS.namedUpTo,
): Knex.Raw {
  const pattern = likePattern(search);
  const few = namedAtMost(bound);
  const lookedUp = shape(liveKeys(accountId, { search: null })).whereRaw('?', [isNamed]).whereRaw('?', [few]);
  const tested = shape(liveKeys(accountId, { search: null })).whereRaw('?', [nameLike(pattern)]).whereRaw('not ?', [few]);
  return withNamed(accountId, pattern, '? union all ?', [lookedUp, tested]);
}

/** Live keys of the account that match the filter, as `k`. */
function matching(accountId: string, f: KeyFilter, now: Date, teamLinks = 0): Knex.QueryBuilder {
  const q = liveKeys(accountId, f);
  for (const condition of Object.values(filterConditions(f, now, teamLinks))) q.whereRaw('(?)', [condition]);
  return q;
}

/**
 * How a page tests a filter's teams depends on how many links they have (`teamLinks`, counted as
 * far as `joinedFrom` by {@link teamLinksOf}). PostgreSQL plans a join with the links from its
 * estimate of them, and that estimate falls short when the teams hold many keys and other
 * conditions narrow them too: three teams' 4,992 links with a channel, a cloud and ACTIVE, on 420
 * keys of 100,000, were taken for 31, so it read all 31,073 keys of the channel to sort them
 * (19–32 ms) rather than walk the order's index until the page was full.
 * - Fewer than `hashedFrom`: joined; in creation order, without a search, the page starts from the
 *   links instead ({@link teamKeysInOrder}): the median team (807 links) and ACTIVE, 1 ms against
 *   7 ms joined.
 * - From `hashedFrom` to `joinedFrom`: each key tested against a hash of the links, built once, as
 *   the order's index is walked (the three teams above: 7 ms; on the 1M-key set 6–8 ms against
 *   22 ms joined). Looking each key's links up by their primary key instead took 7–10 ms on the
 *   first and 70–95 ms on the second, whose links are mostly not in memory.
 * - From `joinedFrom`: joined, as the hash would cost more to build than the join (all 200 teams
 *   of an account, 190,000 links: 115 ms hashed, 1–2 ms joined, with ACTIVE).
 */
export const TEAM_LINKS = { hashedFrom: 2500, joinedFrom: 20_000 };

const teamsHashed = (teamLinks: number): boolean => teamLinks >= TEAM_LINKS.hashedFrom && teamLinks < TEAM_LINKS.joinedFrom;

/** The links of these teams, counted as far as `upTo` (an index-only count). */
export async function teamLinksOf(db: Db, accountId: string, teamIds: string[], upTo = TEAM_LINKS.joinedFrom): Promise<number> {
  const links = qb('api_key_teams').select(qb.raw('1')).where('account_id', accountId).whereRaw('team_id = any(?::text[])', [teamIds]).limit(upTo);
  const row = await db.first<{ n: number }>(qb.count('* as n').from(links.as('l')));
  return Number(row?.n ?? 0);
}

/**
 * How many keys, in the listing's order, a search reads before it turns to the names' index (a
 * term in 2 % of the names fills a page of 50 after ~2,500 keys; newest first, the names are
 * read from the order's index: 2-4 ms for 2,500 that fall short).
 */
export const SEARCH_WALK_LIMIT = 2500;

/**
 * The listing's order and cursor on `q`, `limit` rows (null: all): by the keys' sort value and
 * ID, `k`'s unless other columns hold them (`value`, `id`).
 */
function ordered(
  q: Knex.QueryBuilder, order: KeyOrder, page: PageRequest, limit: number | null, value = SORT[order.field].expr, id = 'k.id',
): Knex.QueryBuilder {
  const ascending = (order.direction === 'ASC') !== page.backward;
  const dir = ascending ? 'asc' : 'desc';
  q.orderByRaw(`${value} ${dir}, ${id} ${dir}`);
  if (limit !== null) q.limit(limit);
  if (page.cursor) {
    q.whereRaw(`(${value}, ${id}) ${ascending ? '>' : '<'} (?::${SORT[order.field].cast}, ?)`, page.cursor as string[]);
  }
  return q;
}

/** The rows of the keys whose IDs `ids` selects, in the listing's order, `rows` of them. */
const rowsOf = (ids: Knex.QueryBuilder, order: KeyOrder, page: PageRequest, rows: number): Knex.QueryBuilder =>
  ordered(qb('api_keys as k').select('k.*').whereRaw('k.id = any(array(?))', [ids]), order, { ...page, cursor: null }, rows);

/**
 * The statement of a page of the filter's keys, `rows` of them. When the filter has conditions
 * on the keys (status, expiry, developer, teams, …), the page's IDs are found first, from the
 * order's index alone where it carries the filtered columns (the newest-first index does:
 * migrations/20261201000100_created_index_covers_filters.ts), and only the rows of the keys
 * shown are read: the keys passed over, tens of thousands when the matches are old keys, are
 * never read from the table. Without conditions, the first rows in order are the page. In
 * creation order, one team and nothing else, or teams with few links ({@link TEAM_LINKS}), start
 * from the teams' links instead ({@link teamKeysInOrder}): one team's are in that order in the
 * index, so the page reads about as many links as it shows. Many teams' links would have to be
 * sorted (all of an account's 200 teams: 190,000 links sorted on disk, 156–234 ms, where the walk
 * takes 0.5–0.9 ms), and with other conditions each of them might have its key's row read.
 */
export function pageOfMatching(
  accountId: string, f: KeyFilter, now: Date, order: KeyOrder, page: PageRequest, rows: number, teamLinks = 0,
): Knex.QueryBuilder {
  const oneTeamAlone = f.teamIds.length === 1 && matchesEveryKey({ ...f, teamIds: [], withoutTeam: null });
  if (order.field === 'CREATED_AT' && f.teamIds.length && f.search === null && (teamLinks < TEAM_LINKS.hashedFrom || oneTeamAlone)) {
    return rowsOf(teamKeysInOrder(accountId, f, now, order, page, rows), order, page, rows);
  }
  const q = matching(accountId, f, now, teamLinks);
  if (matchesEveryKey({ ...f, search: null })) return ordered(q.select('k.*'), order, page, rows);
  return rowsOf(ordered(q.select('k.id'), order, page, rows), order, page, rows);
}

/**
 * The IDs of a page of the teams' keys in creation order, from the teams' links, which carry
 * their key's creation time in the teams' index
 * (migrations/20261201000120_team_links_in_key_order.ts): the links are read in order, each key
 * once, and the keys' rows are read for the other filters until the page is full.
 */
function teamKeysInOrder(accountId: string, f: KeyFilter, now: Date, order: KeyOrder, page: PageRequest, rows: number): Knex.QueryBuilder {
  const links = ordered(qb('api_key_teams as kt').distinct('kt.key_created_at', 'kt.api_key_id')
    .where('kt.account_id', accountId).whereRaw('kt.team_id = any(?::text[])', [f.teamIds]), order, page, null, 'kt.key_created_at', 'kt.api_key_id');
  const q = ordered(qb.select('k.id').from(links.as('l')).join('api_keys as k', 'k.id', 'l.api_key_id')
    .where('k.account_id', accountId).whereNull('k.deleted_at'), order, { ...page, cursor: null }, rows, 'l.key_created_at', 'l.api_key_id');
  // every condition but the teams', which the links are (withoutTeam stays with the others)
  for (const condition of Object.values(filterConditions({ ...f, teamIds: [] }, now))) q.whereRaw('(?)', [condition]);
  return q;
}

/**
 * One page of the listing by keyset: `limit + 1` rows in the page's direction.
 *
 * A search for a common word through the names' trigram index would read thousands of keys only
 * to sort them and keep 50 (43 ms for a word in 6 % of 100,000 names). So a search first reads
 * the listing's order, at most `walkLimit` keys, testing each name (their IDs, names and sort
 * values only, from the index where it carries them), and stops once the page is full; then it
 * reads the rows of the page's keys. When that falls short (a rarer word, other filters, the end
 * of the results), the page is read from every key the names' index matches; a `walkLimit` of 0
 * reads it at once ({@link searchWalkLimit}). `teamLinks`: how many links the filter's teams have
 * ({@link TEAM_LINKS}).
 */
export async function pageKeys(
  db: Db, accountId: string, f: KeyFilter, order: KeyOrder, page: PageRequest, now: Date,
  teamLinks = 0, walkLimit = SEARCH_WALK_LIMIT,
): Promise<ApiKeyRecord[]> {
  const rows = page.limit + 1;
  const matched = () => records(db, pageOfMatching(accountId, f, now, order, page, rows, teamLinks));
  if (!f.search || walkLimit === 0) return matched();
  const columns = [...new Set(['k.id', 'k.name', `k.${SORT[order.field].column}`])];
  const walk = ordered(matching(accountId, { ...f, search: null }, now, teamLinks).select(columns), order, page, walkLimit);
  const named = qb.select('k.id').from(walk.as('k')).whereRaw('?', [nameLike(likePattern(f.search))]);
  const found = await records(db, rowsOf(ordered(named, order, { ...page, cursor: null }, rows), order, page, rows));
  if (found.length === rows) return found;
  // fewer keys than the limit to walk: every key the other filters match was tested, and those
  // found are the page (a developer's 25 keys and a one-letter term: 5 ms, where the names'
  // index matched 86,232 keys to look up, 200 ms)
  const walked = await db.first<{ n: number }>(qb.count('* as n').from(walk.as('w')));
  return Number(walked?.n ?? walkLimit) < walkLimit ? found : matched();
}

/**
 * A search alone whose keys were last counted at most this many reads the names' index at once:
 * walking the order could not fill a page with them (that takes a term in 2 % of the keys walked),
 * and the walk and the count of what it walked are two statements more (a term in 181 of 100,000
 * names: 1.1 and 0.4 ms before the names' index's 2.1 ms).
 */
export const FEW_NAMED = 500;

/** How many keys a search walks before the names' index ({@link pageKeys}), given its count last kept (undefined: none). */
export const searchWalkLimit = (f: KeyFilter, lastCount: number | undefined): number =>
  searchOnly(f) && lastCount !== undefined && lastCount <= FEW_NAMED ? 0 : SEARCH_WALK_LIMIT;

/** True when the filter is a search and nothing else. */
export const searchOnly = (f: KeyFilter): boolean => f.search !== null && matchesEveryKey({ ...f, search: null });

/** A count of the keys matching a filter, the account's count stamp it goes with, and when the next active key expires. */
export interface KeyCount { n: number; stamp: number; nextExpiry: Date | null }

/** Whether a filter's count changes with time alone (keys expire): status ACTIVE without EXPIRED, or the other way round. */
export const countChangesWithTime = (f: KeyFilter): boolean => f.statuses.includes('ACTIVE') !== f.statuses.includes('EXPIRED');

/**
 * SQL of the account's count stamp (migrations/20261201000020_key_count_stamps.ts), the account
 * given by `param` (`?` or `$1`): it moves with every change a count could see.
 */
export const stampSql = (param: string) => `coalesce((select stamp from api_key_count_stamps where account_id = ${param}), 0)`;

/** The first expiry after `after` of the account's keys that are neither revoked nor deleted (null: none). */
export const nextExpiry = (accountId: string, after: Date): Knex.Raw => qb.raw(
  '(select min(expires_at) from api_keys where account_id = ? and deleted_at is null and revoked_at is null and expires_at > ?)', [accountId, after]);

/** The account's count stamp. */
export async function countStamp(db: Db, accountId: string): Promise<number> {
  const row = await db.first<{ stamp: number }>(prepared(`select ${stampSql('$1')} as stamp`, [accountId]));
  return row?.stamp ?? 0;
}

/**
 * The count of a search within other filters ({@link CountBounds}): the names of the other
 * filters' keys are tested when those number at most `namesOf` (counted as far as that), or when
 * the term matches more than `namedUpTo` keys; the term's keys are looked up otherwise.
 */
function countSearchWithin(accountId: string, f: KeyFilter & { search: string }, now: Date, { namesOf, namedUpTo }: CountBounds): Knex.Raw {
  const others = () => matching(accountId, { ...f, search: null }, now);
  const pattern = likePattern(f.search);
  const byNames = others().whereRaw('?', [nameLike(pattern)]).count();
  return withNamed(accountId, pattern, `select case
      when (select count(*) from (?) as o) <= ? then (?)
      when ? then (?)
      else (?) end`, [
    others().select(qb.raw('1')).limit(namesOf + 1), namesOf, byNames,
    namedAtMost(namedUpTo), others().whereRaw('?', [isNamed]).count(),
    byNames,
  ]);
}

/**
 * The count of a filter's keys, with the stamp and the next expiry read in the same statement. A
 * search and nothing else is counted from the names alone (no keys' rows to read).
 */
export async function countKeys(db: Db, accountId: string, f: KeyFilter, now: Date, bounds = COUNT_BOUNDS): Promise<KeyCount> {
  const counted = f.search === null ? matching(accountId, f, now).count()
    : searchOnly(f) ? qb.raw('select count(*) from api_key_ids_named_like(?, ?)', [accountId, likePattern(f.search)])
      : countSearchWithin(accountId, { ...f, search: f.search }, now, bounds);
  const row = await db.first<{ n: number; stamp: number; next_expiry: Date | null }>(qb.select(
    qb.raw('(?)::int as n', [counted]),
    qb.raw(`${stampSql('?')} as stamp`, [accountId]),
    qb.raw('? as next_expiry', [nextExpiry(accountId, now)]),
  ));
  return { n: row?.n ?? 0, stamp: row?.stamp ?? 0, nextExpiry: row?.next_expiry ?? null };
}

/** True when a filter matches every live key of the account. */
function matchesEveryKey(f: KeyFilter): boolean {
  return f.search === null && !f.teamIds.length && f.withoutTeam === null && !f.developerIds.length && !f.channelIds.length
    && !f.instanceIds.length && !f.clouds.length && (f.statuses.length === 0 || f.statuses.length === 3) && !f.expiresBefore && !f.expiresAfter;
}

/** Related objects of a page of keys, as the loaders would have fetched them one by one. */
export interface PageRelations {
  /** The developers, instances and channels read (those held were not). */
  developers: DeveloperRecord[];
  instances: InstanceRecord[];
  channels: ChannelRecord[];
  /** The account's catalog stamp, read with them when any of the three was asked for. */
  catalogStamp: number | null;
  /** Team IDs of each key (every key of the page, in team-name order), when teams were asked for. */
  teamIdsByKey: Map<string, string[]> | null;
  teams: TeamRecord[];
  /** The account's count stamp, when `totalCount` was asked for. */
  stamp: number | null;
}

/**
 * The developers, instances, channels and teams a page of keys shows, in one statement
 * instead of one per loader (the listing primes the loaders with them), and the account's count
 * stamp when the listing's `totalCount` is asked (a kept count needs it: one round trip fewer).
 * Developers, instances and channels in `held` are not read again; the account's catalog stamp
 * is read instead, for the caller to check that they still hold (src/modules/api-keys/catalog.ts).
 * Rows come as JSON and are mapped by their modules' own row mappers.
 */
export async function relationsOfKeys(
  db: Db, accountId: string, keys: readonly ApiKeyRecord[], wanted: KeyRelations, held?: CatalogRecords,
): Promise<PageRelations> {
  const parts: string[] = [];
  const values: (string | string[])[] = [];
  const param = (value: string | string[]) => `$${values.push(value)}`;
  const ids = (pick: (k: ApiKeyRecord) => string, heldIds?: Map<string, unknown>) =>
    [...new Set(keys.map(pick))].filter((id) => !heldIds?.has(id));
  const rowsOf = (table: CatalogKind, alias: string, pick: (k: ApiKeyRecord) => string) => {
    const missing = ids(pick, held?.[table]);
    if (missing.length) parts.push(`(select coalesce(json_agg(${alias}), '[]') from ${table} ${alias} where ${alias}.account_id = ${param(accountId)} and ${alias}.id = any(${param(missing)}::text[])) as ${table}`);
  };
  if (wanted.developer) rowsOf('developers', 'd', (k) => k.developerId);
  if (wanted.instance) rowsOf('instances', 'i', (k) => k.instanceId);
  if (wanted.channel) rowsOf('channels', 'c', (k) => k.channelId);
  const catalog = wanted.developer || wanted.instance || wanted.channel;
  if (catalog) parts.push(`coalesce((select stamp from catalog_stamps where account_id = ${param(accountId)}), 0) as catalog_stamp`);
  if (wanted.teams) {
    // each key's teams with the teams themselves, from one scan of the links (teams repeat across keys)
    parts.push(`(select coalesce(json_agg(json_build_array(kt.api_key_id, t) order by lower(t.name), t.id), '[]')
      from api_key_teams kt join teams t on t.id = kt.team_id
      where kt.account_id = ${param(accountId)} and kt.api_key_id = any(${param(ids((k) => k.id))}::text[])) as key_teams`);
  }
  if (wanted.totalCount) parts.push(`${stampSql(param(accountId))} as stamp`);
  const empty: PageRelations = { developers: [], instances: [], channels: [], catalogStamp: null, teamIdsByKey: null, teams: [], stamp: null };
  if (parts.length === 0 || keys.length === 0) return empty;
  // one of a few dozen texts (what is asked, and whether anything is missing), run for every page: prepared
  const row = await db.first<{
    developers?: DeveloperRow[]; instances?: InstanceRow[]; channels?: ChannelRow[]; catalog_stamp?: number; key_teams?: [string, TeamRow][]; stamp?: number;
  }>(prepared(`select ${parts.join(', ')}`, values));
  let teamIdsByKey: Map<string, string[]> | null = null;
  const teams = new Map<string, TeamRecord>();
  if (wanted.teams) {
    teamIdsByKey = new Map(keys.map((k) => [k.id, [] as string[]]));
    for (const [keyId, team] of row?.key_teams ?? []) {
      teamIdsByKey.get(keyId)?.push(team.id);
      if (!teams.has(team.id)) teams.set(team.id, toTeamRecord(team));
    }
  }
  return {
    developers: (row?.developers ?? []).map(toDeveloperRecord),
    instances: (row?.instances ?? []).map(toInstanceRecord),
    channels: (row?.channels ?? []).map(toChannelRecord),
    catalogStamp: catalog ? row?.catalog_stamp ?? 0 : null,
    teamIdsByKey,
    teams: [...teams.values()],
    stamp: row?.stamp ?? null,
  };
}

/**
 * IDs of the live keys matching the filter but those excepted, locked for a bulk change, in ID
 * order (as {@link lockKeyIds}): at most `limit` of them (one more tells that there are more).
 */
export async function lockKeyIdsMatching(db: Db, accountId: string, f: KeyFilter, exceptIds: readonly string[], now: Date, limit: number): Promise<string[]> {
  const q = matching(accountId, f, now).select('k.id').orderBy('k.id').limit(limit + 1).forUpdate();
  if (exceptIds.length) q.whereRaw('not (k.id = any(?::text[]))', [[...exceptIds]]);
  return (await db.rows<{ id: string }>(q)).map((r) => r.id);
}

/** Revokes keys (of the account, not revoked yet) in one statement; returns them as they are now. */
export async function revokeKeyRows(db: Db, accountId: string, ids: readonly string[], reason: string | null, at: Date): Promise<ApiKeyRecord[]> {
  if (ids.length === 0) return [];
  return records(db, qb('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]]).whereNull('revoked_at')
    .update({ revoked_at: at, revocation_reason: reason, updated_at: at, version: qb.raw('version + 1') }).returning('*'));
}

/** Deletes keys (of the account, live) in one statement: gone from listings and verification; returns them. */
export async function deleteKeyRows(db: Db, accountId: string, ids: readonly string[], at: Date): Promise<ApiKeyRecord[]> {
  if (ids.length === 0) return [];
  return records(db, qb('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]]).whereNull('deleted_at')
    .update({ deleted_at: at, updated_at: at, version: qb.raw('version + 1') }).returning('*'));
}

/** Live keys by ID, of the tenant's account. */
export async function keysByIds(db: Db, tenant: Tenant, ids: readonly string[]): Promise<ApiKeyRecord[]> {
  return records(db, byIds('api_keys', tenant, ids).whereNull('deleted_at'));
}

const lockedKeys = (accountId: string, ids: readonly string[]) =>
  qb('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]]).whereNull('deleted_at').orderBy('id').forUpdate();

/** Live keys of the account, locked for update, in ID order (so concurrent bulk changes cannot deadlock). */
export async function lockKeys(db: Db, accountId: string, ids: readonly string[]): Promise<ApiKeyRecord[]> {
  return records(db, lockedKeys(accountId, ids).select('*'));
}

/** IDs of live keys of the account, locked for update, in ID order (as {@link lockKeys}), for a change of many. */
export async function lockKeyIds(db: Db, accountId: string, ids: readonly string[]): Promise<string[]> {
  return (await db.rows<{ id: string }>(lockedKeys(accountId, ids).select('id'))).map((r) => r.id);
}

export async function insertKey(db: Db, key: ApiKeyRecord): Promise<void> {
  await db.execute(qb('api_keys').insert(toRow(key)));
}

export async function saveKey(db: Db, key: ApiKeyRecord): Promise<void> {
  const { id, account_id, ...fields } = toRow(key);
  await db.execute(qb('api_keys').where({ id, account_id }).update(fields));
}

// Lists of IDs travel as one array parameter (`= any(?)`): one statement however many keys a
// bulk change selects, instead of one placeholder per ID and chunks under the 65,535 limit.

/** Bumps version and updated_at of many keys at once. */
export async function touchKeys(db: Db, accountId: string, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await db.execute(qb('api_keys').where({ account_id: accountId }).whereRaw('id = any(?::text[])', [[...ids]])
    .update({ version: qb.raw('version + 1'), updated_at: at }));
}

export async function keyNameTaken(db: Db, accountId: string, instanceId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = qb('api_keys').where({ account_id: accountId, instance_id: instanceId }).whereNull('deleted_at').whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await db.first(q.first('id'))) !== undefined;
}

export async function insertSecret(db: Db, accountId: string, keyId: string, digest: Buffer): Promise<void> {
  await db.execute(qb('api_key_secrets').insert({ digest, account_id: accountId, api_key_id: keyId }));
}

/**
 * Ends the current secrets of a key: they stop verifying at `validUntil` (a grace period),
 * or are removed at once when it is null. Secrets already in a grace period keep theirs.
 */
export async function retireSecrets(db: Db, accountId: string, keyId: string, validUntil: Date | null, now: Date): Promise<void> {
  const secrets = () => qb('api_key_secrets').where({ account_id: accountId, api_key_id: keyId });
  if (validUntil === null) {
    await db.execute(secrets().delete());
    return;
  }
  await db.execute(secrets().whereNull('valid_until').update({ valid_until: validUntil }));
  await db.execute(secrets().where('valid_until', '<=', now).delete());
}

export async function deleteSecrets(db: Db, accountId: string, keyIds: readonly string[]): Promise<void> {
  await db.execute(qb('api_key_secrets').where({ account_id: accountId }).whereRaw('api_key_id = any(?::text[])', [[...keyIds]]).delete());
}

/** The teams of keys, each key's in team-name order, with the teams' names. */
export async function teamsOfKeys(db: Db, tenant: Tenant, keyIds: readonly string[]): Promise<{ apiKeyId: string; teamId: string; teamName: string }[]> {
  const q = qb('api_key_teams as kt')
    .join('teams as t', 't.id', 'kt.team_id')
    .whereRaw('kt.api_key_id = any(?::text[])', [[...keyIds]])
    .orderByRaw('lower(t.name), t.id')
    .select('kt.api_key_id', 'kt.team_id', 't.name');
  if (tenant !== ALL_ACCOUNTS) q.where('kt.account_id', tenant);
  const rows = await db.rows<{ api_key_id: string; team_id: string; name: string }>(q);
  return rows.map((r) => ({ apiKeyId: r.api_key_id, teamId: r.team_id, teamName: r.name }));
}

/** IDs of the live keys in a team. */
export async function keyIdsOfTeam(db: Db, accountId: string, teamId: string): Promise<string[]> {
  const rows = await db.rows<{ api_key_id: string }>(qb('api_key_teams').where({ account_id: accountId, team_id: teamId }).select('api_key_id'));
  return rows.map((r) => r.api_key_id);
}

export async function addKeyTeams(db: Db, accountId: string, pairs: { apiKeyId: string; teamId: string }[]): Promise<void> {
  if (pairs.length === 0) return;
  await db.execute(qb.raw(
    // each link carries its key's creation time, the order of a team's keys (migrations/20261201000120_team_links_in_key_order.ts)
    `insert into api_key_teams (account_id, api_key_id, team_id, key_created_at)
     select ?, x.k, x.t, (select created_at from api_keys where id = x.k and account_id = ?) from unnest(?::text[], ?::text[]) as x(k, t)
     on conflict (api_key_id, team_id) do nothing`,
    [accountId, accountId, pairs.map((p) => p.apiKeyId), pairs.map((p) => p.teamId)],
  ));
}

export async function removeKeyTeams(db: Db, accountId: string, keyIds: readonly string[], teamIds: readonly string[]): Promise<void> {
  if (keyIds.length === 0 || teamIds.length === 0) return;
  await db.execute(qb('api_key_teams').where({ account_id: accountId })
    .whereRaw('api_key_id = any(?::text[])', [[...keyIds]]).whereRaw('team_id = any(?::text[])', [[...teamIds]]).delete());
}

/** IDs of a developer's live, unrevoked, unexpired keys, locked in ID order. */
export async function lockActiveKeyIdsOfDeveloper(db: Db, accountId: string, developerId: string, now: Date): Promise<string[]> {
  const rows = await db.rows<{ id: string }>(qb('api_keys')
    .where({ account_id: accountId, developer_id: developerId })
    .whereNull('deleted_at').whereNull('revoked_at').where('expires_at', '>', now)
    .orderBy('id').forUpdate().select('id'));
  return rows.map((r) => r.id);
}

/** Active (live, unrevoked, unexpired) keys per developer. */
export async function activeKeyCountsOfDevelopers(db: Db, tenant: Tenant, developerIds: readonly string[], now: Date): Promise<{ developerId: string; n: number }[]> {
  const q = qb('api_keys')
    .whereRaw('developer_id = any(?::text[])', [[...developerIds]])
    .whereNull('deleted_at').whereNull('revoked_at').where('expires_at', '>', now)
    .groupBy('developer_id')
    .select('developer_id', qb.raw('count(*)::int as n'));
  if (tenant !== ALL_ACCOUNTS) q.where({ account_id: tenant });
  const rows = await db.rows<{ developer_id: string; n: number }>(q);
  return rows.map((r) => ({ developerId: r.developer_id, n: r.n }));
}

/** Live (not deleted) keys per team, whatever their status. */
export async function keyCountsOfTeams(db: Db, tenant: Tenant, teamIds: readonly string[]): Promise<{ teamId: string; n: number }[]> {
  const q = qb('api_key_teams as kt')
    .join('api_keys as k', 'k.id', 'kt.api_key_id')
    .whereRaw('kt.team_id = any(?::text[])', [[...teamIds]])
    .whereNull('k.deleted_at')
    .groupBy('kt.team_id')
    .select('kt.team_id', qb.raw('count(*)::int as n'));
  if (tenant !== ALL_ACCOUNTS) q.where('kt.account_id', tenant);
  const rows = await db.rows<{ team_id: string; n: number }>(q);
  return rows.map((r) => ({ teamId: r.team_id, n: r.n }));
}

/** Channels that live, unrevoked keys of the instance still use, among those given. */
export async function channelsInUse(db: Db, accountId: string, instanceId: string, channelIds: readonly string[]): Promise<string[]> {
  const rows = await db.rows<{ channel_id: string }>(qb('api_keys')
    .where({ account_id: accountId, instance_id: instanceId })
    .whereNull('deleted_at').whereNull('revoked_at')
    .whereRaw('channel_id = any(?::text[])', [[...channelIds]])
    .distinct('channel_id'));
  return rows.map((r) => r.channel_id);
}

/** Names of keys by ID, deleted keys included (their usage stays). */
export const keyNames = (db: Db, accountId: string, ids: readonly string[]): Promise<Map<string, string>> => namesByIds(db, 'api_keys', accountId, ids);

/** How far a key's last use must move before it is written again (`ApiKey.lastUsedAt`'s resolution). */
export const LAST_USE_RESOLUTION = '1 minute';

/**
 * Moves the keys' last use forward (never back) to the times given, when by `LAST_USE_RESOLUTION`
 * or more. The keys are locked in ID order first, as every change of many keys locks them: the
 * update alone would lock them in its plan's order, and could deadlock with such a change.
 */
export async function recordLastUse(db: Db, lastUse: ReadonlyMap<string, Date>): Promise<void> {
  if (lastUse.size === 0) return;
  // only the keys whose last use moves by a minute or more are locked and written: a key in
  // steady use costs one write a minute, not one a flush
  const due = await db.rows<{ id: string; at: Date }>(qb.raw(
    `select k.id, x.at from api_keys k join unnest(?::text[], ?::timestamptz[]) as x(id, at) on k.id = x.id
     where k.last_used_at is null or k.last_used_at <= x.at - ?::interval
     order by k.id for no key update of k`,
    [[...lastUse.keys()], [...lastUse.values()].map((t) => t.toISOString()), LAST_USE_RESOLUTION],
  ));
  if (due.length === 0) return;
  await db.execute(qb.raw(
    'update api_keys set last_used_at = x.at from unnest(?::text[], ?::timestamptz[]) as x(id, at) where api_keys.id = x.id',
    [due.map((r) => r.id), due.map((r) => new Date(r.at).toISOString())],
  ));
}

interface VerifiableRow {
  id: string; account_id: string; instance_id: string; channel_id: string; developer_id: string; cloud: Cloud;
  team_ids: string[] | null; expires_at: Date | string; revoked_at: Date | string | null; valid_until: Date | string | null;
}

/**
 * The statement that finds the live key a secret's digest belongs to, with its teams, whatever
 * its account: the digest is the service's own (a hex literal), so the statement needs no
 * parameters and can follow the scope in one round trip.
 */
export function verifiableKeySql(digest: Buffer): string {
  return `select k.id, k.account_id, k.instance_id, k.channel_id, k.developer_id, k.cloud, k.expires_at, k.revoked_at, s.valid_until,
         array(select kt.team_id from api_key_teams kt where kt.api_key_id = k.id order by kt.team_id) as team_ids
  from api_key_secrets s join api_keys k on k.id = s.api_key_id
  where s.digest = '\\x${digest.toString('hex')}'::bytea and k.deleted_at is null`;
}

const dateOrNull = (v: Date | string | null) => (v === null ? null : new Date(v));

export function toVerifiableKey(row: VerifiableRow): VerifiableKey {
  return {
    id: row.id, accountId: row.account_id, instanceId: row.instance_id, channelId: row.channel_id,
    developerId: row.developer_id, cloud: row.cloud, teamIds: row.team_ids ?? [], expiresAt: new Date(row.expires_at),
    revokedAt: dateOrNull(row.revoked_at), secretValidUntil: dateOrNull(row.valid_until),
  };
}

export type { VerifiableRow };

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

function matchingEvents(accountId: string, f: EventFilter): Knex.QueryBuilder {
  const q = qb('api_key_events').where({ account_id: accountId });
  if (f.apiKeyIds.length) q.whereRaw('api_key_id = any(?::text[])', [f.apiKeyIds]);
  if (f.types.length) q.whereRaw('type = any(?::text[])', [f.types]);
  if (f.actor !== null) q.where({ actor: f.actor });
  if (f.from) q.where('at', '>=', f.from);
  if (f.to) q.where('at', '<', f.to);
  return q;
}

/** Newest first; event IDs are time-ordered, so the ID alone is the sort key. */
export async function pageEvents(db: Db, accountId: string, f: EventFilter, afterId: string | null, limit: number): Promise<ApiKeyEventRecord[]> {
  const q = matchingEvents(accountId, f).orderBy('id', 'desc').limit(limit + 1);
  if (afterId) q.where('id', '<', afterId);
  return (await db.rows<EventRow>(q)).map(toEventRecord);
}

export async function countEvents(db: Db, accountId: string, f: EventFilter): Promise<number> {
  const row = await db.first<{ n: number }>(matchingEvents(accountId, f).count({ n: '*' }));
  return Number(row?.n ?? 0);
}

export async function eventById(db: Db, accountId: string, id: string): Promise<ApiKeyEventRecord | null> {
  const row = await db.first<EventRow>(qb('api_key_events').where({ id, account_id: accountId }).first());
  return row ? toEventRecord(row) : null;
}

export interface NewEventRow {
  id: string; accountId: string; apiKeyId: string; apiKeyName: string; type: string; actor: string; at: Date; changes: Record<string, unknown> | null;
}

/**
 * Writes history events in one statement, however many (a bulk change writes one per key). Their
 * changes travel as one JSON array: PostgreSQL reads that faster than an array of JSON documents,
 * whose every quote is escaped again in the array's text.
 */
export async function insertEvents(db: Db, events: readonly NewEventRow[]): Promise<void> {
  if (events.length === 0) return;
  await db.execute(qb.raw(
    `insert into api_key_events (id, account_id, api_key_id, api_key_name, type, actor, at, changes)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[],
       array(select nullif(c, 'null') from jsonb_array_elements(?::jsonb) with ordinality as e(c, n) order by n))`,
    [
      events.map((r) => r.id), events.map((r) => r.accountId), events.map((r) => r.apiKeyId), events.map((r) => r.apiKeyName),
      events.map((r) => r.type), events.map((r) => r.actor), events.map((r) => r.at.toISOString()),
      // a null element is a key's event without changes (SQL NULL)
      JSON.stringify(events.map((r) => r.changes)),
    ],
  ));
}

/** Sends the key-change notification (payloads of at most 250 IDs, NOTIFY's limit being 8000 bytes) when the transaction commits. */
export async function notifyKeyChanges(db: Db, channel: string, keyIds: readonly string[]): Promise<void> {
  const payloads: string[] = [];
  for (let i = 0; i < keyIds.length; i += 250) payloads.push(keyIds.slice(i, i + 250).join(','));
  await db.rows(qb.raw('select pg_notify(?, p) from unnest(?::text[]) as p', [channel, payloads]));
}

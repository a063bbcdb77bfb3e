import type { Knex } from 'knex';
import { prepared, qb, type Db } from '../../db/db';
import { filterConditions, liveKeys, liveKeysNamed, nextExpiry, stampSql, type FilterDimension, type KeyFilter } from './store';

/** One value of a facet as counted: its ID (the name, for clouds and statuses) and how many keys have it. */
export interface CountedValue { id: string; count: number }
/** The same with the value's name. */
export interface FacetValue extends CountedValue { label: string }

const LISTS = ['teams', 'developers', 'channels', 'instances', 'clouds', 'statuses'] as const;
type Totals = Record<'totalCount' | 'withoutTeam' | 'expiringWithin7Days' | 'expiringWithin30Days', number>;
type Facets<V> = Record<(typeof LISTS)[number], V[]> & Totals;

/** The facets' counts as kept: values without their names (names are read each time). */
export type CountedFacets = Facets<CountedValue>;
/** Key counts for the smart filters (`apiKeyFacets`). */
export type KeyFacets = Facets<FacetValue>;

/** The facets with values of their own besides teams, and the dimension each ignores. */
const VALUE_FACETS = [
  { facet: 'developers', dimension: 'developer', column: 'k.developer_id' },
  { facet: 'channels', dimension: 'channel', column: 'k.channel_id' },
  { facet: 'instances', dimension: 'instance', column: 'k.instance_id' },
  { facet: 'clouds', dimension: 'cloud', column: 'k.cloud' },
  { facet: 'statuses', dimension: 'status', column: 'k.status' },
] as const;
const DIMENSIONS: FilterDimension[] = ['team', 'developer', 'channel', 'instance', 'cloud', 'status', 'expiry'];
const DAY_MS = 86_400_000;

/** The counts of a filter's facets, the account's count stamp read with them, and when they stop being true with no write. */
export interface FacetCounts { facets: CountedFacets; stamp: number; validUntil: number }

/**
 * Every facet in one statement. The account's live keys named like the search are read once,
 * each with a flag per filtered dimension; each facet then counts the keys whose flags hold but
 * for its own dimension's (as faceted search does: choosing a team does not hide the other
 * teams' counts). A facet keeps its `first` busiest values. The count stamp and the next time a
 * count changes by itself (a key expires, or comes within 7 or 30 days of it) come from the same
 * statement.
 */
export async function countFacets(db: Db, accountId: string, f: KeyFilter, now: Date, first: number, namedUpTo?: number): Promise<FacetCounts> {
  const conditions = filterConditions(f, now);
  const flags = DIMENSIONS.map((d) => qb.raw(`coalesce(?, true) as m_${d}`, [conditions[d] ?? null]));
  const shape = (q: Knex.QueryBuilder) => q.select(
    'k.id', 'k.developer_id', 'k.channel_id', 'k.instance_id', 'k.cloud', 'k.expires_at',
    qb.raw(`case when k.revoked_at is not null then 'REVOKED' when k.expires_at <= ? then 'EXPIRED' else 'ACTIVE' end as status`, [now]),
    ...flags,
  );
  const keys = f.search === null ? shape(liveKeys(accountId, f)) : liveKeysNamed(accountId, f.search, shape, namedUpTo);
  const but = (skip: FilterDimension | null) => DIMENSIONS.filter((d) => d !== skip && conditions[d]).map((d) => `k.m_${d}`).join(' and ') || 'true';
  const counted = (where: string) => `(count(*) filter (where ${where}))::int`;
  const expiring = (days: number) => qb.raw(`${counted(`${but('expiry')} and k.status = 'ACTIVE' and k.expires_at < ?`)}`, [new Date(now.getTime() + days * DAY_MS)]);
  // one pass over the keys for every value facet and the totals (the empty grouping set); the
  // teams from their links; the keys in any team
  const byValue = qb.raw(`
    select case ${VALUE_FACETS.map((v) => `when grouping(${v.column}) = 0 then '${v.facet}'`).join(' ')} else 'totals' end as facet,
           coalesce(${VALUE_FACETS.map((v) => v.column).join(', ')}) as value,
           case ${VALUE_FACETS.map((v) => `when grouping(${v.column}) = 0 then ${counted(but(v.dimension))}`).join(' ')} else ${counted(but(null))} end as n,
           ${counted(but('team'))} as any_team, ? as within_7, ? as within_30
    from k group by grouping sets (${VALUE_FACETS.map((v) => `(${v.column})`).join(', ')}, ())`, [expiring(7), expiring(30)]);
  const byTeam = qb.raw(`
    select 'teams', kt.team_id, count(*)::int, null::int, null::int, null::int
    from k join api_key_teams as kt on kt.api_key_id = k.id and kt.account_id = ? where ${but('team')} group by kt.team_id`, [accountId]);
  // a semi-join, not a count of distinct keys over the links (which sorts every link)
  const inAnyTeam = qb.raw(`
    select 'inTeams', null, count(*)::int, null::int, null::int, null::int from k where ${but('team')}
      and exists (select 1 from api_key_teams as kt where kt.api_key_id = k.id and kt.account_id = ?)`, [accountId]);
  // when a key enters a window: its expiry less the window, for the first expiry past now + the window
  const next = (days: number) => qb.raw(`? - interval '${days} days'`, [nextExpiry(accountId, new Date(now.getTime() + days * DAY_MS))]);
  const rows = await db.rows<{
    facet: string; value: string | null; n: number; any_team: number | null; within_7: number | null; within_30: number | null;
    rank: number; stamp: number; valid_until: Date | null;
  }>(qb.raw(`
    with k as materialized (?), counted as (? union all ? union all ?)
    select c.*, row_number() over (partition by c.facet order by c.n desc, c.value) as rank,
           ${stampSql('?')} as stamp,
           least(?, ?, ?) as valid_until
    from counted as c where c.n > 0 or c.value is null`, [keys, byValue, byTeam, inAnyTeam, accountId, next(0), next(7), next(30)]));
  const lists = Object.fromEntries(LISTS.map((l) => [l, [] as CountedValue[]]));
  const totals: Totals = { totalCount: 0, withoutTeam: 0, expiringWithin7Days: 0, expiringWithin30Days: 0 };
  let inTeams = 0;
  let anyTeam = 0;
  for (const r of rows) {
    if (r.facet === 'totals') {
      totals.totalCount = r.n;
      totals.expiringWithin7Days = r.within_7 ?? 0;
      totals.expiringWithin30Days = r.within_30 ?? 0;
      anyTeam = r.any_team ?? 0;
    } else if (r.facet === 'inTeams') inTeams = r.n;
    else if (r.rank <= first) lists[r.facet].push({ id: r.value as string, count: r.n });
  }
  // keys that match but for the team part, less those in some team
  totals.withoutTeam = anyTeam - inTeams;
  const facets = { ...lists, ...totals } as CountedFacets;
  const any = rows[0];
  return { facets, stamp: any?.stamp ?? 0, validUntil: any?.valid_until ? new Date(any.valid_until).getTime() : Infinity };
}

const NAMED = ['teams', 'developers', 'channels', 'instances'] as const;

/** Prepared once per connection (its text never changes): a kept count costs no planning. */
const STAMP_AND_NAMES = (values: unknown[]) => prepared(`
  select ${stampSql('$1')} as stamp,
         (select json_object_agg(n.id, n.name) from (${NAMED.map((t) => `select id, name from ${t} where account_id = $1 and id = any($2::text[])`).join(' union all ')}) as n) as names`,
values);

/**
 * The account's count stamp and the names of the facets' values, in one statement: a kept count
 * is checked and named in one round trip (names are read each time: a rename moves no count).
 */
export async function stampAndNames(db: Db, accountId: string, counts: CountedFacets): Promise<{ stamp: number; names: Map<string, string> }> {
  const ids = NAMED.flatMap((facet) => counts[facet].map((v) => v.id));
  const row = await db.first<{ stamp: number; names: Record<string, string> | null }>(STAMP_AND_NAMES([accountId, ids]));
  return { stamp: row?.stamp ?? 0, names: new Map(Object.entries(row?.names ?? {})) };
}

/** The facets with the names of their values (clouds and statuses are their own names). */
export function labelled(counts: CountedFacets, names: Map<string, string>): KeyFacets {
  const lists = LISTS.map((l) => [l, counts[l].map((v) => ({ ...v, label: names.get(v.id) ?? v.id }))]);
  return { ...counts, ...Object.fromEntries(lists) } as KeyFacets;
}

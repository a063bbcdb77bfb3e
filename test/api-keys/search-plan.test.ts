// A search reads the listing's order until its page is full (a common word), or, when that
// falls short, every key the names' index matches. Whichever way, every page of every order is
// the same; the limits here force each way.
import type { ApiKeyOrderField, OrderDirection } from '../../src/generated/graphql';
import type { PageRequest } from '../../src/lib/connection';
import { countFacets } from '../../src/modules/api-keys/facets';
import { countKeys, cursorOfKey, FEW_NAMED, pageKeys, pageOfMatching, searchWalkLimit, type CountBounds, type KeyFilter, TEAM_LINKS, teamLinksOf } from '../../src/modules/api-keys/store';
import { seedAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

const DAY_MS = 86_400_000;
/** Keys a search reads in order before it turns to the names' index. */
const WALK_LIMITS = {
  'the names index at once (a search whose count was last kept small)': 0,
  'the names index': 1,
  'the listing order': 1000,
  'the order, falling short on some pages': 7,
};
const ORDERS: [ApiKeyOrderField, OrderDirection][] = [['CREATED_AT', 'DESC'], ['NAME', 'ASC'], ['EXPIRES_AT', 'ASC'], ['LAST_USED_AT', 'DESC']];

let server: TestServer;
let account: string;
let admin: string;
let createKey: Awaited<ReturnType<typeof seedAccount>>['createKey'];
let channelId: string;
let ideChannelId: string;
/** Two teams: red on about two thirds of the keys, blue on a fifth (some keys on both, some on neither). */
let red: string;
let blue: string;

beforeAll(async () => {
  server = await startTestServer();
  const acme = await seedAccount(server, 'acme');
  account = acme.account;
  admin = acme.admin;
  createKey = acme.createKey;
  channelId = acme.channels.ci.id;
  ideChannelId = acme.channels.ide.id;
  const team = async (name: string) => (await server.ok<{ createTeam: { team: { id: string } } }>(acme.admin,
    'mutation($name: String!) { createTeam(input: { name: $name }) { team { id } } }', { name })).createTeam.team.id;
  [red, blue] = [await team('red'), await team('blue')];
  const base = Date.now() + 30 * DAY_MS;
  for (let i = 0; i < 36; i++) {
    // "ledger" in two thirds of the names, "Rare" in three; expiries out of step with creation
    const name = i % 12 === 5 ? `Rare tool ${i}` : i % 3 === 0 ? `deploy ${i}` : `Ledger sync ${(i * 7) % 36}`;
    const teamIds = [...i % 3 !== 1 ? [red] : [], ...i % 5 === 0 ? [blue] : []];
    await acme.createKey({
      name, expiresAt: new Date(base + ((i * 11) % 36) * DAY_MS).toISOString(), channelId: i % 2 ? acme.channels.ci.id : acme.channels.ide.id, teamIds,
    });
  }
}, 120_000);
afterAll(() => server?.stop());

const noFilter: KeyFilter = {
  search: null, teamIds: [], withoutTeam: null, developerIds: [], channelIds: [], instanceIds: [], clouds: [], statuses: [],
  expiresBefore: null, expiresAfter: null,
};

/** Every page of 5, forward then backward from the end, as IDs. */
async function walkAll(
  filter: KeyFilter, field: ApiKeyOrderField, direction: OrderDirection, walkLimit: number, teamLinks = 0,
): Promise<{ forward: string[]; backward: string[] }> {
  const order = { field, direction };
  const now = new Date();
  const pages = async (backward: boolean) => {
    const ids: string[] = [];
    let cursor: unknown[] | null = null;
    for (let guard = 0; guard < 50; guard++) {
      const page: PageRequest = { limit: 5, cursor, backward, hasCursor: cursor !== null };
      const rows = await server.service.db.transaction(account, (tx) => pageKeys(tx, account, filter, order, page, now, teamLinks, walkLimit));
      const shown = rows.slice(0, 5);
      ids.push(...shown.map((k) => k.id));
      if (rows.length <= 5) return ids;
      cursor = cursorOfKey(order)(shown[shown.length - 1]);
    }
    throw new Error('paging did not end');
  };
  return { forward: await pages(false), backward: (await pages(true)).reverse() };
}

describe.each(['ledger', 'RARE', 'no such name'])('search "%s"', (search) => {
  test.each(ORDERS)('every page by %s %s is the same whichever way it was found', async (field, direction) => {
    const results = await Promise.all(Object.values(WALK_LIMITS).map((limit) => walkAll({ ...noFilter, search }, field, direction, limit)));
    const expected = results[0].forward;
    expect(expected.length).toBe(search === 'ledger' ? 21 : search === 'RARE' ? 3 : 0);
    for (const r of results) {
      expect(r.forward).toEqual(expected);
      expect(r.backward).toEqual(expected);
    }
  });

  test('with another filter on top', async () => {
    const filter = { ...noFilter, search, channelIds: [channelId] };
    const results = await Promise.all(Object.values(WALK_LIMITS).map((limit) => walkAll(filter, 'CREATED_AT', 'DESC', limit)));
    for (const r of results) expect(r.forward).toEqual(results[0].forward);
    if (search === 'ledger') expect(results[0].forward.length).toBeGreaterThan(5);
  });
});

test('a search alone whose count was last kept small reads the names\' index at once; with other filters, or not counted, it walks first', () => {
  const search = { ...noFilter, search: 'ledger' };
  expect(searchWalkLimit(search, FEW_NAMED)).toBe(0);
  expect(searchWalkLimit(search, 0)).toBe(0);
  expect(searchWalkLimit(search, FEW_NAMED + 1)).toBeGreaterThan(0);
  expect(searchWalkLimit(search, undefined)).toBeGreaterThan(0);
  expect(searchWalkLimit({ ...search, channelIds: [channelId] }, 0)).toBeGreaterThan(0);
  expect(searchWalkLimit(noFilter, 0)).toBeGreaterThan(0);
});

test('typed a character at a time, each term\'s pages and count are those of the whole listing, before and after a change', async () => {
  const list = async (search: string) => (await server.ok<{ apiKeys: { totalCount: number; edges: { node: { id: string } }[] } }>(admin,
    'query($search: String) { apiKeys(first: 50, filter: { search: $search }) { totalCount edges { node { id } } } }', { search })).apiKeys;
  const expected = async (search: string) => (await walkAll({ ...noFilter, search }, 'CREATED_AT', 'DESC', 1000)).forward;
  const typed = ['r', 'ra', 'rar', 'rare', 'rare ', 'rare t'];
  for (let round = 0; round < 2; round++) {
    // the second time, each term's count and its prefixes' are kept: the pages read the names' index at once
    for (const search of typed) {
      const page = await list(search);
      const ids = await expected(search);
      expect({ search, ids: page.edges.map((e) => e.node.id), n: page.totalCount }).toEqual({ search, ids: ids.slice(0, 50), n: ids.length });
    }
  }
  // a key named after the counts were kept is found by every term it matches
  const added = await createKey({ name: 'Rare tool added' });
  for (const search of typed) {
    const page = await list(search);
    expect(page.edges.map((e) => e.node.id)).toContain(added.id);
    expect(page.totalCount).toBe((await expected(search)).length);
  }
});

describe('teams among other conditions', () => {
  const filters: [string, Partial<KeyFilter>, number][] = [
    ['one team and a channel', { teamIds: ['red'], channelIds: ['ci'] }, 12],
    ['two teams, a channel, ACTIVE and an expiry', { teamIds: ['red', 'blue'], channelIds: ['ci'], statuses: ['ACTIVE'], expiresAfter: new Date() }, 13],
    ['a team, a search and a channel', { teamIds: ['blue'], search: 'ledger', channelIds: ['ide'] }, 2],
    ['a team, a search and a channel matching nothing together', { teamIds: ['blue'], search: 'rare', channelIds: ['ide'] }, 0],
  ];

  test.each(filters)('%s: every page of every order is the same either way', async (_label, partial, expected) => {
    const filter: KeyFilter = {
      ...noFilter, ...partial,
      teamIds: (partial.teamIds ?? []).map((t) => (t === 'red' ? red : blue)),
      channelIds: (partial.channelIds ?? []).map((c) => (c === 'ci' ? channelId : ideChannelId)),
    };
    for (const [field, direction] of ORDERS) {
      for (const walkLimit of [1, 1000]) {
        // as many links as each way is taken for: from the links or joined, hashed, joined again
        const [few, ...others] = await Promise.all([0, TEAM_LINKS.hashedFrom, TEAM_LINKS.joinedFrom].map((links) => walkAll(filter, field, direction, walkLimit, links)));
        for (const other of others) expect(other).toEqual(few);
        expect(few.backward).toEqual(few.forward);
        expect(few.forward.length).toBe(expected);
      }
    }
  });
});

test('teams\' links are counted as far as the bound, only the account\'s own', async () => {
  const other = await seedAccount(server, 'globex');
  const linksOf = (teamIds: string[], upTo?: number) => server.service.db.transaction(account, (tx) => teamLinksOf(tx, account, teamIds, upTo));
  // red is on 24 keys, blue on 8
  expect(await linksOf([red])).toBe(24);
  expect(await linksOf([red], 10)).toBe(10);
  expect(await linksOf([red, blue])).toBe(32);
  expect(await linksOf([blue], 9)).toBe(8);
  // another account's team, however many links it has, is none of this account's
  const theirs = (await server.ok<{ createTeam: { team: { id: string } } }>(other.admin,
    'mutation { createTeam(input: { name: "red" }) { team { id } } }')).createTeam.team.id;
  for (let i = 0; i < 3; i++) await other.createKey({ name: `theirs ${i}`, teamIds: [theirs] });
  expect(await linksOf([theirs])).toBe(0);
});

describe('the count of a search within other filters', () => {
  // each way forced by its bounds: the names of the filtered keys tested, or the term's keys looked up
  const WAYS: Record<string, CountBounds> = {
    'the filtered keys\' names': { namesOf: 1000, namedUpTo: 0 },
    'the term\'s keys looked up': { namesOf: 0, namedUpTo: 1000 },
    'the names, both sets over their bounds': { namesOf: 0, namedUpTo: 0 },
  };
  const filters: [string, Partial<KeyFilter>][] = [
    ['a channel', { channelIds: [] }],
    ['ACTIVE', { statuses: ['ACTIVE'] }],
    ['expiring within 50 days, in a channel', { channelIds: [], expiresBefore: new Date(Date.now() + 50 * DAY_MS) }],
  ];

  test.each(['ledger', 'RARE', 'e', 'no such name'])('"%s": every way counts what the pages show', async (search) => {
    for (const [label, partial] of filters) {
      const filter: KeyFilter = { ...noFilter, ...partial, ...partial.channelIds && { channelIds: [channelId] }, search };
      const shown = (await walkAll(filter, 'CREATED_AT', 'DESC', 1000)).forward.length;
      if (search === 'ledger') expect(shown).toBeGreaterThan(0);
      const counts: Record<string, number> = {};
      for (const [way, bounds] of Object.entries(WAYS)) {
        counts[way] = (await server.service.db.transaction(account, (tx) => countKeys(tx, account, filter, new Date(), bounds))).n;
      }
      expect({ label, counts }).toEqual({ label, counts: Object.fromEntries(Object.keys(WAYS).map((w) => [w, shown])) });
    }
  });
});

test.each(['ledger', 'RARE', 'e', 'no such name'])('the facets of "%s" are the same whether its keys are looked up or every name is tested', async (search) => {
  for (const partial of [{}, { channelIds: [channelId] }, { statuses: ['ACTIVE'] as KeyFilter['statuses'] }]) {
    const facets = (namedUpTo: number) => server.service.db.transaction(account, (tx) => countFacets(tx, account, { ...noFilter, ...partial, search }, new Date(), 50, namedUpTo));
    const [lookedUp, tested] = [(await facets(1000)).facets, (await facets(0)).facets];
    expect(tested).toEqual(lookedUp);
    if (search === 'ledger') expect(lookedUp.totalCount).toBeGreaterThan(0);
  }
});

describe('which statement a team filter pages with', () => {
  // the teams' links in key order (teamKeysInOrder in src/modules/api-keys/store.ts) serve one
  // team and nothing else, and teams with few links whatever else is filtered; many teams' links
  // would be sorted (all of an account's 200 teams: 190,000 links sorted on disk), and other
  // conditions are cheaper in the order's index
  const fromLinks = (filter: Partial<KeyFilter>, field: ApiKeyOrderField, teamLinks: number) => {
    const page: PageRequest = { limit: 50, cursor: null, backward: false, hasCursor: false };
    const { sql } = pageOfMatching(account, { ...noFilter, ...filter }, new Date(), { field, direction: 'DESC' }, page, 51, teamLinks).toSQL();
    return sql.includes('"kt"."key_created_at"');
  };
  const teams = (n: number) => Array.from({ length: n }, (_, i) => `team_${String(i).padStart(26, '0')}`);
  const [FEW, MANY] = [TEAM_LINKS.hashedFrom - 1, TEAM_LINKS.hashedFrom];

  test.each([
    ['one team alone', { teamIds: teams(1) }, 'CREATED_AT', MANY],
    ['one team alone, few links', { teamIds: teams(1) }, 'CREATED_AT', FEW],
    ['two teams with few links', { teamIds: teams(2) }, 'CREATED_AT', FEW],
    ['one team with few links and a status', { teamIds: teams(1), statuses: ['ACTIVE'] }, 'CREATED_AT', FEW],
    ['the most teams a request may name (1,000) with few links and a channel', { teamIds: teams(1000), channelIds: ['c'] }, 'CREATED_AT', FEW],
  ] as [string, Partial<KeyFilter>, ApiKeyOrderField, number][])('%s, in creation order, reads the links in that order', (_label, filter, field, links) => {
    expect(fromLinks(filter, field, links)).toBe(true);
  });

  test.each([
    ['two teams with many links', { teamIds: teams(2) }, 'CREATED_AT', MANY],
    ['the most teams a request may name (1,000) with many links', { teamIds: teams(1000) }, 'CREATED_AT', MANY],
    ['one team with many links and a status', { teamIds: teams(1), statuses: ['ACTIVE'] }, 'CREATED_AT', MANY],
    ['one team and a search', { teamIds: teams(1), search: 'ledger' }, 'CREATED_AT', FEW],
    ['one team in another order', { teamIds: teams(1) }, 'EXPIRES_AT', FEW],
  ] as [string, Partial<KeyFilter>, ApiKeyOrderField, number][])('%s walks the order\'s index instead', (_label, filter, field, links) => {
    expect(fromLinks(filter, field, links)).toBe(false);
  });

  test.each([
    ['joined', TEAM_LINKS.hashedFrom - 1, false],
    ['hashed', TEAM_LINKS.hashedFrom, true],
    ['hashed', TEAM_LINKS.joinedFrom - 1, true],
    ['joined again', TEAM_LINKS.joinedFrom, false],
  ])('walking the order, the teams are %s with %d links', (_way, links, hashed) => {
    const page: PageRequest = { limit: 50, cursor: null, backward: false, hasCursor: false };
    const { sql } = pageOfMatching(account, { ...noFilter, teamIds: teams(3), statuses: ['ACTIVE'] }, new Date(), { field: 'NAME', direction: 'ASC' }, page, 51, links).toSQL();
    expect(sql.includes('k.id in (select kt.api_key_id')).toBe(hashed);
    expect(sql.includes('exists (select 1 from api_key_teams')).toBe(!hashed);
  });
});

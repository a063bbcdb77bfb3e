// Benchmarks of the service as its clients use it, against the seeded PostgreSQL on 127.0.0.1 only,
// each listing beside PostGraphile 5 serving the same tables under the same row-level security.
//
// npm run bench [-- GROUP…]   groups: list search filter facets sort page lookups usage console bulk verifyload verify startup scale (all by default)
// Environment:
//   BENCH_DATABASE_URL or DATABASE_URL  the seeded database (default postgres://postgres@127.0.0.1:5432/qckeys_bench)
//   BENCH_DURATION    seconds of load per server, scenario and connection count (6), split into
//   BENCH_ROUNDS      alternating rounds of the service and the peer (2)
//   BENCH_CONNECTIONS connection counts, comma-separated (16,64)
//   BENCH_ONLY        a regular expression: only the scenarios whose label matches
//   BENCH_PEER=0      without the PostGraphile peer
//   BENCH_SECRETS     the seed's --secrets-out file for the verification runs (default data/bench-secrets.json)
//   BENCH_VERIFY_CONNECTIONS  connections of the verification runs (8)
//   BENCH_MAIN_THREAD_NICE    MAIN_THREAD_NICE of the verification thread's run (10, the service's default)
//   BENCH_RESULTS     folder of the Markdown and JSON results (bench/results, git-ignored)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { signToken } from '../src/auth/tokens';
import { AUTOVACUUM_SQL } from '../src/db/database';
import { ensureDatabase } from '../scripts/seed/database';
import { CHROMIUM, consoleFirstRender, launchChromium } from './lib/browser';
import { ensureBuilt } from './lib/build';
import { bodyOf, clientOperations, docOperations, withoutFields, type Operation } from './lib/documents';
import { combine, loadApart, median, runAutocannon, runLoad, type LoadResult } from './lib/load';
import { ensurePeerInstalled, peerDocuments, peerOperationFor, peerVariables, peerVersion, startPeer } from './lib/peer';
import { machine, renderTable, verdict, writeResults, type Row, type Target } from './lib/report';
import { scopeSettings } from './lib/scope';
import { pickTerms } from './lib/terms';
import { SERVER_NODE_FLAGS, startBenchServer, startFloorServer, type BenchServer } from './lib/server';

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/qckeys_bench';
const JWT_SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const GROUPS = ['list', 'search', 'filter', 'facets', 'sort', 'page', 'lookups', 'usage', 'console', 'bulk', 'verifyload', 'verify', 'startup', 'scale'] as const;
type Group = (typeof GROUPS)[number];
const LISTING_GROUPS: Group[] = ['list', 'search', 'filter', 'sort', 'page'];

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const DURATION = env('BENCH_DURATION', 6);
const ROUNDS = Math.max(1, env('BENCH_ROUNDS', 2));
const ROUND_SECONDS = Math.max(1, Math.round(DURATION / ROUNDS));
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '16,64').split(',').map(Number).filter((n) => n > 0);
const VERIFY_CONNECTIONS = env('BENCH_VERIFY_CONNECTIONS', 8);
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : null;
const ROOT = path.resolve(__dirname, '..');
const RESULTS = process.env.BENCH_RESULTS ? path.resolve(process.env.BENCH_RESULTS) : path.join(ROOT, 'bench', 'results');
const P975_TARGET_MS = 50;

interface Bench {
  server: BenchServer;
  peer: BenchServer | null;
  /** The peer's documents (bench/peers/postgraphile/listing.graphql). */
  peerText: string;
  db: pg.Pool;
  url: string;
  account: string;
  keys: number;
  token: string;
  ops: Map<string, Operation>;
  /** Operations run, by name. */
  ran: Set<string>;
  rows: Row[];
  /** The instant statuses are judged at, for the peer's filter. */
  now: Date;
}

type Json = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };

async function post(base: string, token: string, body: string): Promise<Json> {
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body });
  return (await res.json()) as Json;
}

function op(b: Bench, name: string): Operation {
  const found = b.ops.get(name);
  if (!found) throw new Error(`no operation ${name} in client/operations or the docs`);
  return found;
}

async function call<T>(b: Bench, name: string, variables: Record<string, unknown> = {}): Promise<T> {
  const json = await post(b.server.baseUrl, b.token, bodyOf(op(b, name), variables));
  if (json.errors?.length || !json.data) throw new Error(`${name} failed: ${JSON.stringify(json.errors)}`);
  return json.data as T;
}

const fmt = (n: number) => n.toLocaleString('en-US');
const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1)} %`;

const noFailures = (r: LoadResult): Target => ({ text: 'no non-2xx', met: r.non2xx + r.errors + r.graphqlErrors === 0 });
const p975Within = (r: LoadResult, limit = P975_TARGET_MS): Target => ({ text: `p97.5 ≤ ${limit} ms`, met: r.p975 <= limit });
const figures = (r: LoadResult) => ({ rps: r.rps, p50: r.p50, p975: r.p975, p99: r.p99, non2xx: r.non2xx + r.errors, graphqlErrors: r.graphqlErrors });

interface Listing {
  group: Group;
  label: string;
  op: Operation;
  variables: Record<string, unknown>;
  /** The peer's variables when they are not the translation of `variables` (its own cursors). */
  peerVariables?: Record<string, unknown>;
  targets: (r: LoadResult, ratio: number | null) => Target[];
  note?: string;
}

interface Page { total: number | null; ids: string[]; cursors: { end: string | null; first: string | null } }

function pageOf(json: Json, field: string, id: string): Page {
  const conn = json.data?.[field] as { totalCount?: number; pageInfo?: { endCursor: string | null }; edges: { cursor: string; node: Record<string, string> }[] } | undefined;
  if (!conn) return { total: null, ids: [], cursors: { end: null, first: null } };
  return {
    total: conn.totalCount ?? null, ids: conn.edges.map((e) => e.node[id]),
    cursors: { end: conn.pageInfo?.endCursor ?? null, first: conn.edges[0]?.cursor ?? null },
  };
}

/**
 * Waits until a server has finished the requests a run left behind (autocannon closes its
 * connections at the end; what the server had queued still runs): its CPU time stops growing.
 */
async function settle(server: BenchServer): Promise<void> {
  const deadline = Date.now() + 60_000;
  let before = (await server.stats()).cpuMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 150));
    const now = (await server.stats()).cpuMs;
    if (now - before < 8) return;
    before = now;
  }
}

/** One load run, then the server settles. */
async function loadOn(server: BenchServer, body: string, token: string, connections: number, seconds = ROUND_SECONDS): Promise<LoadResult> {
  const r = await runLoad({ url: `${server.baseUrl}/graphql`, bodies: [body], headers: { authorization: `Bearer ${token}` }, connections, durationSeconds: seconds });
  await settle(server);
  return r;
}

/**
 * `body` on `server` and `otherBody` on `other` (when both are given) in alternating rounds at
 * `connections`, each round's runs combined: whoever went second goes first next round, so that
 * drift of the machine hits both.
 */
async function alternating(
  b: Bench, connections: number, server: BenchServer, body: string, other: BenchServer | null, otherBody: string | null,
): Promise<[LoadResult, LoadResult | null]> {
  const runs: LoadResult[] = [];
  const otherRuns: LoadResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const run = async () => { runs.push(await loadOn(server, body, b.token, connections)); };
    const runOther = async () => {
      if (other && otherBody) otherRuns.push(await loadOn(other, otherBody, b.token, connections));
    };
    if (round % 2 === 0) { await run(); await runOther(); } else { await runOther(); await run(); }
  }
  return [combine(runs), otherRuns.length ? combine(otherRuns) : null];
}

/** The service's listing and the peer's, in alternating rounds at each connection count. */
async function runListing(b: Bench, l: Listing): Promise<void> {
  if (ONLY && !ONLY.test(l.label)) return;
  b.ran.add(l.op.name);
  const body = bodyOf(l.op, l.variables);
  const peerName = peerOperationFor(l.op);
  const peerBody = b.peer && peerName
    ? JSON.stringify({ query: b.peerText, operationName: peerName, variables: l.peerVariables ?? peerVariables(l.variables, b.now, b.account) })
    : null;
  // one answer of each, checked before the load: errors, and whether both list the same keys
  const notes: string[] = l.note ? [l.note] : [];
  const mine = await post(b.server.baseUrl, b.token, body);
  const page = pageOf(mine, 'apiKeys', 'id');
  if (mine.errors?.length) notes.push(`qckeys answered with errors: ${JSON.stringify(mine.errors).slice(0, 300)}`);
  else notes.push(`${page.total === null ? '' : `${fmt(page.total)} keys match; `}page of ${page.ids.length}`);
  if (peerBody) {
    const theirs = await post(b.peer!.baseUrl, b.token, peerBody);
    const peerPage = pageOf(theirs, 'allApiKeys', 'rowId');
    if (theirs.errors?.length) notes.push(`PostGraphile answered with errors: ${JSON.stringify(theirs.errors).slice(0, 300)}`);
    else if (page.total !== null && peerPage.total !== page.total) notes.push(`PostGraphile counts ${fmt(peerPage.total ?? 0)} keys`);
    else if (peerPage.ids.join() !== page.ids.join()) {
      const same = page.ids.filter((id) => peerPage.ids.includes(id)).length;
      notes.push(`PostGraphile's page differs (${same} of ${page.ids.length} keys in common)`);
    } else notes.push('PostGraphile lists the same keys');
  }
  for (const connections of CONNECTIONS) {
    const [r, p] = await alternating(b, connections, b.server, body, peerBody ? b.peer : null, peerBody);
    const ratio = p && p.rps > 0 ? r.rps / p.rps : null;
    const row: Row = {
      group: l.group, scenario: l.label, connections, qckeys: figures(r), peer: p ? { rps: p.rps, p975: p.p975 } : null, ratio,
      targets: [...l.targets(r, ratio), noFailures(r)],
      note: [...notes, ...(p && p.non2xx + p.errors + p.graphqlErrors > 0 ? [`PostGraphile: ${p.non2xx + p.errors} non-2xx, ${p.graphqlErrors} with GraphQL errors`] : []),
        ...(peerBody ? [] : [b.peer ? 'no PostGraphile equivalent' : 'PostGraphile not run'])].join('; '),
    };
    b.rows.push(row);
    console.log(`${l.label} @${connections}: qckeys ${Math.round(r.rps)} req/s p97.5 ${r.p975.toFixed(1)} ms`
      + `${p ? `, PG5 ${Math.round(p.rps)} req/s p97.5 ${p.p975.toFixed(1)} ms, ${ratio === null ? '-' : ratio.toFixed(2)}×` : ''} — ${verdict(row)}`);
  }
}

const listingTargets = (r: LoadResult) => [p975Within(r)];

// ---------------------------------------------------------------------------------------------
// scenarios

async function listScenario(b: Bench): Promise<void> {
  await runListing(b, {
    group: 'list', label: 'ApiKeys (client/operations), first page of 50 with totalCount', op: op(b, 'ApiKeys'), variables: { first: 50 },
    targets: (r, ratio) => [{ text: '≥ 4× PostGraphile 5', met: ratio === null ? null : ratio >= 4 }, p975Within(r)],
  });
  await floorScenario(b);
  await runListing(b, {
    group: 'list', label: 'ApiKeys, the same page without totalCount (reference)', op: op(b, 'ApiKeys without totalCount'), variables: { first: 50 },
    targets: (_r, ratio) => [{ text: '≥ 1.5× PostGraphile 5', met: ratio === null ? null : ratio >= 1.5 }],
    note: 'the one listing row without totalCount: ApiKeys with only that field left out',
  });
  await runListing(b, {
    group: 'list', label: 'KeyList (docs/admin-ui.md), first page with totalCount', op: op(b, 'KeyList'), variables: { first: 50 }, targets: listingTargets,
  });
}

/**
 * The floor of this machine for the first page of `ApiKeys` (bench/floor-server.cjs): the same
 * answer built whole by PostgreSQL in one prepared statement and written by a bare Node server,
 * with no GraphQL and no token check, in alternating rounds with the service. It shows how near
 * the page could come to the p97.5 target on this machine with the service's own work on it taken
 * away (what a page whose JSON PostgreSQL builds would at best approach).
 */
async function floorScenario(b: Bench): Promise<void> {
  const label = 'floor: the same first page, its whole answer built by PostgreSQL, served with no GraphQL (bench/floor-server.cjs)';
  if (ONLY && !ONLY.test(label)) return;
  const body = bodyOf(op(b, 'ApiKeys'), { first: 50 });
  const floor = await startFloorServer(serviceEnv(b.url, false), b.account, path.join(RESULTS, 'qckeys-server.log'));
  try {
    // the same answer, value for value, or the floor measures something else
    const [mine, its] = await Promise.all([post(b.server.baseUrl, b.token, body), post(floor.baseUrl, b.token, body)]);
    if (JSON.stringify(its) !== JSON.stringify(mine)) throw new Error(`the floor's answer differs from the service's: ${JSON.stringify(its).slice(0, 300)}`);
    // warmed as the service was: its statement prepared and planned on its connections
    await loadOn(floor, body, b.token, 16, 2);
    for (const connections of CONNECTIONS) {
      const [r, m] = await alternating(b, connections, floor, body, b.server, body) as [LoadResult, LoadResult];
      b.rows.push({
        group: 'list', scenario: label, connections, qckeys: figures(r), peer: null, ratio: null, targets: [p975Within(r), noFailures(r)],
        note: `the same answer as the service's, value for value; the service in the same rounds: ${Math.round(m.rps)} req/s, p97.5 ${m.p975.toFixed(1)} ms`,
      });
      console.log(`${label} @${connections}: ${Math.round(r.rps)} req/s p97.5 ${r.p975.toFixed(1)} ms; qckeys ${Math.round(m.rps)} req/s p97.5 ${m.p975.toFixed(1)} ms`);
    }
  } finally {
    await floor.stop();
  }
}

/** Lower-case names of the account's listed keys, as the service searches them. */
async function namesOf(b: Bench): Promise<string[]> {
  const { rows } = await b.db.query<{ n: string }>('select lower(name) as n from api_keys where account_id = $1 and deleted_at is null', [b.account]);
  return rows.map((r) => r.n);
}

async function searchScenario(b: Bench): Promise<void> {
  const names = await namesOf(b);
  for (const length of [1, 2, 3, 6]) {
    const terms = pickTerms(names, length);
    console.log(`search terms of ${length}: ${terms.map((t) => `"${t.term}" ${t.kind} ${fmt(t.count)} (${pct(t.count, names.length)})`).join(', ')}`);
    for (const t of terms) {
      await runListing(b, {
        group: 'search', label: `search as you type, ${length} char${length > 1 ? 's' : ''} "${t.term}" (${t.kind}: ${fmt(t.count)} names, ${pct(t.count, names.length)})`,
        op: op(b, 'ApiKeys'), variables: { first: 50, filter: { search: t.term } }, targets: listingTargets,
      });
    }
  }
}

interface Picks {
  team: { id: string; n: number }; teams: string[]; developer: { id: string; n: number }; channel: { id: string; n: number };
  instance: { id: string; n: number };
  /** The instance and channel of most of the median developer's keys, for the filters combined. */
  ofDeveloper: { instance: string; channel: string };
}

/** Values of the filters, from the seeded data: a median team, developer and instance, the busiest channel. */
async function picks(b: Bench): Promise<Picks> {
  const medianRow = async (sql: string) => {
    const { rows } = await b.db.query<{ id: string; n: number }>(sql, [b.account]);
    if (!rows.length) throw new Error(`the account has no rows for ${sql}`);
    return rows[Math.floor(rows.length / 2)];
  };
  const team = await medianRow(`select kt.team_id as id, count(*)::int as n from api_key_teams kt join api_keys k on k.id = kt.api_key_id
    where k.account_id = $1 and k.deleted_at is null group by 1 order by 2 desc, 1`);
  const { rows: teams } = await b.db.query<{ id: string }>(`select kt.team_id as id from api_key_teams kt where kt.account_id = $1
    group by 1 order by count(*) desc, 1 offset 10 limit 3`, [b.account]);
  const developer = await medianRow(`select developer_id as id, count(*)::int as n from api_keys where account_id = $1 and deleted_at is null group by 1 order by 2 desc, 1`);
  const channel = (await b.db.query<{ id: string; n: number }>(`select channel_id as id, count(*)::int as n from api_keys
    where account_id = $1 and deleted_at is null group by 1 order by 2 desc, 1 limit 1`, [b.account])).rows[0];
  const instance = await medianRow(`select instance_id as id, count(*)::int as n from api_keys where account_id = $1 and deleted_at is null group by 1 order by 2 desc, 1`);
  const { rows: [ofDeveloper] } = await b.db.query<{ instance: string; channel: string }>(`select instance_id as instance, channel_id as channel
    from api_keys where account_id = $1 and developer_id = $2 and deleted_at is null group by 1, 2 order by count(*) desc, 1, 2 limit 1`, [b.account, developer.id]);
  return { team, teams: teams.map((t) => t.id), developer, channel, instance, ofDeveloper };
}

const day = 86_400_000;

async function filterScenario(b: Bench): Promise<void> {
  const p = await picks(b);
  const now = b.now.toISOString();
  const in30 = new Date(b.now.getTime() + 30 * day).toISOString();
  const filters: [string, Record<string, unknown>][] = [
    ['search "ledger" (a word of the names)', { search: 'ledger' }],
    [`teamIds: one team (median, ${fmt(p.team.n)} keys)`, { teamIds: [p.team.id] }],
    ['teamIds: three teams', { teamIds: p.teams }],
    ['withoutTeam: true', { withoutTeam: true }],
    ['withoutTeam: false', { withoutTeam: false }],
    [`developerIds: one developer (median, ${fmt(p.developer.n)} keys)`, { developerIds: [p.developer.id] }],
    [`channelIds: the busiest channel (${fmt(p.channel.n)} keys)`, { channelIds: [p.channel.id] }],
    [`instanceIds: one instance (median, ${fmt(p.instance.n)} keys)`, { instanceIds: [p.instance.id] }],
    ['clouds: SALESFORCE', { clouds: ['SALESFORCE'] }],
    ['statuses: ACTIVE', { statuses: ['ACTIVE'] }],
    ['statuses: EXPIRED', { statuses: ['EXPIRED'] }],
    ['statuses: REVOKED', { statuses: ['REVOKED'] }],
    ['statuses: EXPIRED, REVOKED', { statuses: ['EXPIRED', 'REVOKED'] }],
    ['expiresBefore: now + 30 days', { expiresBefore: in30 }],
    ['expiresAfter: now', { expiresAfter: now }],
    // combined
    ['expiring within 30 days (expiresAfter now, expiresBefore now + 30 d)', { expiresAfter: now, expiresBefore: in30 }],
    ['one team + statuses ACTIVE', { teamIds: [p.team.id], statuses: ['ACTIVE'] }],
    ['search "ledger" + statuses ACTIVE + clouds SALESFORCE', { search: 'ledger', statuses: ['ACTIVE'], clouds: ['SALESFORCE'] }],
    ['developer + channel + instance (those of most of the developer\'s keys)', {
      developerIds: [p.developer.id], channelIds: [p.ofDeveloper.channel], instanceIds: [p.ofDeveloper.instance],
    }],
    ['withoutTeam: true + statuses ACTIVE + expiring within 30 days', { withoutTeam: true, statuses: ['ACTIVE'], expiresAfter: now, expiresBefore: in30 }],
    ['every filter at once (search "e", three teams, channel, SALESFORCE, ACTIVE, expiring after now)', {
      search: 'e', teamIds: p.teams, channelIds: [p.channel.id], clouds: ['SALESFORCE'], statuses: ['ACTIVE'], expiresAfter: now,
    }],
  ];
  for (const [label, filter] of filters) {
    await runListing(b, { group: 'filter', label: `filter ${label}`, op: op(b, 'ApiKeys'), variables: { first: 50, filter }, targets: listingTargets });
  }
}

/**
 * The filter panel's counts (ApiKeyFacets of the client) for a few filters: under load, where the
 * service keeps each filter's counts until a key changes; and each counted afresh (a filter not
 * asked before, one request at a time), what the first view after a change costs.
 */
async function facetsScenario(b: Bench): Promise<void> {
  const p = await picks(b);
  const now = b.now.toISOString();
  const in30 = new Date(b.now.getTime() + 30 * day).toISOString();
  const filters: [string, Record<string, unknown>][] = [
    ['no filter', {}],
    ['one team + statuses ACTIVE', { teamIds: [p.team.id], statuses: ['ACTIVE'] }],
    ['search "ledger"', { search: 'ledger' }],
    ['expiring within 30 days + SALESFORCE', { expiresAfter: now, expiresBefore: in30, clouds: ['SALESFORCE'] }],
  ];
  // the client's operation for every filter; the same query as docs/admin-ui.md writes it, for the first
  const cases = filters.flatMap(([what, filter], i) => (i === 0 ? ['ApiKeyFacets', 'FilterCounts'] : ['ApiKeyFacets']).map((name) => ({ what, filter, o: op(b, name) })));
  for (const { what, filter, o } of cases) {
    const label = `facets: ${o.name} (${o.source}), ${what}`;
    if (ONLY && !ONLY.test(label)) continue;
    b.ran.add(o.name);
    // counted afresh: the same filter with a `first` not asked before is a filter the service has not kept
    const fresh: number[] = [];
    for (let first = 41; first <= 45 && o.text.includes('$first'); first++) {
      const started = performance.now();
      const answer = await post(b.server.baseUrl, b.token, bodyOf(o, { filter, first }));
      fresh.push(performance.now() - started);
      if (answer.errors?.length) throw new Error(`ApiKeyFacets failed: ${JSON.stringify(answer.errors)}`);
    }
    fresh.sort((x, y) => x - y);
    const body = bodyOf(o, { filter });
    for (const connections of CONNECTIONS) {
      const runs: LoadResult[] = [];
      for (let round = 0; round < ROUNDS; round++) runs.push(await loadOn(b.server, body, b.token, connections));
      const r = combine(runs);
      b.rows.push({
        group: 'facets', scenario: label, connections, qckeys: figures(r), peer: null, ratio: null, targets: [p975Within(r), noFailures(r)],
        note: `${fresh.length ? `counted afresh, one request at a time: ${fresh.map((ms) => ms.toFixed(0)).join(', ')} ms; ` : ''}no PostGraphile row (no equivalent)`,
      });
    }
  }
}

async function sortScenario(b: Bench): Promise<void> {
  const p = await picks(b);
  for (const [what, filter] of [['all keys', undefined], [`one team + ACTIVE (${fmt(p.team.n)} keys in the team)`, { teamIds: [p.team.id], statuses: ['ACTIVE'] }]] as const) {
    for (const field of ['NAME', 'CREATED_AT', 'EXPIRES_AT', 'LAST_USED_AT']) {
      for (const direction of ['ASC', 'DESC']) {
        await runListing(b, {
          group: 'sort', label: `sort ${field} ${direction}, ${what}`, op: op(b, 'ApiKeys'),
          variables: { first: 50, orderBy: { field, direction }, ...(filter ? { filter } : {}) }, targets: listingTargets,
        });
      }
    }
  }
}

async function pageScenario(b: Bench): Promise<void> {
  if (ONLY && !ONLY.test('deep page') && !ONLY.test('paging back')) return;
  // the cursor after ~5,000 rows, by walking the listing 100 keys at a time as a client would
  let after: string | null = null;
  let peerAfter: string | null = null;
  for (let seen = 0; seen < 5000; seen += 100) {
    const mine = await post(b.server.baseUrl, b.token, bodyOf(op(b, 'ApiKeys without totalCount'), { first: 100, after }));
    after = pageOf(mine, 'apiKeys', 'id').cursors.end;
    if (b.peer) {
      const theirs = await post(b.peer.baseUrl, b.token, JSON.stringify({
        query: b.peerText, operationName: 'PeerApiKeysWithoutTotalCount', variables: peerVariables({ first: 100 }, b.now, b.account, { after: peerAfter }),
      }));
      peerAfter = pageOf(theirs, 'allApiKeys', 'rowId').cursors.end;
    }
  }
  if (!after) throw new Error('the listing has fewer than 5,000 keys');
  await runListing(b, {
    group: 'page', label: 'deep page: ApiKeys first 50 after ~5,000 rows', op: op(b, 'ApiKeys'), variables: { first: 50, after },
    peerVariables: peerVariables({ first: 50 }, b.now, b.account, { after: peerAfter }), targets: listingTargets,
  });
  await runListing(b, {
    group: 'page', label: 'paging back: ApiKeys last 50 before the row ~5,000', op: op(b, 'ApiKeys'), variables: { last: 50, before: after },
    peerVariables: peerVariables({ last: 50 }, b.now, b.account, { before: peerAfter }), targets: listingTargets,
  });
}

/** The other queries of client/operations, with variables from the seeded data (no peer). */
async function lookupsScenario(b: Bench): Promise<void> {
  const { rows: [key] } = await b.db.query<{ id: string }>('select id from api_keys where account_id = $1 and deleted_at is null order by id limit 1', [b.account]);
  const { rows: [team] } = await b.db.query<{ id: string; name: string }>('select id, name from teams where account_id = $1 order by id limit 1', [b.account]);
  const { rows: [dev] } = await b.db.query<{ name: string }>('select name from developers where account_id = $1 order by id limit 1', [b.account]);
  const variables: Record<string, Record<string, unknown>> = {
    Viewer: {}, Channels: {}, Instances: { cloud: 'SALESFORCE' }, Teams: { search: team.name.slice(0, 3), first: 20 },
    Developers: { search: dev.name.slice(0, 3), first: 20 }, NodeRef: { id: team.id }, ApiKey: { id: key.id },
  };
  const handled = new Set(['ApiKeys', 'Usage', ...Object.keys(variables)]);
  for (const o of b.ops.values()) {
    if (o.kind !== 'query' || !o.source.startsWith('client/') || handled.has(o.name) || !/^\w+$/.test(o.name)) continue;
    variables[o.name] = {}; // a query added later: run without variables, its errors show in the table
  }
  for (const [name, vars] of Object.entries(variables)) {
    const label = `${name} (client/operations) ${JSON.stringify(vars)}`;
    if (ONLY && !ONLY.test(label)) continue;
    b.ran.add(name);
    const body = bodyOf(op(b, name), vars);
    const check = await post(b.server.baseUrl, b.token, body);
    for (const connections of CONNECTIONS) {
      const r = await loadOn(b.server, body, b.token, connections);
      b.rows.push({
        group: 'lookups', scenario: label, connections, qckeys: figures(r), peer: null, ratio: null, targets: [noFailures(r)],
        note: check.errors?.length ? `errors: ${JSON.stringify(check.errors).slice(0, 300)}` : undefined,
      });
    }
  }
}

async function usageScenario(b: Bench): Promise<void> {
  const to = new Date();
  const from = new Date(to.getTime() - 90 * day);
  const range = { from: from.toISOString(), to: to.toISOString() };
  const cases: [string, Record<string, unknown>][] = [
    ['Usage', { filter: range, groupBy: 'CHANNEL', granularity: 'DAY' }],
    ['ChannelUsage', range],
    ['ChannelUsage (curl)', range],
    ['RejectionReasons', range],
  ];
  for (const [name, vars] of cases) {
    if (!b.ops.has(name)) continue;
    const o = op(b, name);
    const label = `usage dashboard: ${name} (${o.source}), 90 days to now, DAY, by channel`;
    if (ONLY && !ONLY.test(label)) continue;
    b.ran.add(name);
    const body = bodyOf(o, vars);
    const check = await post(b.server.baseUrl, b.token, body);
    const total = (check.data?.usage as { total?: number } | undefined)?.total;
    for (const connections of CONNECTIONS) {
      const runs: LoadResult[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        runs.push(await loadOn(b.server, body, b.token, connections));
      }
      const r = combine(runs);
      b.rows.push({
        group: 'usage', scenario: label, connections, qckeys: figures(r), peer: null, ratio: null, targets: [p975Within(r), noFailures(r)],
        note: check.errors?.length ? `errors: ${JSON.stringify(check.errors).slice(0, 300)}`
          : `${fmt(total ?? 0)} verifications in the range; no PostGraphile row (not a listing)`,
      });
    }
  }
}

const CONSOLE_LOADS = 5;
const FIRST_RENDER_BUDGET_MS = 1000;

/**
 * The admin console's first render of the busiest account from a cold browser (nothing cached),
 * to the first page's rows and "1–50 of N" on screen, by the page's own clock; beside it, in the
 * same run, the page's first request (the typed client's `ApiKeys`, 50 keys with `totalCount`)
 * sent alone.
 */
async function consoleScenario(b: Bench, say: (line: string) => void): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) {
    say(`console: not run, ${CHROMIUM} is missing (apt-get install -y chromium)`);
    return;
  }
  const browser = await launchChromium();
  try {
    const renders: number[] = [];
    for (let i = 0; i < CONSOLE_LOADS; i++) renders.push(await consoleFirstRender(browser, b.server.baseUrl, b.token, fmt(b.keys)));
    const body = bodyOf(op(b, 'ApiKeys'), { first: 50 });
    const alone: number[] = [];
    for (let i = 0; i < CONSOLE_LOADS; i++) {
      const started = performance.now();
      const json = await post(b.server.baseUrl, b.token, body);
      if (json.errors?.length) throw new Error(`ApiKeys failed: ${JSON.stringify(json.errors)}`);
      alone.push(performance.now() - started);
    }
    b.ran.add('ApiKeys');
    const firstRender = median(renders);
    b.rows.push({
      group: 'console', scenario: `admin console (GET /console): first render of the busiest account from a cold browser, median of ${CONSOLE_LOADS} loads (ms, in the p50 column; the slowest in p99)`,
      connections: 1, qckeys: { rps: null, p50: firstRender, p975: null, p99: Math.max(...renders), non2xx: null }, peer: null, ratio: null,
      targets: [{ text: `≤ ${fmt(FIRST_RENDER_BUDGET_MS)} ms`, met: firstRender <= FIRST_RENDER_BUDGET_MS }],
      note: `loads of ${renders.map((t) => t.toFixed(0)).join(', ')} ms; the page's first request (ApiKeys, 50 keys with totalCount) sent alone: median ${median(alone).toFixed(1)} ms`,
    });
  } finally {
    await browser.close();
  }
}

/**
 * "Select all matching": the listing's totalCount for a filter, then a bulk team change of every
 * key matching it (UpdateApiKeyTeams of the client), undone by the docs' BulkTeams; then "Revoke
 * selected" and "Delete selected" of the same keys (RevokeApiKeys, DeleteApiKeys), after which the
 * keys are put back as they were and those events removed, so the data set stays the seed's.
 * Bounded to the 10,000 keys that expire first.
 */
async function bulkScenario(b: Bench): Promise<void> {
  if (ONLY && !ONLY.test('select all matching')) return;
  const { rows } = await b.db.query<{ expires_at: Date }>(
    'select expires_at from api_keys where account_id = $1 and deleted_at is null order by expires_at offset 10000 limit 1', [b.account],
  );
  if (!rows[0]) throw new Error('the busiest account has fewer than 10,001 keys');
  const filter = { expiresBefore: rows[0].expires_at.toISOString() };
  const teamName = `bench bulk ${Date.now().toString(36)}`;
  const timed = async <T>(work: () => Promise<T>) => {
    const t = performance.now();
    const value = await work();
    return { ms: performance.now() - t, value };
  };
  const select = await timed(() => call<{ apiKeys: { totalCount: number } }>(b, 'ApiKeys', { first: 50, filter }));
  const add = await timed(() => call<{ updateApiKeyTeams: { updatedCount: number } }>(b, 'UpdateApiKeyTeams', { input: { filter, addNewTeamNames: [teamName] } }));
  const { rows: [team] } = await b.db.query<{ id: string }>('select id from teams where account_id = $1 and name = $2', [b.account, teamName]);
  if (!team) throw new Error('the bulk change created no team');
  const undo = b.ops.has('BulkTeams') ? 'BulkTeams' : 'UpdateApiKeyTeams';
  const remove = await timed(() => call<{ updateApiKeyTeams: { updatedCount: number } }>(b, undo, { input: { filter, removeTeamIds: [team.id] } }));
  const left = (await b.db.query<{ n: number }>('select count(*)::int as n from api_key_teams where team_id = $1', [team.id])).rows[0].n;
  await b.db.query('delete from teams where id = $1', [team.id]);
  b.ran.add('ApiKeys').add('UpdateApiKeyTeams').add(undo);

  const { rows: before } = await b.db.query<{ id: string; revoked_at: Date | null; revocation_reason: string | null; updated_at: Date; version: number }>(
    'select id, revoked_at, revocation_reason, updated_at, version from api_keys where account_id = $1 and deleted_at is null and expires_at < $2',
    [b.account, filter.expiresBefore]);
  const { rows: [{ now: since }] } = await b.db.query<{ now: Date }>('select now()');
  const revoke = await timed(() => call<{ revokeApiKeys: { revokedCount: number; alreadyRevokedCount: number } }>(b, 'RevokeApiKeys',
    { input: { filter, exceptIds: [], reason: 'bench' } }));
  const erase = await timed(() => call<{ deleteApiKeys: { deletedCount: number } }>(b, 'DeleteApiKeys', { input: { filter } }));
  b.ran.add('RevokeApiKeys').add('DeleteApiKeys');
  // back as the seed left them: the keys' columns, and without this run's REVOKED and DELETED events
  const ids = before.map((k) => k.id);
  await b.db.query(`update api_keys k set deleted_at = null, revoked_at = o.revoked_at, revocation_reason = o.revocation_reason, updated_at = o.updated_at, version = o.version
    from unnest($2::text[], $3::timestamptz[], $4::text[], $5::timestamptz[], $6::int[]) as o(id, revoked_at, revocation_reason, updated_at, version)
    where k.account_id = $1 and k.id = o.id`,
  [b.account, ids, before.map((k) => k.revoked_at), before.map((k) => k.revocation_reason), before.map((k) => k.updated_at), before.map((k) => k.version)]);
  await b.db.query(`delete from api_key_events where account_id = $1 and api_key_id = any($2) and type in ('REVOKED', 'DELETED') and at >= $3`, [b.account, ids, since]);
  const wasRevoked = before.filter((k) => k.revoked_at !== null).length;
  const { revokedCount, alreadyRevokedCount } = revoke.value.revokeApiKeys;
  const { deletedCount } = erase.value.deleteApiKeys;
  const total = select.value.apiKeys.totalCount;
  const added = add.value.updateApiKeyTeams.updatedCount;
  const removed = remove.value.updateApiKeyTeams.updatedCount;
  const same = { text: 'changes every matching key', met: added === total && removed === total && left === 0 };
  const line = (scenario: string, ms: number, targets: Target[], note?: string): Row => ({
    group: 'bulk', scenario, connections: 1, qckeys: { rps: null, p50: ms, p975: null, p99: null, non2xx: 0 }, peer: null, ratio: null, targets, note,
  });
  b.rows.push(line(`select all matching: ApiKeys totalCount, filter expiresBefore (${fmt(total)} keys)`, select.ms, []));
  // the target of a bulk change of 10,000 keys
  const inTwoSeconds = (ms: number): Target => ({ text: '≤ 2 s', met: ms <= 2000 });
  b.rows.push(line(`bulk change: UpdateApiKeyTeams by that filter, add a new team (${fmt(added)} keys)`, add.ms, [same, inTwoSeconds(add.ms)],
    'time in the p50 column; one request'));
  b.rows.push(line(`undo: ${undo} (${b.ops.get(undo)?.source}) removes that team (${fmt(removed)} keys), the team deleted`, remove.ms, [same],
    `${left} links left before the team was deleted; the keys' versions and TEAMS_CHANGED events of both changes stay`));
  b.rows.push(line(`revoke selected: RevokeApiKeys by that filter (${fmt(revokedCount)} revoked, ${fmt(alreadyRevokedCount)} revoked already)`, revoke.ms,
    [{ text: 'every matching key', met: revokedCount + alreadyRevokedCount === total && alreadyRevokedCount === wasRevoked }, inTwoSeconds(revoke.ms)],
    'one request, one transaction, one event per key revoked'));
  b.rows.push(line(`delete selected: DeleteApiKeys by that filter (${fmt(deletedCount)} keys)`, erase.ms, [{ text: 'every matching key', met: deletedCount === total }, inTwoSeconds(erase.ms)],
    'then the keys put back as they were, and these events removed'));
}

interface Secret { accountId: string; keyId: string; secret: string; status: string; instanceId: string }

/** Bodies of `POST /v1/keys/verify` for active keys: the seed's secrets of the account, or a key made for the run. */
async function verifyBodies(b: Bench): Promise<{ bodies: string[]; token: string; source: string }> {
  const file = process.env.BENCH_SECRETS ? path.resolve(process.env.BENCH_SECRETS) : path.join(ROOT, 'data', 'bench-secrets.json');
  if (fs.existsSync(file)) {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Secret[] | { secrets: Secret[] };
    const all = (Array.isArray(parsed) ? parsed : parsed.secrets).filter((s) => s.status === 'ACTIVE' && s.accountId === b.account).slice(0, 200);
    const { rows } = await b.db.query<{ id: string }>(
      'select id from api_keys where id = any($1) and deleted_at is null and revoked_at is null and expires_at > now()', [all.map((s) => s.keyId)],
    );
    const live = new Set(rows.map((r) => r.id));
    const usable = all.filter((s) => live.has(s.keyId));
    if (usable.length) {
      const token = await signToken({ secret: JWT_SECRET, account: b.account, roles: ['verifier'], subject: 'gateway', ttl: '4h' });
      return { bodies: usable.map((s) => JSON.stringify({ key: s.secret, instanceId: s.instanceId })), token, source: `${usable.length} seeded keys of ${b.account} (${path.relative(ROOT, file)})` };
    }
  }
  // no usable secrets: one key of an account of its own, made through the API (CreateApiKey of the client)
  const account = `bench-verify-${Date.now().toString(36)}`;
  const admin = await signToken({ secret: JWT_SECRET, account, roles: ['admin'], subject: 'bench', ttl: '1h' });
  const gqlAs = async <T>(query: string, variables: Record<string, unknown>) => {
    const json = await post(b.server.baseUrl, admin, JSON.stringify({ query, variables }));
    if (json.errors?.length) throw new Error(JSON.stringify(json.errors));
    return json.data as T;
  };
  const { createChannel } = await gqlAs<{ createChannel: { channel: { id: string } } }>('mutation { createChannel(input: { name: "Gateway" }) { channel { id } } }', {});
  const { createInstance } = await gqlAs<{ createInstance: { instance: { id: string } } }>(
    'mutation($c: [ID!]!) { createInstance(input: { name: "Bench", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }', { c: [createChannel.channel.id] });
  const { createApiKey } = await gqlAs<{ createApiKey: { secret: string } }>(op(b, 'CreateApiKey').text, {
    input: { name: 'bench', instanceId: createInstance.instance.id, channelId: createChannel.channel.id, developer: { name: 'Bench' } },
  });
  b.ran.add('CreateApiKey');
  const token = await signToken({ secret: JWT_SECRET, account, roles: ['verifier'], subject: 'gateway', ttl: '4h' });
  return { bodies: [JSON.stringify({ key: createApiKey.secret, instanceId: createInstance.instance.id })], token, source: `one key of ${account}, made for the run (no usable --secrets-out file)` };
}

/** Verifications of `bodies` at `baseUrl` for `seconds`, on the verification runs' connections. */
const verifications = (baseUrl: string, bodies: string[], token: string, seconds = DURATION): Promise<LoadResult> => runAutocannon({
  url: `${baseUrl}/v1/keys/verify`, bodies, headers: { authorization: `Bearer ${token}` }, connections: VERIFY_CONNECTIONS, durationSeconds: seconds, checkGraphqlErrors: false,
});

/**
 * Verifications of `bodies` at `verifyBase` while `listing` loads `listingBase` at the largest
 * connection count, for a run's length. The listings are sent from a process of its own, ready
 * before both start; the verifications are measured from this one.
 */
async function verificationsUnderListings(
  verifyBase: string, bodies: string[], token: string, listingBase: string, listing: string, listingToken: string,
): Promise<[verified: LoadResult, listed: LoadResult]> {
  const startListing = await loadApart({
    url: `${listingBase}/graphql`, bodies: [listing], headers: { authorization: `Bearer ${listingToken}` }, connections: Math.max(...CONNECTIONS), durationSeconds: DURATION,
  });
  return Promise.all([verifications(verifyBase, bodies, token), startListing()]);
}

async function verifyLoadScenario(b: Bench): Promise<void> {
  if (ONLY && !ONLY.test('verification')) return;
  const { bodies, token, source } = await verifyBodies(b);
  const verifyUrl = `${b.server.baseUrl}/v1/keys/verify`;
  const check = await fetch(verifyUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: bodies[0] });
  const answer = (await check.json()) as { code?: string };
  if (answer.code !== 'VALID') throw new Error(`the verification bench's key does not verify: ${JSON.stringify(answer)}`);
  await verifications(b.server.baseUrl, bodies, token, 1);
  await settle(b.server);
  const unloaded = await verifications(b.server.baseUrl, bodies, token);
  const listingConnections = Math.max(...CONNECTIONS);
  const listing = bodyOf(op(b, 'ApiKeys'), { first: 50 });
  const [loaded, load] = await verificationsUnderListings(b.server.baseUrl, bodies, token, b.server.baseUrl, listing, b.token);
  await settle(b.server);
  const ratio = loaded.p99 / unloaded.p99;
  const apart = await verificationApart(b, listing, bodies, token);
  const thread = await verificationThread(b, listing, bodies, token);
  b.rows.push({
    group: 'verifyload', scenario: `verification POST /v1/keys/verify, unloaded (${VERIFY_CONNECTIONS} conns)`, connections: VERIFY_CONNECTIONS,
    qckeys: figures(unloaded), peer: null, ratio: null, targets: [noFailures(unloaded)], note: source,
  });
  b.rows.push({
    group: 'verifyload', scenario: `verification while ${listingConnections} connections load ApiKeys first pages (${VERIFY_CONNECTIONS} conns)`,
    connections: VERIFY_CONNECTIONS, qckeys: figures(loaded), peer: null, ratio: null,
    targets: [{ text: `p99 ≤ 2× unloaded p99 (${unloaded.p99.toFixed(2)} ms): ${ratio.toFixed(1)}×`, met: ratio <= 2 }, noFailures(loaded)],
    note: `p99 ${loaded.p99.toFixed(2)} ms loaded against ${unloaded.p99.toFixed(2)} ms unloaded (${ratio.toFixed(1)}×); the listing load meanwhile: `
      + `${Math.round(load.rps)} req/s, p97.5 ${load.p975.toFixed(1)} ms, ${load.non2xx + load.errors} non-2xx`,
  });
  b.rows.push(...thread, ...apart);
}

/** The service's environment as deployed: NODE_ENV=production (graphql-js skips its development-time checks), request logs off. */
const serviceEnv = (url: string, migrate: boolean): Record<string, string> => ({
  DATABASE_URL: url, JWT_SECRET, MIGRATE_ON_START: String(migrate), NODE_ENV: 'production', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
});

/** Sets the nice value of every thread of a process (Linux: a nice value is per thread). */
function renice(pid: number, value: number): void {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) os.setPriority(Number(tid), value);
}

/** A verification row: its p99 against `unloaded`'s, and the listing load beside it. */
function verificationRow(scenario: string, result: LoadResult, unloaded: LoadResult, listingLoad: LoadResult, whose: string, note: string): Row {
  const ratio = result.p99 / unloaded.p99;
  return {
    group: 'verifyload', scenario, connections: VERIFY_CONNECTIONS, qckeys: figures(result), peer: null, ratio: null,
    targets: [{ text: `p99 ≤ 2× ${whose} unloaded p99 (${unloaded.p99.toFixed(2)} ms): ${ratio.toFixed(1)}×`, met: ratio <= 2 }, noFailures(result)],
    note: `${note}; the listings meanwhile: ${Math.round(listingLoad.rps)} req/s, ${listingLoad.non2xx + listingLoad.errors} non-2xx`,
  };
}

/**
 * Verification in the process that serves the listings, on its own thread: a fresh service with
 * VERIFY_PORT (its other threads at MAIN_THREAD_NICE), verified on that port while the main port
 * serves the listing connections; stopped afterwards.
 */
async function verificationThread(b: Bench, listing: string, bodies: string[], token: string): Promise<Row[]> {
  const nice = process.env.BENCH_MAIN_THREAD_NICE ?? '10';
  const server = await startBenchServer({ ...serviceEnv(b.url, false), VERIFY_PORT: '0', MAIN_THREAD_NICE: nice }, [], path.join(RESULTS, 'qckeys-server.log'));
  try {
    const { verifyUrl } = server;
    if (!verifyUrl) throw new Error('the service started without its verification thread');
    await verifications(verifyUrl, bodies, token, 1);
    await loadOn(server, listing, b.token, 16, 2);
    await settle(server);
    const unloaded = await verifications(verifyUrl, bodies, token);
    const conns = Math.max(...CONNECTIONS);
    const [loaded, load] = await verificationsUnderListings(verifyUrl, bodies, token, server.baseUrl, listing, b.token);
    return [verificationRow(`verification on its own thread (VERIFY_PORT) while the same process serves ${conns} listing connections (${VERIFY_CONNECTIONS} conns)`,
      loaded, unloaded, load, 'the thread\'s', `one process, its other threads at nice ${nice} (MAIN_THREAD_NICE), the verification thread at 0`)];
  } finally {
    await server.stop();
  }
}

/**
 * The floor of the machine under the same load: verification in a service process of its own,
 * while another serves the listing connections, as a reverse proxy routing `/v1/keys/verify` to
 * other processes would run them; then with the listing process at nice 10 (lowering a priority
 * needs no privilege). Both processes are fresh and stopped afterwards.
 */
async function verificationApart(b: Bench, listing: string, bodies: string[], token: string): Promise<Row[]> {
  const env = serviceEnv(b.url, false);
  const log = path.join(RESULTS, 'qckeys-server.log');
  const [lister, verifier] = await Promise.all([startBenchServer(env, [], log), startBenchServer(env, [], log)]);
  try {
    const verify = (seconds = DURATION) => verifications(verifier.baseUrl, bodies, token, seconds);
    const load = () => verificationsUnderListings(verifier.baseUrl, bodies, token, lister.baseUrl, listing, b.token);
    await verify(1);
    await loadOn(lister, listing, b.token, 16, 2);
    await settle(lister);
    const unloaded = await verify();
    const [loaded, loadFigures] = await load();
    await settle(lister);
    renice(lister.pid, 10);
    const [niced, nicedLoad] = await load();
    const row = (scenario: string, result: LoadResult, listingLoad: LoadResult): Row => verificationRow(scenario, result, unloaded, listingLoad, 'this process\'s',
      'the machine\'s floor for any design that moves verification off the listings\' thread');
    const conns = Math.max(...CONNECTIONS);
    return [
      row(`verification in a process of its own while another serves ${conns} listing connections (${VERIFY_CONNECTIONS} conns)`, loaded, loadFigures),
      row(`the same, the listing process at nice 10 (${VERIFY_CONNECTIONS} conns)`, niced, nicedLoad),
    ];
  } finally {
    await Promise.all([lister.stop(), verifier.stop()]);
  }
}

/**
 * The scale-out bench is bench/scale.ts (its own processes, replica and PgBouncer), run as a
 * child process on the same database; it prints and writes its own table.
 */
async function scaleScenario(url: string): Promise<void> {
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'scale.ts')], {
      cwd: ROOT, env: { ...process.env, BENCH_DATABASE_URL: url }, stdio: 'inherit',
    });
    child.once('exit', resolve);
  });
  if (code !== 0) process.exitCode = 1;
}

/**
 * The verification bench is bench/verify.ts (its own servers: the service and a bare
 * `http.createServer`); it runs as a child process on the same database and its figures are
 * read back from its output.
 */
async function verifyScenario(b: { url: string; rows: Row[] }): Promise<void> {
  const script = path.join(ROOT, 'bench', 'verify.ts');
  // BENCH_CONNECTIONS is this suite's; verify.ts has its own default (50)
  const inherited = { ...process.env };
  delete inherited.BENCH_CONNECTIONS;
  const output = await new Promise<string>((resolve) => {
    let text = '';
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT, env: { ...inherited, BENCH_DATABASE_URL: b.url }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { text += d.toString(); });
    child.on('exit', (code) => resolve(`${text}\n(exit ${code})`));
  });
  const read = (label: string) => {
    // requests, req/s, p50 ms, p99 ms, server CPU µs/req, client CPU µs/req, errors/non-2xx
    const m = new RegExp(`^${label}\\s+([\\d,]+)\\s+([\\d,.]+)\\s+([\\d,.]+)\\s+([\\d,.]+)\\s+([\\d,.]+|NaN)\\s+([\\d,.]+|NaN)\\s+(\\d+)/(\\d+)`, 'm').exec(output);
    const value = (text: string) => Number(text.replace(/,/g, ''));
    return m ? { rps: value(m[2]), p50: value(m[3]), p99: value(m[4]), non2xx: value(m[7]) + value(m[8]) } : null;
  };
  const bare = read('bare http\\.createServer');
  const verify = read('POST /v1/keys/verify');
  if (!bare || !verify) {
    b.rows.push({
      group: 'verify', scenario: 'REST verification, warm cache (bench/verify.ts)', connections: 50,
      qckeys: { rps: null, p50: null, p975: null, p99: null, non2xx: null }, peer: null, ratio: null,
      targets: [{ text: 'bench/verify.ts ran', met: false }], note: `could not read its figures: ${output.trim().split('\n').slice(-5).join(' / ')}`,
    });
    return;
  }
  const verdicts = output.split('\n').filter((l) => /^(PASS|FAIL) /.test(l));
  b.rows.push({
    group: 'verify', scenario: 'REST verification, warm cache (bench/verify.ts); the ratio is to a bare http.createServer', connections: 50,
    qckeys: { rps: verify.rps, p50: verify.p50, p975: null, p99: verify.p99, non2xx: verify.non2xx }, peer: null, ratio: verify.rps / bare.rps,
    targets: verdicts.map((l) => ({ text: l.replace(/^(PASS|FAIL)\s+/, ''), met: l.startsWith('PASS') })),
    note: `bare http.createServer ${Math.round(bare.rps)} req/s, p99 ${bare.p99} ms`,
  });
}

async function timeToReady(dataDir: string): Promise<number> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, path.join(ROOT, 'dist', 'src', 'server.js')], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'development', JWT_SECRET },
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /GraphQL at (http:\/\/\S+)\/graphql/.exec(out);
        if (m) resolve(m[1].replace('localhost', '127.0.0.1'));
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before it listened`)));
    });
    for (;;) {
      const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
      if (ok) return Number(process.hrtime.bigint() - started) / 1e6;
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/**
 * A listing reads its pages from the indexes alone as far as the keys' tables are all-visible,
 * which changes to keys undo until a vacuum (migrations/20261201000130_key_tables_vacuumed_sooner.ts).
 * Where the server does not vacuum by itself, this does it as autovacuum would after such
 * changes (the seed's, the bulk changes'). Returns what it found and did, for the report.
 */
async function keyTablesVacuumed(db: pg.Pool): Promise<string> {
  const tables = ['api_keys', 'api_key_teams'];
  const { rows: [{ on }] } = await db.query<{ on: boolean }>(AUTOVACUUM_SQL);
  // pg_class's count of all-visible pages moves with vacuums and analyses only
  const visible = async () => {
    for (const table of tables) await db.query(`analyze ${table}`);
    return (await db.query<{ relname: string; share: number }>(
      `select relname, round(100.0 * relallvisible / greatest(relpages, 1))::int as share from pg_class where relname = any($1) and relkind = 'r' order by relname`, [tables],
    )).rows.map((r) => `${r.relname} ${r.share} %`).join(', ');
  };
  const before = await visible();
  if (on) return `keys' tables all-visible: ${before} (the server's autovacuum keeps them)`;
  for (const table of tables) await db.query(`vacuum ${table}`);
  return `keys' tables all-visible: ${before}; autovacuum is off on this server, so the bench vacuumed them: ${await visible()}`;
}

async function startupScenario(b: { rows: Row[] }): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-startup-'));
  try {
    const cold = await timeToReady(dir);
    const warm = await timeToReady(dir);
    for (const [label, msToReady] of [['fresh data directory (a copy of the build\'s template)', cold], ['existing data directory', warm]] as const) {
      b.rows.push({
        group: 'startup', scenario: `start on the embedded database to /readyz 200: ${label}`, connections: null,
        qckeys: { rps: null, p50: msToReady, p975: null, p99: null, non2xx: null }, peer: null, ratio: null,
        targets: [{ text: '≤ 3 s after build', met: msToReady <= 3000 }], note: 'time in the p50 column',
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function loadOperations(): Map<string, Operation> {
  const ops = new Map<string, Operation>();
  for (const o of [...clientOperations(ROOT), ...docOperations(ROOT, 'docs/admin-ui.md'), ...docOperations(ROOT, 'docs/usage.md')]) {
    if (ops.has(o.name)) throw new Error(`two operations are named ${o.name} (${ops.get(o.name)?.source}, ${o.source})`);
    ops.set(o.name, o);
  }
  const apiKeys = ops.get('ApiKeys');
  if (!apiKeys || !ops.has('KeyList')) throw new Error('client/operations must define ApiKeys and docs/admin-ui.md KeyList');
  const derived = [
    withoutFields(apiKeys, ['totalCount'], 'ApiKeys without totalCount'),
  ];
  for (const d of derived) ops.set(d.name, d);
  return ops;
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = asked.filter((a) => !GROUPS.includes(a as Group));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; choose from ${GROUPS.join(', ')}`);
  const groups = new Set<Group>(asked.length ? (asked as Group[]) : GROUPS);
  const url = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || DEFAULT_URL;
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('the benchmarks run on PostgreSQL: BENCH_DATABASE_URL=postgres://…');
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost') throw new Error('the benchmarks run on 127.0.0.1 only');
  const ops = loadOperations();
  ensureBuilt(ROOT);
  const usePeer = process.env.BENCH_PEER !== '0' && [...groups].some((g) => LISTING_GROUPS.includes(g));
  if (usePeer) ensurePeerInstalled();
  const rows: Row[] = [];
  const ran = new Set<string>();
  const needsData = [...groups].some((g) => g !== 'startup' && g !== 'verify' && g !== 'scale');
  await ensureDatabase(url);
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const version = (await db.query<{ v: string }>('select version() as v')).rows[0].v;
  const header: string[] = [];
  const say = (line: string) => { header.push(line); console.log(line); };
  say(`machine: ${machine(version)}`);
  say(`database: ${url.replace(/\/\/[^@/]*@/, '//')}; ${DURATION} s of load per server, scenario and connection count, in ${ROUNDS} alternating rounds; connections ${CONNECTIONS.join(', ')}`);
  say('req/s and latencies count successful answers (2xx without GraphQL errors); refusals and errors are counted in non-2xx');
  let account = '';
  // the servers' output (errors under load, such as a full connection pool) goes to files
  const logs = { qckeys: path.join(RESULTS, 'qckeys-server.log'), peer: path.join(RESULTS, 'postgraphile-server.log') };
  for (const file of Object.values(logs)) fs.rmSync(file, { force: true });
  try {
    if (needsData) {
      const top = await db.query<{ account_id: string; n: number }>(
        'select account_id, count(*)::int as n from api_keys where deleted_at is null group by 1 order by 2 desc limit 1',
      ).catch(() => ({ rows: [] as { account_id: string; n: number }[] }));
      if (!top.rows[0]) throw new Error(`no keys in ${url}; seed it first: DATABASE_URL=${url} npm run seed -- --secrets-out data/bench-secrets.json`);
      account = top.rows[0].account_id;
      const totals = (await db.query<{ keys: number; accounts: number }>('select count(*)::int as keys, count(distinct account_id)::int as accounts from api_keys')).rows[0];
      say(`data: ${fmt(totals.keys)} keys in ${fmt(totals.accounts)} accounts; busiest account ${account} with ${fmt(top.rows[0].n)} listed keys`);
      say(await keyTablesVacuumed(db));
      fs.mkdirSync(RESULTS, { recursive: true });
      const server = await startBenchServer(
        serviceEnv(url, true), [], logs.qckeys,
      );
      let peer: BenchServer | null = null;
      try {
        if (usePeer) {
          peer = await startPeer({ DATABASE_URL: url, JWT_SECRET, DB_POOL_MAX: process.env.DB_POOL_MAX ?? '10' }, logs.peer);
          say(`peer: ${peerVersion()} (bench/peers/postgraphile), connected as the database's owner, per request ${JSON.stringify(scopeSettings())}`);
        }
        const token = await signToken({ secret: JWT_SECRET, account, roles: ['admin'], subject: 'bench', ttl: '4h' });
        const b: Bench = {
          server, peer, peerText: usePeer ? peerDocuments() : '', db, url, account, keys: top.rows[0].n, token, ops, ran, rows, now: new Date(),
        };
        // warm both servers (JIT, caches, connections) before anything is timed
        const warm = bodyOf(op(b, 'ApiKeys'), { first: 50 });
        await loadOn(server, warm, token, 16, 2);
        if (peer) {
          const peerWarm = JSON.stringify({ query: b.peerText, operationName: 'PeerApiKeys', variables: peerVariables({ first: 50 }, b.now, account) });
          await loadOn(peer, peerWarm, token, 16, 2);
        }
        if (groups.has('list')) await listScenario(b);
        if (groups.has('search')) await searchScenario(b);
        if (groups.has('filter')) await filterScenario(b);
        if (groups.has('facets')) await facetsScenario(b);
        if (groups.has('sort')) await sortScenario(b);
        if (groups.has('page')) await pageScenario(b);
        if (groups.has('lookups')) await lookupsScenario(b);
        if (groups.has('usage')) await usageScenario(b);
        if (groups.has('console')) await consoleScenario(b, say);
        if (groups.has('bulk')) {
          await bulkScenario(b);
          say(`after the bulk changes: ${await keyTablesVacuumed(db)}`);
        }
        if (groups.has('verifyload')) await verifyLoadScenario(b);
        const peak = (await server.stats()).peakRssMb;
        const peerPeak = peer ? (await peer.stats()).peakRssMb : null;
        rows.push({
          group: 'rss', scenario: 'qckeys server process: peak RSS over the runs above (MB, in the p50 column)', connections: null,
          qckeys: { rps: null, p50: peak, p975: null, p99: null, non2xx: null }, peer: null, ratio: null,
          targets: [{ text: 'peak RSS ≤ 300 MB', met: peak <= 300 }],
          note: peerPeak === null ? undefined : `PostGraphile's process peaked at ${Math.round(peerPeak)} MB`,
        });
      } finally {
        await peer?.stop();
        await server.stop();
      }
    }
  } finally {
    await db.end();
  }
  if (groups.has('verify')) await verifyScenario({ url, rows });
  if (groups.has('startup')) await startupScenario({ rows });
  if (groups.has('scale')) await scaleScenario(url);
  const notRun = [...ops.values()].filter((o) => !ran.has(o.name) && !o.name.includes('without totalCount'));
  if (groups.size === GROUPS.length && !ONLY && notRun.length) {
    say(`operations not run (single-key changes, outside this benchmark): ${notRun.map((o) => `${o.name} (${o.source})`).join(', ')}`);
  }
  const [one, five] = os.loadavg();
  say(`load average at the end: ${one.toFixed(1)} / ${five.toFixed(1)} (1 / 5 min)`);
  for (const [name, file] of Object.entries(logs)) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l && !/^\s+at /.test(l)).length : 0;
    if (lines) say(`${name} printed ${fmt(lines)} lines of errors and warnings: ${path.relative(ROOT, file)}`);
  }
  console.log(`\n${renderTable(rows)}\n`);
  const file = writeResults(RESULTS, {
    title: `qckeys benchmarks, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, header, rows,
    meta: { url: url.replace(/\/\/[^@/]*@/, '//'), account, durationSeconds: DURATION, rounds: ROUNDS, connections: CONNECTIONS, groups: [...groups] },
  });
  console.log(`written to ${path.relative(process.cwd(), file)} (and .json)`);
  if (rows.some((r) => r.targets.some((t) => t.met === false))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(2);
});

import { createHash } from 'node:crypto';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import type { GraphQLResponse, TestServer } from '../helpers/server';

/** Everything a client can read of a key. */
export const KEY_FIELDS = `
  id name hint cloud status expiresAt createdAt updatedAt renewedAt revokedAt revocationReason lastUsedAt version
  instance { id name } channel { id name } developer { id name } teams { id name }`;

export interface KeyView {
  id: string;
  name: string;
  hint: string;
  cloud: string;
  status: 'ACTIVE' | 'EXPIRED' | 'REVOKED';
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  renewedAt: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  lastUsedAt: string | null;
  version: number;
  instance: { id: string; name: string };
  channel: { id: string; name: string };
  developer: { id: string; name: string };
  teams: { id: string; name: string }[];
}

export const EVENT_FIELDS = 'id apiKeyId apiKeyName type actor at changes';

export interface EventView {
  id: string;
  apiKeyId: string;
  apiKeyName: string;
  type: string;
  actor: string;
  at: string;
  changes: Record<string, unknown> | null;
}

export interface PageInfoView { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null }
export interface ConnectionView<T> { totalCount: number; pageInfo: PageInfoView; edges: { cursor: string; node: T }[] }

export const CREATE = `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { ${KEY_FIELDS} } } }`;
export const UPDATE = `mutation($input: UpdateApiKeyInput!) { updateApiKey(input: $input) { apiKey { ${KEY_FIELDS} } } }`;
export const RENEW = `mutation($input: RenewApiKeyInput!) { renewApiKey(input: $input) { secret apiKey { ${KEY_FIELDS} } } }`;
export const REVOKE = `mutation($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { apiKey { ${KEY_FIELDS} } } }`;
export const DELETE = 'mutation($input: DeleteApiKeyInput!) { deleteApiKey(input: $input) { deletedApiKeyId } }';
export const BULK_TEAMS = `mutation($input: UpdateApiKeyTeamsInput!) { updateApiKeyTeams(input: $input) { updatedCount apiKeys { ${KEY_FIELDS} } } }`;
export const GET_KEY = `query($id: ID!) { apiKey(id: $id) { ${KEY_FIELDS} } }`;
export const LIST = `query($filter: ApiKeyFilter, $orderBy: ApiKeyOrder, $first: Int, $after: String, $last: Int, $before: String) {
  apiKeys(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ${KEY_FIELDS} } } } }`;
export const EVENTS = `query($filter: ApiKeyEventFilter, $first: Int, $after: String) {
  apiKeyEvents(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { ${EVENT_FIELDS} } } } }`;

export type CreateInput = Parameters<SeededAccount['createKey']>[0];

/** Typed calls of the key API for one token. */
export function keyApi(server: TestServer, token: string) {
  return {
    async create(input: Record<string, unknown>): Promise<{ secret: string; apiKey: KeyView }> {
      return (await server.ok<{ createApiKey: { secret: string; apiKey: KeyView } }>(token, CREATE, { input })).createApiKey;
    },
    async update(input: Record<string, unknown>): Promise<KeyView> {
      return (await server.ok<{ updateApiKey: { apiKey: KeyView } }>(token, UPDATE, { input })).updateApiKey.apiKey;
    },
    async renew(input: Record<string, unknown>): Promise<{ secret: string; apiKey: KeyView }> {
      return (await server.ok<{ renewApiKey: { secret: string; apiKey: KeyView } }>(token, RENEW, { input })).renewApiKey;
    },
    async revoke(input: Record<string, unknown>): Promise<KeyView> {
      return (await server.ok<{ revokeApiKey: { apiKey: KeyView } }>(token, REVOKE, { input })).revokeApiKey.apiKey;
    },
    async remove(id: string): Promise<string> {
      return (await server.ok<{ deleteApiKey: { deletedApiKeyId: string } }>(token, DELETE, { input: { id } })).deleteApiKey.deletedApiKeyId;
    },
    async bulkTeams(input: Record<string, unknown>): Promise<{ updatedCount: number; apiKeys: KeyView[] }> {
      return (await server.ok<{ updateApiKeyTeams: { updatedCount: number; apiKeys: KeyView[] } }>(token, BULK_TEAMS, { input })).updateApiKeyTeams;
    },
    async get(id: string): Promise<KeyView | null> {
      return (await server.ok<{ apiKey: KeyView | null }>(token, GET_KEY, { id })).apiKey;
    },
    async list(vars: Record<string, unknown> = {}): Promise<ConnectionView<KeyView>> {
      return (await server.ok<{ apiKeys: ConnectionView<KeyView> }>(token, LIST, vars)).apiKeys;
    },
    async events(vars: Record<string, unknown> = {}): Promise<ConnectionView<EventView>> {
      return (await server.ok<{ apiKeyEvents: ConnectionView<EventView> }>(token, EVENTS, vars)).apiKeyEvents;
    },
    /** Every event of one key, newest first. */
    async eventsOf(apiKeyId: string): Promise<EventView[]> {
      const page = await this.events({ filter: { apiKeyIds: [apiKeyId] }, first: 100 });
      return page.edges.map((e) => e.node);
    },
  };
}

export type KeyApi = ReturnType<typeof keyApi>;

/** A new account per test keeps tests independent of one another within a file. */
export function accountFactory(server: () => TestServer) {
  let n = 0;
  return async (): Promise<SeededAccount & { api: KeyApi; viewerApi: KeyApi }> => {
    n++;
    const account = await seedAccount(server(), `acct-${n}`);
    return { ...account, api: keyApi(server(), account.admin), viewerApi: keyApi(server(), account.viewer) };
  };
}

/** Asserts that a request failed with exactly one error of this code (and input path). */
export function expectError(res: GraphQLResponse<unknown>, code: string, field?: string): void {
  expect(res.errors).toHaveLength(1);
  const extensions = res.errors?.[0]?.extensions ?? {};
  expect({ code: extensions.code, field: extensions.field }).toEqual({ code, field });
}

/** Tables a key mutation may write. */
export const KEY_TABLES = [
  'api_keys', 'api_key_events', 'api_key_secrets', 'api_key_teams', 'teams', 'developers', 'developer_instances',
] as const;

/** Row counts of the key tables. */
export async function rowCounts(server: TestServer): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of KEY_TABLES) {
    const row = await server.knex(table).count<{ n: string | number }>({ n: '*' }).first();
    counts[table] = Number(row?.n ?? -1);
  }
  return counts;
}

/** Every row of the key tables as sorted JSON text, in one statement: equal snapshots mean nothing was written. */
export async function snapshot(server: TestServer): Promise<Record<string, string[]>> {
  const { knex } = server;
  const [first, ...rest] = KEY_TABLES.map((table) =>
    knex.select(knex.raw(`'${table}'::text as tbl`), knex.raw('row_to_json(t)::text as j')).from(`${table} as t`));
  const rows: { tbl: string; j: string }[] = await first.unionAll(rest, true);
  const result: Record<string, string[]> = Object.fromEntries(KEY_TABLES.map((t) => [t, [] as string[]]));
  for (const row of rows) result[row.tbl].push(row.j);
  for (const table of KEY_TABLES) result[table].sort();
  return result;
}

const countsOf = (snap: Record<string, string[]>) => Object.fromEntries(Object.entries(snap).map(([t, rows]) => [t, rows.length]));

/**
 * Runs a request that must fail and asserts the error and that no row of the key tables was
 * added, changed or removed.
 */
export async function expectFailsWithoutWriting(
  server: TestServer, run: () => Promise<GraphQLResponse<unknown>>, code: string, field?: string,
): Promise<GraphQLResponse<unknown>> {
  const before = await snapshot(server);
  const res = await run();
  expectError(res, code, field);
  const after = await snapshot(server);
  expect(countsOf(after)).toEqual(countsOf(before));
  expect(after).toEqual(before);
  return res;
}

export const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

export const DAY_MS = 24 * 3600 * 1000;

export const inDays = (days: number, from = Date.now()): string => new Date(from + days * DAY_MS).toISOString();

/** Moves a key's expiry into the past (the API refuses past expiries, so tests set it directly). */
export async function expireInDatabase(server: TestServer, id: string, at = new Date(Date.now() - DAY_MS)): Promise<void> {
  const n = await server.knex('api_keys').where({ id }).update({ expires_at: at });
  expect(n).toBe(1);
}

export const names = (keys: { name: string }[]): string[] => keys.map((k) => k.name);

// The work of several service processes on one database at once, and what it must leave: every
// process answers the same within a second of the changes, and no verification goes uncounted.
// Used directly on PostgreSQL (test/scale/processes.test.ts) and through PgBouncer (test/scale/rig.test.ts).
import type { Role } from '../../src/auth/principal';
import { childToken, gqlAt, verifyAt, type ChildServer } from './child-server';
import { eventually } from './eventually';

const LISTING = `{ apiKeys(first: 100, orderBy: { field: NAME, direction: ASC }) {
  totalCount edges { node { id name version status teams { name } } } } }`;

/**
 * Through three processes: creates 12 keys at once, verifies them on every process, changes them
 * (revoke, teams, rename, renew, delete) while 240 verifications run, then checks that every
 * process answers the same within 1 s, lists the same keys, and that usage adds up to every
 * verification sent.
 */
export async function concurrentWorkload(processes: ChildServer[], account: string): Promise<void> {
  const token = (roles: Role[]) => childToken({ account, roles, sub: 'scale-tester' });
  const gql = <T>(server: ChildServer, bearer: string, query: string, variables: Record<string, unknown> = {}) =>
    gqlAt<T>(server.baseUrl, bearer, query, variables);
  const verify = (server: ChildServer, bearer: string, key: string) => verifyAt(server.baseUrl, bearer, key);
  const [first, second, third] = processes;
  const admin = await token(['admin']);
  const viewer = await token(['viewer']);
  const verifier = await token(['verifier']);

  const { createChannel } = await gql<{ createChannel: { channel: { id: string } } }>(first, admin,
    'mutation { createChannel(input: { name: "CI" }) { channel { id } } }');
  const { createInstance } = await gql<{ createInstance: { instance: { id: string } } }>(second, admin,
    'mutation($c: [ID!]!) { createInstance(input: { name: "Prod", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }',
    { c: [createChannel.channel.id] });
  // keys created on all three at once
  const created = await Promise.all(Array.from({ length: 12 }, (_, i) =>
    gql<{ createApiKey: { secret: string; apiKey: { id: string } } }>(processes[i % 3], admin,
      'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }',
      { i: { name: `key ${String(i).padStart(2, '0')}`, instanceId: createInstance.instance.id, channelId: createChannel.channel.id,
        developer: { name: `Dev ${i % 4}` } } })));
  const keys = created.map((c) => ({ id: c.createApiKey.apiKey.id, secret: c.createApiKey.secret }));

  // warm every process's verification cache with every key
  let sent = 0;
  for (const r of processes) for (const k of keys) { expect((await verify(r, verifier, k.secret)).code).toBe('VALID'); sent++; }

  // mutations on every process while verifications hit all three
  const mutations = [
    gql(first, admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id, reason: "leak" }) { apiKey { id } } }', { id: keys[0].id }),
    gql(second, admin, 'mutation($ids: [ID!]!) { updateApiKeyTeams(input: { apiKeyIds: $ids, addNewTeamNames: ["Core"] }) { updatedCount } }',
      { ids: keys.slice(1, 7).map((k) => k.id) }),
    gql(third, admin, 'mutation($id: ID!) { updateApiKey(input: { id: $id, name: "renamed" }) { apiKey { id } } }', { id: keys[7].id }),
    gql(first, admin, 'mutation($id: ID!) { renewApiKey(input: { id: $id }) { apiKey { id } } }', { id: keys[8].id }),
    gql(third, admin, 'mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', { id: keys[9].id }),
  ];
  const verifications: Promise<unknown>[] = [];
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < keys.length; i++) {
      verifications.push(verify(processes[(round + i) % 3], verifier, keys[i].secret));
      sent++;
    }
  }
  await Promise.all([...mutations, ...verifications]);

  // every process has heard of the changes: the same answers everywhere
  const expected = { [keys[0].secret]: 'REVOKED', [keys[8].secret]: 'NOT_FOUND', [keys[9].secret]: 'NOT_FOUND', [keys[1].secret]: 'VALID' };
  for (const r of processes) {
    for (const [secret, code] of Object.entries(expected)) {
      await eventually(async () => { sent++; return (await verify(r, verifier, secret)).code === code; }, 1000, 50);
    }
  }
  const listings = await Promise.all(processes.map((r) => gql(r, viewer, LISTING)));
  expect(listings[1]).toEqual(listings[0]);
  expect(listings[2]).toEqual(listings[0]);
  const listing = listings[0] as { apiKeys: { totalCount: number; edges: { node: { name: string; status: string; teams: { name: string }[] } }[] } };
  expect(listing.apiKeys.totalCount).toBe(11);
  expect(listing.apiKeys.edges.filter((e) => e.node.teams.some((t) => t.name === 'Core'))).toHaveLength(6);
  expect(listing.apiKeys.edges.find((e) => e.node.name === 'renamed')).toBeDefined();

  // no count lost: usage, read on any server, adds up to what was sent to all three
  const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  const usageQuery = 'query($f: UsageFilter!) { usage(filter: $f, groupBy: API_KEY, granularity: HOUR) { total } }';
  const totalOn = async (r: ChildServer) => (await gql<{ usage: { total: number } }>(r, viewer, usageQuery, { f: { from, to } })).usage.total;
  await Promise.all(processes.map((r) => eventually(async () => (await totalOn(r)) >= sent, 5000, 100)));
  for (const r of processes) expect(await totalOn(r)).toBe(sent);
}

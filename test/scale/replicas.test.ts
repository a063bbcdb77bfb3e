// Three stateless replicas on one PostgreSQL database, under concurrent mutations and
// verifications: every replica answers the same, and no verification goes uncounted.
import type { Role } from '../../src/auth/principal';
import { childToken, gqlAt, startChildServer, verifyAt, type ChildServer } from '../helpers/child-server';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';

const ACCOUNT = 'scale-co';

const startReplica = (databaseUrl: string, migrate: boolean) =>
  startChildServer({ DATABASE_URL: databaseUrl, MIGRATE_ON_START: migrate ? 'true' : 'false', USAGE_FLUSH_INTERVAL_MS: '100' }, 60_000);

const token = (roles: Role[]) => childToken({ account: ACCOUNT, roles, sub: 'scale-tester' });
const gql = <T>(replica: ChildServer, bearer: string, query: string, variables: Record<string, unknown> = {}) =>
  gqlAt<T>(replica.baseUrl, bearer, query, variables);
const verify = (replica: ChildServer, bearer: string, key: string) => verifyAt(replica.baseUrl, bearer, key);

const LISTING = `{ apiKeys(first: 100, orderBy: { field: NAME, direction: ASC }) {
  totalCount edges { node { id name version status teams { name } } } } }`;

const describeOnServer = serverUrl() ? describe : describe.skip;

describeOnServer('three replicas on one PostgreSQL database', () => {
  jest.setTimeout(180_000);
  let database: TestDatabase;
  const replicas: ChildServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // the first applies the migrations; the others start on the migrated schema
    replicas.push(await startReplica(database.url, true));
    replicas.push(...await Promise.all([startReplica(database.url, false), startReplica(database.url, false)]));
  });

  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await database?.drop();
  });

  test('answer the same after concurrent mutations, and count every verification', async () => {
    const [first, second, third] = replicas;
    const admin = await token(['admin']);
    const viewer = await token(['viewer']);
    const verifier = await token(['verifier']);

    const { createChannel } = await gql<{ createChannel: { channel: { id: string } } }>(first, admin,
      'mutation { createChannel(input: { name: "CI" }) { channel { id } } }');
    const { createInstance } = await gql<{ createInstance: { instance: { id: string } } }>(second, admin,
      'mutation($c: [ID!]!) { createInstance(input: { name: "Prod", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }',
      { c: [createChannel.channel.id] });
    // keys created on all three replicas at once
    const created = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      gql<{ createApiKey: { secret: string; apiKey: { id: string } } }>(replicas[i % 3], admin,
        'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }',
        { i: { name: `key ${String(i).padStart(2, '0')}`, instanceId: createInstance.instance.id, channelId: createChannel.channel.id,
          developer: { name: `Dev ${i % 4}` } } })));
    const keys = created.map((c) => ({ id: c.createApiKey.apiKey.id, secret: c.createApiKey.secret }));

    // warm every replica's verification cache with every key
    let sent = 0;
    for (const r of replicas) for (const k of keys) { expect((await verify(r, verifier, k.secret)).code).toBe('VALID'); sent++; }

    // mutations on every replica while verifications hit all three
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
        verifications.push(verify(replicas[(round + i) % 3], verifier, keys[i].secret));
        sent++;
      }
    }
    await Promise.all([...mutations, ...verifications]);

    // every replica has heard of the changes: the same answers everywhere
    const expected = { [keys[0].secret]: 'REVOKED', [keys[8].secret]: 'NOT_FOUND', [keys[9].secret]: 'NOT_FOUND', [keys[1].secret]: 'VALID' };
    for (const r of replicas) {
      for (const [secret, code] of Object.entries(expected)) {
        await eventually(async () => { sent++; return (await verify(r, verifier, secret)).code === code; }, 3000, 100);
      }
    }
    const listings = await Promise.all(replicas.map((r) => gql(r, viewer, LISTING)));
    expect(listings[1]).toEqual(listings[0]);
    expect(listings[2]).toEqual(listings[0]);
    const listing = listings[0] as { apiKeys: { totalCount: number; edges: { node: { name: string; status: string; teams: { name: string }[] } }[] } };
    expect(listing.apiKeys.totalCount).toBe(11);
    expect(listing.apiKeys.edges.filter((e) => e.node.teams.some((t) => t.name === 'Core'))).toHaveLength(6);
    expect(listing.apiKeys.edges.find((e) => e.node.name === 'renamed')).toBeDefined();

    // no count lost: usage, read on any replica, adds up to what was sent to all three
    const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const to = new Date(Date.now() + 3_600_000).toISOString();
    const usageQuery = 'query($f: UsageFilter!) { usage(filter: $f, groupBy: API_KEY, granularity: HOUR) { total } }';
    const totalOn = async (r: ChildServer) => (await gql<{ usage: { total: number } }>(r, viewer, usageQuery, { f: { from, to } })).usage.total;
    await Promise.all(replicas.map((r) => eventually(async () => (await totalOn(r)) >= sent, 5000, 100)));
    for (const r of replicas) expect(await totalOn(r)).toBe(sent);
  });
});

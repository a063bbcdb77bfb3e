// Three stateless replicas on one PostgreSQL database, under concurrent mutations and
// verifications: every replica answers the same, and no verification goes uncounted.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { signToken } from '../../src/auth/tokens';
import type { Role } from '../../src/auth/principal';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database';
import { TEST_JWT_SECRET } from '../helpers/server';

const ROOT = path.resolve(__dirname, '../..');
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
const ACCOUNT = 'scale-co';

interface Replica { baseUrl: string; child: ChildProcess; exited: Promise<number | null> }

async function startReplica(databaseUrl: string, migrate: boolean): Promise<Replica> {
  const child = spawn(TSX, ['src/server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test',
      PORT: '0', HOST: '127.0.0.1', DATABASE_URL: databaseUrl, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent',
      MIGRATE_ON_START: migrate ? 'true' : 'false', USAGE_FLUSH_INTERVAL_MS: '100',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let output = '';
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica did not start:\n${output}`)), 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /GraphQL at (http:\/\/\S+)\/graphql/.exec(output);
      if (m) { clearTimeout(timer); resolve(m[1].replace('localhost', '127.0.0.1')); }
    });
    child.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`replica exited (${code}):\n${output}`)); });
  });
  return { baseUrl, child, exited };
}

const token = (roles: Role[], sub = 'scale-tester') =>
  signToken({ secret: TEST_JWT_SECRET, account: ACCOUNT, roles, subject: sub, ttl: '1h' });

async function gql<T>(replica: Replica, bearer: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${replica.baseUrl}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (res.status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${res.status}): ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

async function verify(replica: Replica, bearer: string, key: string): Promise<{ valid: boolean; code: string }> {
  const res = await fetch(`${replica.baseUrl}/v1/keys/verify`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` }, body: JSON.stringify({ key }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { valid: boolean; code: string };
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > end) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const LISTING = `{ apiKeys(first: 100, orderBy: { field: NAME, direction: ASC }) {
  totalCount edges { node { id name version status teams { name } } } } }`;

const describeOnServer = serverUrl() ? describe : describe.skip;

describeOnServer('three replicas on one PostgreSQL database', () => {
  jest.setTimeout(180_000);
  let database: TestDatabase;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // the first applies the migrations; the others start on the migrated schema
    replicas.push(await startReplica(database.url, true));
    replicas.push(...await Promise.all([startReplica(database.url, false), startReplica(database.url, false)]));
  });

  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGTERM');
    await Promise.all(replicas.map((r) => r.exited));
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
        const answer = await eventually(() => verify(r, verifier, secret), (a) => a.code === code, 3000);
        sent++;
        expect(answer.code).toBe(code);
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
    const totals = await Promise.all(replicas.map((r) => eventually(
      () => gql<{ usage: { total: number } }>(r, viewer, usageQuery, { f: { from, to } }),
      (u) => u.usage.total >= sent, 5000,
    )));
    for (const t of totals) expect(t.usage.total).toBe(sent);
  });
});

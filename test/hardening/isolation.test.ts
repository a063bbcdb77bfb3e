import fc from 'fast-check';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// Tenant isolation: random sequences of operations by two accounts; neither ever sees an ID, a name
// or a count of the other in its responses.
let server: TestServer;
let accounts: SeededAccount[];

beforeAll(async () => {
  server = await startTestServer();
  accounts = [await seedAccount(server, 'tenant-a'), await seedAccount(server, 'tenant-b')];
});
afterAll(async () => { await server.stop(); });

interface Owned { ids: Set<string>; names: Set<string>; keys: { id: string; secret: string }[]; teams: string[] }

type Op =
  | { kind: 'createKey'; who: number; tag: number; team: boolean }
  | { kind: 'createTeam'; who: number; tag: number }
  | { kind: 'revoke' | 'renew' | 'delete'; who: number; pick: number }
  | { kind: 'foreignRead'; who: number; pick: number }
  | { kind: 'verify'; who: number; pick: number; own: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('createKey' as const), who: fc.nat({ max: 1 }), tag: fc.nat({ max: 1_000_000 }), team: fc.boolean() }),
  fc.record({ kind: fc.constant('createTeam' as const), who: fc.nat({ max: 1 }), tag: fc.nat({ max: 1_000_000 }) }),
  fc.record({ kind: fc.constantFrom('revoke' as const, 'renew' as const, 'delete' as const), who: fc.nat({ max: 1 }), pick: fc.nat() }),
  fc.record({ kind: fc.constant('foreignRead' as const), who: fc.nat({ max: 1 }), pick: fc.nat() }),
  fc.record({ kind: fc.constant('verify' as const), who: fc.nat({ max: 1 }), pick: fc.nat(), own: fc.boolean() }),
);

// Everything an account can list about itself, with counts (split to stay under the cost limit).
const READS = [
  '{ apiKeys(first: 100) { totalCount edges { node { id name hint } } } }',
  '{ apiKeys(first: 100) { edges { node { teams { id name } developer { id name } } } } }',
  '{ apiKeys(first: 100) { edges { node { instance { id name } channel { id name } } } } }',
  '{ apiKeys(first: 100) { edges { node { teams { apiKeyCount } developer { activeApiKeyCount } } } } }',
  '{ apiKeyEvents(first: 100) { totalCount edges { node { id apiKeyId apiKeyName actor } } } }',
  '{ teams(first: 100) { totalCount edges { node { id name apiKeyCount } } } }',
  '{ developers(first: 100) { totalCount edges { node { id name } } } }',
  '{ instances { id name channels { id name } } channels { id name } }',
];

let run = 0;

test('no response of one account mentions an ID, name or count of the other', async () => {
  await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 12 }), async (ops) => {
    run++;
    const owned: Owned[] = accounts.map((a) => ({
      ids: new Set([a.channels.ide.id, a.channels.ci.id, a.instances.prod.id, a.instances.snow.id]),
      names: new Set<string>(), keys: [], teams: [],
    }));
    const responses: string[][] = [[], []];
    const record = (who: number, body: unknown) => responses[who].push(JSON.stringify(body));

    for (const o of ops) {
      const me = accounts[o.who];
      const mine = owned[o.who];
      const theirs = owned[1 - o.who];
      if (o.kind === 'createKey') {
        const name = `${me.account}-key-${run}-${o.tag}`;
        const team = `${me.account}-team-${run}-${o.tag}`;
        const res = await server.gql<{ createApiKey: { secret: string; apiKey: { id: string; teams: { id: string }[]; developer: { id: string } } } }>(me.admin,
          'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id teams { id } developer { id } } } }',
          { input: { name, instanceId: me.instances.prod.id, channelId: me.channels.ide.id, developer: { name: `${me.account}-dev` }, newTeamNames: o.team ? [team] : [] } });
        record(o.who, res);
        const created = res.data?.createApiKey;
        if (created) {
          mine.keys.push({ id: created.apiKey.id, secret: created.secret });
          mine.ids.add(created.apiKey.id).add(created.apiKey.developer.id);
          created.apiKey.teams.forEach((t) => mine.ids.add(t.id));
          mine.names.add(name);
          if (o.team) mine.names.add(team);
        }
      } else if (o.kind === 'createTeam') {
        const name = `${me.account}-group-${run}-${o.tag}`;
        const res = await server.gql<{ createTeam: { team: { id: string } } }>(me.admin, 'mutation($n: String!) { createTeam(input: { name: $n }) { team { id } } }', { n: name });
        record(o.who, res);
        if (res.data) { mine.ids.add(res.data.createTeam.team.id); mine.names.add(name); }
      } else if (o.kind === 'foreignRead' || o.kind === 'revoke' || o.kind === 'renew' || o.kind === 'delete') {
        // act on an ID of the other account (when there is one): NOT_FOUND or null, nothing leaks or changes
        const target = o.kind === 'foreignRead' ? theirs.keys[o.pick % Math.max(1, theirs.keys.length)] : theirs.keys[o.pick % Math.max(1, theirs.keys.length)];
        if (!target) continue;
        const query = o.kind === 'foreignRead'
          ? ['query($id: ID!) { apiKey(id: $id) { id name } node(id: $id) { id } }', me.viewer] as const
          : o.kind === 'revoke' ? ['mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id name } } }', me.admin] as const
            : o.kind === 'renew' ? ['mutation($id: ID!) { renewApiKey(input: { id: $id }) { secret apiKey { id name } } }', me.admin] as const
              : ['mutation($id: ID!) { deleteApiKey(input: { id: $id }) { deletedApiKeyId } }', me.admin] as const;
        const res = await server.gql(query[1], query[0], { id: target.id });
        if (o.kind === 'foreignRead') expect(res.data).toEqual({ apiKey: null, node: null });
        else expect(res.errors?.[0].extensions?.code).toBe('NOT_FOUND');
        // the request names the foreign ID itself; only the answer's other parts are checked
        record(o.who, JSON.stringify(res).split(target.id).join('<requested id>'));
      } else if (o.kind === 'verify') {
        const pool = o.own ? mine.keys : theirs.keys;
        const key = pool[o.pick % Math.max(1, pool.length)];
        if (!key) continue;
        const res = await server.gql<{ verifyApiKey: { valid: boolean; code: string } }>(me.verifier,
          'mutation($k: String!) { verifyApiKey(input: { key: $k }) { valid code apiKey { id name } } }', { k: key.secret });
        if (!o.own) expect(res.data?.verifyApiKey).toEqual({ valid: false, code: 'NOT_FOUND', apiKey: null });
        record(o.who, res);
      }
    }

    for (const who of [0, 1]) {
      const me = accounts[who];
      for (const read of READS) {
        const res = await server.gql(me.viewer, read);
        expect(res.errors).toBeUndefined();
        record(who, res);
      }
      const all = await server.gql<{ apiKeys: { totalCount: number } }>(me.viewer, '{ apiKeys { totalCount } }');
      const text = responses[who].join('\n');
      const other = owned[1 - who];
      for (const id of other.ids) expect(text).not.toContain(id);
      for (const name of other.names) expect(text).not.toContain(name);
      expect(text).not.toContain(accounts[1 - who].account);
      // counts are this account's own: compare with the database, scoped by account
      const [{ count }] = await server.knex('api_keys').where({ account_id: me.account }).whereNull('deleted_at').count<{ count: number }[]>('* as count');
      expect(all.data?.apiKeys.totalCount).toBe(Number(count));
    }
  }), { numRuns: 12, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: false });
});

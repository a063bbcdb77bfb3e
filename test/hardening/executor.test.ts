// Operations run compiled by graphql-jit (src/http/executor.ts), kept with their parsed document:
// answers and errors are graphql-js's, written out here, and a document compiled once answers the
// same every time. Each document is sent three times and every answer, status and body, must be
// the first one's.
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

let server: TestServer;
let acme: SeededAccount;

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'acme');
  await acme.createKey({ name: 'first', newTeamNames: ['Core', 'Mobile'] });
  await acme.createKey({ name: 'second', instanceId: acme.instances.snow.id });
}, 60_000);
afterAll(async () => { await server.stop(); });

async function thrice(token: string | null, query: string, variables?: Record<string, unknown>) {
  const answers = [];
  for (let i = 0; i < 3; i++) answers.push(await server.gql(token, query, variables));
  expect(answers[1]).toEqual(answers[0]);
  expect(answers[2]).toEqual(answers[0]);
  return answers[0];
}

test('a page of keys with its relations and totalCount', async () => {
  const res = await thrice(acme.viewer, `query Page($first: Int) { apiKeys(first: $first, orderBy: { field: NAME, direction: ASC }) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id name status cloud expiresAt lastUsedAt developer { name } instance { name cloud } channel { name } teams { name } } } } }`,
  { first: 10 });
  expect(res.status).toBe(200);
  const page = (res.data as { apiKeys: { totalCount: number; edges: { node: { name: string; teams: { name: string }[] } }[] } }).apiKeys;
  expect(page.totalCount).toBe(2);
  expect(page.edges.map((e) => [e.node.name, e.node.teams.map((t) => t.name)])).toEqual([['first', ['Core', 'Mobile']], ['second', []]]);
});

test('a resolver\'s error keeps its code, path, locations and HTTP status', async () => {
  const res = await thrice(acme.admin, 'mutation { revokeApiKey(input: { id: "key_unknown" }) { apiKey { id } } }');
  expect(res.status).toBe(200);
  expect(res.errors).toEqual([expect.objectContaining({
    path: ['revokeApiKey'], locations: [{ line: 1, column: 12 }], extensions: expect.objectContaining({ code: 'NOT_FOUND' }),
  })]);
});

test('a role\'s refusal', async () => {
  const res = await thrice(acme.viewer, 'mutation { createChannel(input: { name: "Nope" }) { channel { id } } }');
  expect(res.errors).toEqual([expect.objectContaining({ path: ['createChannel'], extensions: { code: 'FORBIDDEN' } })]);
});

test('bad input and bad variables', async () => {
  const input = await thrice(acme.admin, 'mutation($i: CreateChannelInput!) { createChannel(input: $i) { channel { id } } }', { i: { name: '' } });
  expect(input.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
  const variables = await thrice(acme.viewer, 'query($n: Int) { apiKeys(first: $n) { totalCount } }', { n: 'ten' });
  expect(variables.status).toBe(400);
  expect(variables.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
});

test('an account sees only its own keys, compiled or not', async () => {
  const other = await seedAccount(server, 'other');
  const res = await thrice(other.viewer, '{ apiKeys(first: 10) { totalCount edges { node { name } } } }');
  expect(res.data).toEqual({ apiKeys: { totalCount: 0, edges: [] } });
});

test('an unexpected error (a database error no code maps) is masked the same way, with its path', async () => {
  await server.knex.raw('alter table channels rename to channels_away');
  try {
    const res = await thrice(acme.viewer, '{ channels { id name } }');
    expect(res.errors).toEqual([{ message: 'Internal server error', path: ['channels'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
  } finally {
    await server.knex.raw('alter table channels_away rename to channels');
  }
});

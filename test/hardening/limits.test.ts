import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// Hostile queries: depth, aliases, tokens and cost are bounded; batches and huge bodies refused; CSRF prevention on.
let server: TestServer;
let strict: TestServer;
let admin: string;

beforeAll(async () => {
  [server, strict] = await Promise.all([
    startTestServer(),
    startTestServer({ GRAPHQL_MAX_DEPTH: '3', GRAPHQL_MAX_ALIASES: '1', GRAPHQL_MAX_TOKENS: '40', GRAPHQL_MAX_COST: '20' }),
  ]);
  admin = await server.token({ account: 'acme', roles: ['admin'] });
});
afterAll(async () => { await Promise.all([server?.stop(), strict?.stop()]); });

/** `developers { edges { node { instances { developers { … } } } } }`, `levels` times. */
function deepQuery(levels: number): string {
  let inner = 'id';
  for (let i = 0; i < levels; i++) inner = `instances { developers { edges { node { ${inner} } } } }`;
  return `{ developers { edges { node { ${inner} } } } }`;
}

const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `v${i}: viewer { subject }`).join(' ')} }`;

function expectRefused(res: { status: number; data?: unknown; errors?: { message: string }[] }, pattern: RegExp): void {
  expect(res.status).toBe(400);
  expect(res.data ?? null).toBeNull();
  expect(res.errors?.map((e) => e.message).join(' ')).toMatch(pattern);
}

describe('defaults', () => {
  test('a query deeper than 10 levels is refused; a shallow one runs', async () => {
    expect((await server.gql(admin, deepQuery(1))).errors).toBeUndefined();
    expectRefused(await server.gql(admin, deepQuery(3)), /depth/i);
  });

  test('more than 15 aliases are refused', async () => {
    expect((await server.gql(admin, aliases(15))).errors).toBeUndefined();
    expectRefused(await server.gql(admin, aliases(16)), /alias/i);
  });

  test('more than 2000 tokens are refused', async () => {
    // each string in the list is one token; the query around it has 17
    const query = (n: number) => `{ apiKeys(filter: { teamIds: [${Array.from({ length: n }, (_, i) => `"t${i}"`).join(' ')}] }) { totalCount } }`;
    const under = await server.gql(admin, query(1980));
    expect(under.status).toBe(200);
    expect(JSON.stringify(under.errors ?? [])).not.toMatch(/token/i);
    expectRefused(await server.gql(admin, query(1990)), /2000 tokens/i);
  });

  test('a query costing more than 20000 is refused', async () => {
    // nested object fields weigh more the deeper they sit
    const cheap = '{ apiKeys(first: 100) { edges { node { id teams { id name } } } } }';
    expect((await server.gql(admin, cheap)).errors).toBeUndefined();
    const costly = '{ apiKeys(first: 100) { edges { node { id name hint status teams { id name apiKeyCount } '
      + 'developer { id name instances { id name channels { id name } developers { edges { node { id name instances { id name } } } } } } '
      + 'instance { id name channels { id name } developers { edges { node { id name activeApiKeyCount } } } } '
      + 'history { edges { node { id type actor at apiKeyName } } } } } } }';
    expectRefused(await server.gql(admin, costly), /cost/i);
  });
});

describe('overridden by the environment', () => {
  let strictAdmin: string;
  beforeAll(async () => { strictAdmin = await strict.token({ account: 'acme', roles: ['admin'] }); });

  test('GRAPHQL_MAX_DEPTH', async () => {
    expect((await server.gql(admin, '{ instances { channels { id } } }')).errors).toBeUndefined();
    expectRefused(await strict.gql(strictAdmin, '{ developers { edges { node { instances { id } } } } }'), /depth/i);
  });

  test('GRAPHQL_MAX_ALIASES', async () => {
    expect((await strict.gql(strictAdmin, aliases(1))).errors).toBeUndefined();
    expectRefused(await strict.gql(strictAdmin, aliases(2)), /alias/i);
  });

  test('GRAPHQL_MAX_TOKENS', async () => {
    const query = `{ viewer { ${Array.from({ length: 40 }, () => 'subject').join(' ')} } }`;
    expect((await server.gql(admin, query)).errors).toBeUndefined();
    expectRefused(await strict.gql(strictAdmin, query), /token/i);
  });

  test('GRAPHQL_MAX_COST', async () => {
    const query = `{ instances { id name cloud url channels { id name } } channels { id name } }`;
    expect((await server.gql(admin, query)).errors).toBeUndefined();
    expectRefused(await strict.gql(strictAdmin, `{ a: instances { id name cloud url channels { id name } } }`.replace('a: ', '')
      .replace('channels { id name }', 'channels { id name } developers { edges { node { id name } } }')), /cost/i);
  });
});

test('a batched (array) request is refused', async () => {
  const res = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify([{ query: '{ viewer { subject } }' }, { query: '{ viewer { accountId } }' }]),
  });
  expect(res.status).toBe(400);
  const body = await res.text();
  expect(body).not.toContain('"subject"');
  expect(body).toMatch(/batch/i);
});

test('a body over 1 MB is refused with 413', async () => {
  const padding = 'x'.repeat(1_048_576);
  const res = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ query: '{ viewer { subject } }', variables: { padding } }),
  });
  expect(res.status).toBe(413);
  // just under the limit is fine
  const ok = await fetch(`${server.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ query: '{ viewer { subject } }', variables: { padding: 'x'.repeat(1_000_000) } }),
  });
  expect(ok.status).toBe(200);
});

describe('CSRF prevention', () => {
  test('a simple (non-preflighted) POST is refused before it runs', async () => {
    const res = await fetch(`${server.baseUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${admin}` },
      body: JSON.stringify({ query: 'mutation { createChannel(input: { name: "csrf" }) { channel { id } } }' }),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/CSRF|preflight/i);
    const listed = await server.gql<{ channels: { name: string }[] }>(admin, '{ channels { name } }');
    expect(listed.data?.channels.map((c) => c.name)).not.toContain('csrf');
  });

  test('a GET without a preflight header or JSON content type is refused', async () => {
    const res = await fetch(`${server.baseUrl}/graphql?query=${encodeURIComponent('{ viewer { subject } }')}`, {
      headers: { authorization: `Bearer ${admin}`, accept: 'application/json' },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/CSRF|preflight/i);
  });

  test('a GET with apollo-require-preflight runs', async () => {
    const res = await fetch(`${server.baseUrl}/graphql?query=${encodeURIComponent('{ viewer { subject } }')}`, {
      headers: { authorization: `Bearer ${admin}`, accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(res.status).toBe(200);
  });

  test('mutations are not run over GET', async () => {
    const res = await fetch(`${server.baseUrl}/graphql?query=${encodeURIComponent('mutation { createChannel(input: { name: "via get" }) { channel { id } } }')}`, {
      headers: { authorization: `Bearer ${admin}`, accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(res.status).toBe(405);
  });
});

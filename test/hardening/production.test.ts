import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// In production: no introspection unless GRAPHQL_INTROSPECTION=true, no field suggestions.
let production: TestServer;
let introspective: TestServer;
let development: TestServer;

beforeAll(async () => {
  [production, introspective, development] = await Promise.all([
    startTestServer({ NODE_ENV: 'production', LOG_LEVEL: 'silent' }),
    startTestServer({ NODE_ENV: 'production', LOG_LEVEL: 'silent', GRAPHQL_INTROSPECTION: 'true' }),
    startTestServer(),
  ]);
});
afterAll(async () => { await Promise.all([production?.stop(), introspective?.stop(), development?.stop()]); });

const INTROSPECTION = '{ __schema { queryType { name } types { name } } }';

test('introspection is off in production', async () => {
  const res = await production.gql(await production.token({}), INTROSPECTION);
  expect(res.data ?? null).toBeNull();
  expect(res.errors?.[0].message).toMatch(/introspection/i);
  const typeQuery = await production.gql(await production.token({}), '{ __type(name: "ApiKey") { fields { name } } }');
  expect(typeQuery.data ?? null).toBeNull();
});

test('GRAPHQL_INTROSPECTION=true turns it on in production', async () => {
  const res = await introspective.gql<{ __schema: { queryType: { name: string } } }>(await introspective.token({}), INTROSPECTION);
  expect(res.errors).toBeUndefined();
  expect(res.data?.__schema.queryType.name).toBe('Query');
});

test('introspection is on outside production', async () => {
  const res = await development.gql(await development.token({}), INTROSPECTION);
  expect(res.errors).toBeUndefined();
});

test('a misspelt field gets no suggestion in production', async () => {
  const res = await production.gql(await production.token({}), '{ apiKys { totalCount } }');
  expect(res.status).toBe(400);
  const text = JSON.stringify(res.errors);
  expect(text).not.toMatch(/did you mean/i);
  expect(text).not.toContain('apiKeys');
  // outside production the suggestion helps developers
  const dev = await development.gql(await development.token({}), '{ apiKys { totalCount } }');
  expect(JSON.stringify(dev.errors)).toMatch(/did you mean/i);
});

test('a misspelt argument or enum value gets no suggestion in production', async () => {
  const res = await production.gql(await production.token({}), '{ apiKeys(filtr: { statuses: [ACTIV] }) { totalCount } }');
  expect(JSON.stringify(res.errors)).not.toMatch(/did you mean|filter|ACTIVE/i);
});

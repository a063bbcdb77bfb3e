import { serverAudits } from 'graphql-http';
import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// GraphQL over HTTP conformance (graphql-http's server audits) against the running server.
let server: TestServer;
let results: { id: string; name: string; status: string; reason?: string }[] = [];

beforeAll(async () => {
  server = await startTestServer();
  const token = await server.token({ account: 'acme', roles: ['admin'] });
  const fetchFn = (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const audits = serverAudits({ url: `${server.baseUrl}/graphql`, fetchFn });
  results = [];
  for (const audit of audits) {
    const result = await audit.fn();
    results.push({ id: result.id, name: result.name, status: result.status, reason: result.status === 'ok' ? undefined : result.reason });
  }
});
afterAll(async () => { await server.stop(); });

test('every MUST audit passes', () => {
  const failed = results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok');
  expect(failed).toEqual([]);
  expect(results.filter((r) => r.name.startsWith('MUST')).length).toBeGreaterThan(10);
});

test('SHOULD audits that fail are the known, explained ones', () => {
  const failed = results.filter((r) => !r.name.startsWith('MUST') && r.status !== 'ok');
  console.log(`graphql-http audits: ${results.length} run, ${results.filter((r) => r.status === 'ok').length} ok\n` +
    failed.map((r) => `${r.status} ${r.id} ${r.name}: ${r.reason}`).join('\n'));
  expect(failed.every((r) => r.status !== 'error')).toBe(true);
  // Apollo answers parse, validation and variable-coercion failures with 400 even for
  // `accept: application/json` (the contract's choice: 400 for variable coercion)
  const knownShould = ['572B', 'FDE2', '7B9B'];
  expect(failed.filter((r) => r.name.startsWith('SHOULD')).map((r) => r.id).filter((id) => !knownShould.includes(id))).toEqual([]);
});

import { seedAccount } from './helpers/factories';
import { startTestServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => { server = await startTestServer(); });
afterAll(async () => { await server.stop(); });

test('an admin creates a key and sees it in the listing', async () => {
  const acme = await seedAccount(server, 'acme');
  const key = await acme.createKey({ name: 'ci pipeline', newTeamNames: ['Core'] });
  expect(key.secret).toMatch(/^qck_[0-9A-Za-z]{38}$/);
  const data = await server.ok<{ apiKeys: { totalCount: number; edges: { node: { id: string; teams: { name: string }[] } }[] } }>(
    acme.viewer, '{ apiKeys { totalCount edges { node { id teams { name } } } } }');
  expect(data.apiKeys.totalCount).toBe(1);
  expect(data.apiKeys.edges[0].node).toEqual({ id: key.id, teams: [{ name: 'Core' }] });
});

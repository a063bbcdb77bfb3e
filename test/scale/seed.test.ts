// `npm run seed` as a new user runs it: into a database of its own, with the secrets file in a
// directory that does not exist yet. What it wrote is what the service then serves.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDurableDatabase, type DurableDatabase } from '../helpers/database';
import { childToken, gqlAt, startChildServer, verifyAt, type ChildServer } from '../helpers/child-server';
import { runSeed } from '../helpers/seed';

interface Secrets {
  accountId: string;
  accounts: { id: string; keys: number }[];
  secrets: { keyId: string; secret: string; status: string; instanceId: string }[];
}

describe('npm run seed', () => {
  let database: DurableDatabase;
  let outDir: string;
  let server: ChildServer | undefined;

  beforeAll(async () => {
    database = await createDurableDatabase();
    outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-seed-'));
  });
  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  test('fills the database, saves real secrets, and the service serves what it wrote', async () => {
    const secretsFile = path.join(outDir, 'data', 'bench-secrets.json');
    const seeded = await runSeed(database.env, [
      '--accounts', '3', '--keys', '400', '--big-account-keys', '200', '--teams', '12',
      '--usage-days', '2', '--verifications', '3000', '--secrets-out', secretsFile,
    ]);
    expect(seeded.output).toMatch(/done in [\d.]+ s: 400 keys/);
    expect(seeded.output).toMatch(/holding 3,000 verifications/);
    expect(seeded.code).toBe(0);
    const saved = JSON.parse(fs.readFileSync(secretsFile, 'utf8')) as Secrets;
    expect(saved.accounts.map((a) => a.keys).reduce((a, b) => a + b, 0)).toBe(400);
    expect(saved.accounts[0]).toEqual({ id: saved.accountId, keys: 200 });

    // a second run without --reset leaves the data alone
    const again = await runSeed(database.env, ['--accounts', '3', '--keys', '400', '--teams', '12']);
    expect(again.code).not.toBe(0);

    server = await startChildServer({ ...database.env, MIGRATE_ON_START: 'false' }, 60_000);
    const viewer = await childToken({ account: saved.accountId, roles: ['viewer'] });
    const listed = await gqlAt<{ apiKeys: { totalCount: number; edges: { node: { teams: unknown[]; developer: { name: string } } }[] } }>(
      server.baseUrl, viewer, '{ apiKeys(first: 20) { totalCount edges { node { teams { id } developer { name } } } } }');
    expect(listed.apiKeys.totalCount).toBe(200);
    expect(listed.apiKeys.edges.some((e) => e.node.teams.length > 0)).toBe(true);

    const verifier = await childToken({ account: saved.accountId, roles: ['verifier'] });
    const active = saved.secrets.find((s) => s.status === 'ACTIVE');
    const revoked = saved.secrets.find((s) => s.status === 'REVOKED');
    expect(active).toBeDefined();
    expect(await verifyAt(server.baseUrl, verifier, active!.secret, active!.instanceId)).toMatchObject({ code: 'VALID', keyId: active!.keyId });
    if (revoked) expect((await verifyAt(server.baseUrl, verifier, revoked.secret)).code).toBe('REVOKED');
  }, 180_000);
});

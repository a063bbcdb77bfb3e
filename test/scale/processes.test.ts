// Three stateless service processes on one PostgreSQL database, under concurrent mutations and
// verifications: every process answers the same, and no verification goes uncounted.
import { startChildServer, type ChildServer } from '../helpers/child-server';
import { createTestDatabase, serverUrl, serviceEnv, type TestDatabase } from '../helpers/database';
import { concurrentWorkload } from '../helpers/scale-workload';

const ACCOUNT = 'scale-co';

const startProcess = (database: TestDatabase, migrate: boolean) =>
  startChildServer({ ...serviceEnv(database), MIGRATE_ON_START: migrate ? 'true' : 'false', USAGE_FLUSH_INTERVAL_MS: '100' }, 60_000);

const describeOnServer = serverUrl() ? describe : describe.skip;

describeOnServer('three service processes on one PostgreSQL database', () => {
  jest.setTimeout(180_000);
  let database: TestDatabase;
  const processes: ChildServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // the first applies the migrations; the others start on the migrated schema
    processes.push(await startProcess(database, true));
    processes.push(...await Promise.all([startProcess(database, false), startProcess(database, false)]));
  });

  afterAll(async () => {
    await Promise.all(processes.map((r) => r.stop()));
    await database?.drop();
  });

  test('answer the same after concurrent mutations, and count every verification', async () => {
    await concurrentWorkload(processes, ACCOUNT);
  });
});

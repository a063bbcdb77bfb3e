// What a CI pipeline relies on: Idempotency-Key on every mutation and safe retries, tokens and
// authentication errors, exit codes, usage reports, and no secret outside stdout.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { TEST_JWT_SECRET, startTestServer, type TestServer } from '../helpers/server';
import { buildCli, type Cli, type CliKey, type CliList } from './run';
import { eventually } from '../helpers/eventually';

// every test spawns several CLI processes: allow for a loaded CI machine
jest.setTimeout(90_000);

let server: TestServer;
let acme: SeededAccount;
let cli: Cli;

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'acme');
  cli = await buildCli(server, acme.admin);
}, 120_000); // a server with its own database, and a CLI build: slow on a busy machine
afterAll(async () => {
  cli?.remove();
  await server?.stop();
});

const createArgs = (name: string) => ['keys', 'create', '--name', name, '--instance', 'Prod org', '--channel', 'CI', '--developer-name', 'Build Bot'];

describe('idempotent retries', () => {
  test('the same --idempotency-key twice creates one key and prints the same output', async () => {
    const args = [...createArgs('retried key'), '--idempotency-key', 'pipeline-42-create'];
    const first = await cli.run(args);
    const retry = await cli.run(args);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(retry).toEqual(first);
    const list = await cli.json<CliList>(['keys', 'list', '--search', 'retried key']);
    expect(list.totalCount).toBe(1);
    expect(first.stdout).toContain(list.keys[0].id);
  });

  test('QCKEYS_IDEMPOTENCY_KEY makes a retried renew return the first secret; without it every run renews', async () => {
    const key = await acme.createKey({ name: 'renewed in ci' });
    const env = { QCKEYS_IDEMPOTENCY_KEY: 'pipeline-43-renew' };
    const first = await cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'renew', key.id], { env });
    const retry = await cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'renew', key.id], { env });
    expect(retry).toEqual(first);
    expect(first.apiKey.version).toBe(2);
    const fresh = await cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'renew', key.id]);
    expect(fresh.secret).not.toBe(first.secret);
    expect(fresh.apiKey.version).toBe(3);
  });

  test('the same key with other input is CONFLICT (exit 1)', async () => {
    const key = await acme.createKey({ name: 'conflicting' });
    expect((await cli.run(['keys', 'revoke', key.id, '--reason', 'a', '--idempotency-key', 'pipeline-44'])).code).toBe(0);
    const other = await cli.run(['keys', 'revoke', key.id, '--reason', 'b', '--idempotency-key', 'pipeline-44']);
    expect(other).toMatchObject({ code: 1, stdout: '' });
    expect(other.stderr).toContain('CONFLICT');
  });

  test('an over-long key is a usage error', async () => {
    const res = await cli.run(['keys', 'delete', 'key_1', '--idempotency-key', 'x'.repeat(256)]);
    expect(res).toMatchObject({ code: 2, stdout: '' });
    expect(res.stderr).toContain('1 to 255 characters');
  });

  test('every mutation carries an Idempotency-Key (a fresh UUID per run); queries do not', async () => {
    const seen: { operation: string; key: string | undefined }[] = [];
    const fake = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        const { operationName } = JSON.parse(body) as { operationName: string };
        seen.push({ operation: operationName, key: req.headers['idempotency-key'] as string | undefined });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(operationName === 'DeleteApiKey'
          ? { data: { deleteApiKey: { deletedApiKeyId: 'key_1' } } }
          : { data: { viewer: { subject: 's', accountId: 'a', roles: ['admin'] } } }));
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}/graphql`;
      const runs = await Promise.all([
        cli.run(['--url', url, 'keys', 'delete', 'key_1']),
        cli.run(['--url', url, 'keys', 'delete', 'key_1']),
        cli.run(['--url', url, 'whoami']),
      ]);
      for (const r of runs) expect(r).toMatchObject({ code: 0, stderr: '' });
    } finally {
      fake.close();
    }
    const deletes = seen.filter((s) => s.operation === 'DeleteApiKey');
    expect(deletes).toHaveLength(2);
    for (const d of deletes) expect(d.key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(deletes[0].key).not.toBe(deletes[1].key);
    expect(seen.find((s) => s.operation === 'Viewer')).toEqual({ operation: 'Viewer', key: undefined });
  });
});

describe('tokens and authentication', () => {
  test('qckeys token signs a token the server accepts; whoami shows it', async () => {
    const env = { JWT_SECRET: TEST_JWT_SECRET };
    const signed = await cli.run(['token', '--account', 'acme', '--role', 'viewer', '--sub', 'ci-bot'], { env });
    expect(signed).toMatchObject({ code: 0, stderr: '' });
    const token = signed.stdout.trim();
    expect(await cli.json(['whoami'], { token })).toEqual({ subject: 'ci-bot', accountId: 'acme', roles: ['viewer'] });
    const table = await cli.run(['whoami'], { token });
    expect(table.stdout).toBe('subject  ci-bot\naccount  acme\nroles    viewer\n');
    // a viewer may list but not change
    const denied = await cli.run(createArgs('by viewer'), { token });
    expect(denied).toMatchObject({ code: 1, stdout: '' });
    expect(denied.stderr).toContain('FORBIDDEN');
    const [noAccount, badRole] = await Promise.all([
      cli.run(['token'], { env }),
      cli.run(['token', '--account', 'acme', '--role', 'root'], { env }),
    ]);
    expect(noAccount).toMatchObject({ code: 2, stdout: '' });
    expect(noAccount.stderr).toContain('--account is required');
    expect(badRole).toMatchObject({ code: 2, stdout: '' });
  });

  test('a bad token exits 1 with UNAUTHENTICATED on stderr, as text or JSON', async () => {
    const [text, json, none, expired] = await Promise.all([
      cli.run(['keys', 'list'], { token: 'not-a-jwt' }),
      cli.run(['keys', 'list', '--json'], { token: 'not-a-jwt' }),
      cli.run(['whoami'], { token: null }),
      server.token({ account: 'acme', ttl: '-2m' }).then((token) => cli.run(['whoami'], { token })),
    ]);
    for (const r of [text, json, none, expired]) expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(text.stderr).toMatch(/^qckeys: UNAUTHENTICATED: /);
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
    expect(none.stderr).toContain('UNAUTHENTICATED');
    expect(none.stderr).toContain('Set QCKEYS_TOKEN or pass --token');
    expect(expired.stderr).toContain('UNAUTHENTICATED');
  });

  test('an unreachable server exits 1; a bad URL, an unknown command or flag exits 2; --help exits 0', async () => {
    const [down, badUrl, unknownCommand, noCommand, help] = await Promise.all([
      cli.run(['whoami', '--url', 'http://127.0.0.1:9/graphql']),
      cli.run(['whoami', '--url', 'ftp://example.com']),
      cli.run(['keys', 'rotate']),
      cli.run([]),
      cli.run(['keys', 'create', '--help']),
    ]);
    expect(down).toMatchObject({ code: 1, stdout: '' });
    expect(down.stderr).toContain('NETWORK_ERROR');
    expect(badUrl).toMatchObject({ code: 2, stdout: '' });
    expect(unknownCommand).toMatchObject({ code: 2, stdout: '' });
    expect(unknownCommand.stderr).toContain("unknown command 'rotate'");
    expect(noCommand.code).toBe(2);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('--developer-name <name>');
    expect(help.stdout).toContain('--idempotency-key <key>');
  });
});

describe('usage', () => {
  test('per channel, per key, and with points: counts of real verifications', async () => {
    const ide = await acme.createKey({ name: 'usage ide', newTeamNames: ['Usage'] });
    const ci = await acme.createKey({ name: 'usage ci', channelId: acme.channels.ci.id });
    const verify = (key: string) => fetch(`${server.baseUrl}/v1/keys/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${acme.verifier}` }, body: JSON.stringify({ key }),
    }).then((r) => r.json() as Promise<{ valid: boolean }>);
    const results = await Promise.all([verify(ide.secret), verify(ide.secret), verify(ci.secret)]);
    expect(results.map((r) => r.valid)).toEqual([true, true, true]);

    type Report = { from: string; to: string; groupBy: string; granularity: string; total: number;
      series: { key: string; label: string; total: number; valid: number; rejected: number; points: { start: string; total: number }[] }[] };
    const args = ['usage', '--by', 'channel', '--from', 'now-1h', '--to', 'now+1h', '--granularity', 'hour'];
    let report: Report | undefined;
    await eventually(async () => (report = await cli.json<Report>(args)).total >= 3, 4000, 100);
    expect(report).toMatchObject({ groupBy: 'CHANNEL', granularity: 'HOUR', total: 3 });
    const byLabel = Object.fromEntries((report as Report).series.map((s) => [s.label, s]));
    expect(byLabel.IDE).toMatchObject({ key: acme.channels.ide.id, total: 2, valid: 2, rejected: 0 });
    expect(byLabel.CI).toMatchObject({ key: acme.channels.ci.id, total: 1, valid: 1, rejected: 0 });
    expect(byLabel.IDE.points.reduce((n, p) => n + p.total, 0)).toBe(2);

    const [perKey, team, table] = await Promise.all([
      cli.json<Report>(['usage', '--by', 'api-key', '--from', 'now-1d', '--channel', 'ci']),
      cli.json<Report>(['usage', '--by', 'team', '--from', 'now-1d', '--team', 'usage']),
      cli.run(['usage', '--by', 'channel', '--from', 'now-1d', '--points']),
    ]);
    expect(perKey.series.map((s) => [s.key, s.label, s.total])).toEqual([[ci.id, 'usage ci', 1]]);
    expect(team.series.map((s) => [s.label, s.total])).toEqual([['Usage', 2]]);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout).toMatch(/^Usage by channel, .* 3 verifications\n\nKEY\s+LABEL\s+TOTAL\s+VALID\s+REJECTED\n/);
    expect(table.stdout).toMatch(/\nLABEL\s+START\s+TOTAL\s+VALID\s+REJECTED\n/);

    const bad = await cli.run(['usage', '--by', 'colour']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
  });
});

test('no secret ever reaches stderr', async () => {
  const res = await cli.run([...createArgs('quiet secret'), '--json']);
  const { secret } = JSON.parse(res.stdout) as { secret: string };
  const failed = await cli.run([...createArgs('quiet secret')]);
  expect(failed.code).toBe(1);
  expect(res.stderr + failed.stderr).not.toContain(secret);
  expect(res.stderr + failed.stderr).not.toMatch(/qck_[0-9A-Za-z]{20,}/);
});

// What the CLI does around its output: --version, option values refused with the option's name
// (exit 2), a reader that closes stdout early (exit 0, quietly), and a new secret that cannot be
// written (the key's ID and how to recover on stderr, exit 1).
import fs from 'node:fs';
import path from 'node:path';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { TEST_JWT_SECRET, startTestServer, type TestServer } from '../helpers/server';
import { buildCli, type Cli, type CliKey, type CliList } from './run';

// every test spawns several CLI processes: allow for a loaded CI machine
jest.setTimeout(180_000);

let server: TestServer;
let acme: SeededAccount;
let cli: Cli;

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'acme');
  cli = await buildCli(server, acme.admin);
}, 300_000); // a server with its own database, and a CLI build: slow on a busy machine
afterAll(async () => {
  cli?.remove();
  await server?.stop();
});

test('--version and -V print the version of the package, exit 0', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version: string };
  const [long, short] = await Promise.all([cli.run(['--version'], { token: null }), cli.run(['-V'], { token: null })]);
  expect(long).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  expect(short).toEqual(long);
});

describe('option values are usage errors naming the option: exit 2, nothing sent', () => {
  test('--ttl and --grace-period', async () => {
    const key = await acme.createKey({ name: 'grace' });
    const [ttl, ttlZero, grace, graceJson, graceWord] = await Promise.all([
      cli.run(['token', '--account', 'acme', '--ttl', '5x'], { env: { JWT_SECRET: TEST_JWT_SECRET } }),
      cli.run(['token', '--account', 'acme', '--ttl', '0'], { env: { JWT_SECRET: TEST_JWT_SECRET } }),
      cli.run(['keys', 'renew', key.id, '--grace-period', '8d']),
      cli.run(['keys', 'renew', key.id, '--grace-period', '604801', '--json']),
      cli.run(['keys', 'renew', key.id, '--grace-period', 'soon']),
    ]);
    for (const r of [ttl, ttlZero, grace, graceJson, graceWord]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(ttl.stderr).toBe('qckeys: --ttl: expected a duration such as 3600, 30m, 24h, 7d or 1w (got "5x")\n(add --help for usage)\n');
    expect(ttlZero.stderr).toMatch(/^qckeys: --ttl: must be from 1s to 366d/);
    expect(grace.stderr).toBe('qckeys: --grace-period: must be from 0s to 7d (0 to 604800 seconds; got 8d)\n(add --help for usage)\n');
    expect(JSON.parse(graceJson.stderr)).toEqual({ error: { code: 'USAGE', message: expect.stringMatching(/^--grace-period: must be from 0s to 7d/) } });
    expect(graceWord.stderr).toMatch(/^qckeys: --grace-period: expected a duration/);
    // nothing was sent: the key is as it was
    expect((await cli.json<CliList>(['keys', 'list', '--search', 'grace'])).keys[0]?.version).toBe(1);

    // the bounds themselves are accepted, by the CLI and the API
    const [signed, renewed] = await Promise.all([
      cli.run(['token', '--account', 'acme', '--ttl', '2h'], { env: { JWT_SECRET: TEST_JWT_SECRET } }),
      cli.json<{ apiKey: CliKey }>(['keys', 'renew', key.id, '--grace-period', '7d']),
    ]);
    expect(signed).toMatchObject({ code: 0, stderr: '' });
    const payload = JSON.parse(Buffer.from(signed.stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number };
    expect(payload.exp - payload.iat).toBe(7200);
    expect(renewed.apiKey.version).toBe(2);
    expect((await cli.run(['keys', 'renew', key.id, '--grace-period', '0'])).code).toBe(0);
  });

  test('the other option parsers and commander\'s own errors use the same form', async () => {
    const [first, order, by, unknown, missing, json] = await Promise.all([
      cli.run(['keys', 'list', '--first', '0']),
      cli.run(['keys', 'list', '--order', 'name:sideways']),
      cli.run(['usage', '--by', 'colour']),
      cli.run(['keys', 'list', '--bogus']),
      cli.run(['keys', 'revoke']),
      cli.run(['keys', 'list', '--bogus', '--json']),
    ]);
    for (const r of [first, order, by, unknown, missing, json]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(first.stderr).toBe('qckeys: --first: must be an integer from 1 to 100 (got "0")\n(add --help for usage)\n');
    expect(order.stderr).toMatch(/^qckeys: --order: direction must be one of asc, desc \(got "sideways"\)\n/);
    expect(by.stderr).toMatch(/^qckeys: --by: must be one of channel, instance, team, developer, api-key, cloud/);
    expect(unknown.stderr).toBe("qckeys: unknown option '--bogus'\n(add --help for usage)\n");
    expect(missing.stderr).toBe("qckeys: missing required argument 'id'\n(add --help for usage)\n");
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'USAGE', message: "unknown option '--bogus'" } });
  });
});

describe('a reader that closes stdout early', () => {
  test('qckeys keys list | head -1: the first line, exit 0, nothing on stderr', async () => {
    for (let i = 0; i < 3; i++) await acme.createKey({ name: `piped ${i}` });
    const res = await cli.bash('qckeys keys list | head -1\necho "qckeys exited ${PIPESTATUS[0]}" >&2');
    expect(res).toEqual({ code: 0, stdout: expect.stringMatching(/^ID\s+NAME\s+STATUS\s+INSTANCE\s+CHANNEL\s+DEVELOPER\s+TEAMS\s+EXPIRES\n$/), stderr: 'qckeys exited 0\n' });
  });

  test('output to a closed stdout (EPIPE) ends the command quietly with exit 0', async () => {
    const runs = await Promise.all([
      cli.run(['keys', 'list', '--all'], { closeStdout: true }),
      cli.run(['keys', 'list', '--json'], { closeStdout: true }),
      cli.run(['whoami'], { closeStdout: true }),
      cli.run(['channels', 'list'], { closeStdout: true }),
      cli.run(['keys', 'list', '--help'], { closeStdout: true }),
      cli.run(['--version'], { closeStdout: true }),
      cli.bash('qckeys keys list --all --json | true\necho "qckeys exited ${PIPESTATUS[0]}" >&2'),
    ]);
    for (const r of runs.slice(0, -1)) expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(runs.at(-1)).toEqual({ code: 0, stdout: '', stderr: 'qckeys exited 0\n' });
  });

  test('a change without a secret is made all the same (revoke)', async () => {
    const key = await acme.createKey({ name: 'revoked unread' });
    expect(await cli.run(['keys', 'revoke', key.id], { closeStdout: true })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await cli.json<CliList>(['keys', 'list', '--search', 'revoked unread'])).keys[0]?.status).toBe('REVOKED');
  });
});

describe('a new secret that cannot be written', () => {
  test('keys create: stderr names the created key and how to get a secret; exit 1; renewing it works', async () => {
    const res = await cli.run(['keys', 'create', '--name', 'unwritten', '--instance', 'Prod org', '--channel', 'CI', '--developer-name', 'Bot'], { closeStdout: true });
    expect(res.code).toBe(1);
    const id = /key_\w+/.exec(res.stderr)?.[0];
    expect(res.stderr).toBe(`qckeys: SECRET_NOT_WRITTEN: Key ${id} was created, but its new secret could not be written to stdout (EPIPE: stdout is closed) `
      + `and is not shown again. Renew the key to get a new secret: qckeys keys renew ${id}\n`);
    expect(res.stderr).not.toMatch(/qck_[0-9A-Za-z]{20,}/);
    // the key exists, and the way out the message gives works
    const list = await cli.json<CliList>(['keys', 'list', '--search', 'unwritten']);
    expect(list.keys.map((k) => [k.id, k.version])).toEqual([[id, 1]]);
    const renewed = await cli.run(['keys', 'renew', id as string, '--secret-only']);
    expect(renewed).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^qck_[0-9A-Za-z]{38}\n$/) });
  });

  test('keys renew --secret-only, and --json: the same, as JSON on stderr with --json', async () => {
    const key = await acme.createKey({ name: 'renewed unwritten' });
    const [text, json] = [
      await cli.run(['keys', 'renew', key.id, '--secret-only'], { closeStdout: true }),
      await cli.run(['keys', 'renew', key.id, '--json'], { closeStdout: true }),
    ];
    expect(text).toMatchObject({ code: 1, stdout: '' });
    expect(text.stderr).toContain(`qckeys: SECRET_NOT_WRITTEN: Key ${key.id} was renewed, but its new secret could not be written`);
    expect(text.stderr).toContain(`qckeys keys renew ${key.id}`);
    expect(json).toMatchObject({ code: 1, stdout: '' });
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'SECRET_NOT_WRITTEN', message: expect.stringContaining(`Key ${key.id} was renewed`), apiKeyId: key.id } });
    expect((await cli.json<CliList>(['keys', 'list', '--search', 'renewed unwritten'])).keys[0]?.version).toBe(3);
  });
});

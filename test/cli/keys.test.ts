// `qckeys keys …` against a real server: every command, table and --json output, exit codes.
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { buildCli, type Cli, type CliKey, type CliList } from './run';

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

const SECRET = /qck_[0-9A-Za-z]{38}/;

describe('keys create', () => {
  test('by names, with teams: the table shows the key and its secret once, on stdout only', async () => {
    const res = await cli.run(['keys', 'create', '--name', 'deploy bot', '--instance', 'prod org', '--channel', 'ci',
      '--developer-name', 'Dora', '--new-team', 'Platform', '--expires-at', '2027-06-30']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toContain('Created key "deploy bot"');
    expect(res.stdout).toMatch(/instance\s+Prod org/);
    expect(res.stdout).toMatch(/teams\s+Platform/);
    expect(res.stdout).toMatch(/expires\s+2027-06-30 00:00Z/);
    expect(res.stdout.match(new RegExp(SECRET, 'g'))).toHaveLength(1);
  });

  test('--json prints { secret, apiKey } with the key fields; --secret-only prints the secret alone', async () => {
    const [json, only] = await Promise.all([
      cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'create', '--name', 'json key', '--instance', acme.instances.prod.id,
        '--channel', acme.channels.ide.id, '--developer-name', 'Eve', '--team', 'platform']),
      cli.run(['keys', 'create', '--name', 'quiet key', '--instance', 'Prod org', '--channel', 'IDE', '--developer-name', 'Eve', '--secret-only']),
    ]);
    expect(json.secret).toMatch(new RegExp(`^${SECRET.source}$`));
    expect(json.apiKey).toEqual({
      id: expect.stringMatching(/^key_/), name: 'json key', hint: expect.stringMatching(/^qck_.+…/), cloud: 'SALESFORCE', status: 'ACTIVE',
      expiresAt: expect.any(String), createdAt: expect.any(String), updatedAt: expect.any(String),
      renewedAt: null, revokedAt: null, revocationReason: null, lastUsedAt: null, version: 1,
      instance: { id: acme.instances.prod.id, name: 'Prod org' }, channel: { id: acme.channels.ide.id, name: 'IDE' },
      developer: { id: expect.any(String), name: 'Eve' }, teams: [{ id: expect.any(String), name: 'Platform' }],
    });
    expect(only).toMatchObject({ code: 0, stderr: '' });
    expect(only.stdout).toMatch(new RegExp(`^${SECRET.source}\\n$`));
  });

  test('usage errors exit 2 without a request; API refusals exit 1 with the code and field', async () => {
    const [bothDevs, noDev, relative, missing, badInstance, past, duplicate] = await Promise.all([
      cli.run(['keys', 'create', '--name', 'x', '--instance', 'Prod org', '--channel', 'IDE', '--developer-name', 'A', '--developer-id', 'dev_1']),
      cli.run(['keys', 'create', '--name', 'x', '--instance', 'Prod org', '--channel', 'IDE']),
      cli.run(['keys', 'create', '--name', 'x', '--instance', 'Prod org', '--channel', 'IDE', '--developer-name', 'A', '--expires-at', 'now+30d']),
      cli.run(['keys', 'create', '--instance', 'Prod org']),
      cli.run(['keys', 'create', '--name', 'x', '--instance', 'Nowhere', '--channel', 'IDE', '--developer-name', 'A']),
      cli.run(['keys', 'create', '--name', 'x', '--instance', 'Prod org', '--channel', 'IDE', '--developer-name', 'A', '--expires-at', '2020-01-01']),
      cli.run(['keys', 'create', '--name', 'DEPLOY BOT', '--instance', 'Prod org', '--channel', 'IDE', '--developer-name', 'A', '--json']),
    ]);
    for (const r of [bothDevs, noDev, relative, missing]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(bothDevs.stderr).toContain('exactly one of --developer-name and --developer-id');
    expect(relative.stderr).toContain('absolute time');
    expect(missing.stderr).toContain("required option '--name <name>' not specified");
    expect(badInstance).toMatchObject({ code: 1, stdout: '' });
    expect(badInstance.stderr).toContain('NOT_FOUND');
    expect(past).toMatchObject({ code: 1, stdout: '' });
    expect(past.stderr).toMatch(/BAD_USER_INPUT: .*\(field: input\.expiresAt\)/);
    expect(duplicate).toMatchObject({ code: 1, stdout: '' });
    expect(JSON.parse(duplicate.stderr)).toEqual({ error: { code: 'CONFLICT', message: expect.any(String), field: 'input.name' } });
  });
});

describe('keys list', () => {
  beforeAll(async () => {
    // 3 more keys: on ServiceNow, in no team, and one for Zed (so the account has 6)
    await acme.createKey({ name: 'snow sync', instanceId: acme.instances.snow.id, developer: { name: 'Zed' } });
    await acme.createKey({ name: 'alpha', developer: { name: 'Zed' } });
    await acme.createKey({ name: 'omega', channelId: acme.channels.ci.id, expiresAt: new Date(Date.now() + 10 * 86_400_000).toISOString() });
  });

  test('--json: totalCount, pageInfo and keys; filters by name and ID, sorting', async () => {
    const [all, byTeam, withoutTeam, snow, zedByName, soon, sorted, search] = await Promise.all([
      cli.json<CliList>(['keys', 'list']),
      cli.json<CliList>(['keys', 'list', '--team', 'Platform']),
      cli.json<CliList>(['keys', 'list', '--without-team']),
      cli.json<CliList>(['keys', 'list', '--cloud', 'servicenow']),
      cli.json<CliList>(['keys', 'list', '--developer', 'zed']),
      cli.json<CliList>(['keys', 'list', '--expires-before', 'now+30d', '--status', 'active']),
      cli.json<CliList>(['keys', 'list', '--order', 'name:asc', '--channel', 'IDE', '--instance', 'Prod org']),
      cli.json<CliList>(['keys', 'list', '--search', 'KEY']),
    ]);
    expect(all.totalCount).toBe(6);
    expect(all.pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });
    expect(all.keys).toHaveLength(6);
    // newest first ('json key' and 'quiet key' were created at the same time)
    expect(all.keys.map((k) => k.name).slice(0, 3)).toEqual(['omega', 'alpha', 'snow sync']);
    expect(all.keys.map((k) => k.name).slice(3).sort()).toEqual(['deploy bot', 'json key', 'quiet key']);
    expect(byTeam.keys.map((k) => k.name).sort()).toEqual(['deploy bot', 'json key']);
    expect(withoutTeam.totalCount).toBe(4);
    expect(snow.keys.map((k) => k.name)).toEqual(['snow sync']);
    expect(zedByName.keys.map((k) => k.name).sort()).toEqual(['alpha', 'snow sync']);
    expect(soon.keys.map((k) => k.name)).toEqual(['omega']);
    expect(sorted.keys.map((k) => k.name)).toEqual(['alpha', 'json key', 'quiet key']);
    expect(search.keys.map((k) => k.name).sort()).toEqual(['json key', 'quiet key']);
  });

  test('pages with --first/--after, or all of them with --all', async () => {
    const first = await cli.json<CliList>(['keys', 'list', '--order', 'name', '--first', '4']);
    expect(first.keys.map((k) => k.name)).toEqual(['alpha', 'deploy bot', 'json key', 'omega']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const [second, everything] = await Promise.all([
      cli.json<CliList>(['keys', 'list', '--order', 'name', '--first', '4', '--after', first.pageInfo.endCursor as string]),
      cli.json<CliList>(['keys', 'list', '--order', 'name:desc', '--first', '2', '--all']),
    ]);
    expect(second.keys.map((k) => k.name)).toEqual(['quiet key', 'snow sync']);
    expect(second.pageInfo.hasNextPage).toBe(false);
    expect(everything.keys.map((k) => k.name)).toEqual(['snow sync', 'quiet key', 'omega', 'json key', 'deploy bot', 'alpha']);
    expect(everything.totalCount).toBe(6);
  });

  test('the table has one row per key and a footer naming the next cursor', async () => {
    const res = await cli.run(['keys', 'list', '--order', 'name', '--first', '2']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STATUS\s+INSTANCE\s+CHANNEL\s+DEVELOPER\s+TEAMS\s+EXPIRES$/);
    expect(lines[1]).toMatch(/^key_\S+\s+alpha\s+ACTIVE\s+Prod org\s+IDE\s+Zed\s+-\s+\d{4}-/);
    expect(lines[2]).toMatch(/deploy bot\s+ACTIVE\s+Prod org\s+CI\s+Dora\s+Platform/);
    expect(lines[4]).toMatch(/^2 of 6 keys; next page: --after \S+$/);
    expect(res.stdout).not.toMatch(SECRET);
  });

  test('bad flags exit 2; an unknown team exits 1 with NOT_FOUND', async () => {
    const [unknown, badStatus, tooMany, badOrder, noTeam] = await Promise.all([
      cli.run(['keys', 'list', '--bogus']),
      cli.run(['keys', 'list', '--status', 'sleeping']),
      cli.run(['keys', 'list', '--first', '500']),
      cli.run(['keys', 'list', '--order', 'colour']),
      cli.run(['keys', 'list', '--team', 'Nobody']),
    ]);
    for (const r of [unknown, badStatus, tooMany, badOrder]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    expect(badStatus.stderr).toContain('qckeys: --status: must be one of active, expired, revoked');
    expect(noTeam).toMatchObject({ code: 1, stdout: '' });
    expect(noTeam.stderr).toContain('NOT_FOUND: No team with the ID or name "Nobody" (field: --team)');
  });
});

describe('keys renew, revoke, delete', () => {
  test('renew issues a new secret for the same key; revoke is final; delete removes it', async () => {
    const key = await acme.createKey({ name: 'rotating' });
    const renewed = await cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'renew', key.id, '--expires-at', '2027-03-01T12:00:00+01:00', '--grace-period', '1h']);
    expect(renewed.secret).toMatch(SECRET);
    expect(renewed.secret).not.toBe(key.secret);
    expect(renewed.apiKey).toMatchObject({ id: key.id, version: 2, status: 'ACTIVE', renewedAt: expect.any(String), expiresAt: '2027-03-01T11:00:00.000Z' });

    const quiet = await cli.run(['keys', 'renew', key.id, '--secret-only']);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    expect(quiet.stdout).toMatch(new RegExp(`^${SECRET.source}\\n$`));

    const revoked = await cli.run(['keys', 'revoke', key.id, '--reason', 'offboarding']);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect(revoked.stdout).toContain('Revoked key "rotating"');
    expect(revoked.stdout).toMatch(/status\s+REVOKED/);
    expect(revoked.stdout).toMatch(/reason\s+offboarding/);

    // the API refuses a second revocation; the command reports the key as revoked already and succeeds
    const [again, againText, renewRevoked] = await Promise.all([
      cli.json<{ id: string; revokedAt: string; alreadyRevoked: boolean }>(['keys', 'revoke', key.id]),
      cli.run(['keys', 'revoke', key.id, '--reason', 'second']),
      cli.run(['keys', 'renew', key.id]),
    ]);
    expect(again).toEqual({ id: key.id, revokedAt: expect.any(String), alreadyRevoked: true });
    expect(againText).toMatchObject({ code: 0, stderr: '' });
    expect(againText.stdout).toContain('was revoked already');
    expect(renewRevoked).toMatchObject({ code: 1, stdout: '' });
    expect(renewRevoked.stderr).toContain('FAILED_PRECONDITION');

    expect(await cli.json(['keys', 'delete', key.id])).toEqual({ deletedApiKeyId: key.id });
    const [gone, list] = await Promise.all([
      cli.run(['keys', 'delete', key.id]),
      cli.json<CliList>(['keys', 'list', '--search', 'rotating']),
    ]);
    expect(gone).toMatchObject({ code: 1, stdout: '' });
    expect(gone.stderr).toMatch(/NOT_FOUND: .*\(field: input\.id\)/);
    expect(list.totalCount).toBe(0);
  });

  test('argument mistakes exit 2', async () => {
    const [noId, badGrace, badDate] = await Promise.all([
      cli.run(['keys', 'revoke']),
      cli.run(['keys', 'renew', 'key_x', '--grace-period', 'soon']),
      cli.run(['keys', 'renew', 'key_x', '--expires-at', '31/12/2027']),
    ]);
    for (const r of [noId, badGrace, badDate]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(noId.stderr).toContain("missing required argument 'id'");
  });
});

describe('keys teams', () => {
  test('by IDs: adds existing and new teams, removes one, in one change per key', async () => {
    const a = await acme.createKey({ name: 'teams a', newTeamNames: ['Legacy'] });
    const b = await acme.createKey({ name: 'teams b' });
    const res = await cli.json<{ updatedCount: number; apiKeys: CliKey[] }>(['keys', 'teams', a.id, b.id,
      '--add', 'Platform', '--add-new', 'Mobile', '--remove', 'legacy']);
    expect(res.updatedCount).toBe(2);
    expect(res.apiKeys.map((k) => [k.name, k.teams.map((t) => t.name).sort()]).sort()).toEqual([
      ['teams a', ['Mobile', 'Platform']], ['teams b', ['Mobile', 'Platform']],
    ]);
  });

  test('by filter: every matching key, with the table output', async () => {
    const res = await cli.run(['keys', 'teams', '--filter-developer', 'Zed', '--filter-status', 'active', '--add-new', 'Zed team']);
    expect(res).toMatchObject({ code: 0, stderr: '' });
    expect(res.stdout).toMatch(/^Teams changed on 2 keys\n\nID\s+NAME/);
    const list = await cli.json<CliList>(['keys', 'list', '--team', 'zed team']);
    expect(list.keys.map((k) => k.name).sort()).toEqual(['alpha', 'snow sync']);
  });

  test('needs exactly one of IDs and a filter, and at least one change: else exit 2', async () => {
    const [neither, both, noChange] = await Promise.all([
      cli.run(['keys', 'teams', '--add', 'Platform']),
      cli.run(['keys', 'teams', 'key_1', '--filter-search', 'x', '--add', 'Platform']),
      cli.run(['keys', 'teams', 'key_1']),
    ]);
    for (const r of [neither, both, noChange]) expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(neither.stderr).toContain('exactly one of them');
    expect(noChange.stderr).toContain('at least one of --add, --remove and --add-new');
  });
});

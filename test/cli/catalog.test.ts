// `qckeys channels|instances|teams|developers` against a real server, starting from a new account
// (no channel, no instance), and the documented sequences that set one up, run as written.
import fs from 'node:fs';
import path from 'node:path';
import { TEST_JWT_SECRET, startTestServer, type TestServer } from '../helpers/server';
import { buildCli, type Cli, type CliKey, type CliList, type CliResult } from './run';

// every test spawns several CLI processes: allow for a loaded CI machine
jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');

let server: TestServer;
let cli: Cli;
let admin: string;

beforeAll(async () => {
  server = await startTestServer();
  admin = await server.token({ account: 'fresh', roles: ['admin'], sub: 'fresh-admin' });
  cli = await buildCli(server, admin);
}, 300_000); // a server with its own database, and a CLI build: slow on a busy machine
afterAll(async () => {
  cli?.remove();
  await server?.stop();
});

interface Channel { id: string; name: string }
interface Instance { id: string; name: string; cloud: string; url: string | null; channels: Channel[] }
interface Team { id: string; name: string; apiKeyCount: number }
interface Developer { id: string; name: string; active: boolean; activeApiKeyCount: number; instances: { id: string; name: string }[] }
interface Paged { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null } }

describe('a new account, step by step', () => {
  test('channels, an instance offering them, a team and a developer; then a key on them', async () => {
    expect(await cli.json<{ channels: Channel[] }>(['channels', 'list'])).toEqual({ channels: [] });
    expect(await cli.json<{ instances: Instance[] }>(['instances', 'list'])).toEqual({ instances: [] });
    const emptyTable = await cli.run(['channels', 'list']);
    expect(emptyTable).toEqual({ code: 0, stdout: '0 channels\n', stderr: '' });

    const ci = await cli.run(['channels', 'create', '--name', 'CI']);
    expect(ci).toMatchObject({ code: 0, stderr: '' });
    expect(ci.stdout).toMatch(/^Created channel "CI" \(chn_\w+\)\n$/);
    const ide = await cli.json<{ channel: Channel }>(['channels', 'create', '--name', 'IDE']);
    expect(ide.channel).toEqual({ id: expect.stringMatching(/^chn_/), name: 'IDE' });

    const prod = await cli.run(['instances', 'create', '--name', 'Prod org', '--cloud', 'salesforce', '--channel', 'ci', '--channel', ide.channel.id,
      '--base-url', 'https://acme.my.salesforce.com']);
    expect(prod).toMatchObject({ code: 0, stderr: '' });
    expect(prod.stdout).toMatch(/^Created instance "Prod org"\n\nID\s+NAME\s+CLOUD\s+CHANNELS\s+URL\nins_\w+\s+Prod org\s+SALESFORCE\s+(CI, IDE|IDE, CI)\s+https:\/\/acme\.my\.salesforce\.com\/\n$/);
    const snow = await cli.json<{ instance: Instance }>(['instances', 'create', '--name', 'ServiceNow dev', '--cloud', 'servicenow', '--channel', 'IDE']);
    expect(snow.instance).toEqual({ id: expect.stringMatching(/^ins_/), name: 'ServiceNow dev', cloud: 'SERVICENOW', url: null, channels: [ide.channel] });

    const [channels, instances, onlySnow, table] = await Promise.all([
      cli.json<{ channels: Channel[] }>(['channels', 'list']),
      cli.json<{ instances: Instance[] }>(['instances', 'list']),
      cli.json<{ instances: Instance[] }>(['instances', 'list', '--cloud', 'servicenow']),
      cli.run(['instances', 'list']),
    ]);
    expect(channels.channels.map((c) => c.name).sort()).toEqual(['CI', 'IDE']);
    expect(instances.instances.map((i) => i.name).sort()).toEqual(['Prod org', 'ServiceNow dev']);
    expect(onlySnow.instances.map((i) => i.name)).toEqual(['ServiceNow dev']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+CLOUD\s+CHANNELS\s+URL\n/);
    expect(table.stdout).toMatch(/\n\n2 instances\n$/);

    const team = await cli.json<{ team: Team }>(['teams', 'create', '--name', 'Platform']);
    expect(team.team).toEqual({ id: expect.stringMatching(/^team_/), name: 'Platform', apiKeyCount: 0 });
    const dev = await cli.json<{ developer: Developer }>(['developers', 'create', '--name', 'Build Bot', '--instance', 'prod org']);
    expect(dev.developer).toMatchObject({ name: 'Build Bot', active: true, activeApiKeyCount: 0, instances: [{ name: 'Prod org' }] });
    // the same name again: the same developer, now also in the second instance
    const again = await cli.json<{ developer: Developer }>(['developers', 'create', '--name', 'build bot', '--instance', 'ServiceNow dev']);
    expect(again.developer.id).toBe(dev.developer.id);
    expect(again.developer.instances.map((i) => i.name).sort()).toEqual(['Prod org', 'ServiceNow dev']);

    const key = await cli.json<{ secret: string; apiKey: CliKey }>(['keys', 'create', '--name', 'deploy pipeline', '--instance', 'Prod org',
      '--channel', 'CI', '--developer-id', dev.developer.id, '--team', 'Platform']);
    expect(key.apiKey).toMatchObject({ instance: { name: 'Prod org' }, channel: { name: 'CI' }, developer: { name: 'Build Bot' }, teams: [{ name: 'Platform' }] });
    const teams = await cli.json<Paged & { teams: Team[] }>(['teams', 'list']);
    expect(teams.teams).toEqual([{ ...team.team, apiKeyCount: 1 }]);
  });

  test('names that clash or do not exist, bad values, and a viewer: exit 1 or 2 with the reason', async () => {
    const [dupChannel, dupInstance, unknownChannel, badCloud, noCloud, viewer] = await Promise.all([
      cli.run(['channels', 'create', '--name', 'ci']),
      cli.run(['instances', 'create', '--name', 'PROD ORG', '--cloud', 'm365']),
      cli.run(['instances', 'create', '--name', 'Tenant', '--cloud', 'm365', '--channel', 'Live Check']),
      cli.run(['instances', 'create', '--name', 'Tenant', '--cloud', 'azure']),
      cli.run(['instances', 'create', '--name', 'Tenant']),
      server.token({ account: 'fresh', roles: ['viewer'] }).then((token) => cli.run(['teams', 'create', '--name', 'Viewers'], { token })),
    ]);
    expect(dupChannel).toMatchObject({ code: 1, stdout: '' });
    expect(dupChannel.stderr).toMatch(/^qckeys: CONFLICT: .*\(field: input\.name\)\n$/);
    expect(dupInstance).toMatchObject({ code: 1, stdout: '' });
    expect(dupInstance.stderr).toContain('CONFLICT');
    expect(unknownChannel).toMatchObject({ code: 1, stdout: '' });
    expect(unknownChannel.stderr).toContain('NOT_FOUND: No channel with the ID or name "Live Check" (field: --channel)');
    expect(badCloud).toMatchObject({ code: 2, stdout: '' });
    expect(badCloud.stderr).toMatch(/^qckeys: --cloud: must be one of salesforce, servicenow, m365 \(got "azure"\)\n/);
    expect(noCloud).toMatchObject({ code: 2, stdout: '' });
    expect(noCloud.stderr).toContain("required option '--cloud <cloud>' not specified");
    expect(viewer).toMatchObject({ code: 1, stdout: '' });
    expect(viewer.stderr).toContain('FORBIDDEN');
  });
});

describe('teams and developers: search and pages', () => {
  test('teams list --search, --first/--after and --all', async () => {
    for (const name of ['Mobile', 'Data', 'Mobile QA']) expect((await cli.run(['teams', 'create', '--name', name])).code).toBe(0);
    const first = await cli.json<Paged & { teams: Team[] }>(['teams', 'list', '--first', '2']);
    expect(first.totalCount).toBe(4);
    expect(first.teams.map((t) => t.name)).toEqual(['Data', 'Mobile']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const [next, all, mobile, table] = await Promise.all([
      cli.json<Paged & { teams: Team[] }>(['teams', 'list', '--first', '2', '--after', first.pageInfo.endCursor as string]),
      cli.json<Paged & { teams: Team[] }>(['teams', 'list', '--first', '1', '--all']),
      cli.json<Paged & { teams: Team[] }>(['teams', 'list', '--search', 'mob']),
      cli.run(['teams', 'list', '--first', '1']),
    ]);
    expect(next.teams.map((t) => t.name)).toEqual(['Mobile QA', 'Platform']);
    expect(next.pageInfo.hasNextPage).toBe(false);
    expect(all.teams.map((t) => t.name)).toEqual(['Data', 'Mobile', 'Mobile QA', 'Platform']);
    expect(mobile.teams.map((t) => t.name)).toEqual(['Mobile', 'Mobile QA']);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+KEYS\nteam_\w+\s+Data\s+0\n\n1 of 4 teams; next page: --after \S+\n$/);
  });

  test('developers list by instance and search; deactivate is refused while keys are active, unless --revoke-keys', async () => {
    expect((await cli.run(['developers', 'create', '--name', 'Dora', '--instance', 'ServiceNow dev'])).code).toBe(0);
    const key = await cli.json<{ apiKey: CliKey }>(['keys', 'create', '--name', 'dora ide', '--instance', 'ServiceNow dev', '--channel', 'IDE', '--developer-name', 'Dora']);

    const [all, inProd, dora, table] = await Promise.all([
      cli.json<Paged & { developers: Developer[] }>(['developers', 'list']),
      cli.json<Paged & { developers: Developer[] }>(['developers', 'list', '--instance', 'Prod org']),
      cli.json<Paged & { developers: Developer[] }>(['developers', 'list', '--search', 'DOR']),
      cli.run(['developers', 'list', '--search', 'dora']),
    ]);
    expect(all.developers.map((d) => d.name)).toEqual(['Build Bot', 'Dora']);
    expect(inProd.developers.map((d) => d.name)).toEqual(['Build Bot']);
    expect(dora.developers).toEqual([{ id: expect.stringMatching(/^dev_/), name: 'Dora', active: true, activeApiKeyCount: 1, instances: [{ id: expect.any(String), name: 'ServiceNow dev' }] }]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+ACTIVE\s+ACTIVE KEYS\s+INSTANCES\ndev_\w+\s+Dora\s+yes\s+1\s+ServiceNow dev\n\n1 of 1 developer\n$/);

    const refused = await cli.run(['developers', 'deactivate', 'dora']);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^qckeys: FAILED_PRECONDITION: .*1 active API key.*\(--revoke-keys\)\n$/);
    expect((await cli.json<CliList>(['keys', 'list', '--developer', 'Dora'])).keys.map((k) => k.status)).toEqual(['ACTIVE']);

    const done = await cli.run(['developers', 'deactivate', 'Dora', '--revoke-keys']);
    expect(done).toMatchObject({ code: 0, stderr: '' });
    expect(done.stdout).toMatch(/^Deactivated developer "Dora" \(dev_\w+\); revoked 1 key:\n\nID\s+NAME\s+STATUS.*\nkey_\w+\s+dora ide\s+REVOKED/);
    const [keys, after, newKey, unknown] = await Promise.all([
      cli.json<CliList>(['keys', 'list', '--developer', 'Dora']),
      cli.json<Paged & { developers: Developer[] }>(['developers', 'list', '--search', 'dora']),
      cli.run(['keys', 'create', '--name', 'dora again', '--instance', 'ServiceNow dev', '--channel', 'IDE', '--developer-name', 'Dora']),
      cli.run(['developers', 'deactivate', 'Nobody']),
    ]);
    expect(keys.keys).toEqual([expect.objectContaining({ id: key.apiKey.id, status: 'REVOKED' })]);
    expect(after.developers[0]).toMatchObject({ active: false, activeApiKeyCount: 0 });
    expect(newKey).toMatchObject({ code: 1, stdout: '' });
    expect(newKey.stderr).toContain('FAILED_PRECONDITION');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain('NOT_FOUND: No developer with the ID or name "Nobody" (field: <developer>)');

    // deactivating again changes nothing and revokes nothing
    const twice = await cli.json<{ developer: Developer; revokedApiKeys: CliKey[] }>(['developers', 'deactivate', 'Dora']);
    expect(twice).toMatchObject({ developer: { name: 'Dora', active: false }, revokedApiKeys: [] });
  });
});

/** The first ```sh block after `heading` in a Markdown file. */
function shBlock(file: string, heading: string): string {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const at = text.indexOf(heading);
  if (at < 0) throw new Error(`${file} has no ${JSON.stringify(heading)}`);
  const match = /^( *)```sh\n([\s\S]*?)^\1```$/m.exec(text.slice(at));
  if (!match) throw new Error(`no sh block after ${JSON.stringify(heading)} in ${file}`);
  const [, indent = '', body = ''] = match;
  return body.split('\n').map((line) => line.slice(indent.length)).join('\n');
}

/**
 * Runs a documented block of commands on a new account, as written, command by command, with
 * bash: the test server's URL instead of the one written, `account` for the block's
 * `--account acme` (each block gets an account of its own), `<id>` as the ID of the key the block
 * created last, `export NAME=$(…)` kept for the commands after it. Every command must succeed.
 */
async function runDocumented(block: string, account: string, prelude = '', env: Record<string, string> = {}): Promise<CliResult[]> {
  const vars: Record<string, string> = { ...env, JWT_SECRET: TEST_JWT_SECRET };
  const commands: string[] = [];
  let pending = '';
  for (const line of block.split('\n')) {
    pending += (pending ? '\n' : '') + line;
    if (/(\\|\|)\s*$/.test(line.replace(/\s+#.*$/, ''))) continue;
    if (pending.trim() && !pending.trim().startsWith('#')) commands.push(pending);
    pending = '';
  }
  const results: CliResult[] = [];
  for (const command of commands) {
    if (/^export QCKEYS_URL=/.test(command)) continue;
    const exported = /^export (\w+)=/.exec(command);
    const script = prelude + command.replace(/<id>/g, '"$KEY_ID"').replace(/--account acme\b/g, `--account ${account}`)
      + (exported ? `\nprintf %s "$${exported[1]}"` : '');
    const res = await cli.bash(script, { token: vars.QCKEYS_TOKEN ?? null, env: vars });
    if (res.code !== 0) throw new Error(`${command}\nexited ${res.code}: ${res.stderr}`);
    if (exported?.[1]) vars[exported[1]] = res.stdout;
    const created = /\bkeys create\b/.test(command) ? /\bkey_\w+/.exec(res.stdout) : null;
    if (created) vars.KEY_ID = created[0];
    results.push(res);
  }
  // the block worked on the account it was written for
  const viewer = await cli.json<{ accountId: string }>(['whoami'], { token: vars.QCKEYS_TOKEN ?? null });
  expect(viewer.accountId).toBe(account);
  return results;
}

describe('documented sequences run as written on a new account', () => {
  test('README: channel, instance, key, then the key commands', async () => {
    const block = shBlock('README.md', '**CLI for pipelines**');
    expect(block).toMatch(/channels create[\s\S]*instances create[\s\S]*keys create/);
    const results = await runDocumented(block, 'acme');
    expect(results.some((r) => /Created key "deploy bot"/.test(r.stdout))).toBe(true);
    const list = await cli.json<CliList>(['keys', 'list'], { token: await server.token({ account: 'acme' }) });
    expect(list.keys.map((k) => [k.name, k.status, k.version])).toEqual([['deploy bot', 'REVOKED', 4]]);
  });

  test('docs/cli.md: setting up a new account', async () => {
    const block = shBlock('docs/cli.md', '### A new account');
    const results = await runDocumented(block, 'acme-cli');
    expect(block).toContain('--account acme ');
    expect(results.at(-1)?.stdout).toMatch(/deploy pipeline\s+ACTIVE\s+Prod org\s+CI\s+Build Bot\s+Platform/);
  });

  test('docs/ci.md: the account\'s setup stores the new key\'s secret', async () => {
    const block = shBlock('docs/ci.md', '## A new account');
    const store = path.join(path.dirname(cli.file), 'stored-secret');
    // the secret store: gh, stood in for by a function that keeps what it reads
    // the jobs' QCKEYS_TOKEN: an admin token of the account
    const token = await server.token({ account: 'acme-ci', roles: ['admin'], sub: 'ci-admin' });
    await runDocumented(block, 'acme-ci', 'gh() { cat > "$STORE"; }\n', { STORE: store, QCKEYS_TOKEN: token });
    expect(fs.readFileSync(store, 'utf8')).toMatch(/^qck_[0-9A-Za-z]{38}\n?$/);
  });
});

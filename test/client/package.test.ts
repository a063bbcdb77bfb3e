// @qckeys/client as a consumer gets it: packed with `npm pack`, installed from the tarball into a
// project outside the repository, the README's example compiled with the settings `tsc --init`
// writes (an ES module) and with `strict` alone (CommonJS), and both run against a real server.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// packing (which builds), two installs and two compilations: minutes on a loaded machine
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../..');
const CLIENT = path.join(ROOT, 'client');
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const SERVER_PACKAGES = ['@apollo/server', '@electric-sql/pglite', 'knex', 'knex-pglite', 'pg', 'pino', 'jose', 'dataloader', 'commander'];

interface Run { code: number | null; stdout: string; stderr: string }

/** The environment of a command a developer types: no npm settings inherited from `npm test`. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(name) && !/^npm_config_(cache|registry|userconfig)$/i.test(name)) continue;
    if (name === 'INIT_CWD' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return env;
}

function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function ok(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): Promise<string> {
  const res = await run(file, args, cwd, env);
  if (res.code !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} (in ${cwd}) exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

const npm = (args: string[], cwd: string) => ok('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], cwd);
const node = (file: string, cwd: string, env: Record<string, string>) => ok(process.execPath, [file], cwd, { ...cleanEnv(), ...env });

/** The ```ts block of a Markdown file that uses createClient from @qckeys/client, unindented. */
function clientSnippet(file: string): string {
  const text = fs.readFileSync(file, 'utf8');
  for (const match of text.matchAll(/^( *)```ts\n([\s\S]*?)^\1```$/gm)) {
    const [, indent = '', body = ''] = match;
    if (body.includes("from '@qckeys/client'") && body.includes('createClient(')) {
      return body.split('\n').map((line) => line.slice(indent.length)).join('\n');
    }
  }
  throw new Error(`no typed-client example in ${file}`);
}

// Beside the README's example: the rest of what a consumer writes, under the same two settings.
const OWN_DOCUMENTS = `
import {
  ApiError, ApiKeysDocument, CreateChannelDocument, ViewerDocument, createClient, graphql, type ApiKeyFieldsFragment, type ResultOf,
} from '@qckeys/client';

export function firstKeyName(result: ResultOf<typeof ApiKeysDocument>): string | undefined {
  return result.apiKeys.edges[0]?.node.name;
}

const KeyNames = graphql<{ apiKeys: { totalCount: number; edges: { node: { name: string } }[] } }, { search: string }>(
  'query KeyNames($search: String) { apiKeys(filter: { search: $search }) { totalCount edges { node { name } } } }',
);

export async function tour(url: string, token: string | undefined, label: string): Promise<Record<string, unknown>> {
  const client = createClient({ url, token, timeoutMs: 10000 });
  const { viewer } = await client.request(ViewerDocument);
  const input = { name: 'Channel ' + label };
  const created = await client.request(CreateChannelDocument, { input }, { idempotencyKey: 'tour-' + label });
  const replayed = await client.request(CreateChannelDocument, { input }, { idempotencyKey: 'tour-' + label });
  let conflict = '';
  try {
    await client.request(CreateChannelDocument, { input: { name: input.name.toUpperCase() } });
  } catch (err) {
    if (err instanceof ApiError) conflict = err.code + ' ' + err.field;
  }
  const { apiKeys } = await client.request(KeyNames, { search: 'soon' });
  return {
    account: viewer.accountId,
    channel: created.createChannel.channel.name,
    replayed: replayed.createChannel.channel.id === created.createChannel.channel.id,
    conflict,
    keys: apiKeys.edges.map((e) => e.node.name),
  };
}

export function typeErrors(key: ApiKeyFieldsFragment): void {
  const client = createClient({ url: 'http://localhost:4000/graphql' });
  // @ts-expect-error the document requires its input
  void client.request(CreateChannelDocument);
  // @ts-expect-error not a status
  void client.request(graphql<unknown, { s: 'ACTIVE' }>('{ viewer { accountId } }'), { s: 'SLEEPING' });
  // @ts-expect-error a key's fields are read-only data, not a number
  const n: number = key.name;
  void n;
}
`;

const RUN_ESM = `
import { expiringKeys } from './snippet.js';
import { tour } from './own.js';
const { QCKEYS_URL: url, QCKEYS_TOKEN: token } = process.env;
const out = { keys: await expiringKeys(url, token) };
await expiringKeys(url, 'not-a-token').catch((err) => { out.badToken = err.message; });
await expiringKeys('http://127.0.0.1:9/graphql', token).catch((err) => { out.unreachable = err.code; });
out.tour = await tour(url, token, 'esm');
console.log(JSON.stringify(out));
`;

const RUN_CJS = `
const { expiringKeys } = require('./snippet.js');
const { tour } = require('./own.js');
const { QCKEYS_URL: url, QCKEYS_TOKEN: token } = process.env;
(async () => {
  const out = { keys: await expiringKeys(url, token) };
  await expiringKeys(url, 'not-a-token').catch((err) => { out.badToken = err.message; });
  await expiringKeys('http://127.0.0.1:9/graphql', token).catch((err) => { out.unreachable = err.code; });
  out.tour = await tour(url, token, 'cjs');
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exitCode = 1; });
`;

let scratch: string;
let packed: { size: number; filename: string; files: { path: string }[] };
let installed: string[];
const compiled: Record<string, Run> = {};
let server: TestServer;
let acme: SeededAccount;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-client-'));
  const [pack, started] = await Promise.all([
    ok('npm', ['pack', '--json', '--pack-destination', scratch], CLIENT),
    startTestServer(),
  ]);
  server = started;
  [packed] = JSON.parse(pack) as [typeof packed];

  fs.writeFileSync(path.join(scratch, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true }));
  await npm(['install', path.join(scratch, packed.filename), 'graphql@^16'], scratch);
  const lock = JSON.parse(fs.readFileSync(path.join(scratch, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  installed = Object.keys(lock.packages).filter((p) => p !== '').map((p) => p.replace(/^.*node_modules\//, ''));
  // for the `strict`-only project, whose default lib (ES5) lacks the ES2015 types graphql's own declarations use
  await npm(['install', '--save-dev', '@types/node@^20'], scratch);

  for (const [dir, type] of [['esm', 'module'], ['cjs', 'commonjs']] as const) {
    fs.mkdirSync(path.join(scratch, dir));
    fs.writeFileSync(path.join(scratch, dir, 'package.json'), JSON.stringify({ type }));
    fs.writeFileSync(path.join(scratch, dir, 'snippet.ts'), clientSnippet(path.join(ROOT, 'README.md')));
    fs.writeFileSync(path.join(scratch, dir, 'own.ts'), OWN_DOCUMENTS);
  }
  await ok(process.execPath, [TSC, '--init'], path.join(scratch, 'esm'));
  fs.writeFileSync(path.join(scratch, 'esm', 'run.mjs'), RUN_ESM);
  fs.writeFileSync(path.join(scratch, 'cjs', 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true } }));
  fs.writeFileSync(path.join(scratch, 'cjs', 'run.cjs'), RUN_CJS);
  await Promise.all(['esm', 'cjs'].map(async (dir) => {
    compiled[dir] = await run(process.execPath, [TSC, '-p', path.join(scratch, dir)], path.join(scratch, dir));
  }));

  acme = await seedAccount(server, 'acme');
  const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();
  await acme.createKey({ name: 'renew me soon', expiresAt: inDays(20) });
  await acme.createKey({ name: 'expires soon', expiresAt: inDays(3) });
  await acme.createKey({ name: 'far away', expiresAt: inDays(400) });
  const revoked = await acme.createKey({ name: 'revoked soon', expiresAt: inDays(5) });
  await server.ok(acme.admin, 'mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }', { id: revoked.id });
}, 900_000);

afterAll(async () => {
  await server?.stop();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

test('the tarball holds the builds, the documents and the schema, and is at most 200 KB', () => {
  expect(packed.size).toBeLessThanOrEqual(200 * 1024);
  const files = packed.files.map((f) => f.path).sort();
  for (const f of ['dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/schema.graphql', 'operations/keys.graphql', 'package.json', 'README.md']) {
    expect(files).toContain(f);
  }
  expect(files.filter((f) => !/^(dist\/(esm|cjs)\/|dist\/schema\.graphql$|operations\/[a-z-]+\.graphql$|package\.json$|README\.md$)/.test(f))).toEqual([]);
});

test('installing it brings graphql and at most 5 packages more, none of the server', () => {
  expect(installed).toContain('@qckeys/client');
  expect(installed).toContain('graphql');
  expect(installed.filter((p) => p !== 'graphql').length).toBeLessThanOrEqual(5);
  expect(installed.filter((p) => SERVER_PACKAGES.includes(p))).toEqual([]);
  const manifest = JSON.parse(fs.readFileSync(path.join(scratch, 'node_modules/@qckeys/client/package.json'), 'utf8')) as { peerDependencies: Record<string, string> };
  expect(manifest.peerDependencies).toEqual({ graphql: expect.stringMatching(/^\^16/) });
});

test('the README example is the package README\'s and uses the package by its name', () => {
  const snippet = clientSnippet(path.join(ROOT, 'README.md'));
  expect(snippet).toContain("from '@qckeys/client'");
  expect(clientSnippet(path.join(CLIENT, 'README.md'))).toBe(snippet);
});

describe.each([
  ['tsc --init (TypeScript 5.9), an ES module', 'esm', 'run.mjs'],
  ['strict alone, CommonJS', 'cjs', 'run.cjs'],
])('compiled with %s', (_title, dir, runner) => {
  test('compiles without error and runs against the server', async () => {
    const cwd = path.join(scratch, dir);
    if (dir === 'esm') {
      // what tsc --init wrote: the settings the README example has to satisfy
      const written = fs.readFileSync(path.join(cwd, 'tsconfig.json'), 'utf8');
      for (const setting of ['"module": "nodenext"', '"exactOptionalPropertyTypes": true', '"noUncheckedIndexedAccess": true', '"verbatimModuleSyntax": true', '"strict": true', '"types": []']) {
        expect(written).toContain(setting);
      }
    }
    expect(compiled[dir]).toEqual({ code: 0, stdout: '', stderr: '' });

    const out = JSON.parse(await node(runner, cwd, { QCKEYS_URL: `${server.baseUrl}/graphql`, QCKEYS_TOKEN: acme.admin })) as Record<string, unknown>;
    expect(out).toEqual({
      keys: [
        expect.stringMatching(/^expires soon \(Prod org\) expires \d{4}-\d\d-\d\dT/),
        expect.stringMatching(/^renew me soon \(Prod org\) expires \d{4}-\d\d-\d\dT/),
      ],
      badToken: 'Sign in again: the token is missing or expired',
      unreachable: 'NETWORK_ERROR',
      tour: {
        account: 'acme',
        channel: `Channel ${dir}`,
        replayed: true,
        conflict: 'CONFLICT input.name',
        keys: expect.arrayContaining(['renew me soon', 'expires soon', 'revoked soon']),
      },
    });
  });
});

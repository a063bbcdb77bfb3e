import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServer } from '../helpers/server';

// The README's worked example, run as a reader would: with bash, curl and jq, against a real
// server, set up the way the README says (its URL, and the development token it prints), twice.
jest.setTimeout(180_000);

const run = promisify(execFile);
const README = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');

/** The fenced blocks of the README section under this `## ` heading, in order. */
function blocksOf(heading: string): { lang: string; body: string }[] {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], body: m[2] }));
}

/** A line of the README's expected output as a pattern: `…` stands for anything (IDs, hints, dates). */
function linePattern(line: string): RegExp {
  const parts = line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`);
}

const [setup, example, expected] = blocksOf('A worked example');

let server: TestServer;
let dataDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  // no JWT_SECRET: the service makes a development secret and its admin token, as `npm start` does
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-readme-'));
  server = await startTestServer({ JWT_SECRET: '', DATA_DIR: dataDir });
  expect(server.service.devToken).toEqual(expect.any(String));
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    LANG: 'C.UTF-8',
    // "the address npm start printed, without /graphql" and "the token npm start printed"
    URL: server.service.url.replace(/\/graphql$/, ''),
    TOKEN: server.service.devToken as string,
  };
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the section has the setup, the example and its output', () => {
  expect([setup?.lang, example?.lang, expected?.lang]).toEqual(['sh', 'sh', 'text']);
  expect(setup.body).toMatch(/^export URL=http:\/\/localhost:4000\b/m);
  expect(setup.body).toMatch(/^export TOKEN=/m);
});

test('the example runs twice as written and prints what the README says, both times', async () => {
  const lines = expected.body.trimEnd().split('\n');
  const keyIds: string[] = [];
  for (let round = 1; round <= 2; round++) {
    const { stdout, stderr } = await run('bash', ['-c', example.body], { env, timeout: 120_000 });
    expect(stderr).toBe('');
    const printed = stdout.trimEnd().split('\n');
    expect(printed).toHaveLength(lines.length);
    printed.forEach((line, i) => expect({ round, line }).toEqual({ round, line: expect.stringMatching(linePattern(lines[i])) }));
    keyIds.push((JSON.parse(printed[0]) as { id: string }).id);
  }
  expect(new Set(keyIds).size).toBe(2);

  // as the README says after it: two keys, both revoked; one developer "Alice", one team "Platform"
  const account = await server.ok<{
    apiKeys: { totalCount: number }; revoked: { totalCount: number };
    developers: { edges: { node: { name: string } }[] }; teams: { edges: { node: { name: string } }[] };
  }>(env.TOKEN, `{ apiKeys { totalCount } revoked: apiKeys(filter: { statuses: [REVOKED] }) { totalCount }
      developers { edges { node { name } } } teams { edges { node { name } } } }`);
  expect(account.apiKeys.totalCount).toBe(2);
  expect(account.revoked.totalCount).toBe(2);
  expect(account.developers.edges.map((e) => e.node.name)).toEqual(['Alice']);
  expect(account.teams.edges.map((e) => e.node.name)).toEqual(['Platform']);
});

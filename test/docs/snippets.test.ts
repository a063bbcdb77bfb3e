import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { docSnippets, snippetKind, type DocSnippet } from '../../bench/lib/documents';
import { generateSecret } from '../../src/modules/api-keys/secrets';
import { eventually } from '../helpers/eventually';
import { seedAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { verifyRest } from '../verification/verify';

// Every GraphQL snippet of the README and docs/ (```graphql blocks and the queries of curl
// examples) is valid against schema.graphql, and runs as written on a new account and on an
// account with a key: no errors.

const ROOT = path.resolve(__dirname, '..', '..');
const FILES = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
const schema = buildSchema(fs.readFileSync(path.join(ROOT, 'schema.graphql'), 'utf8'));
const snippets = FILES.flatMap((file) => docSnippets(ROOT, file));

const where = (s: { file: string; heading: string }) => `${s.file} › ${s.heading}`;
const title = (s: DocSnippet) => `${where(s)} (line ${s.line}${s.form === 'curl' ? ', curl' : ''})`;

/**
 * The snippets that are part of a document rather than one: SDL, checked against the schema's
 * types, and bare selections, checked as a fragment on the type `on` names.
 */
const PARTS: { file: string; heading: string; kind: 'sdl' | 'selection'; on?: string }[] = [];

type Variables = Record<string, unknown>;

interface Account {
  viewer: string;
  admin: string;
  /** The seeded key and its channel, which the seeded account's answers show. */
  seeded?: { keyId: string; channelId: string };
}

const DAY = 86_400_000;
const lastWeek = () => ({ from: new Date(Date.now() - 7 * DAY).toISOString(), to: new Date().toISOString() });

/**
 * The variables of each run of an operation whose doc gives none; an operation not here runs
 * once without variables.
 */
const VARIABLES: Record<string, (a: Account) => Variables[]> = {
  // as written (every variable is optional), and as the doc's real answer was asked:
  // "first: 2, filter: { statuses: [ACTIVE] }, orderBy: { field: NAME, direction: ASC }"
  KeyList: () => [{}, { first: 2, filter: { statuses: ['ACTIVE'] }, orderBy: { field: 'NAME', direction: 'ASC' } }],
  FilterCounts: () => [{}, { filter: { statuses: ['ACTIVE'] } }],
  ChannelUsage: () => [lastWeek()],
  RejectionReasons: () => [lastWeek()],
  // the doc's "all that match" example; selected rows need a key, which a new account has not
  BulkTeams: (a) => [
    { input: { filter: { search: 'ide', statuses: ['ACTIVE'] }, addNewTeamNames: ['Developers'] } },
    ...(a.seeded ? [{ input: { apiKeyIds: [a.seeded.keyId], addNewTeamNames: ['Platform'] } }] : []),
  ],
  // "all matching but these", as the doc describes it; then the seeded key by its ID
  BulkRevoke: (a) => [
    { input: { filter: { search: 'nothing is named like this' }, exceptIds: [], reason: 'offboarding' } },
    ...(a.seeded ? [{ input: { apiKeyIds: [a.seeded.keyId], reason: 'offboarding' } }] : []),
  ],
};

/** Operations whose answer on the seeded account shows its key or the key's channel, with the variables above. */
const SHOW_SEEDED = ['KeyList', 'FilterCounts', 'ChannelUsage', 'RejectionReasons', 'BulkTeams'];

const executable = snippets.filter((s) => s.kind === 'executable');

interface Run {
  snippet: DocSnippet;
  operation: OperationDefinitionNode;
  name: string;
}

// queries before mutations, so the queries see each account as it was set up
const runs: Run[] = executable.flatMap((snippet) => parse(snippet.text).definitions
  .filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
  .map((operation) => ({ snippet, operation, name: operation.name?.value ?? '(anonymous)' })),
).sort((a, b) => Number(a.operation.operation !== 'query') - Number(b.operation.operation !== 'query'));

function variablesOf(run: Run, account: Account): Variables[] {
  if (run.snippet.variables) return [run.snippet.variables];
  const given = VARIABLES[run.name]?.(account);
  if (given) return given;
  const required = (run.operation.variableDefinitions ?? [])
    .filter((v) => v.type.kind === Kind.NON_NULL_TYPE && !v.defaultValue).map((v) => `$${v.variable.name.value}`);
  if (required.length) {
    throw new Error(`${title(run.snippet)}: ${run.name} needs ${required.join(', ')}; give them in a json block after it, or in VARIABLES`);
  }
  return [{}];
}

let server: TestServer;
let fresh: Account;
let seeded: Account;

beforeAll(async () => {
  server = await startTestServer();
  fresh = {
    viewer: await server.token({ account: 'docs-new', roles: ['viewer'], sub: 'docs-new-viewer' }),
    admin: await server.token({ account: 'docs-new', roles: ['admin'], sub: 'docs-new-admin' }),
  };
  const acme = await seedAccount(server, 'docs-seeded');
  const key = await acme.createKey({ name: 'alice ide', channelId: acme.channels.ide.id, newTeamNames: ['Core'] });
  // usage to report: two valid verifications and one of a secret no key has
  await verifyRest(server, acme.verifier, key.secret);
  await verifyRest(server, acme.verifier, key.secret);
  await verifyRest(server, acme.verifier, generateSecret());
  await eventually(async () => (await server.ok<{ usage: { total: number } }>(acme.viewer,
    'query($from: DateTime!, $to: DateTime!) { usage(filter: { from: $from, to: $to }) { total } }',
    { from: new Date(Date.now() - DAY).toISOString(), to: new Date(Date.now() + DAY).toISOString() })).usage.total === 3);
  seeded = { viewer: acme.viewer, admin: acme.admin, seeded: { keyId: key.id, channelId: acme.channels.ide.id } };
}, 60_000);

afterAll(async () => { await server?.stop(); });

test('the docs have GraphQL snippets, and those that are no document are the listed parts', () => {
  expect(executable.length).toBeGreaterThan(0);
  const invalid = snippets.filter((s) => s.kind === 'invalid').map(title);
  expect(invalid).toEqual([]);
  const parts = snippets.filter((s) => s.kind === 'sdl' || s.kind === 'selection').map((s) => `${where(s)}: ${s.kind}`);
  expect(parts).toEqual(PARTS.map((p) => `${where(p)}: ${p.kind}`));
  // every entry of VARIABLES is an operation the docs show
  expect(Object.keys(VARIABLES).filter((name) => !runs.some((r) => r.name === name))).toEqual([]);
  expect(SHOW_SEEDED.filter((name) => !runs.some((r) => r.name === name))).toEqual([]);
});

test('a block is told apart as a document, SDL, a bare selection or none of these', () => {
  expect(snippetKind('{ viewer { subject } }')).toBe('executable');
  expect(snippetKind('query Q($id: ID!) { apiKey(id: $id) { ...F } }\nfragment F on ApiKey { name }')).toBe('executable');
  expect(snippetKind('type UsageSeries {\n  label: String!\n}\nenum Cloud { SALESFORCE }')).toBe('sdl');
  expect(snippetKind('series { label points { start rejections { revoked } } }')).toBe('selection');
  expect(snippetKind('type Query { a: Int }\n{ a }')).toBe('invalid');
  expect(snippetKind('{ viewer { subject }')).toBe('invalid');
});

test('the listed parts match the schema', () => {
  for (const part of PARTS) {
    const snippet = snippets.find((s) => where(s) === where(part) && s.kind === part.kind);
    if (!snippet) throw new Error(`${where(part)} has no ${part.kind} block`);
    if (part.kind === 'selection') {
      if (!part.on) throw new Error(`${where(part)}: name the type the selection is on`);
      const fragment = parse(`fragment Part on ${part.on} { ${snippet.text} }`);
      expect({ part: where(part), errors: validate(schema, fragment).map((e) => e.message).filter((m) => !m.includes('is never used')) })
        .toEqual({ part: where(part), errors: [] });
      continue;
    }
    for (const d of parse(snippet.text).definitions) {
      if (!('name' in d) || !d.name) continue;
      const type = schema.getType(d.name.value);
      expect({ part: where(part), type: d.name.value, known: Boolean(type) }).toEqual({ part: where(part), type: d.name.value, known: true });
      const members = 'fields' in d ? d.fields ?? [] : 'values' in d ? d.values ?? [] : [];
      const known = type && 'getFields' in type ? Object.keys(type.getFields()) : type && 'getValues' in type ? type.getValues().map((v) => v.name) : [];
      expect({ type: d.name.value, unknown: members.map((m) => m.name.value).filter((m) => !known.includes(m)) }).toEqual({ type: d.name.value, unknown: [] });
    }
  }
});

test.each(executable.map((s) => [title(s), s] as const))('%s validates against schema.graphql', (_title, snippet) => {
  expect(validate(schema, parse(snippet.text)).map((e) => e.message)).toEqual([]);
});

describe.each([['a new account', () => fresh], ['an account with a key', () => seeded]] as const)('on %s', (_name, account) => {
  test.each(runs.map((r) => [`${title(r.snippet)} ${r.operation.operation} ${r.name}`, r] as const))('%s runs without errors', async (_title, run) => {
    const a = account();
    if (run.operation.operation === 'subscription') throw new Error(`${run.name}: the service has no subscriptions`);
    const token = run.operation.operation === 'query' ? a.viewer : a.admin;
    for (const variables of variablesOf(run, a)) {
      const answer = await server.post(token, { query: run.snippet.text, operationName: run.operation.name?.value, variables });
      expect({ variables, status: answer.status, errors: answer.errors }).toEqual({ variables, status: 200, errors: undefined });
      expect(answer.data).toEqual(expect.any(Object));
      if (a.seeded && !run.snippet.variables && SHOW_SEEDED.includes(run.name)) {
        const shown = JSON.stringify(answer.data);
        expect({ variables, shows: shown.includes(a.seeded.keyId) || shown.includes(a.seeded.channelId) }).toEqual({ variables, shows: true });
      }
    }
  });
});

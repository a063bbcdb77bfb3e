/** schema.graphql is current, and the breaking-change check tells breaks from additions. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CriticalityLevel } from '@graphql-inspector/core';
import { buildSchema, printSchema } from 'graphql';
import { loadTypeDefs } from '../../src/schema';
import { buildSourceSchema, checkBreaking, INTENDED_MARKER, printSourceSchema, ROOT, schemaChanges, SCHEMA_FILE } from '../../scripts/schema';

test('schema.graphql is the merged schema/*.graphql (run npm run schema:print when this fails)', () => {
  expect(fs.readFileSync(path.join(ROOT, SCHEMA_FILE), 'utf8')).toBe(printSourceSchema());
});

test('the artifact describes the same schema the server builds', () => {
  const served = buildSchema(loadTypeDefs().join('\n'));
  const artifact = buildSchema(fs.readFileSync(path.join(ROOT, SCHEMA_FILE), 'utf8'));
  expect(printSchema(artifact).length).toBeGreaterThan(1000);
  // same types and fields, whatever the order
  const names = (s: typeof served) => Object.keys(s.getTypeMap()).filter((n) => !n.startsWith('__')).sort();
  expect(names(artifact)).toEqual(names(served));
  expect(Object.keys(artifact.getQueryType()!.getFields()).sort()).toEqual(Object.keys(served.getQueryType()!.getFields()).sort());
  expect(Object.keys(artifact.getMutationType()!.getFields()).sort()).toEqual(Object.keys(served.getMutationType()!.getFields()).sort());
});

describe('schemaChanges', () => {
  const before = buildSchema('type Query { a: String, b(x: Int): String } enum E { X Y }');

  test('removing a field, an enum value or making an argument required is breaking', async () => {
    const after = buildSchema('type Query { a: String, b(x: Int!): String } enum E { X }');
    const changes = await schemaChanges(before, buildSchema('type Query { a: String } enum E { X Y }'));
    expect(changes.map((c) => [c.criticality.level, c.message])).toEqual([[CriticalityLevel.Breaking, "Field 'b' was removed from object type 'Query'"]]);
    const levels = (await schemaChanges(before, after)).map((c) => c.criticality.level);
    expect(levels.filter((l) => l === CriticalityLevel.Breaking).length).toBeGreaterThanOrEqual(2);
  });

  test('adding a field or an optional argument is not', async () => {
    const after = buildSchema('type Query { a: String, b(x: Int, y: Int): String, c: Int } enum E { X Y }');
    const changes = await schemaChanges(before, after);
    expect(changes.length).toBeGreaterThanOrEqual(2);
    expect(changes.every((c) => c.criticality.level !== CriticalityLevel.Breaking)).toBe(true);
  });

  test('the current source against itself: no change', async () => {
    expect(await schemaChanges(buildSourceSchema(), buildSchema(printSourceSchema()))).toEqual([]);
  });
});

describe('checkBreaking against a git history', () => {
  let dir: string;
  const git = (cwd: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Schema Test', '-c', 'user.email=schema@example.test', '-c', 'commit.gpgsign=false', ...args], { cwd, encoding: 'utf8', stdio: 'pipe' });
  const commit = (message: string, schema?: string) => {
    if (schema !== undefined) fs.writeFileSync(path.join(dir, SCHEMA_FILE), schema);
    else fs.writeFileSync(path.join(dir, 'README'), `${message}\n`);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', message);
  };
  const run = async (options: { base?: string; current: string; cwd?: string }) => {
    const lines: string[] = [];
    const code = await checkBreaking({ cwd: options.cwd ?? dir, base: options.base, current: buildSchema(options.current), log: (l) => lines.push(l) });
    return { code, output: lines.join('\n') };
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-schema-'));
    git(dir, 'init', '-q');
  });
  afterEach(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  test('a removed field fails and is printed', async () => {
    commit('first', 'type Query { a: String, b: String }');
    commit('second');
    const result = await run({ current: 'type Query { a: String, c: Int }' });
    expect(result.code).toBe(1);
    expect(result.output).toContain("Field 'b' was removed from object type 'Query'");
    expect(result.output).toContain("Field 'c' was added to object type 'Query'");
    expect(result.output).toContain(INTENDED_MARKER);
  });

  test('additions pass', async () => {
    commit('first', 'type Query { a: String }');
    commit('second');
    expect(await run({ current: 'type Query { a: String, c: Int }' })).toMatchObject({ code: 0 });
  });

  test('the latest commit message can declare the break intended', async () => {
    commit('first', 'type Query { a: String, b: String }');
    commit(`Drop Query.b\n\nNobody uses it. ${INTENDED_MARKER}`);
    const result = await run({ current: 'type Query { a: String }' });
    expect(result.code).toBe(0);
    expect(result.output).toContain('breaking changes accepted');
  });

  test('a base without schema.graphql, the first commit, an unknown base', async () => {
    commit('first');
    expect(await run({ current: 'type Query { a: String }' })).toMatchObject({ code: 0, output: expect.stringContaining('first commit') });
    commit('second', 'type Query { a: String }');
    expect(await run({ current: 'type Query { b: String }' })).toMatchObject({ code: 0, output: expect.stringContaining('has no schema.graphql') });
    expect(await run({ base: 'no-such-branch', current: 'type Query { a: String }' })).toMatchObject({ code: 2 });
    expect(await run({ base: 'HEAD', current: 'type Query { b: String }' })).toMatchObject({ code: 1 });
  });

  test('a shallow clone is skipped with a message', async () => {
    commit('first', 'type Query { a: String, b: String }');
    commit('second');
    const clone = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-schema-clone-'));
    try {
      git(os.tmpdir(), 'clone', '-q', '--depth', '1', `file://${dir}`, clone);
      const result = await run({ cwd: clone, current: 'type Query { a: String }' });
      expect(result.code).toBe(0);
      expect(result.output).toContain('shallow clone');
    } finally {
      fs.rmSync(clone, { recursive: true, force: true });
    }
  });
});

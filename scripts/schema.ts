/**
 * The schema as an artifact: `schema.graphql` at the repository root is the merged SDL of
 * `schema/*.graphql`, for clients and reviewers.
 *
 *   npm run schema:print      writes schema.graphql
 *   npm run schema:check      fails when schema.graphql differs from schema/*.graphql
 *   npm run schema:breaking   fails on breaking changes against schema.graphql as committed at a
 *                             base revision (SCHEMA_BASE, default HEAD~1), unless the latest
 *                             commit message contains [breaking-change-intended]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CriticalityLevel, diff, type Change } from '@graphql-inspector/core';
import { buildASTSchema, buildSchema, concatAST, lexicographicSortSchema, parse, printSchema, type GraphQLSchema } from 'graphql';

export const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '..' : '../..');
export const SCHEMA_FILE = 'schema.graphql';
export const INTENDED_MARKER = '[breaking-change-intended]';

const HEADER = '# The merged GraphQL schema of qckeys, generated from schema/*.graphql by `npm run schema:print`.\n'
  + '# Do not edit: change schema/*.graphql and print again. CI checks that this file is current\n'
  + '# and compares it with the previous commit\'s for breaking changes.\n\n';

/** The schema built from the SDL files of `dir` (default `schema/`). */
export function buildSourceSchema(dir = path.join(ROOT, 'schema')): GraphQLSchema {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort();
  const documents = files.map((f) => parse(fs.readFileSync(path.join(dir, f), 'utf8'), { noLocation: true }));
  return buildASTSchema(concatAST(documents));
}

/** The text of `schema.graphql`: the merged schema, types and fields in lexicographic order. */
export function printSourceSchema(dir?: string): string {
  return HEADER + printSchema(lexicographicSortSchema(buildSourceSchema(dir))) + '\n';
}

/** What changed from one schema to the other, breaking changes first. */
export async function schemaChanges(oldSchema: GraphQLSchema, newSchema: GraphQLSchema): Promise<Change[]> {
  const order = { [CriticalityLevel.Breaking]: 0, [CriticalityLevel.Dangerous]: 1, [CriticalityLevel.NonBreaking]: 2 };
  const changes = await diff(oldSchema, newSchema);
  return changes.sort((a, b) => order[a.criticality.level] - order[b.criticality.level]);
}

function git(cwd: string, args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

export interface BreakingCheck {
  /** The repository (default: this one). */
  cwd?: string;
  /** The revision whose committed schema.graphql is the baseline (default SCHEMA_BASE or HEAD~1). */
  base?: string;
  /** The schema to check (default: built from schema/*.graphql). */
  current?: GraphQLSchema;
  log?: (line: string) => void;
}

/** Compares the current schema with schema.graphql at the base revision; returns the exit code. */
export async function checkBreaking(options: BreakingCheck = {}): Promise<number> {
  const cwd = options.cwd ?? ROOT;
  const base = options.base ?? (process.env.SCHEMA_BASE || 'HEAD~1');
  const log = options.log ?? ((line: string) => console.log(line));

  if (git(cwd, ['rev-parse', '--git-dir']) === null) {
    log('schema:breaking: not a git repository; nothing to compare with (skipped)');
    return 0;
  }
  const commit = git(cwd, ['rev-parse', '--verify', '--quiet', `${base}^{commit}`])?.trim();
  if (!commit) {
    if (git(cwd, ['rev-parse', '--is-shallow-repository'])?.trim() === 'true') {
      log(`schema:breaking: ${base} is not in this shallow clone (skipped; fetch more history, e.g. git fetch --deepen=1, or set SCHEMA_BASE)`);
      return 0;
    }
    if (base === 'HEAD~1' && git(cwd, ['rev-parse', '--verify', '--quiet', 'HEAD']) !== null) {
      log('schema:breaking: the first commit has no previous schema (skipped)');
      return 0;
    }
    log(`schema:breaking: unknown base revision ${base}`);
    return 2;
  }
  const committed = git(cwd, ['show', `${commit}:${SCHEMA_FILE}`]);
  if (committed === null) {
    log(`schema:breaking: ${base} (${commit.slice(0, 12)}) has no ${SCHEMA_FILE}; nothing to compare with (skipped)`);
    return 0;
  }
  let oldSchema: GraphQLSchema;
  try {
    oldSchema = buildSchema(committed);
  } catch (err) {
    log(`schema:breaking: ${SCHEMA_FILE} at ${base} does not build: ${(err as Error).message}`);
    return 2;
  }
  const changes = await schemaChanges(oldSchema, options.current ?? buildSourceSchema());
  const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
  log(`schema:breaking: ${changes.length} change(s) since ${base} (${commit.slice(0, 12)}), ${breaking.length} breaking`);
  for (const change of changes) {
    const reason = change.criticality.reason ? ` (${change.criticality.reason})` : '';
    log(`  ${change.criticality.level.padEnd(12)} ${change.message}${change.criticality.level === CriticalityLevel.NonBreaking ? '' : reason}`);
  }
  if (breaking.length === 0) return 0;
  const message = git(cwd, ['log', '-1', '--format=%B']) ?? '';
  if (message.includes(INTENDED_MARKER)) {
    log(`schema:breaking: breaking changes accepted: the latest commit message says ${INTENDED_MARKER}`);
    return 0;
  }
  log(`schema:breaking: breaking changes for clients. Keep the old fields (deprecate them with @deprecated) or, if the break is intended, say ${INTENDED_MARKER} in the commit message.`);
  return 1;
}

async function main(command: string | undefined): Promise<number> {
  const file = path.join(ROOT, SCHEMA_FILE);
  switch (command) {
    case 'print': {
      const text = printSourceSchema();
      const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      if (before !== text) fs.writeFileSync(file, text);
      console.log(`${SCHEMA_FILE} ${before === text ? 'is up to date' : 'written'}`);
      return 0;
    }
    case 'check': {
      const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
      if (current === printSourceSchema()) {
        console.log(`${SCHEMA_FILE} matches schema/*.graphql`);
        return 0;
      }
      console.error(`${SCHEMA_FILE} ${current === null ? 'is missing' : 'differs from schema/*.graphql'}: run npm run schema:print and commit it`);
      return 1;
    }
    case 'breaking':
      return checkBreaking();
    default:
      console.error('usage: tsx scripts/schema.ts print|check|breaking');
      return 2;
  }
}

if (require.main === module) {
  main(process.argv[2]).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      console.error('schema:', err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}

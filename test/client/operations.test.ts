// The client's documents cover the API: every query and mutation of the schema is used by one of
// them, and each of them is valid against the schema.
import fs from 'node:fs';
import path from 'node:path';
import { buildSchema, parse, validate, visit, type DocumentNode } from 'graphql';
// (the generated module itself: jest does not map client/index.ts's `.js` imports to .ts)
import * as client from '../../client/generated/graphql';
import { ERROR_CODES } from '../../src/errors';

const ROOT = path.resolve(__dirname, '../..');
const schema = buildSchema(fs.readFileSync(path.join(ROOT, 'schema.graphql'), 'utf8'));
const dir = path.join(ROOT, 'client/operations');
const operations = parse(fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n'));

test('every query and mutation of the schema has a document', () => {
  const used = new Set<string>();
  for (const def of operations.definitions) {
    if (def.kind !== 'OperationDefinition' || def.operation === 'subscription') continue;
    for (const sel of def.selectionSet.selections) if (sel.kind === 'Field') used.add(`${def.operation}.${sel.name.value}`);
  }
  const root = [
    ...Object.keys(schema.getQueryType()?.getFields() ?? {}).map((f) => `query.${f}`),
    ...Object.keys(schema.getMutationType()?.getFields() ?? {}).map((f) => `mutation.${f}`),
  ];
  expect(root.length).toBeGreaterThan(20);
  expect(root.filter((f) => !used.has(f))).toEqual([]);
});

test('the documents are valid against the schema, and each is exported as <Name>Document', () => {
  expect(validate(schema, operations)).toEqual([]);
  const names = operations.definitions.flatMap((d) => (d.kind === 'OperationDefinition' && d.name ? [d.name.value] : []));
  expect(names.length).toBeGreaterThan(25);
  const exported = client as unknown as Record<string, DocumentNode>;
  for (const name of names) {
    const doc = exported[`${name}Document`];
    expect(doc?.kind).toBe('Document');
    // the generated document names the operation it was made from
    let found = '';
    visit(doc as DocumentNode, { OperationDefinition: (node) => { found = node.name?.value ?? ''; } });
    expect(found).toBe(name);
  }
});

test('backward paging: ApiKeys takes last and before and reads the start cursor', () => {
  const printed = JSON.stringify(client.ApiKeysDocument);
  for (const name of ['"last"', '"before"', '"startCursor"', '"hasPreviousPage"']) expect(printed).toContain(name);
});

test('the client knows the same error codes as the service', () => {
  // the package carries no server code, so it keeps its own copy of the contract's list
  const source = fs.readFileSync(path.join(ROOT, 'client/index.ts'), 'utf8');
  const list = /export const ERROR_CODES = \[([^\]]*)\] as const;/.exec(source)?.[1] ?? '';
  expect([...list.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])).toEqual([...ERROR_CODES]);
});

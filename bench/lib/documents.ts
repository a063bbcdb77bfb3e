import fs from 'node:fs';
import path from 'node:path';
import {
  Kind, parse, print, visit,
  type DefinitionNode, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode,
} from 'graphql';

/** One operation as a client sends it: its text holds the operation and the fragments it uses. */
export interface Operation {
  name: string;
  kind: 'query' | 'mutation' | 'subscription';
  /** Where it was read, e.g. client/operations/keys.graphql or docs/admin-ui.md. */
  source: string;
  text: string;
  node: OperationDefinitionNode;
}

function fragmentsUsed(node: DefinitionNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): FragmentDefinitionNode[] {
  const out: FragmentDefinitionNode[] = [];
  visit(node, {
    FragmentSpread(spread) {
      const name = spread.name.value;
      if (seen.has(name)) return;
      seen.add(name);
      const fragment = fragments.get(name);
      if (!fragment) throw new Error(`fragment ${name} is not defined`);
      out.push(fragment, ...fragmentsUsed(fragment, fragments, seen));
    },
  });
  return out;
}

function operationsOf(documents: { source: string; document: DocumentNode }[]): Operation[] {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const { document } of documents) {
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  }
  const out: Operation[] = [];
  for (const { source, document } of documents) {
    for (const d of document.definitions) {
      if (d.kind !== Kind.OPERATION_DEFINITION) continue;
      if (!d.name) throw new Error(`an operation of ${source} has no name`);
      const text = print({ kind: Kind.DOCUMENT, definitions: [d, ...fragmentsUsed(d, fragments)] });
      out.push({ name: d.name.value, kind: d.operation, source, text, node: d });
    }
  }
  return out;
}

/** The operations of the typed client, as its files hold them. */
export function clientOperations(root: string): Operation[] {
  const dir = path.join(root, 'client', 'operations');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort();
  return operationsOf(files.map((f) => ({
    source: `client/operations/${f}`, document: parse(fs.readFileSync(path.join(dir, f), 'utf8')),
  })));
}

/**
 * The GraphQL operations a doc shows: its ```graphql blocks, and the `"query"` of each JSON body a
 * `curl … -d '…'` example sends (named after the operation, with " (curl)" added when a block
 * already has that name).
 */
export function docOperations(root: string, file: string): Operation[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const documents: { source: string; document: DocumentNode }[] = [];
  for (const m of text.matchAll(/```graphql\n([\s\S]*?)```/g)) documents.push({ source: file, document: parse(m[1]) });
  const blocks = operationsOf(documents);
  const curls: Operation[] = [];
  for (const m of text.matchAll(/-d '(\{[\s\S]*?\})'/g)) {
    let body: { query?: unknown };
    try {
      body = JSON.parse(m[1]) as { query?: unknown };
    } catch {
      continue;
    }
    if (typeof body.query !== 'string') continue;
    for (const op of operationsOf([{ source: `${file} (curl)`, document: parse(body.query) }])) {
      curls.push(blocks.some((b) => b.name === op.name) ? { ...op, name: `${op.name} (curl)` } : op);
    }
  }
  return [...blocks, ...curls];
}

/** The operation without the named fields of its top-level field's selection (`totalCount`). */
export function withoutFields(op: Operation, fields: string[], name: string): Operation {
  let depth = 0;
  const node = visit(op.node, {
    Field: {
      enter(field) {
        depth++;
        if (depth === 2 && fields.includes(field.name.value)) { depth--; return null; }
        return undefined;
      },
      leave() { depth--; },
    },
  }) as OperationDefinitionNode;
  return renamed(op, node, name);
}

/**
 * The operation with more variables passed to its top-level field as arguments of the same
 * name (`last`, `before`): every field stays.
 */
export function withArguments(op: Operation, args: { name: string; type: string }[], name: string): Operation {
  const variables = args.map((a) => parse(`query($${a.name}: ${a.type}) { x }`).definitions[0] as OperationDefinitionNode)
    .map((d) => d.variableDefinitions?.[0]).filter((v) => v !== undefined);
  const top = op.node.selectionSet.selections[0];
  if (top?.kind !== Kind.FIELD) throw new Error(`${op.name} has no top-level field`);
  const node: OperationDefinitionNode = {
    ...op.node,
    variableDefinitions: [...(op.node.variableDefinitions ?? []), ...variables],
    selectionSet: {
      ...op.node.selectionSet,
      selections: [{
        ...top,
        arguments: [...(top.arguments ?? []), ...args.map((a) => ({
          kind: Kind.ARGUMENT as const, name: { kind: Kind.NAME as const, value: a.name },
          value: { kind: Kind.VARIABLE as const, name: { kind: Kind.NAME as const, value: a.name } },
        }))],
      }, ...op.node.selectionSet.selections.slice(1)],
    },
  };
  return renamed(op, node, name);
}

function renamed(op: Operation, node: OperationDefinitionNode, name: string): Operation {
  const named: OperationDefinitionNode = { ...node, name: { kind: Kind.NAME, value: name.replace(/\W/g, '') } };
  const rest = parse(op.text).definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return { ...op, name, node: named, text: print({ kind: Kind.DOCUMENT, definitions: [named, ...rest] }) };
}

/** A request body: the operation's text, its name and the variables. */
export function bodyOf(op: Operation, variables: Record<string, unknown> = {}): string {
  return JSON.stringify({ query: op.text, operationName: op.node.name?.value, variables });
}

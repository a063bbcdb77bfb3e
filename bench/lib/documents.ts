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
 * What a GraphQL snippet of a doc is. `executable`: operations and fragments, as a client sends
 * them; `sdl`: type system definitions (`type`, `input`, `enum`…), an excerpt of the schema;
 * `selection`: a bare selection (`series { label points { start } }`), part of a larger document;
 * `invalid`: none of these.
 */
export type SnippetKind = 'executable' | 'sdl' | 'selection' | 'invalid';

/** One GraphQL snippet of a doc: a ```graphql block, or the `"query"` a `curl … -d '…'` example sends. */
export interface DocSnippet {
  /** e.g. docs/usage.md */
  file: string;
  /** The heading it stands under ('' before the first). */
  heading: string;
  /** Its first line in the file, from 1. */
  line: number;
  form: 'block' | 'curl';
  text: string;
  kind: SnippetKind;
  /**
   * The variables the doc gives: a curl body's `"variables"`, or a ```json block right after a
   * block (in the same section) that is an object of the block's variables.
   */
  variables?: Record<string, unknown>;
}

export function snippetKind(text: string): SnippetKind {
  let document: DocumentNode;
  try {
    document = parse(text);
  } catch {
    try {
      parse(`{ ${text} }`);
      return 'selection';
    } catch {
      return 'invalid';
    }
  }
  const executable = (d: DefinitionNode) => d.kind === Kind.OPERATION_DEFINITION || d.kind === Kind.FRAGMENT_DEFINITION;
  if (document.definitions.every(executable)) return 'executable';
  if (document.definitions.every((d) => !executable(d))) return 'sdl';
  return 'invalid';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function variablesDeclared(text: string): Set<string> {
  const names = new Set<string>();
  for (const d of parse(text).definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION) for (const v of d.variableDefinitions ?? []) names.add(v.variable.name.value);
  }
  return names;
}

/** Every GraphQL snippet of a doc, in the order it shows them. */
export function docSnippets(root: string, file: string): DocSnippet[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n');
  const headings: string[] = [];
  const fences: { lang: string; line: number; body: string; section: number }[] = [];
  let heading = '';
  let section = 0;
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i]);
    if (open) {
      let end = i + 1;
      while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
      const indent = open[1].length;
      const body = lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n');
      fences.push({ lang: open[2], line: i + 1, body: `${body}\n`, section });
      for (let j = i; j <= end; j++) headings[j] = heading;
      i = end;
      continue;
    }
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]);
    if (h) { heading = h[1]; section++; }
    headings[i] = heading;
  }
  const snippets: DocSnippet[] = [];
  fences.forEach((fence, i) => {
    if (fence.lang !== 'graphql') return;
    const snippet: DocSnippet = {
      file, heading: headings[fence.line - 1], line: fence.line, form: 'block', text: fence.body, kind: snippetKind(fence.body),
    };
    const next = fences[i + 1];
    if (snippet.kind === 'executable' && next?.lang === 'json' && next.section === fence.section) {
      let value: unknown;
      try {
        value = JSON.parse(next.body);
      } catch {
        value = undefined;
      }
      const declared = variablesDeclared(fence.body);
      // an answer (`{"data": …}`) is not variables
      if (isObject(value) && Object.keys(value).length > 0 && Object.keys(value).every((k) => declared.has(k))) snippet.variables = value;
    }
    snippets.push(snippet);
  });
  const text = lines.join('\n');
  for (const m of text.matchAll(/-d '(\{[\s\S]*?\})'/g)) {
    let body: { query?: unknown; variables?: unknown };
    try {
      body = JSON.parse(m[1]) as typeof body;
    } catch {
      continue;
    }
    if (typeof body.query !== 'string') continue;
    const line = text.slice(0, m.index).split('\n').length;
    snippets.push({
      file, heading: headings[line - 1], line, form: 'curl', text: body.query, kind: snippetKind(body.query),
      ...(isObject(body.variables) ? { variables: body.variables } : {}),
    });
  }
  return snippets;
}

/**
 * The GraphQL operations a doc shows: its ```graphql blocks, and the `"query"` of each JSON body a
 * `curl … -d '…'` example sends (named after the operation, with " (curl)" added when a block
 * already has that name).
 */
export function docOperations(root: string, file: string): Operation[] {
  const snippets = docSnippets(root, file);
  const invalid = snippets.find((s) => s.kind === 'invalid');
  if (invalid) throw new Error(`the GraphQL of ${file}:${invalid.line} is neither a document, nor SDL, nor a selection`);
  const documents = snippets.filter((s) => s.form === 'block' && s.kind === 'executable').map((s) => ({ source: file, document: parse(s.text) }));
  const blocks = operationsOf(documents);
  const curls: Operation[] = [];
  for (const s of snippets.filter((c) => c.form === 'curl')) {
    for (const op of operationsOf([{ source: `${file} (curl)`, document: parse(s.text) }])) {
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

function renamed(op: Operation, node: OperationDefinitionNode, name: string): Operation {
  const named: OperationDefinitionNode = { ...node, name: { kind: Kind.NAME, value: name.replace(/\W/g, '') } };
  const rest = parse(op.text).definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  return { ...op, name, node: named, text: print({ kind: Kind.DOCUMENT, definitions: [named, ...rest] }) };
}

/** A request body: the operation's text, its name and the variables. */
export function bodyOf(op: Operation, variables: Record<string, unknown> = {}): string {
  return JSON.stringify({ query: op.text, operationName: op.node.name?.value, variables });
}

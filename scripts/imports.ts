// The import graph of src/ by module: which module imports which, and any cycle between files.
//
//   npm run imports            modules and what each imports (type-only imports included)
//   npm run imports -- --files every file instead of every module
//
// A module is a folder of src/modules/ (api-keys, usage, …) or of src/ (db, http, auth, …); a file
// directly in src/ is a module of its own. Exits 1 when the files import one another in a cycle,
// as `npm run lint` (import-x/no-cycle) does.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.resolve(__dirname, '..', 'src');
const byFile = process.argv.includes('--files');

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : filesUnder(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

function resolveImport(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), specifier);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
  return null;
}

function moduleOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  if (parts[0] === 'modules' && parts.length > 2) return `modules/${parts[1]}`;
  return parts.length > 1 ? parts[0] : parts[0].replace(/\.ts$/, '');
}

const files = filesUnder(SRC).sort();
const fileEdges = new Map<string, string[]>();
for (const file of files) {
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  fileEdges.set(file, importedFiles.map((i) => resolveImport(file, i.fileName)).filter((f): f is string => f !== null));
}

const name = (file: string) => path.relative(SRC, file);
const nodeOf = byFile ? name : moduleOf;
const graph = new Map<string, Set<string>>();
for (const [file, targets] of fileEdges) {
  const from = nodeOf(file);
  const edges = graph.get(from) ?? new Set<string>();
  for (const target of targets) if (nodeOf(target) !== from) edges.add(nodeOf(target));
  graph.set(from, edges);
}
for (const [node, edges] of [...graph].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(`${node} -> ${edges.size ? [...edges].sort().join(', ') : '(nothing in src)'}`);
}

// cycles between files: a depth-first search that reports each back edge's loop once
const cycles: string[][] = [];
const state = new Map<string, 'open' | 'done'>();
const stack: string[] = [];
function visit(file: string): void {
  state.set(file, 'open');
  stack.push(file);
  for (const next of fileEdges.get(file) ?? []) {
    if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next].map(name));
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(file, 'done');
}
for (const file of files) if (!state.has(file)) visit(file);

const moduleCycles = [...graph].filter(([from, edges]) => [...edges].some((to) => graph.get(to)?.has(from))).map(([from]) => from);
console.log(`\n${files.length} files, ${graph.size} ${byFile ? 'files' : 'modules'}; ${cycles.length} file cycle(s)${byFile ? '' : `; modules importing each other: ${moduleCycles.length ? moduleCycles.join(', ') : 'none'}`}`);
for (const cycle of cycles) console.error(`import cycle: ${cycle.join(' -> ')}`);
process.exitCode = cycles.length ? 1 : 0;

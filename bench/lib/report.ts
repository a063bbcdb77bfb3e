import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Figures {
  rps: number | null;
  p50: number | null;
  p975: number | null;
  p99: number | null;
  /** Answers with a status other than 2xx, plus connection errors and timeouts. */
  non2xx: number | null;
  /** 2xx answers carrying GraphQL errors. */
  graphqlErrors?: number | null;
}

export interface Target {
  text: string;
  /** null: nothing to judge (e.g. the peer has no equivalent) */
  met: boolean | null;
}

export interface Row {
  group: string;
  scenario: string;
  connections: number | null;
  qckeys: Figures;
  peer: { rps: number | null; p975: number | null } | null;
  /** qckeys req/s over the peer's, measured in the same rounds. */
  ratio: number | null;
  targets: Target[];
  note?: string;
}

const ms = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '-'
  : v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));
const num = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? '-' : Math.round(v).toLocaleString('en-US'));
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function verdict(row: Row): string {
  const judged = row.targets.filter((t) => t.met !== null);
  if (!judged.length) return '-';
  const missed = judged.filter((t) => !t.met);
  return missed.length ? `NOT MET: ${missed.map((t) => t.text).join('; ')}` : 'met';
}

/** The table as Markdown, its notes below it. */
export function renderTable(rows: Row[]): string {
  const header = ['scenario', 'conns', 'qckeys req/s', 'p50 ms', 'p97.5 ms', 'p99 ms', 'non-2xx', 'PostGraphile 5 req/s', 'PG5 p97.5 ms',
    'qckeys / PG5', 'targets', 'met'];
  const lines = rows.map((r) => [
    cell(r.scenario), r.connections === null ? '-' : String(r.connections), num(r.qckeys.rps), ms(r.qckeys.p50), ms(r.qckeys.p975), ms(r.qckeys.p99),
    r.qckeys.non2xx === null ? '-' : `${r.qckeys.non2xx}${r.qckeys.graphqlErrors ? ` (+${r.qckeys.graphqlErrors} GraphQL errors)` : ''}`,
    r.peer ? num(r.peer.rps) : '-', r.peer ? ms(r.peer.p975) : '-', r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
    cell(r.targets.map((t) => t.text).join('; ') || '-'), cell(verdict(r)),
  ]);
  const out = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)];
  const seen = new Set<string>();
  const notes: string[] = [];
  for (const r of rows) {
    if (!r.note || seen.has(`${r.scenario}\n${r.note}`)) continue;
    seen.add(`${r.scenario}\n${r.note}`);
    notes.push(`- ${r.scenario}: ${r.note}`);
  }
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export function machine(postgresVersion: string): string {
  const cpus = os.cpus();
  const [one, five] = os.loadavg();
  return `${cpus.length} cores × ${cpus[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, `
    + `Node ${process.version}, ${postgresVersion.split(' on ')[0]}; load average ${one.toFixed(1)} / ${five.toFixed(1)} (1 / 5 min)`;
}

/** Writes the run as Markdown and JSON under bench/results/ (git-ignored); returns the Markdown's path. */
export function writeResults(dir: string, run: { title: string; header: string[]; rows: Row[]; meta: Record<string, unknown> }): string {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const md = [`# ${run.title}`, '', ...run.header.map((l) => `${l}  `), '', renderTable(run.rows), ''].join('\n');
  const mdPath = path.join(dir, `bench-${stamp}.md`);
  fs.writeFileSync(mdPath, md);
  fs.writeFileSync(path.join(dir, `bench-${stamp}.json`), `${JSON.stringify({ ...run.meta, header: run.header, rows: run.rows }, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'latest.md'), md);
  return mdPath;
}

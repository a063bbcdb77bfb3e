import os from 'node:os';

export interface Row {
  scenario: string;
  rps: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  statements: string;
  /** Server CPU time per request: steadier than latency on a shared machine. */
  cpuMs?: number | null;
  peakRssMb: number | null;
  baseline: string;
  ratio: string;
  target: string;
  /** null: nothing to judge */
  met: boolean | null;
  note?: string;
}

const ms = (v: number | null) => (v === null || Number.isNaN(v) ? '-' : v < 0.1 ? v.toFixed(3) : v < 10 ? v.toFixed(2) : v.toFixed(1));
const num = (v: number | null) => (v === null ? '-' : Math.round(v).toLocaleString('en-US'));

export function renderTable(rows: Row[]): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'SQL/req', 'server CPU ms/req', 'peak RSS MB', 'baseline', 'ratio', 'target', 'met'];
  const lines = rows.map((r) => [
    r.scenario, num(r.rps), ms(r.p50), ms(r.p95), ms(r.p99), r.statements, ms(r.cpuMs ?? null), num(r.peakRssMb), r.baseline, r.ratio, r.target,
    r.met === null ? '-' : r.met ? 'yes' : 'NO',
  ]);
  const out = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${l.join(' | ')} |`)];
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.scenario}: ${r.note}`);
  return [...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

export function machine(postgresVersion: string): string {
  const cpus = os.cpus();
  const [one, five] = os.loadavg();
  return `${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${os.type()} ${os.release()}, `
    + `Node ${process.version}, ${postgresVersion.split(' on ')[0]}; load average ${one.toFixed(1)} / ${five.toFixed(1)} (1 / 5 min)`;
}

/** Usage: verifications over time by channel (or another dimension), with rejections by reason. */
import { UsageDocument, type Client, type ResultOf, type UsageDimension, type UsageGranularity } from '@qckeys/client';
import { formatCount, formatTime, useLoad, useParams } from './api';
import { ErrorLine, Field } from './ui';

type Report = ResultOf<typeof UsageDocument>['usage'];

const DIMENSIONS: [UsageDimension, string][] = [['CHANNEL', 'Channel'], ['INSTANCE', 'Instance'], ['TEAM', 'Team'], ['DEVELOPER', 'Developer'], ['API_KEY', 'Key'], ['CLOUD', 'Cloud']];
const RANGES: [string, string, number][] = [['1d', 'Last 24 hours', 1], ['7d', 'Last 7 days', 7], ['30d', 'Last 30 days', 30], ['90d', 'Last 90 days', 90]];
const GRANULARITIES: UsageGranularity[] = ['HOUR', 'DAY', 'WEEK'];
const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d', '#94a3b8'];
const color = (i: number) => COLORS[i % COLORS.length];
const REASONS: [keyof Report['rejections'], string][] = [
  ['expired', 'Expired'], ['revoked', 'Revoked'], ['instanceMismatch', 'Wrong instance'], ['notFound', 'Unknown key'], ['malformed', 'Malformed'], ['unrecorded', 'Reason not recorded'],
];

export function UsageTab({ client }: { client: Client }) {
  const [params, setParams] = useParams();
  const by = (DIMENSIONS.find(([d]) => d === params.get('by'))?.[0] ?? 'CHANNEL');
  const range = RANGES.find(([r]) => r === params.get('range')) ?? RANGES[1]!;
  const granularity = (GRANULARITIES.find((g) => g === params.get('granularity')) ?? (range[2] <= 1 ? 'HOUR' : 'DAY'));
  const set = (name: string, value: string) => setParams((p) => p.set(name, value), true);

  const report = useLoad(`usage|${by}|${range[0]}|${granularity}`, (signal) => {
    const to = new Date();
    const from = new Date(to.getTime() - range[2] * 86_400_000);
    return client.request(UsageDocument, { filter: { from: from.toISOString(), to: to.toISOString() }, groupBy: by, granularity, first: 10 }, { signal })
      .then((r) => ({ ...r.usage, from: from.getTime(), to: to.getTime() }));
  });
  const usage = report.data;
  return (
    <section aria-label="Usage">
      <div className="toolbar">
        <Field inline label="By"><select value={by} onChange={(e) => set('by', e.target.value)}>{DIMENSIONS.map(([d, label]) => <option key={d} value={d}>{label}</option>)}</select></Field>
        <Field inline label="Range"><select value={range[0]} onChange={(e) => set('range', e.target.value)}>{RANGES.map(([r, label]) => <option key={r} value={r}>{label}</option>)}</select></Field>
        <Field inline label="Granularity"><select value={granularity} onChange={(e) => set('granularity', e.target.value)}>{GRANULARITIES.map((g) => <option key={g} value={g}>{g.toLowerCase()}</option>)}</select></Field>
        <span role="status">{usage ? `${formatCount(usage.total)} verifications` : 'Loading…'}</span>
      </div>
      <ErrorLine error={report.error} />
      {usage && (
        <>
          <Chart usage={usage} />
          <div className="grid">
            <table>
              <caption>By {DIMENSIONS.find(([d]) => d === by)?.[1].toLowerCase()}{usage.seriesCount > 10 ? `: the 10 busiest of ${usage.seriesCount}, the rest as “others”` : ''}</caption>
              <thead><tr><th scope="col">Series</th><th scope="col">Verifications</th><th scope="col">Valid</th><th scope="col">Rejected</th></tr></thead>
              <tbody>
                {usage.series.map((s, i) => (
                  <tr key={s.key}>
                    <td><span className="swatch" style={{ background: color(i) }} aria-hidden="true" /> {s.label}</td>
                    <td>{formatCount(s.total)}</td><td>{formatCount(s.valid)}</td><td>{formatCount(s.rejected)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <table>
              <caption>Rejections by reason</caption>
              <thead><tr><th scope="col">Reason</th><th scope="col">Rejections</th></tr></thead>
              <tbody>{REASONS.map(([field, label]) => <tr key={field}><td>{label}</td><td>{formatCount(usage.rejections[field])}</td></tr>)}</tbody>
            </table>
          </div>
          {usage.total === 0 && <p className="empty" role="status">No verification in this range. Keys are counted when a gateway verifies them (POST /v1/keys/verify).</p>}
        </>
      )}
    </section>
  );
}

/** A line per series: verifications per bucket over the range. */
function Chart({ usage }: { usage: Report & { from: number; to: number } }) {
  const width = 900;
  const height = 260;
  const pad = 36;
  const max = Math.max(1, ...usage.series.flatMap((s) => s.points.map((p) => p.total)));
  const x = (t: number) => pad + ((t - usage.from) / Math.max(1, usage.to - usage.from)) * (width - 2 * pad);
  const y = (v: number) => height - pad - (v / max) * (height - 2 * pad);
  return (
    <figure>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Verifications by ${usage.groupBy.toLowerCase()} over time`}>
        <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} className="axis" />
        <line x1={pad} y1={pad} x2={pad} y2={height - pad} className="axis" />
        <text x={pad - 4} y={pad} textAnchor="end" className="tick">{formatCount(max)}</text>
        <text x={pad - 4} y={height - pad} textAnchor="end" className="tick">0</text>
        <text x={pad} y={height - pad + 16} className="tick">{formatTime(new Date(usage.from).toISOString())}</text>
        <text x={width - pad} y={height - pad + 16} textAnchor="end" className="tick">{formatTime(new Date(usage.to).toISOString())}</text>
        {usage.series.map((s, i) => {
          const points = [...s.points].sort((a, b) => a.start.localeCompare(b.start)).map((p) => `${x(Date.parse(p.start)).toFixed(1)},${y(p.total).toFixed(1)}`);
          return points.length === 1
            ? <circle key={s.key} cx={points[0]!.split(',')[0]} cy={points[0]!.split(',')[1]} r={3} className="series" style={{ fill: color(i) }} />
            : <polyline key={s.key} points={points.join(' ')} className="series" style={{ stroke: color(i) }} />;
        })}
      </svg>
      <figcaption className="legend">
        {usage.series.map((s, i) => <span key={s.key}><span className="swatch" style={{ background: color(i) }} aria-hidden="true" /> {s.label}</span>)}
      </figcaption>
    </figure>
  );
}

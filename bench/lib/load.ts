import autocannon from 'autocannon';

export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  /** Responses that were not 200 or carried GraphQL errors (checked on a sample). */
  failures: number;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface LoadOptions {
  url: string;
  /** Bodies sent in turn (one per request, round-robin). */
  bodies: string[];
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  method?: 'POST' | 'GET';
}

/**
 * Runs autocannon against one URL and measures every response's latency itself (autocannon's
 * own percentiles skip p95). Bodies are checked: a GraphQL error counts as a failure.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let failures = 0;
  let checked = 0;
  const requests = opts.bodies.map((body) => ({ method: opts.method ?? 'POST', path: new URL(opts.url).pathname, body }));
  let finish: (r: autocannon.Result) => void = () => undefined;
  let fail: (e: unknown) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => { finish = resolve; fail = reject; });
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationSeconds,
    headers: { 'content-type': 'application/json', ...opts.headers },
    requests: requests.map((r) => ({
      method: r.method, path: r.path, body: r.body,
      onResponse: (status: number, body: string) => {
        checked++;
        if (status !== 200 || body.includes('"errors"')) failures++;
      },
    })),
  }, (err, result) => (err ? fail(err) : finish(result)));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
    latencies.push(responseTime);
  });
  const result = await done;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    rps: latencies.length / (result.duration || opts.durationSeconds),
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    errors: result.errors + result.timeouts,
    failures: checked ? failures : 0,
  };
}

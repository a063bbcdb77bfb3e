import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import autocannon from 'autocannon';

/** Rate and percentiles count the answers that succeeded (2xx without GraphQL errors) only. */
export interface LoadResult {
  /** Answers that succeeded. */
  requests: number;
  rps: number;
  p50: number;
  p95: number;
  p975: number;
  p99: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Answers whose HTTP status was not 2xx. */
  non2xx: number;
  /** 2xx answers whose body carried GraphQL errors. */
  graphqlErrors: number;
  /** Every successful answer's latency in ms, sorted. */
  latencies: Float64Array;
  seconds: number;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** The middle value of a few timings, in any order (the upper middle of an even count). */
export const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export interface LoadOptions {
  url: string;
  /** Bodies sent in turn (one per request, round-robin). */
  bodies: string[];
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  method?: 'POST' | 'GET';
  /** Checks each answer's body for `"errors"` (GraphQL); off for REST routes. */
  checkGraphqlErrors?: boolean;
}

/**
 * A closed loop of `connections` keep-alive connections, each sending its next request when the
 * last is answered, for `durationSeconds`; the requests under way then are still answered and
 * counted (autocannon drops them, which undercounts runs whose answers take a good part of a
 * second, as listings at 64 connections do). Rate: successful answers over the time to the last
 * answer; a refusal (such as a 503 when the server sheds load) is counted apart, not as served.
 * Bodies are checked: a GraphQL error counts apart from a non-2xx status.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const url = new URL(opts.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const check = opts.checkGraphqlErrors ?? true;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let graphqlErrors = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + opts.durationSeconds * 1000;
  let last = started;
  const one = (body: string) => new Promise<void>((resolve) => {
    const t = performance.now();
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: opts.method ?? 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...opts.headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        last = performance.now();
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) non2xx++;
        else if (check && Buffer.concat(chunks).includes('"errors"')) graphqlErrors++;
        else latencies.push(last - t);
        resolve();
      });
      res.on('error', () => { errors++; resolve(); });
    });
    req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => { errors++; resolve(); });
    req.end(body);
  });
  const worker = async () => {
    while (performance.now() < deadline) await one(opts.bodies[next++ % opts.bodies.length]);
  };
  await Promise.all(Array.from({ length: opts.connections }, worker));
  agent.destroy();
  const seconds = Math.max(0.001, (last - started) / 1000);
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length, rps: latencies.length / seconds, seconds, latencies: sorted, errors, non2xx, graphqlErrors,
    p50: percentile(sorted, 50), p95: percentile(sorted, 95), p975: percentile(sorted, 97.5), p99: percentile(sorted, 99),
  };
}

/**
 * Runs autocannon against one URL (for routes answered in a millisecond or two, where a Node
 * client's own cost would show) and measures every answer's latency itself (autocannon's own
 * percentiles are whole milliseconds and skip p95 and p97.5).
 */
export async function runAutocannon(opts: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  let graphqlErrors = 0;
  const check = opts.checkGraphqlErrors ?? true;
  const pathName = new URL(opts.url).pathname;
  let finish: (r: autocannon.Result) => void = () => undefined;
  let fail: (e: unknown) => void = () => undefined;
  const done = new Promise<autocannon.Result>((resolve, reject) => { finish = resolve; fail = reject; });
  const started = performance.now();
  let last = started;
  const instance = autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.durationSeconds,
    timeout: 30,
    headers: { 'content-type': 'application/json', ...opts.headers },
    requests: opts.bodies.map((body) => ({
      method: opts.method ?? 'POST', path: pathName, body,
      ...(check ? {
        onResponse: (status: number, answer: string) => {
          if (status >= 200 && status < 300 && answer.includes('"errors"')) graphqlErrors++;
        },
      } : {}),
    })),
  }, (err, result) => (err ? fail(err) : finish(result)));
  instance.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    last = performance.now();
    if (status >= 200 && status < 300) latencies.push(responseTime);
  });
  const result = await done;
  // autocannon notices the end on its one-second tick: the run lasted until its last answer
  const seconds = Math.max(0.001, (last - started) / 1000);
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p975: percentile(sorted, 97.5),
    p99: percentile(sorted, 99),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    graphqlErrors,
    latencies: sorted,
    seconds,
  };
}

/** Runs of one server as one: answers over the time they took, percentiles over all their answers. */
export function combine(runs: LoadResult[]): LoadResult {
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of runs) { all.set(r.latencies, at); at += r.latencies.length; }
  all.sort();
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const sum = (of: (r: LoadResult) => number) => runs.reduce((n, r) => n + of(r), 0);
  return {
    requests: all.length, rps: all.length / Math.max(0.001, seconds), seconds, latencies: all,
    p50: percentile(all, 50), p95: percentile(all, 95), p975: percentile(all, 97.5), p99: percentile(all, 99),
    errors: sum((r) => r.errors), non2xx: sum((r) => r.non2xx), graphqlErrors: sum((r) => r.graphqlErrors),
  };
}

/**
 * {@link runLoad} in a child process of its own, started and ready: the returned function sets it
 * going and resolves with its result. A load run beside another in the same process shares its
 * event loop: the time this process spends reading one load's answers (64 listing pages of some
 * 40 KB) would count in the other's latencies, which would then measure the bench as much as the
 * service. A gateway that verifies keys and an admin UI that lists keys are not one process either.
 */
export async function loadApart(opts: LoadOptions): Promise<() => Promise<LoadResult>> {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename], { cwd: path.resolve(__dirname, '..', '..'), stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  const exited = new Promise<number | null>((resolve, reject) => { child.once('error', reject); child.once('exit', resolve); });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      if (output.startsWith('ready\n')) resolve();
    });
    void exited.then((code) => reject(new Error(`the load process exited with ${code} before it was ready`)));
  });
  child.stdin.write(`${JSON.stringify(opts)}\n`);
  return async () => {
    child.stdin.end();
    const code = await exited;
    if (code !== 0) throw new Error(`the load process exited with ${code}`);
    const result = JSON.parse(output.slice('ready\n'.length)) as Omit<LoadResult, 'latencies'> & { latencies: number[] };
    return { ...result, latencies: Float64Array.from(result.latencies) };
  };
}

// run by loadApart: ready once loaded, its options on stdin, going when stdin ends, its result on stdout
if (require.main === module) {
  process.stdout.write('ready\n');
  void (async () => {
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const result = await runLoad(JSON.parse(input) as LoadOptions);
    process.stdout.write(JSON.stringify({ ...result, latencies: Array.from(result.latencies) }));
  })();
}

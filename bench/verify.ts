/**
 * `npm run bench:verify`: throughput and latency of `POST /v1/keys/verify` with a warm cache,
 * next to a bare `http.createServer` answering a fixed JSON body, measured in the same run on
 * 127.0.0.1. Both servers run as child processes; autocannon drives them from this process.
 * Afterwards the service's usage report must hold exactly one count per answered verification.
 *
 * Environment: BENCH_CONNECTIONS (50), BENCH_SECONDS (about 8 per server, split over the rounds),
 * BENCH_ROUNDS (4: the servers take turns), BENCH_WARMUP_SECONDS (2),
 * BENCH_DATABASE_URL (default memory://, an embedded database; or postgres://…),
 * BENCH_SERVER_NODE_ARGS (extra Node.js flags for both servers, such as --cpu-prof).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { signToken } from '../src/auth/tokens';
import { ensureBuilt } from './lib/build';
import { percentile } from './lib/load';
import { SERVER_NODE_FLAGS } from './lib/server';

const ROOT = path.resolve(__dirname, '..');
const SECRET = 'bench-secret-that-is-long-enough-for-hs256-0123456789';
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 4));
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'memory://';
const FLUSH_INTERVAL_MS = 500;
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 5;

const BARE_SERVER = `
const http = require('node:http');
const body = JSON.stringify({ valid: true, code: 'VALID', accountId: 'bench', keyId: 'ApiKey_0123456789abcdef',
  instanceId: 'Instance_0123456789abcdef', channelId: 'Channel_0123456789abcdef', developerId: 'Developer_0123456789abcdef',
  teamIds: [], expiresAt: '2027-11-26T12:00:00.000Z' });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => console.log('GraphQL at http://127.0.0.1:' + server.address().port + '/graphql'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

interface Child { url: string; process: ChildProcess; stop(): Promise<void> }

/** Starts a process and waits for "GraphQL at http://…/graphql" on its stdout. */
function startChild(args: string[], env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no start within 120 s:\n${output}`)); }, 120_000);
    child.stderr?.on('data', (c: Buffer) => { output += c.toString('utf8'); });
    child.stdout?.on('data', (c: Buffer) => {
      output += c.toString('utf8');
      const match = /GraphQL at (http:\/\/\S+)\/graphql/.exec(output);
      if (match) {
        clearTimeout(timer);
        output = '';
        resolve({
          url: match[1].replace('localhost', '127.0.0.1'),
          process: child,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
      if (output.length > 100_000) output = output.slice(-10_000); // keep draining the pipe
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`exited before it started:\n${output}`)); });
  });
}

async function graphql<T>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
  return body.data as T;
}

/** CPU seconds (user and system) a process has used so far, from Linux's /proc; NaN elsewhere. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from the 3rd (state) on
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, in clock ticks of 1/100 s
  } catch {
    return NaN;
  }
}

interface Measured {
  label: string; requests: number; rate: number; p50: number; p99: number; errors: number; non2xx: number; seconds: number;
  /** The server's CPU time per answered request, in µs (NaN where /proc is missing). */
  serverCpuUs: number;
  /** The load generator's (this process's) CPU time per answered request, in µs. */
  clientCpuUs: number;
  /** Every answer's latency in ms, unrounded (autocannon's own percentiles are whole milliseconds). */
  latencies: number[];
}

/** The p-th percentile (0–100) of sorted latencies; 0 when there were none. */
const percentileOf = (sorted: number[], p: number) => (sorted.length ? percentile(sorted, p) : 0);

async function measure(
  label: string, server: Child, route: string, seconds: number, headers: Record<string, string>, body: string, amount?: number,
): Promise<Measured> {
  const url = server.url + route;
  const serverCpuBefore = cpuSecondsOf(server.process.pid);
  const clientCpuBefore = process.cpuUsage();
  const started = performance.now();
  let lastResponse = started;
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
      url, method: 'POST', headers, body, connections: CONNECTIONS, timeout: 10,
      // a fixed amount ends with every request answered, so the usage check can be exact
      ...(amount ? { amount } : { duration: seconds }),
    }, (err, res) => (err ? reject(err) : resolve(res)));
    // autocannon notices the end on its one-second tick: time the run to its last answer
    instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
      lastResponse = performance.now();
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
  const elapsed = (lastResponse - started) / 1000;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const perRequestUs = (cpuSeconds: number) => (cpuSeconds * 1e6) / result['2xx'];
  const sorted = latencies.sort((a, b) => a - b);
  return {
    label, requests: result['2xx'], rate: result['2xx'] / elapsed, p50: percentileOf(sorted, 50), p99: percentileOf(sorted, 99),
    errors: result.errors, non2xx: result.non2xx, seconds: elapsed, latencies: sorted,
    serverCpuUs: perRequestUs(cpuSecondsOf(server.process.pid) - serverCpuBefore),
    clientCpuUs: perRequestUs((clientCpu.user + clientCpu.system) / 1e6),
  };
}

/** Runs of one server as one: requests over the time they took, percentiles over all their answers. */
function combine(runs: Measured[]): Measured {
  const requests = runs.reduce((n, m) => n + m.requests, 0);
  const seconds = runs.reduce((n, m) => n + m.seconds, 0);
  const latencies = runs.flatMap((m) => m.latencies).sort((a, b) => a - b);
  const cpuUs = (of: (m: Measured) => number) => runs.reduce((n, m) => n + of(m) * m.requests, 0) / requests;
  return {
    serverCpuUs: cpuUs((m) => m.serverCpuUs), clientCpuUs: cpuUs((m) => m.clientCpuUs),
    label: runs[0].label, requests, seconds, rate: requests / seconds, p50: percentileOf(latencies, 50), p99: percentileOf(latencies, 99),
    errors: runs.reduce((n, m) => n + m.errors, 0), non2xx: runs.reduce((n, m) => n + m.non2xx, 0), latencies,
  };
}

async function usageTotal(url: string, viewer: string): Promise<number> {
  const data = await graphql<{ usage: { total: number } }>(url, viewer,
    'query($from: DateTime!, $to: DateTime!) { usage(filter: { from: $from, to: $to }) { total } }',
    { from: new Date(Date.now() - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() });
  return data.usage.total;
}

/** The usage total once it has stopped moving (every buffered count written). */
async function settledUsageTotal(url: string, viewer: string): Promise<number> {
  let last = -1;
  for (;;) {
    await new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS * 3));
    const now = await usageTotal(url, viewer);
    if (now === last) return now;
    last = now;
  }
}

const pad = (text: string, n: number) => text.padEnd(n);
const num = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  console.log(`bench:verify — ${CONNECTIONS} connections, ${SECONDS} s per server in ${ROUNDS} alternating rounds (after ${WARMUP_SECONDS} s warm-up), ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`database: ${DATABASE_URL.startsWith('postgres') ? 'PostgreSQL' : 'embedded (PGlite, in memory)'}; starting servers…`);
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const bare = await startChild([...nodeArgs, '-e', BARE_SERVER], {});
  ensureBuilt(ROOT);
  const service = await startChild([...SERVER_NODE_FLAGS, ...nodeArgs, 'dist/src/server.js'], {
    NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', DATABASE_URL, JWT_SECRET: SECRET, LOG_LEVEL: 'warn',
    USAGE_FLUSH_INTERVAL_MS: String(FLUSH_INTERVAL_MS),
  });
  let failed: boolean;
  try {
    const account = `bench-${Date.now().toString(36)}`;
    const admin = await signToken({ secret: SECRET, account, roles: ['admin'], subject: 'bench', ttl: '1h' });
    const verifier = await signToken({ secret: SECRET, account, roles: ['verifier'], subject: 'gateway', ttl: '1h' });
    const viewer = await signToken({ secret: SECRET, account, roles: ['viewer'], subject: 'bench', ttl: '1h' });
    const { createChannel } = await graphql<{ createChannel: { channel: { id: string } } }>(service.url, admin,
      'mutation { createChannel(input: { name: "Gateway" }) { channel { id } } }');
    const { createInstance } = await graphql<{ createInstance: { instance: { id: string } } }>(service.url, admin,
      'mutation($c: [ID!]!) { createInstance(input: { name: "Bench", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }',
      { c: [createChannel.channel.id] });
    const { createApiKey } = await graphql<{ createApiKey: { secret: string } }>(service.url, admin,
      'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret } }',
      { i: { name: 'bench', instanceId: createInstance.instance.id, channelId: createChannel.channel.id, developer: { name: 'Bench' } } });

    const headers = { 'content-type': 'application/json', authorization: `Bearer ${verifier}` };
    const body = JSON.stringify({ key: createApiKey.secret, instanceId: createInstance.instance.id });
    const check = await fetch(`${service.url}/v1/keys/verify`, { method: 'POST', headers, body });
    const answer = (await check.json()) as { code: string };
    if (answer.code !== 'VALID') throw new Error(`the bench key does not verify: ${JSON.stringify(answer)}`);

    // warm both servers (JIT, cache, connections); their warm-up rates size the measured runs,
    // which send a fixed number of requests. The two servers take turns for BENCH_ROUNDS rounds
    // (BENCH_SECONDS in all per server), so a passing disturbance of the machine hits both.
    const bareWarm = await measure('warm-up', bare, '/', WARMUP_SECONDS, headers, body);
    const verifyWarm = await measure('warm-up', service, '/v1/keys/verify', WARMUP_SECONDS, headers, body);
    const before = await settledUsageTotal(service.url, viewer);
    const amountFor = (m: Measured) => Math.max(CONNECTIONS * 10, Math.round((m.rate * SECONDS) / ROUNDS));
    const rounds: { baseline: Measured; verify: Measured }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const baselineRun = await measure('bare http.createServer', bare, '/', SECONDS, headers, body, amountFor(bareWarm));
      const verifyRun = await measure('POST /v1/keys/verify', service, '/v1/keys/verify', SECONDS, headers, body, amountFor(verifyWarm));
      rounds.push({ baseline: baselineRun, verify: verifyRun });
      console.log(`round ${round + 1}: bare ${num(baselineRun.rate)} req/s (p99 ${num(baselineRun.p99, 2)} ms, ${num(baselineRun.serverCpuUs, 1)} µs CPU), `
        + `verify ${num(verifyRun.rate)} req/s (p99 ${num(verifyRun.p99, 2)} ms, ${num(verifyRun.serverCpuUs, 1)} µs CPU), `
        + `${num((verifyRun.rate / baselineRun.rate) * 100, 1)}%`);
    }
    const baseline = combine(rounds.map((r) => r.baseline));
    const verify = combine(rounds.map((r) => r.verify));
    const after = await settledUsageTotal(service.url, viewer);
    const counted = after - before;

    const ratio = verify.rate / baseline.rate;
    console.log('');
    console.log(`${pad('server', 26)}${pad('requests', 11)}${pad('req/s', 10)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}`
      + `${pad('server CPU µs/req', 19)}${pad('client CPU µs/req', 19)}errors/non-2xx`);
    for (const m of [baseline, verify]) {
      console.log(`${pad(m.label, 26)}${pad(num(m.requests), 11)}${pad(num(m.rate), 10)}${pad(num(m.p50, 2), 8)}${pad(num(m.p99, 2), 8)}`
        + `${pad(num(m.serverCpuUs, 1), 19)}${pad(num(m.clientCpuUs, 1), 19)}${m.errors}/${m.non2xx}`);
    }
    console.log('');
    const verdicts: [string, boolean][] = [
      [`throughput ratio ${num(ratio * 100, 1)}% of bare (target >= ${TARGET_RATIO * 100}%)`, ratio >= TARGET_RATIO],
      [`p99 latency ${num(verify.p99, 2)} ms (target < ${TARGET_P99_MS} ms)`, verify.p99 < TARGET_P99_MS],
      [`no errors or non-2xx answers (${verify.errors}/${verify.non2xx})`, verify.errors === 0 && verify.non2xx === 0],
      [`usage counted ${num(counted)} of ${num(verify.requests)} answered verifications`, counted === verify.requests],
    ];
    for (const [text, pass] of verdicts) console.log(`${pass ? 'PASS' : 'FAIL'}  ${text}`);
    failed = verdicts.some(([, pass]) => !pass);
  } finally {
    await Promise.all([bare.stop(), service.stop()]);
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error('bench:verify failed:', err instanceof Error ? err.message : err);
  process.exit(2);
});

import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** What the service's process (bench/server-child.cjs) answers over IPC. */
export interface ChildStats { rssMb: number; peakRssMb: number; cpuMs: number }
export type ChildMessage = { type: 'ready'; url: string; verifyPort: number | null } | ({ type: 'stats' } & ChildStats);

export interface BenchServer {
  /** e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  /** The verification thread's, with VERIFY_PORT: e.g. http://127.0.0.1:41235 */
  verifyUrl: string | null;
  pid: number;
  stats(): Promise<ChildStats>;
  stop(): Promise<void>;
}

/** The flags `npm start` and the Dockerfile run the service with. */
export const SERVER_NODE_FLAGS = ['--max-semi-space-size=16'];

/**
 * Starts the service in a child process on 127.0.0.1 with a random port (`nodeArgs`, e.g.
 * `--cpu-prof`, go to its node; BENCH_SERVER_NODE_ARGS adds more). `logFile`: where its output
 * goes (this process's own by default).
 */
export function startBenchServer(env: Record<string, string>, nodeArgs: string[] = [], logFile?: string): Promise<BenchServer> {
  return startServerProcess('server-child.cjs', env, nodeArgs, logFile);
}

/**
 * The floor of this machine for the first page of ApiKeys (bench/floor-server.cjs): its answer
 * built whole by PostgreSQL, served with no GraphQL; `account` is the account it lists.
 */
export function startFloorServer(env: Record<string, string>, account: string, logFile?: string): Promise<BenchServer> {
  return startServerProcess('floor-server.cjs', { ...env, FLOOR_ACCOUNT: account }, [], logFile);
}

/** A server process of bench/ (`script`) that answers the IPC of {@link ChildMessage}. */
async function startServerProcess(script: string, env: Record<string, string>, nodeArgs: string[], logFile?: string): Promise<BenchServer> {
  const out = logFile ? fs.openSync(logFile, 'a') : 'inherit';
  const child: ChildProcess = fork(path.join(__dirname, '..', script), [], {
    execArgv: [...SERVER_NODE_FLAGS, ...nodeArgs, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', out, out, 'ipc'],
  });
  if (typeof out === 'number') child.once('exit', () => fs.closeSync(out));
  const waiters: { resolve: (m: ChildMessage) => void; reject: (e: Error) => void }[] = [];
  child.on('message', (m: ChildMessage) => waiters.shift()?.resolve(m));
  child.once('exit', (code) => { for (const w of waiters.splice(0)) w.reject(new Error(`bench server exited (${code})`)); });
  const next = () => new Promise<ChildMessage>((resolve, reject) => {
    if (child.exitCode !== null) reject(new Error(`bench server exited (${child.exitCode})`));
    else waiters.push({ resolve, reject });
  });
  const ready = await next();
  if (ready.type !== 'ready') throw new Error('unexpected message from the bench server');
  return {
    baseUrl: ready.url.replace(/\/graphql$/, '').replace('localhost', '127.0.0.1'),
    verifyUrl: ready.verifyPort === null ? null : `http://127.0.0.1:${ready.verifyPort}`,
    pid: child.pid ?? 0,
    async stats() {
      const reply = next();
      child.send({ type: 'stats' });
      const m = await reply;
      if (m.type !== 'stats') throw new Error('unexpected message from the bench server');
      return m;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

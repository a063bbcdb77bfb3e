import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { isMainThread, parentPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { createTokenVerifier } from './auth/tokens';
import type { Config } from './config';
import { sendUnexpected } from './http/answers';
import { health, notFoundRoute, wrongMethod } from './http/ops-routes';
import { closeServer, createHttpServer, listen } from './http/server';
import { verifyRoute } from './http/verify-route';
import { systemClock } from './lib/clock';
import { createLogger } from './logger';
import { createMetrics, type ThreadMetrics } from './metrics';
import { KeyChanges } from './modules/api-keys/events';
import { openDatabase, startVerification, stopVerification } from './verification';

// The verification thread: `POST /v1/keys/verify` on VERIFY_PORT, served by a thread of the
// process with a heap, an event loop, database connections, a verification cache and a usage
// recorder of its own. A gateway's verification then never waits behind the main thread's work
// (a page's statements, resolvers and answer, its garbage collections), and with MAIN_THREAD_NICE
// the kernel runs this thread first when both have work. The main port keeps the same route.

type MetricObjects = Awaited<ReturnType<ThreadMetrics>>;
type ToThread = { type: 'metrics'; id: number } | { type: 'stop'; timeoutMs: number };
type FromThread = { type: 'ready'; port: number; tid: number | null } | { type: 'failed'; message: string } | { type: 'metrics'; id: number; metrics: MetricObjects } | { type: 'stopped' };

/** How long /metrics waits for the verification thread's metrics. */
const METRICS_WAIT_MS = 2000;

export interface VerifyThread {
  /** The port it serves (VERIFY_PORT, or the one the system chose for 0). */
  port: number;
  /** Its metrics, for the main thread's /metrics. */
  metrics: ThreadMetrics;
  /** Stops taking connections, lets verifications in flight finish (bounded), writes the usage it counted and closes its connections. */
  stop(timeoutMs: number): Promise<void>;
}

/**
 * Starts the verification thread and, once it serves, raises the nice value of every other thread
 * of the process by `config.verifyThread.mainNice` (Linux's nice values are per thread; threads
 * made later inherit their maker's). `onFailure`: the thread stopped on its own, after it started.
 */
export async function startVerifyThread(config: Config, logger: Logger, onFailure: (err: Error) => void): Promise<VerifyThread> {
  // run from the TypeScript sources (tests, `npm run dev`) the thread needs tsx too
  const worker = new Worker(__filename, { workerData: { verifyThread: config }, execArgv: __filename.endsWith('.ts') ? ['--import', 'tsx'] : [] });
  const waiting = new Map<number, { resolve: (metrics: MetricObjects) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let stopped: (() => void) | null = null;
  let started = false;
  let stopping = false;
  let exited = false;
  let nextId = 0;
  const { port, tid } = await new Promise<{ port: number; tid: number | null }>((resolve, reject) => {
    worker.on('message', (message: FromThread) => {
      if (message.type === 'ready') resolve(message);
      else if (message.type === 'failed') reject(new Error(`the verification thread could not start: ${message.message}`));
      else if (message.type === 'metrics') {
        const wait = waiting.get(message.id);
        waiting.delete(message.id);
        clearTimeout(wait?.timer);
        wait?.resolve(message.metrics);
      } else stopped?.();
    });
    worker.on('error', (err) => {
      logger.error({ err }, 'the verification thread failed');
      reject(err);
    });
    worker.on('exit', (code) => {
      exited = true;
      const err = new Error(`the verification thread exited (code ${code})`);
      for (const wait of waiting.values()) wait.reject(err);
      waiting.clear();
      stopped?.();
      reject(err);
      if (started && !stopping) onFailure(err);
    });
  });
  started = true;
  if (config.verifyThread.mainNice > 0) {
    try {
      // every other thread of the process: the main one and those doing its work (garbage collection, file system)
      for (const other of fs.readdirSync('/proc/self/task').map(Number).filter((t) => t !== tid)) {
        os.setPriority(other, Math.min(19, os.getPriority(other) + config.verifyThread.mainNice));
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'the other threads\' priority could not be lowered (MAIN_THREAD_NICE)');
    }
  }
  return {
    port,
    // a thread that ended has nothing more to count (readiness says it ended)
    metrics: () => new Promise<MetricObjects>((resolve, reject) => {
      if (exited) return resolve([]);
      const id = nextId++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the verification thread did not send its metrics within ${METRICS_WAIT_MS} ms`));
      }, METRICS_WAIT_MS);
      waiting.set(id, { resolve, reject, timer });
      worker.postMessage({ type: 'metrics', id } satisfies ToThread);
    }),
    async stop(timeoutMs) {
      stopping = true;
      if (exited) return;
      const done = new Promise<void>((resolve) => { stopped = resolve; });
      worker.postMessage({ type: 'stop', timeoutMs } satisfies ToThread);
      // bounded: its server's close, the usage flush and the pool's end each have theirs
      const timer = setTimeout(() => void worker.terminate(), 3 * timeoutMs + 1000);
      await done;
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}

/** The thread's side: its parts, its server, and the main thread's requests. */
async function serve(config: Config, main: MessagePort): Promise<void> {
  const logger = createLogger(config.logLevel).child({ thread: 'verification' });
  const metrics = createMetrics({ processMetrics: false });
  const db = openDatabase(config, metrics, true);
  // the main thread's mutations reach this cache as every other process's do: over LISTEN
  const verification = await startVerification(config, db, metrics, logger, systemClock, new KeyChanges());
  let shuttingDown = false;
  const handleVerify = verifyRoute(verification.verifier, createTokenVerifier(config), metrics, () => shuttingDown);
  const server = createHttpServer(config.http);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const unexpected = (err: unknown) => sendUnexpected(logger, req, res, err);
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/v1/keys/verify') {
      if (req.method !== 'POST') return wrongMethod(res, 'POST');
      try {
        handleVerify(req, res, unexpected);
      } catch (err) {
        unexpected(err);
      }
      return;
    }
    if (path === '/healthz') return health(res);
    notFoundRoute(res, path);
  });
  await listen(server, config.verifyThread.port ?? 0, config.host);
  main.on('message', (message: ToThread) => {
    if (message.type === 'metrics') {
      void metrics.registry.getMetricsAsJSON().then((objects) => main.postMessage({ type: 'metrics', id: message.id, metrics: objects } satisfies FromThread));
      return;
    }
    shuttingDown = true;
    void (async () => {
      await closeServer(server, message.timeoutMs);
      await stopVerification(verification, db, message.timeoutMs);
      main.postMessage({ type: 'stopped' } satisfies FromThread);
    })();
  });
  // this thread's ID in the kernel (Linux), left out when the others' priority is lowered
  const tid = fs.existsSync('/proc/thread-self') ? Number(fs.readlinkSync('/proc/thread-self').split('/').pop()) : null;
  main.postMessage({ type: 'ready', port: (server.address() as AddressInfo).port, tid } satisfies FromThread);
}

const given = workerData as { verifyThread?: Config } | null;
if (!isMainThread && parentPort && given?.verifyThread) {
  const main = parentPort;
  serve(given.verifyThread, main).catch((err: unknown) => {
    main.postMessage({ type: 'failed', message: (err as Error).message } satisfies FromThread);
    process.exit(1);
  });
}

import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { Config } from './config';
import { createTokenVerifier, signToken } from './auth/tokens';
import { createApp, type App } from './app';
import { listen } from './http/server';
import { autovacuumOff, migrateLatest, type Database } from './db/database';
import { RECENT_WRITERS_CHANNEL, RecentWriters } from './db/replicas';
import { createLogger } from './logger';
import { createMetrics } from './metrics';
import { systemClock, type Clock } from './lib/clock';
import { CatalogCache } from './modules/api-keys/catalog';
import { KeyCounts } from './modules/api-keys/counts';
import { KeyChanges } from './modules/api-keys/events';
import { IdempotencyCrypto, idempotencySecret } from './modules/idempotency/crypto';
import { IdempotencyGuard } from './modules/idempotency/guard';
import { pruneExpired } from './modules/idempotency/store';
import { maintainUsagePartitions } from './modules/usage/partitions';
import type { AppServices } from './context';
import { openDatabase, startVerification, stopVerification } from './verification';
import { startVerifyThread, type VerifyThread } from './verify-thread';

export interface RunningService {
  app: App;
  /** The port of the verification thread (VERIFY_PORT), null without one. */
  verifyPort: number | null;
  db: Database;
  services: AppServices;
  url: string;
  /** A ready-to-use admin token for account `demo` when running with the development secret. */
  devToken: string | null;
  /** Graceful stop: not ready, stop accepting, finish in-flight, flush usage, close the pool. */
  stop(): Promise<void>;
}

const HOUR = 3_600_000;

export interface ServiceOptions {
  /** Where logs go (default: stdout). */
  logDestination?: DestinationStream;
  /** The current time (default: the system's): tests move it instead of sleeping. */
  clock?: Clock;
}

/**
 * With read replicas: their lag measured from now on, and the principals that wrote, here or in
 * any other process (heard over LISTEN), kept for read-your-writes. When notifications may have
 * been missed, every principal reads from the primary for one window.
 */
async function startReadRouting(db: Database, windowMs: number): Promise<RecentWriters | null> {
  if (!db.replicas) return null;
  const writers = new RecentWriters(windowMs);
  await db.listen(RECENT_WRITERS_CHANNEL, { onMessage: (key) => writers.wrote(key), onReset: () => writers.everyone() });
  await db.replicas.start();
  return writers;
}

/** Wires database, caches, buffers and the HTTP app together and starts listening. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  const db = openDatabase(config, metrics);
  if (config.migrateOnStart) {
    const applied = await migrateLatest(db);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  }
  if (await autovacuumOff(db)) {
    logger.warn('autovacuum is off on the database: listings read more of the keys\' table with every change until something vacuums it (see docs/operations.md)');
  }
  // usage partitions: months ahead created, months past the retention dropped (src/modules/usage/partitions.ts)
  const maintainUsage = () => maintainUsagePartitions(db.knex, { retentionDays: config.usage.retentionDays, now: new Date(clock()) }).then(
    ({ created, dropped, deleted, moved }) => {
      if (created.length || dropped.length || deleted || moved) logger.info({ created, dropped, deleted, moved }, 'usage partitions maintained');
    },
    (err: unknown) => logger.warn({ err: (err as Error).message }, 'usage partition maintenance failed'),
  );
  await maintainUsage();
  const keyChanges = new KeyChanges();
  const verification = await startVerification(config, db, metrics, logger, clock, keyChanges);
  const { usage, verifier } = verification;
  /** Once no request is served any more. */
  const release = () => stopVerification(verification, db, config.shutdownTimeoutMs);

  const { secret, ephemeral } = idempotencySecret(config.idempotency.secret, config.jwt.secret);
  if (ephemeral && config.production) {
    logger.warn('neither IDEMPOTENCY_SECRET nor JWT_SECRET is set: idempotent answers can only be replayed by this process');
  }
  const idempotency = new IdempotencyGuard(db, new IdempotencyCrypto(secret), {
    waitMs: config.idempotency.waitMs,
    maxTokens: config.limits.maxTokens,
    logger,
    onResult: (result) => metrics.idempotency.inc({ result }),
  });
  const recentWriters = await startReadRouting(db, config.replicas.readYourWritesMs);
  const services: AppServices = { config, db, logger, clock, usage, verifier, idempotency, keyChanges, keyCounts: new KeyCounts(),
    // a facet list holds up to 500 values: 100 filters' facets stay within a few MB
    keyFacets: new KeyCounts(100), teamLinks: new KeyCounts(1000), catalog: new CatalogCache(), recentWriters };
  const tokens = createTokenVerifier(config);
  const app = await createApp(services, tokens, metrics);
  await listen(app.server, config.port, config.host);
  if (app.metricsServer && config.metrics.port !== null) await listen(app.metricsServer, config.metrics.port, config.host);
  let verifyThread: VerifyThread | null = null;
  if (config.verifyThread.port !== null) {
    try {
      verifyThread = await startVerifyThread(config, logger, (err) => {
        logger.error({ err: err.message }, 'the verification thread stopped: VERIFY_PORT no longer answers');
        app.failed = 'verification thread stopped';
      });
    } catch (err) {
      await app.close(0);
      await release();
      throw err;
    }
  }
  if (verifyThread) metrics.include(verifyThread.metrics);
  const { port } = app.server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host}:${port}/graphql`;

  const prune = () => Promise.all([
    maintainUsage(),
    pruneExpired(db).then(
      (n) => { if (n) logger.info({ deleted: n }, 'expired idempotency keys pruned'); },
      (err: unknown) => logger.warn({ err: (err as Error).message }, 'idempotency pruning failed'),
    ),
  ]);
  const pruneTimer = setInterval(() => void prune(), HOUR);
  pruneTimer.unref();
  const firstPrune = setTimeout(() => void prune(), 60_000);
  firstPrune.unref();

  const devToken = tokens.devSecret
    ? await signToken({ secret: tokens.devSecret, account: 'demo', roles: ['admin'], subject: 'dev-admin', ttl: '30d' })
    : null;

  let stopping: Promise<void> | null = null;
  return {
    app, db, services, url, devToken, verifyPort: verifyThread?.port ?? null,
    stop() {
      stopping ??= (async () => {
        clearInterval(pruneTimer);
        clearTimeout(firstPrune);
        // readiness turns 503 at once; load balancers get SHUTDOWN_DRAIN_MS to notice before the listener closes
        app.shuttingDown = true;
        if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
        await Promise.all([app.close(config.shutdownTimeoutMs), verifyThread?.stop(config.shutdownTimeoutMs)]);
        await release();
      })();
      return stopping;
    },
  };
}

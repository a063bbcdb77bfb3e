import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import type { Config } from './config';
import { createTokenVerifier, signToken } from './auth/tokens';
import { createApp, type App } from './app';
import { createDatabase, migrateLatest, type Database } from './db/database';
import { createLogger } from './logger';
import { createMetrics } from './metrics';
import { IdempotencyCrypto, idempotencySecret } from './modules/idempotency/crypto';
import { IdempotencyGuard } from './modules/idempotency/guard';
import { pruneExpired } from './modules/idempotency/store';
import { maintainUsagePartitions } from './modules/usage/partitions';
import { UsageRecorder } from './modules/usage/recorder';
import { KeyVerifier } from './modules/verification/verifier';
import type { AppServices } from './context';

export interface RunningService {
  app: App;
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
}

/** Wires database, caches, buffers and the HTTP app together and starts listening. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<RunningService> {
  const logger = createLogger(config.logLevel, options.logDestination);
  const db = createDatabase({ target: config.database, timeoutMs: config.dbTimeoutMs, poolMax: config.dbPoolMax });
  const migrate = config.migrateOnStart;
  if (migrate) {
    const applied = await migrateLatest(db);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');
  }
  // usage partitions: months ahead created, months past the retention dropped (src/modules/usage/partitions.ts)
  const maintainUsage = () => maintainUsagePartitions(db.knex, { retentionDays: config.usage.retentionDays }).then(
    ({ created, dropped, deleted, moved }) => {
      if (created.length || dropped.length || deleted || moved) logger.info({ created, dropped, deleted, moved }, 'usage partitions maintained');
    },
    (err: unknown) => logger.warn({ err: (err as Error).message }, 'usage partition maintenance failed'),
  );
  await maintainUsage();
  const metrics = createMetrics();
  const usage = new UsageRecorder(db.knex, {
    flushIntervalMs: config.usage.flushIntervalMs,
    flushSize: config.usage.flushSize,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'usage flush failed; counts kept for the next one'),
  });
  const verifier = new KeyVerifier(db, usage, config.keyCacheTtlMs, { onOutcome: (code) => metrics.verified(code) });
  await verifier.start();
  usage.start();
  metrics.watch({ usage, cache: verifier.cache, knex: db.knex });

  const { secret, ephemeral } = idempotencySecret(config.idempotency.secret, config.jwt.secret);
  if (ephemeral && config.production) {
    logger.warn('neither IDEMPOTENCY_SECRET nor JWT_SECRET is set: idempotent answers can only be replayed by this process');
  }
  const idempotency = new IdempotencyGuard(db.knex, new IdempotencyCrypto(secret), {
    waitMs: config.idempotency.waitMs,
    maxTokens: config.limits.maxTokens,
    logger,
    onResult: (result) => metrics.idempotency.inc({ result }),
  });
  const services: AppServices = { config, db, logger, usage, verifier, idempotency };
  const tokens = createTokenVerifier(config);
  const app = await createApp(services, tokens, metrics);
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen(config.port, config.host, () => resolve());
  });
  const { port } = app.server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `http://${host}:${port}/graphql`;

  const prune = () => Promise.all([
    maintainUsage(),
    pruneExpired(db.knex).then(
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
    app, db, services, url, devToken,
    stop() {
      stopping ??= (async () => {
        clearInterval(pruneTimer);
        clearTimeout(firstPrune);
        // readiness turns 503 at once; load balancers get SHUTDOWN_DRAIN_MS to notice before the listener closes
        app.shuttingDown = true;
        if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
        await app.close(config.shutdownTimeoutMs);
        await usage.stop(config.shutdownTimeoutMs);
        await verifier.stop();
        await db.close();
      })();
      return stopping;
    },
  };
}

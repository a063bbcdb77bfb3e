import type { Logger } from 'pino';
import type { Config } from './config';
import { createDatabase, type Database } from './db/database';
import type { Clock } from './lib/clock';
import type { Metrics } from './metrics';
import type { KeyChanges } from './modules/api-keys/events';
import { UsageRecorder } from './modules/usage/recorder';
import { KeyVerifier } from './modules/verification/verifier';

/**
 * The service's database as `config` gives it, its pool waits counted in `metrics`. The
 * verification thread's (`verificationOnly`) has no requests' pool to speak of and no read
 * replicas: its lookups and usage flushes go to the primary through the service's own pool.
 */
export function openDatabase(config: Config, metrics: Metrics, verificationOnly = false): Database {
  return createDatabase({
    target: config.database, timeoutMs: config.dbTimeoutMs, poolMax: verificationOnly ? 1 : config.dbPoolMax, systemPoolMax: config.dbSystemPoolMax,
    poolWaitMs: config.dbPoolWaitMs, preparedStatements: config.dbPreparedStatements,
    replicas: verificationOnly ? { ...config.replicas, urls: [] } : config.replicas,
    onPoolWaitTimeout: (pool) => metrics.poolWaitTimeouts.inc({ pool }),
  });
}

/**
 * The verification of presented keys and the counting of their usage, started on `db`: the
 * verifier with its cache (dropping the keys `keyChanges` and other processes' notifications
 * name) and the usage recorder it counts into, both reporting to `metrics`. The main thread runs
 * one, and the verification thread one of its own (src/verify-thread.ts).
 */
export interface Verification { usage: UsageRecorder; verifier: KeyVerifier }

export async function startVerification(
  config: Config, db: Database, metrics: Metrics, logger: Logger, clock: Clock, keyChanges: KeyChanges,
): Promise<Verification> {
  const usage = new UsageRecorder(db, {
    flushIntervalMs: config.usage.flushIntervalMs,
    flushSize: config.usage.flushSize,
    ...config.usage.shard !== null && { shard: config.usage.shard },
    onError: (err) => {
      metrics.usageFlushFailures.inc();
      logger.warn({ err: (err as Error).message }, 'usage flush failed; counts kept for the next one');
    },
    onDropped: (bucket, err) => {
      metrics.usageBucketsDropped.inc();
      logger.error({ bucket, err: (err as Error).message }, 'usage bucket refused by the database in every try: its counts are dropped');
    },
  }, clock);
  const verifier = new KeyVerifier(db, usage, keyChanges, clock, { cacheTtlMs: config.keyCacheTtlMs, lookups: config.unknownKeyLookups }, {
    onOutcome: (code) => metrics.verified(code),
    onLookup: (result) => metrics.keyLookups.inc({ result }),
  });
  await verifier.start();
  usage.start();
  metrics.watch({ usage, cache: verifier.cache, db });
  return { usage, verifier };
}

/**
 * Once no verification is served any more: the usage counted written (its flush bounded by
 * `timeoutMs`), the verifier's listening ended, then `db`'s connections closed.
 */
export async function stopVerification({ usage, verifier }: Verification, db: Database, timeoutMs: number): Promise<void> {
  await usage.stop(timeoutMs);
  await verifier.stop();
  await db.close();
}

import { ConfigError, loadConfig } from './config';
import { startService } from './service';

/** After the first SIGTERM or SIGINT, repeats within this time are ignored; a later one forces the exit. */
const FORCE_EXIT_GRACE_MS = 3000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`qckeys: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const service = await startService(config);
  const { logger } = service.services;
  // A signal sent to the whole process group reaches the service more than once (npm forwards its
  // own copy; a control group's kill does the same): repeats within the grace period are the same
  // request and must not cut the drain short. Only an interrupt after it forces the exit.
  let shutdownAt: number | null = null;
  const shutdown = (signal: string) => {
    if (shutdownAt !== null) {
      if (Date.now() - shutdownAt < FORCE_EXIT_GRACE_MS) {
        logger.info({ signal }, 'shutting down already; the signal again after the grace period forces the exit');
        return;
      }
      logger.warn({ signal }, 'forced exit before the shutdown finished');
      process.exit(1);
    }
    shutdownAt = Date.now();
    logger.info({ signal }, 'shutting down');
    service.stop().then(
      () => { logger.info('stopped'); process.exit(0); },
      (err: unknown) => { logger.error({ err }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  // announced only once a signal would stop the service cleanly
  logger.info({ url: service.url, database: config.database.kind, ...service.verifyPort !== null && { verifyPort: service.verifyPort } }, 'qckeys listening');
  console.log(`\nqckeys is running: GraphQL at ${service.url}`);
  if (service.verifyPort !== null) console.log(`Key verification on its own thread at port ${service.verifyPort} (POST /v1/keys/verify)`);
  console.log(`Admin console at ${service.url.replace(/\/graphql$/, '/console')}`);
  if (service.devToken) {
    console.log('Development admin token for account "demo" (send as "Authorization: Bearer <token>"):');
    console.log(`\n${service.devToken}\n`);
  }
}

main().catch((err: unknown) => {
  console.error('qckeys: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

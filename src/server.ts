import { ConfigError, loadConfig } from './config';
import { startService } from './service';

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
  logger.info({ url: service.url, database: config.database.kind }, 'qckeys listening');
  console.log(`\nqckeys is running: GraphQL at ${service.url}`);
  if (service.devToken) {
    console.log('Development admin token for account "demo" (send as "Authorization: Bearer <token>"):');
    console.log(`\n${service.devToken}\n`);
  }

  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) process.exit(1);
    logger.info({ signal }, 'shutting down');
    service.stop().then(
      () => { logger.info('stopped'); process.exit(0); },
      (err: unknown) => { logger.error({ err }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error('qckeys: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});

// Prints a bearer token signed with JWT_SECRET (or the development secret under DATA_DIR).
// npm run token -- --account ACME --role admin [--role viewer] [--sub alice] [--ttl 1h]
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../src/config';
import { ROLES, type Role } from '../src/auth/principal';
import { signToken, signingSecret } from '../src/auth/tokens';

const role = (value: string, previous: Role[] = []): Role[] => {
  if (!ROLES.includes(value as Role)) throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  return [...previous, value as Role];
};

const program = new Command('token')
  .description('Print a bearer token for the qckeys API')
  .option('--account <id>', 'account (tenant); omit with --role verifier for a platform verifier')
  .option('--role <role>', 'admin, viewer or verifier (repeatable)', role)
  .option('--sub <subject>', 'subject recorded as the actor', 'cli')
  .option('--ttl <duration>', 'lifetime, e.g. 15m, 1h, 7d', '1h')
  .action(async (opts: { account?: string; role?: Role[]; sub: string; ttl: string }) => {
    const config = loadConfig();
    const secret = signingSecret(config);
    if (!secret) {
      console.error('token: tokens can only be signed with JWT_SECRET or the development secret');
      process.exit(2);
    }
    const roles = opts.role ?? ['admin'];
    if (!opts.account && !(roles.length === 1 && roles[0] === 'verifier')) {
      console.error('token: --account is required (except for a platform verifier: --role verifier alone)');
      process.exit(2);
    }
    console.log(await signToken({
      secret, account: opts.account ?? null, roles, subject: opts.sub, ttl: opts.ttl,
      issuer: config.jwt.issuer, audience: config.jwt.audience,
    }));
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`token: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});

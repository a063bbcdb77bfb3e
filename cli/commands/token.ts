// `qckeys token` and `npm run token`: a bearer token signed with JWT_SECRET or the development
// secret under DATA_DIR, exactly as the server verifies it.
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../src/config';
import { ROLES, type Role } from '../../src/auth/principal';
import { signToken, signingSecret } from '../../src/auth/tokens';
import { UsageError, duration } from '../util';

const role = (value: string, previous: Role[] = []): Role[] => {
  if (!ROLES.includes(value as Role)) throw new InvalidArgumentError(`must be one of ${ROLES.join(', ')} (got ${JSON.stringify(value)})`);
  return [...previous, value as Role];
};

const ttl = (value: string): string => `${duration(1, 366 * 86_400)(value)}s`;

export interface TokenOptions { account?: string; role?: Role[]; sub: string; ttl: string }

/** Signs the token the options describe; UsageError when they cannot make one. */
export async function devToken(opts: TokenOptions, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadConfig(env);
  const secret = signingSecret(config);
  if (!secret) throw new UsageError('tokens can only be signed with JWT_SECRET or the development secret');
  const roles = opts.role ?? ['admin'];
  if (!opts.account && !(roles.length === 1 && roles[0] === 'verifier')) {
    throw new UsageError('--account is required (except for a platform verifier: --role verifier alone)');
  }
  return signToken({
    secret, account: opts.account ?? null, roles, subject: opts.sub, ttl: opts.ttl,
    issuer: config.jwt.issuer, audience: config.jwt.audience,
  });
}

/** The command; `print` writes the token (the CLI adds --json). */
export function tokenCommand(print: (token: string, cmd: Command) => void | Promise<void> = (token) => console.log(token)): Command {
  return new Command('token')
    .description('print a bearer token signed with JWT_SECRET (or the development secret under DATA_DIR)')
    .option('--account <id>', 'account (tenant); omit with --role verifier for a platform verifier')
    .option('--role <role>', 'admin, viewer or verifier (repeatable; default admin)', role)
    .option('--sub <subject>', 'subject recorded as the actor', 'cli')
    .option('--ttl <duration>', 'lifetime, 1s to 366d, e.g. 15m, 1h, 7d', ttl, '1h')
    .action(async (opts: TokenOptions, cmd: Command) => {
      await print(await devToken(opts), cmd);
    });
}

// Prints a bearer token signed with JWT_SECRET (or the development secret under DATA_DIR).
// npm run token -- --account ACME --role admin [--role viewer] [--sub alice] [--ttl 1h]
// The same command is `qckeys token` (cli/commands/token.ts).
import { tokenCommand } from '../cli/commands/token';

tokenCommand().parseAsync().catch((err: unknown) => {
  console.error(`token: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
});

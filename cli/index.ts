#!/usr/bin/env node
// qckeys: the command line for the qckeys API, for people (tables) and CI pipelines (--json).
// Exit codes: 0 ok, 1 the API refused or could not be reached, 2 a usage error.
import { Command, CommanderError, Option } from 'commander';
import { ApiError } from '../client/index';
import { keysCommand } from './commands/keys';
import { tokenCommand } from './commands/token';
import { usageCommand } from './commands/usage';
import { whoamiCommand } from './commands/whoami';
import { DEFAULT_URL, type GlobalOptions } from './runtime';
import { UsageError } from './util';

export const EXIT_OK = 0;
export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command('qckeys')
    .description('Manage qckeys API keys from a terminal or a CI pipeline')
    .addOption(new Option('--url <url>', 'GraphQL endpoint').env('QCKEYS_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <jwt>', 'bearer token').env('QCKEYS_TOKEN'))
    .option('--json', 'machine-readable JSON on stdout (errors as JSON on stderr)')
    .addOption(new Option('--idempotency-key <key>', 'Idempotency-Key of the mutation (default: a random UUID); reuse it when retrying')
      .env('QCKEYS_IDEMPOTENCY_KEY'))
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  program.addCommand(keysCommand());
  program.addCommand(usageCommand());
  program.addCommand(whoamiCommand());
  program.addCommand(tokenCommand((token, cmd) => {
    process.stdout.write((cmd.optsWithGlobals<GlobalOptions>().json ? JSON.stringify({ token }) : token) + '\n');
  }));
  // subcommands added with addCommand do not inherit settings: apply them through the tree
  const apply = (cmd: Command) => {
    cmd.exitOverride().showHelpAfterError('(add --help for usage)').configureHelp({ showGlobalOptions: true });
    cmd.commands.forEach(apply);
  };
  program.commands.forEach(apply);
  return program;
}

function reportError(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // commander has printed the message (or the help) already; asked-for help and --version exit 0
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    process.stderr.write(json ? JSON.stringify({ error: { code: 'USAGE', message: err.message } }) + '\n' : `qckeys: ${err.message}\n(add --help for usage)\n`);
    return EXIT_USAGE;
  }
  if (err instanceof ApiError) {
    if (json) {
      process.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } }) + '\n');
    } else {
      let line = `qckeys: ${err.code}: ${err.message}`;
      if (err.field) line += ` (field: ${err.field})`;
      if (err.code === 'UNAUTHENTICATED' && !process.env.QCKEYS_TOKEN && !process.argv.some((a) => a.startsWith('--token'))) {
        line += '\nSet QCKEYS_TOKEN or pass --token (a development token: qckeys token --account <id>)';
      }
      process.stderr.write(line + '\n');
    }
    return EXIT_API_ERROR;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(json ? JSON.stringify({ error: { code: 'INTERNAL', message } }) + '\n' : `qckeys: ${message}\n`);
  return EXIT_API_ERROR;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    return reportError(err, argv.includes('--json'));
  }
}

if (require.main === module) {
  void main().then((code) => { process.exitCode = code; });
}

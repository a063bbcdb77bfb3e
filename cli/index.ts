#!/usr/bin/env node
// qckeys: the command line for the qckeys API, for people (tables) and CI pipelines (--json).
// Exit codes: 0 ok, 1 the API refused or could not be reached (or a new secret could not be
// written), 2 a usage error. A reader that closes stdout early (`| head -1`) ends the command quietly.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ApiError } from '../client/index';
import { channelsCommand, developersCommand, instancesCommand, teamsCommand } from './commands/catalog';
import { keysCommand } from './commands/keys';
import { tokenCommand } from './commands/token';
import { usageCommand } from './commands/usage';
import { whoamiCommand } from './commands/whoami';
import { DEFAULT_URL, SecretNotWrittenError, StdoutClosedError, writeStdout, type GlobalOptions } from './runtime';
import { UsageError } from './util';

export const EXIT_OK = 0;
export const EXIT_API_ERROR = 1;
export const EXIT_USAGE = 2;

const HELP_HINT = '(add --help for usage)';

/** The version of the qckeys package this file belongs to (from the source, dist/ or a bundle of it). */
export function version(from = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'qckeys' && pkg.version) return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

/** An option value the option's parser refuses is a usage error naming the option: `--ttl: …`. */
function nameOptionErrors(cmd: Command): void {
  for (const option of cmd.options) {
    const parse = option.parseArg as ((value: string, previous: unknown) => unknown) | undefined;
    if (!parse) continue;
    option.argParser((value: string, previous: unknown) => {
      try {
        return parse(value, previous);
      } catch (err) {
        if (err instanceof InvalidArgumentError) throw new UsageError(`${option.long ?? option.flags}: ${err.message}`);
        throw err;
      }
    });
  }
}

export function buildProgram(): Command {
  const program = new Command('qckeys')
    .description('Manage qckeys API keys from a terminal or a CI pipeline')
    .version(version(), '-V, --version', 'print the version of qckeys')
    .addOption(new Option('--url <url>', 'GraphQL endpoint').env('QCKEYS_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <jwt>', 'bearer token').env('QCKEYS_TOKEN'))
    .option('--json', 'machine-readable JSON on stdout (errors as JSON on stderr)')
    .addOption(new Option('--idempotency-key <key>', 'Idempotency-Key of the mutation (default: a random UUID); reuse it when retrying')
      .env('QCKEYS_IDEMPOTENCY_KEY'));
  program.addCommand(channelsCommand());
  program.addCommand(instancesCommand());
  program.addCommand(teamsCommand());
  program.addCommand(developersCommand());
  program.addCommand(keysCommand());
  program.addCommand(usageCommand());
  program.addCommand(whoamiCommand());
  program.addCommand(tokenCommand((token, cmd) =>
    writeStdout((cmd.optsWithGlobals<GlobalOptions>().json ? JSON.stringify({ token }) : token) + '\n')));
  // subcommands added with addCommand do not inherit settings: apply them through the tree.
  // Commander's own errors (unknown option, missing argument…) are reported by reportError.
  const apply = (cmd: Command) => {
    cmd.exitOverride().configureHelp({ showGlobalOptions: true }).configureOutput({ outputError: () => {} });
    nameOptionErrors(cmd);
    cmd.commands.forEach(apply);
  };
  apply(program);
  return program;
}

function usageError(message: string, json: boolean): number {
  process.stderr.write(json ? JSON.stringify({ error: { code: 'USAGE', message } }) + '\n' : `qckeys: ${message}\n${HELP_HINT}\n`);
  return EXIT_USAGE;
}

function reportError(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    // asked-for help and --version exit 0; a missing command has printed the help on stderr
    if (err.exitCode === 0) return EXIT_OK;
    if (err.code === 'commander.help') return EXIT_USAGE;
    return usageError(err.message.replace(/^error: /, ''), json);
  }
  if (err instanceof UsageError) return usageError(err.message, json);
  // nobody reads stdout any more (`qckeys keys list | head -1`): nothing more to say
  if (err instanceof StdoutClosedError) return EXIT_OK;
  if (err instanceof SecretNotWrittenError) {
    process.stderr.write(json
      ? JSON.stringify({ error: { code: err.code, message: err.message, apiKeyId: err.change.apiKeyId } }) + '\n'
      : `qckeys: ${err.code}: ${err.message}\n`);
    return EXIT_API_ERROR;
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
  // A write to a closed stdout fails with EPIPE; the command that wrote sees it (and a lost secret
  // is reported), so the stream's own error event only needs a listener not to crash the process.
  process.stdout.on('error', () => {});
  void main().then((code) => { process.exitCode = code; });
}

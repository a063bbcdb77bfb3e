// Runs the real CLI (cli/index.ts bundled once per test file with esbuild, ~0.5 s) as a child
// process against a test server, the way a CI step runs it.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestServer } from '../helpers/server';

const ROOT = path.resolve(__dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** QCKEYS_TOKEN (default: the runner's token; null: none). */
  token?: string | null;
  env?: Record<string, string>;
  /** Close the reading end of stdout at once, as a reader that stops early does. */
  closeStdout?: boolean;
}

export interface Cli {
  /** The bundled CLI (`node <file> …args` runs it). */
  file: string;
  /** Runs `qckeys …args` with QCKEYS_URL set to the server and QCKEYS_TOKEN to `token` (none when null). */
  run(args: string[], opts?: RunOptions): Promise<CliResult>;
  /**
   * Runs a bash script (with `set -euo pipefail`) in which `qckeys` (and `npx qckeys`) is this CLI,
   * in the environment `run` gives the CLI.
   */
  bash(script: string, opts?: RunOptions): Promise<CliResult>;
  /** Like run, but fails unless the exit code is 0, and parses stdout as JSON (adds --json). */
  json<T>(args: string[], opts?: RunOptions): Promise<T>;
  remove(): void;
}

/** Bundles the CLI into node_modules/.cache (so its packages resolve) and returns a runner. */
export async function buildCli(server: TestServer, defaultToken: string | null): Promise<Cli> {
  const dir = path.join(ROOT, 'node_modules', '.cache', `qckeys-cli-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  const file = path.join(dir, 'qckeys.js');
  // esbuild's own binary, in a child process: its JavaScript API misbehaves inside jest's sandbox
  await promisify(execFile)(path.join(ROOT, 'node_modules/esbuild/bin/esbuild'), [
    path.join(ROOT, 'cli/index.ts'), '--bundle', '--platform=node', '--target=node20', '--packages=external',
    `--outfile=${file}`, '--log-level=error',
  ], { cwd: ROOT });

  const environment = (opts: RunOptions): Record<string, string> => {
    const token = opts.token === undefined ? defaultToken : opts.token;
    const env: Record<string, string> = {};
    // a clean environment: nothing from the developer's shell leaks into the command
    for (const name of ['PATH', 'HOME', 'SYSTEMROOT', 'TMPDIR']) if (process.env[name]) env[name] = process.env[name] as string;
    env.QCKEYS_URL = `${server.baseUrl}/graphql`;
    if (token) env.QCKEYS_TOKEN = token;
    return Object.assign(env, opts.env);
  };
  const spawnAndWait = (command: string, args: string[], env: Record<string, string>, closeStdout = false): Promise<CliResult> =>
    new Promise((resolve, reject) => {
      const child = spawn(command, args, { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      if (closeStdout) child.stdout.destroy();
      else child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  const cli: Cli = {
    file,
    run(args, opts = {}) {
      return spawnAndWait(process.execPath, [file, ...args], environment(opts), opts.closeStdout);
    },
    bash(script, opts = {}) {
      const env = { ...environment(opts), QCKEYS_NODE: process.execPath, QCKEYS_CLI: file };
      const prelude = 'set -euo pipefail\nqckeys() { "$QCKEYS_NODE" "$QCKEYS_CLI" "$@"; }\nnpx() { "$@"; }\n';
      return spawnAndWait('bash', ['-c', prelude + script], env, opts.closeStdout);
    },
    async json<T>(args: string[], opts = {}) {
      const res = await cli.run([...args, '--json'], opts);
      if (res.code !== 0) throw new Error(`qckeys ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
      return JSON.parse(res.stdout) as T;
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return cli;
}

/** The key fields the CLI prints with --json. */
export interface CliKey {
  id: string;
  name: string;
  hint: string;
  cloud: string;
  status: string;
  expiresAt: string;
  createdAt: string;
  updatedAt: string;
  renewedAt: string | null;
  revokedAt: string | null;
  revocationReason: string | null;
  lastUsedAt: string | null;
  version: number;
  instance: { id: string; name: string };
  channel: { id: string; name: string };
  developer: { id: string; name: string };
  teams: { id: string; name: string }[];
}

export interface CliList {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  keys: CliKey[];
}

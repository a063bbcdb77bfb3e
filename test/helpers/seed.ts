import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface SeedRun { code: number | null; output: string }

/** `npm run seed` as a new user runs it (scripts/seed.ts, a clean environment plus `env`): its exit code and output. */
export function runSeed(env: Record<string, string>, args: string[]): Promise<SeedRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', ...args], {
    cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

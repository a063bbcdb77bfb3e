import { spawnSync } from 'node:child_process';

/**
 * The benchmarks measure the compiled service, as `npm start` runs it (the sources run through
 * tsx carry its transform's helpers, such as naming every closure as it is made): build it first,
 * once for the benchmarks this process starts. BENCH_SKIP_BUILD=1 uses dist/ as it is.
 */
export function ensureBuilt(root: string): void {
  if (process.env.BENCH_SKIP_BUILD) return;
  const result = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('the build failed');
  process.env.BENCH_SKIP_BUILD = '1';
}

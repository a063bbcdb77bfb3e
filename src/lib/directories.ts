import fs from 'node:fs';
import path from 'node:path';

/**
 * Puts the finished directory `staging` at `target` in two renames, so that a reader finds the
 * old directory, none, or the new one, never a half-written one. When another process swapped in
 * its own at the same time, `staging` is dropped: the same inputs made the same files.
 */
export function swapInDirectory(staging: string, target: string): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const old = `${target}.old-${process.pid}`;
  try {
    try {
      fs.renameSync(target, old);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      fs.renameSync(staging, target);
    } catch (err) {
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
      fs.rmSync(staging, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(old, { recursive: true, force: true });
  }
}

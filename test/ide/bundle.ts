import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildIde, IDE_OUT_DIR, ROOT } from '../../scripts/build-ide';

function newestMtime(file: string): number {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

function isCurrent(): boolean {
  const manifest = path.join(IDE_OUT_DIR, 'manifest.json');
  const inputs = [path.join(ROOT, 'ide'), path.join(ROOT, 'scripts', 'build-ide.ts'), path.join(ROOT, 'package-lock.json')];
  return fs.existsSync(manifest) && fs.statSync(manifest).mtimeMs >= Math.max(...inputs.map(newestMtime));
}

/**
 * Makes sure `dist/ide` holds a bundle of the current IDE sources: builds it when it is missing or
 * older than `ide/`, the build script or the installed packages. Test files running at the same
 * time build it once (a lock directory next to it).
 */
export async function ensureIdeBuilt(): Promise<void> {
  const lock = `${IDE_OUT_DIR}.lock`;
  fs.mkdirSync(path.dirname(IDE_OUT_DIR), { recursive: true });
  for (;;) {
    if (isCurrent()) return;
    try {
      fs.mkdirSync(lock);
    } catch {
      // another process is building; a lock older than two minutes is left over from a crash
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) fs.rmSync(lock, { recursive: true, force: true });
      await sleep(250);
      continue;
    }
    try {
      if (!isCurrent()) await buildIde();
      return;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

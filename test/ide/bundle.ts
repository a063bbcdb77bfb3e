import fs from 'node:fs';
import path from 'node:path';
import { buildIde, IDE_OUT_DIR, ROOT } from '../../scripts/build-ide';

function newestMtime(file: string): number {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

/**
 * Makes sure `dist/ide` holds a bundle of the current IDE sources: builds it when it is missing or
 * older than `ide/`, the build script or the installed packages.
 */
export async function ensureIdeBuilt(): Promise<void> {
  const manifest = path.join(IDE_OUT_DIR, 'manifest.json');
  const inputs = [path.join(ROOT, 'ide'), path.join(ROOT, 'scripts', 'build-ide.ts'), path.join(ROOT, 'package-lock.json')];
  if (fs.existsSync(manifest) && fs.statSync(manifest).mtimeMs >= Math.max(...inputs.map(newestMtime))) return;
  await buildIde();
}

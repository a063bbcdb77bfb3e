/**
 * Makes the embedded database's template cluster in `dist/pglite-template` (src/db/template.ts),
 * so that a new data directory starts from a copy instead of running initdb. Kept while the one
 * there was made by the installed PGlite release.
 *
 *   node dist/scripts/build-pglite-template.js
 */
import path from 'node:path';
import { BUILT_TEMPLATE_DIR, ensureTemplate } from '../src/db/template';

const started = Date.now();
ensureTemplate(BUILT_TEMPLATE_DIR).then(
  (made) => {
    const where = path.relative(process.cwd(), BUILT_TEMPLATE_DIR);
    console.log(made ? `embedded database template made in ${where} in ${Date.now() - started} ms` : `embedded database template in ${where} is up to date`);
  },
  (err: unknown) => {
    console.error('build-pglite-template:', err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

/**
 * `npm start`: warns about an unsupported Node.js, checks that the port is free, builds `dist/`
 * only when its sources changed (scripts/build-plan.mjs), then runs the built server in this very
 * process, so that npm's signals reach the server's own SIGTERM/SIGINT handling directly
 * (package.json runs it with `exec`, so no shell stays between npm and node either).
 *
 * A busy port is reported before anything is built or written: exit code 2, as for any other
 * wrong configuration.
 */
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, ROOT, staleSteps } from './build-plan.mjs';
import { nodeVersionWarning } from './node-version.mjs';

const warning = nodeVersionWarning();
if (warning) console.error(warning);

/** PORT and HOST as src/config.ts reads them; port null when PORT is not a valid port (the server then says so). */
function listenAddress(env = process.env) {
  const raw = env.PORT;
  const port = raw === undefined || raw === '' ? 4000 : Number(raw);
  const host = env.HOST === undefined || env.HOST.trim() === '' ? '0.0.0.0' : env.HOST;
  return { port: Number.isInteger(port) && port >= 1 && port <= 65535 ? port : null, host };
}

/** True when something already listens on port (other failures, such as EACCES, are left to the server to report). */
function inUse(port, host) {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err) => resolve(err.code === 'EADDRINUSE'));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

const { port, host } = listenAddress();
if (port !== null && (await inUse(port, host))) {
  let free = null;
  for (let candidate = port + 1; candidate <= Math.min(port + 20, 65535) && free === null; candidate++) {
    if (!(await inUse(candidate, host))) free = candidate;
  }
  console.error(`qckeys: port ${port} is in use; set PORT=${free ?? '<another port>'} npm start`);
  process.exit(2);
}

if (staleSteps().length > 0) {
  const build = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    console.error('qckeys: the build failed (see above); not starting');
    process.exit(1);
  }
}

await import(pathToFileURL(path.join(DIST, 'src', 'server.js')).href);

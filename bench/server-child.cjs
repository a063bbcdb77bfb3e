// The service as the benchmarks run it: the built `startService` (bench/lib/build.ts), in a
// process of its own run as `npm start` runs it, plain JavaScript with no loader of TypeScript in
// the process (its memory and start-up would count as the service's). The parent asks for
// { type: 'stats' } over IPC (bench/child-ipc.cjs).
'use strict';
const path = require('node:path');

const DIST = path.resolve(__dirname, '..', 'dist', 'src');
const { loadConfig } = require(path.join(DIST, 'config.js'));
const { startService } = require(path.join(DIST, 'service.js'));
const { answerBench } = require('./child-ipc.cjs');

async function main() {
  const service = await startService(loadConfig());
  answerBench({ url: service.url, verifyPort: service.verifyPort }, () => service.stop());
}

main().catch((err) => {
  console.error('bench server failed to start:', err);
  process.exit(1);
});

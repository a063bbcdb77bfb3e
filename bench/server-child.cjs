// The service as the benchmarks run it: the built `startService` (bench/lib/build.ts), in a
// process of its own run as `npm start` runs it, plain JavaScript with no loader of TypeScript in
// the process (its memory and start-up would count as the service's). The parent asks for
// { type: 'stats' } over IPC (bench/lib/server.ts: ChildMessage).
'use strict';
const path = require('node:path');

const DIST = path.resolve(__dirname, '..', 'dist', 'src');
const { loadConfig } = require(path.join(DIST, 'config.js'));
const { startService } = require(path.join(DIST, 'service.js'));

async function main() {
  const service = await startService(loadConfig());
  const send = (message) => process.send?.(message);
  process.on('message', (message) => {
    if (message.type === 'stats') {
      const cpu = process.cpuUsage();
      send({
        type: 'stats',
        rssMb: process.memoryUsage().rss / 1048576,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        cpuMs: (cpu.user + cpu.system) / 1000,
      });
    } else if (message.type === 'stop') {
      service.stop().then(() => process.exit(0), () => process.exit(1));
    }
  });
  send({ type: 'ready', url: service.url, verifyPort: service.verifyPort });
}

main().catch((err) => {
  console.error('bench server failed to start:', err);
  process.exit(1);
});

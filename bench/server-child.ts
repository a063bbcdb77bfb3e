// The service as the benchmarks run it: the built `startService`, in a process of its own, with
// a counter of SQL statements. The parent asks for { type: 'stats' } over IPC.
import path from 'node:path';
import type * as Config from '../src/config';
import type * as Service from '../src/service';

// the build, as `npm start` runs it (bench/lib/build.ts)
const DIST = path.resolve(__dirname, '..', 'dist', 'src');
/* eslint-disable @typescript-eslint/no-require-imports */
const { loadConfig } = require(path.join(DIST, 'config.js')) as typeof Config;
const { startService } = require(path.join(DIST, 'service.js')) as typeof Service;
/* eslint-enable @typescript-eslint/no-require-imports */

export interface ChildStats { statements: number; rssMb: number; peakRssMb: number; cpuMs: number }
export type ChildMessage = { type: 'ready'; url: string } | ({ type: 'stats' } & ChildStats);

async function main(): Promise<void> {
  const service = await startService(loadConfig());
  let statements = 0;
  service.db.knex.on('query', () => { statements++; });
  const send = (message: ChildMessage) => process.send?.(message);
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') {
      send({
        type: 'stats', statements,
        rssMb: process.memoryUsage().rss / 1048576,
        peakRssMb: process.resourceUsage().maxRSS / 1024,
        cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      });
    } else if (message.type === 'stop') {
      service.stop().then(() => process.exit(0), () => process.exit(1));
    }
  });
  send({ type: 'ready', url: service.url });
}

main().catch((err: unknown) => {
  console.error('bench server failed to start:', err);
  process.exit(1);
});

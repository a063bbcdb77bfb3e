// The IPC of bench/'s server processes with bench/lib/server.ts (its ChildMessage): `ready` once
// serving, `stats` (memory and CPU) whenever asked, and on `stop` the server's own stop, then exit.
'use strict';

/** Announces `ready` ({ url, verifyPort }) and answers the bench until `stop()` has ended the server. */
function answerBench(ready, stop) {
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
      stop().then(() => process.exit(0), () => process.exit(1));
    }
  });
  send({ type: 'ready', ...ready });
}

module.exports = { answerBench };

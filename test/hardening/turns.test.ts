// GraphQL work resumes one stretch per turn of the event loop (src/lib/turns.ts), so a socket's
// data is read between two stretches instead of after all of them.
import net from 'node:net';
import { Turns } from '../../src/lib/turns';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* a stretch of work without I/O */ }
};

test('waiters resume in the order they asked, one per turn of the event loop', async () => {
  const turns = new Turns();
  const order: string[] = [];
  const all = ['a', 'b', 'c'].map((name) => turns.next().then(() => {
    order.push(name);
    // the ones after it are still waiting: they resume in later turns
    expect(turns.length).toBe(3 - order.length);
  }));
  expect(turns.length).toBe(3);
  await Promise.all(all);
  expect(order).toEqual(['a', 'b', 'c']);
  expect(turns.length).toBe(0);
});

test('data that arrives during a stretch of queued work is read right after that stretch, not after all of them', async () => {
  const server = net.createServer();
  let stretchesDone = 0;
  let stretchesBeforeRead = -1;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const received = new Promise<void>((resolve) => {
    server.on('connection', (socket) => socket.on('data', () => {
      stretchesBeforeRead = stretchesDone;
      resolve();
    }));
  });
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  await new Promise((resolve) => setTimeout(resolve, 20)); // the server has accepted it

  const turns = new Turns();
  const work = Array.from({ length: 8 }, (_, i) => turns.next().then(() => {
    // a verification arrives while the first stretch runs
    if (i === 0) client.write('verify');
    busy(15);
    stretchesDone++;
  }));
  await Promise.all([received, ...work]);
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
  expect(stretchesDone).toBe(8);
  expect(stretchesBeforeRead).toBe(1);
});

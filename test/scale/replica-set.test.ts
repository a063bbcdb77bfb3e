// How the service decides that a read replica may take reads (src/db/replicas.ts), on WAL
// locations given by the test: the streaming replica itself is driven in test/scale/rig.test.ts.
import type { Driver, PoolStats } from '../../src/db/driver';
import { lsnBytes, RecentWriters, ReplicaSet, type Replica } from '../../src/db/replicas';

const stats: PoolStats = { used: 0, idle: 0, waiting: 0, statements: 0 };

/** A replica whose replayed WAL location the test sets (null: not a standby; an Error: unreachable). */
function replica(name: string) {
  const state: { replayed: string | null | Error } = { replayed: '0/0' };
  const monitor: Driver = {
    oneConnection: false,
    begin: () => Promise.reject(new Error('not used')),
    reader: () => Promise.reject(new Error('not used')),
    once: <R>() => (state.replayed instanceof Error ? Promise.reject(state.replayed) : Promise.resolve([{ lsn: state.replayed }] as R[])),
    stats: () => stats,
    end: () => Promise.resolve(),
  };
  const requests: Driver = { ...monitor, once: () => Promise.reject(new Error('not used')) };
  const r: Replica = { name, requests, monitor };
  return { r, state };
}

function setup(count = 1) {
  let now = 1_000_000;
  let primary = '0/1000';
  const replicas = Array.from({ length: count }, (_, i) => replica(`replica-${i}`));
  const set = new ReplicaSet(replicas.map((x) => x.r), async () => primary, { maxLagMs: 1000, checkMs: 100 }, () => now);
  return {
    set, replicas,
    advance: (ms: number) => { now += ms; },
    write: (lsn: string) => { primary = lsn; },
  };
}

test('WAL locations compare as numbers of bytes', () => {
  expect(lsnBytes('0/3000148')).toBe(0x3000148n);
  expect(lsnBytes('1/0')).toBe(1n << 32n);
  expect(lsnBytes('A/FF') > lsnBytes('9/FFFFFFFF')).toBe(true);
});

test('a caught-up replica takes reads, and stays in rotation while the primary is idle', async () => {
  const { set, replicas, advance } = setup();
  replicas[0].state.replayed = '0/1000';
  await set.check();
  expect(set.pick()).toBe(replicas[0].r.requests);
  expect(set.states()).toEqual([{ name: 'replica-0', inRotation: true, lagMs: 0, bytesBehind: 0, error: null }]);
  // nothing written for a minute: the primary's location does not move, and the replica holds it all
  for (let i = 0; i < 600; i++) {
    advance(100);
    await set.check();
  }
  expect(set.pick()).toBe(replicas[0].r.requests);
});

test('a replica that stops replaying leaves rotation once its reads could be older than the bound, and comes back when it catches up', async () => {
  const { set, replicas, advance, write } = setup();
  replicas[0].state.replayed = '0/1000';
  await set.check();
  write('0/2000'); // a write the replica does not replay
  for (let waited = 100; waited <= 1000; waited += 100) {
    advance(100);
    await set.check();
    // every write before the last sample it had replayed is there: at most `waited` ms old
    expect(set.pick()).toBe(replicas[0].r.requests);
  }
  advance(1);
  expect(set.pick()).toBeNull(); // past the bound between two measurements, too
  // and what /readyz shows agrees: the lag is the bound's, now, not the last measurement's
  expect(set.states()[0]).toMatchObject({ inRotation: false, lagMs: 1001 });
  await set.check();
  expect(set.states()[0]).toMatchObject({ inRotation: false, bytesBehind: 0x1000, error: null });
  expect(set.states()[0].lagMs).toBeGreaterThan(1000);
  replicas[0].state.replayed = '0/2000';
  advance(100);
  await set.check();
  expect(set.pick()).toBe(replicas[0].r.requests);
  expect(set.states()[0]).toMatchObject({ inRotation: true, lagMs: 0, bytesBehind: 0 });
});

test('an unreachable replica, or one that is no standby, is out of rotation at once', async () => {
  const { set, replicas, advance } = setup();
  replicas[0].state.replayed = '0/1000';
  await set.check();
  replicas[0].state.replayed = new Error('connection refused');
  advance(100);
  await set.check();
  expect(set.pick()).toBeNull();
  expect(set.states()[0]).toMatchObject({ inRotation: false, error: 'connection refused' });
  replicas[0].state.replayed = null; // promoted
  advance(100);
  await set.check();
  expect(set.states()[0].error).toMatch(/not a standby/);
});

test('replicas in rotation take reads in turn; one lagging is skipped', async () => {
  const { set, replicas, advance, write } = setup(3);
  for (const x of replicas) x.state.replayed = '0/1000';
  await set.check();
  expect([set.pick(), set.pick(), set.pick(), set.pick()]).toEqual([0, 1, 2, 0].map((i) => replicas[i].r.requests));
  write('0/5000');
  replicas[0].state.replayed = '0/5000';
  replicas[2].state.replayed = '0/5000';
  advance(1500);
  await set.check();
  const picked = new Set(Array.from({ length: 6 }, () => set.pick()));
  expect(picked).toEqual(new Set([replicas[0].r.requests, replicas[2].r.requests]));
});

test('read-your-writes: a writer reads from the primary for the window, others do not; a missed notification holds everyone', () => {
  let now = 0;
  const writers = new RecentWriters(5000, () => now);
  const alice = RecentWriters.key('acme', 'alice');
  const bob = RecentWriters.key('acme', 'bob');
  expect(RecentWriters.key('acme', 'a"b')).not.toBe(RecentWriters.key('acme"', 'b')); // no two principals share a key
  writers.wrote(alice);
  expect(writers.recent(alice)).toBe(true);
  expect(writers.recent(bob)).toBe(false);
  expect(writers.recent(RecentWriters.key('other', 'alice'))).toBe(false);
  now = 4999;
  expect(writers.recent(alice)).toBe(true);
  now = 5000;
  expect(writers.recent(alice)).toBe(false);
  writers.everyone();
  expect(writers.recent(bob)).toBe(true);
  now = 10_000;
  expect(writers.recent(bob)).toBe(false);
});

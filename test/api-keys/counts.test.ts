// Counts kept by (account, filter) (src/modules/api-keys/counts.ts): valid while the stamp stays
// and their time has not come, counted once for requests that ask at the same time, bounded.
import { KeyCounts } from '../../src/modules/api-keys/counts';

test('a kept value is used only with the same stamp and before its time', () => {
  const counts = new KeyCounts<string>();
  counts.set('k', 'v', 7, 1000);
  expect(counts.peek('k', 999)).toEqual({ value: 'v', stamp: 7 });
  expect(counts.peek('k', 1000)).toBeUndefined();
  expect(counts.get('k', 8, 0)).toBeUndefined(); // another stamp drops it
  expect(counts.peek('k', 0)).toBeUndefined();
});

test('requests asking at the same time share one count; a failed count is not kept and the next one counts again', async () => {
  const counts = new KeyCounts<number>();
  let runs = 0;
  let finish!: (n: number) => void;
  const count = () => {
    runs++;
    return new Promise<{ value: number; stamp: number; validUntil: number }>((resolve) => { finish = (n) => resolve({ value: n, stamp: 1, validUntil: Infinity }); });
  };
  const all = Promise.all([counts.once('k', count), counts.once('k', count), counts.once('k', count)]);
  finish(42);
  expect((await all).map((k) => k.value)).toEqual([42, 42, 42]);
  expect(runs).toBe(1);
  expect(counts.peek('k', 0)).toEqual({ value: 42, stamp: 1 });

  const failing = () => { runs++; return Promise.reject(new Error('statement timeout')); };
  await expect(Promise.all([counts.once('f', failing), counts.once('f', failing)])).rejects.toThrow('statement timeout');
  expect(runs).toBe(2);
  expect(counts.peek('f', 0)).toBeUndefined();
  const again = counts.once('f', count);
  finish(5);
  expect((await again).value).toBe(5);
  expect(runs).toBe(3);
});

test('past its bound the least recently used entry goes; a read counts as a use', () => {
  const counts = new KeyCounts<number>(2);
  counts.set('a', 1, 0, Infinity);
  counts.set('b', 2, 0, Infinity);
  expect(counts.peek('a', 0)?.value).toBe(1); // a is now the most recently used
  counts.set('c', 3, 0, Infinity);
  expect([counts.peek('a', 0)?.value, counts.peek('b', 0)?.value, counts.peek('c', 0)?.value]).toEqual([1, undefined, 3]);
  expect(counts.size).toBe(2);
});

test('a kept count\'s key is short however many teams its filter names, and tells filters apart', () => {
  const filter = {
    search: null, teamIds: [] as string[], withoutTeam: null, developerIds: [], channelIds: [], instanceIds: [], clouds: [], statuses: [],
    expiresBefore: null, expiresAfter: null,
  };
  const teams = Array.from({ length: 1000 }, (_, i) => `team_${String(i).padStart(26, '0')}`);
  const most = KeyCounts.keyOf('acme', { ...filter, teamIds: teams });
  expect(most.length).toBeLessThanOrEqual(44);
  // the teams' order does not matter; one team fewer, another account or another search does
  expect(KeyCounts.keyOf('acme', { ...filter, teamIds: [...teams].reverse() })).toBe(most);
  expect(KeyCounts.keyOf('acme', { ...filter, teamIds: teams.slice(1) })).not.toBe(most);
  expect(KeyCounts.keyOf('globex', { ...filter, teamIds: teams })).not.toBe(most);
  expect(KeyCounts.keyOf('acme', { ...filter, teamIds: teams, search: 'e' })).not.toBe(most);
});

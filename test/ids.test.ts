import type * as Ids from '../src/lib/ids';

/** The module afresh, without the last time of IDs made before. */
function freshIds(): typeof Ids {
  let ids!: typeof Ids;
  jest.isolateModules(() => { ids = jest.requireActual<typeof Ids>('../src/lib/ids'); });
  return ids;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A ULID's 26 characters as its 128 bits, read back independently of the encoder. */
const bitsOf = (id: string) => [...id].reduce((v, c) => (v << 5n) | BigInt(CROCKFORD.indexOf(c)), 0n);
const timeOf = (id: string) => Number(bitsOf(id) >> 80n);
const randomOf = (id: string) => bitsOf(id) & ((1n << 80n) - 1n);

describe('ulid', () => {
  it('encodes the time as the specification does', () => {
    const { ulid } = freshIds();
    // the specification's example time
    expect(freshIds().ulid(0).slice(0, 10)).toBe('0000000000');
    expect(freshIds().ulid(2 ** 32 + 7).slice(0, 10)).toBe('0004000007');
    expect(ulid(1469918176385).slice(0, 10)).toBe('01ARYZ6S41');
    for (const t of [1469918176386, Date.UTC(2026, 11, 1), 2 ** 48 - 1]) {
      const id = ulid(t);
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(timeOf(id)).toBe(t);
    }
    // an earlier time than the last keeps the last, counting up: IDs never go back
    expect(timeOf(ulid(5))).toBe(2 ** 48 - 1);
  });

  it('counts up within a millisecond, carrying across bytes, and sorts in creation order', () => {
    const { ulid } = freshIds();
    const t = 2 ** 47 + 12345;
    const ids = Array.from({ length: 100_000 }, () => ulid(t));
    let carried = 0;
    const wrong: string[] = [];
    for (let i = 1; i < ids.length; i++) {
      const before = randomOf(ids[i - 1]);
      // one more each time, and a plain string comparison orders them
      if (timeOf(ids[i]) !== t || randomOf(ids[i]) !== before + 1n || !(ids[i - 1] < ids[i])) wrong.push(`${ids[i - 1]} → ${ids[i]}`);
      if ((before & 255n) === 255n) carried++;
    }
    expect(wrong).toEqual([]);
    // 100,000 increments wrap the last byte some 390 times
    expect(carried).toBeGreaterThan(300);
  });

  it('draws a new random part in a new millisecond', () => {
    const { ulid } = freshIds();
    const a = ulid(2 ** 47 + 20_000);
    const b = ulid(2 ** 47 + 20_001);
    expect(timeOf(b)).toBe(timeOf(a) + 1);
    expect(randomOf(b)).not.toBe(randomOf(a) + 1n);
    expect(a < b).toBe(true);
  });

  it('prefixes IDs with their type', () => {
    const { newId, typeOfId } = freshIds();
    const id = newId('ApiKeyEvent');
    expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(typeOfId(id)).toBe('ApiKeyEvent');
    expect(typeOfId('nope_01ARYZ6S41')).toBeNull();
  });
});

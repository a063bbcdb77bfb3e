import DataLoader from 'dataloader';

/** Lines rows up with the keys a DataLoader asked for (one value or null per key). */
export function mapTo<K, V>(keys: readonly K[], rows: V[], keyOf: (row: V) => K): (V | null)[] {
  const byKey = new Map<K, V>();
  for (const row of rows) byKey.set(keyOf(row), row);
  return keys.map((key) => byKey.get(key) ?? null);
}

/** Lines rows up with the keys a DataLoader asked for (a list per key). */
export function mapToMany<K, V>(keys: readonly K[], rows: V[], keyOf: (row: V) => K): V[][] {
  const byKey = new Map<K, V[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const list = byKey.get(key);
    if (list) list.push(row);
    else byKey.set(key, [row]);
  }
  return keys.map((key) => byKey.get(key) ?? []);
}

/**
 * A DataLoader that also hands out synchronously what it already holds (primed or loaded).
 * graphql-js completes a plain value in place, while each promise costs it microtasks and an
 * asynchronous completion of the field and everything below it: a page of 50 keys, each with a
 * developer, an instance, a channel and teams that the listing primed, has 200 such fields.
 */
export class Loader<K, V> extends DataLoader<K, V, K> {
  private readonly held = new Map<K, V>();

  constructor(batch: (keys: readonly K[]) => Promise<V[]>) {
    super(async (keys) => {
      const values = await batch(keys);
      values.forEach((value, i) => {
        if (!(value instanceof Error)) this.held.set(keys[i], value);
      });
      return values;
    });
  }

  override prime(key: K, value: V | PromiseLike<V> | Error): this {
    if (!this.held.has(key) && !(value instanceof Error) && !isPromiseLike(value)) this.held.set(key, value);
    return super.prime(key, value);
  }

  override clear(key: K): this {
    this.held.delete(key);
    return super.clear(key);
  }

  override clearAll(): this {
    this.held.clear();
    return super.clearAll();
  }

  /** The value, at once when held, else as `load` gives it. */
  get(key: K): V | Promise<V> {
    return this.held.has(key) ? (this.held.get(key) as V) : this.load(key);
  }

  /** The values in order, at once when all are held; a key that failed to load rejects the whole. */
  getAll(keys: readonly K[]): V[] | Promise<V[]> {
    const values: V[] = [];
    for (const key of keys) {
      if (!this.held.has(key)) return Promise.all(keys.map((k) => this.load(k)));
      values.push(this.held.get(key) as V);
    }
    return values;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Applies `fn` to a value that may still be on its way, without a promise when it is not. */
export function whenReady<T, U>(value: T | Promise<T>, fn: (value: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(fn) : fn(value);
}

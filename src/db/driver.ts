import { ApiError } from '../errors';

/** One SQL statement with `$n` parameters; `name` makes it a prepared statement where the driver keeps them. */
export interface Statement {
  text: string;
  values?: readonly unknown[];
  name?: string;
}

export interface Result<R = Record<string, unknown>> {
  rows: R[];
  /** Rows a data-changing statement touched (rows returned otherwise). */
  rowCount: number;
}

/** Statements each in a transaction of its own, begun by {@link Driver.reader}. */
export interface Reader {
  query<R>(statement: Statement): Promise<Result<R>>;
  /** Gives the place back (once). */
  end(): void;
}

/** A transaction on a connection of its own, begun by {@link Driver.begin}. */
export interface Tx {
  query<R>(statement: Statement): Promise<Result<R>>;
  /** True when PostgreSQL kept the work; false when COMMIT rolled back (the transaction had failed). */
  commit(): Promise<boolean>;
  rollback(): Promise<void>;
}

export interface PoolStats {
  /** Connections (or transactions, on the embedded database) in use. */
  used: number;
  idle: number;
  /** Callers waiting for one. */
  waiting: number;
  /** Statements of the service's work sent since the start (transaction control and scope not counted). */
  statements: number;
}

/** How the service talks to one database: a pool of connections on a server, or the embedded database. */
export interface Driver {
  /**
   * True when every transaction shares the one connection of the embedded database: work that
   * holds a transaction must then never wait for another.
   */
  readonly oneConnection: boolean;
  /** Begins a transaction whose first statement is `setup` (parameterless: the scope), in one round trip. */
  begin(setup: string): Promise<Tx>;
  /**
   * Statements read apart (a request that writes nothing): each after `setup` (parameterless: the
   * scope), both in one implicit transaction and, on a server, one round trip, on a connection
   * taken for that statement alone. The reader holds one of the driver's places, as a transaction
   * holds its connection, until {@link Reader.end}.
   */
  reader(setup: string): Promise<Reader>;
  /** Parameterless statements in one implicit transaction and one round trip; the last one's rows. */
  once<R>(text: string): Promise<R[]>;
  stats(): PoolStats;
  end(): Promise<void>;
}

/** More work than connections, for longer than the wait allows: retry shortly (HTTP 503 with Retry-After). */
export const overloaded = (waitMs: number) => new ApiError('SERVICE_UNAVAILABLE',
  `The service is busy: no database connection came free within ${waitMs} ms; retry shortly`, { retryAfterSeconds: 1, reason: 'overloaded' });

/**
 * At most `max` holders at a time, the others queued in order, each for at most `waitMs`:
 * overload is queued, and a request that cannot be served in time fails fast with
 * {@link overloaded} instead of waiting for a connection timeout that means an outage.
 */
export class Admission {
  private used = 0;
  private readonly queue: { admit: () => void; timer: NodeJS.Timeout }[] = [];

  constructor(private readonly max: number, private readonly waitMs: number, private readonly onTimeout: () => void = () => undefined) {}

  /** Resolves with the function that gives the place back (once). */
  enter(): Promise<() => void> {
    if (this.used < this.max && this.queue.length === 0) {
      this.used++;
      return Promise.resolve(this.release());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        admit: () => {
          clearTimeout(waiter.timer);
          resolve(this.release());
        },
        timer: setTimeout(() => {
          this.queue.splice(this.queue.indexOf(waiter), 1);
          this.onTimeout();
          reject(overloaded(this.waitMs));
        }, this.waitMs),
      };
      this.queue.push(waiter);
    });
  }

  private release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      // the place passes straight to the next in line
      if (next) next.admit();
      else this.used--;
    };
  }

  get stats(): { used: number; waiting: number } {
    return { used: this.used, waiting: this.queue.length };
  }
}

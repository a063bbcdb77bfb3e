import { TransactionAbortedError, type PGlite, type Transaction } from '@electric-sql/pglite';
import { Admission, type Driver, type PoolStats, type Reader, type Result, type Statement, type Tx } from './driver';

type Ending = 'commit' | 'rollback';

const resultOf = async <R>(tx: Transaction, statement: Statement): Promise<Result<R>> => {
  const result = await tx.query<R>(statement.text, statement.values as unknown[] | undefined);
  return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
};

/**
 * The embedded database: one connection, so one transaction at a time (PGlite's own
 * `transaction`, which holds its lock until the callback ends), queued with a bounded wait.
 */
export class PgliteDriver implements Driver {
  readonly oneConnection = true;
  private statements = 0;
  private readonly admission: Admission;

  constructor(private readonly pglite: PGlite, waitMs: number, onWaitTimeout?: () => void) {
    // callers queue here, where the wait is bounded, rather than on PGlite's lock
    this.admission = new Admission(1, waitMs, onWaitTimeout);
  }

  async begin(setup: string): Promise<Tx> {
    const leave = await this.admission.enter();
    const counted = () => { this.statements++; };
    return new Promise<Tx>((resolve, reject) => {
      let end!: (ending: Ending) => void;
      const ended = new Promise<Ending>((r) => { end = r; });
      let begun = false;
      const finished = this.pglite.transaction(async (tx: Transaction) => {
        if (setup) await tx.exec(setup);
        begun = true;
        resolve(handle(tx));
        if ((await ended) === 'rollback') await tx.rollback();
      });
      const settled = finished.finally(leave);
      // a failure before the transaction was handed out (the setup) is the caller's
      settled.catch((err: unknown) => { if (!begun) reject(err); });
      const handle = (tx: Transaction): Tx => ({
        query<R>(statement: Statement): Promise<Result<R>> {
          counted();
          return resultOf<R>(tx, statement);
        },
        async commit() {
          end('commit');
          try {
            await settled;
            return true;
          } catch (err) {
            // COMMIT of a transaction that failed rolls it back
            if (err instanceof TransactionAbortedError) return false;
            throw err;
          }
        },
        async rollback() {
          end('rollback');
          await settled.catch(() => undefined);
        },
      });
    });
  }

  /**
   * Holds nothing between statements: each is a transaction of its own with the scope, and waits
   * for the one connection on its own, so that no request holds it while it waits for anything else.
   */
  async reader(setup: string): Promise<Reader> {
    return { query: (statement) => this.scoped(setup, statement), end: () => undefined };
  }

  private scoped<R>(setup: string, statement: Statement): Promise<Result<R>> {
    // PGlite's transaction commits when the callback succeeds and rolls back when it throws
    return this.alone(() => this.pglite.transaction(async (tx) => {
      if (setup) await tx.exec(setup);
      return resultOf<R>(tx, statement);
    }));
  }

  once<R>(text: string): Promise<R[]> {
    return this.alone(async () => {
      const results = await this.pglite.exec(text);
      return (results[results.length - 1]?.rows ?? []) as R[];
    });
  }

  /** Work of one round trip on the one connection, once admitted; the connection is free again when it ends. */
  private async alone<T>(work: () => Promise<T>): Promise<T> {
    const leave = await this.admission.enter();
    this.statements++;
    try {
      return await work();
    } finally {
      leave();
    }
  }

  stats(): PoolStats {
    const { used, waiting } = this.admission.stats;
    return { used, idle: 1 - used, waiting, statements: this.statements };
  }

  async end(): Promise<void> {
    // the PGlite instance is closed by its owner (src/db/database.ts)
  }
}

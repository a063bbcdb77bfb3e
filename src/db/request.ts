import { graphqlTurns } from '../lib/turns';
import { statementOf, type Db, type MutationDb, type Query } from './db';
import type { Driver, Reader, Result, Statement, Tx } from './driver';

/** A {@link Db} over one transaction. */
export function dbOver(run: (statement: Statement) => Promise<Result<unknown>>): Db {
  return {
    rows: async <R>(query: Query) => (await run(statementOf(query))).rows as R[],
    first: async <R>(query: Query) => (await run(statementOf(query))).rows[0] as R | undefined,
    execute: async (query: Query) => (await run(statementOf(query))).rowCount,
  };
}

/** A statement's result, once the request's work may go on with it. */
const inTurn = async <T>(result: T): Promise<T> => {
  await graphqlTurns.next();
  return result;
};

/** What a mutation asked to run once it succeeded, and to wait for once it is committed. */
interface Afterwards { success: (() => void)[]; commit: (() => Promise<unknown>)[] }

const afterwards = (): Afterwards => ({ success: [], commit: [] });

/** A mutation's {@link MutationDb}: statements through `run`, its afterwards kept. */
function mutationDb(run: (statement: Statement) => Promise<Result<unknown>>, after: Afterwards): MutationDb {
  return {
    ...dbOver(run),
    afterSuccess: (callback) => { after.success.push(callback); },
    afterCommit: (wait) => { after.commit.push(wait); },
  };
}

/** Runs `work` in a transaction of its own: committed when it succeeds, rolled back when it fails. */
export async function inOwnTransaction<T>(driver: Driver, setup: string, work: (db: MutationDb) => Promise<T>): Promise<T> {
  const tx = await driver.begin(setup);
  const after = afterwards();
  let result: T;
  try {
    result = await work(mutationDb((s) => tx.query(s), after));
  } catch (err) {
    await tx.rollback().catch(() => undefined);
    throw err;
  }
  if (!(await tx.commit())) throw new Error('The transaction was rolled back');
  for (const callback of after.success) callback();
  await Promise.all(after.commit.map((wait) => wait()));
  return result;
}

/**
 * The database as one GraphQL request sees it: every statement scoped (`setup`: its role and
 * account), and a mutation's work all written or none.
 *
 * On a server, the request's statements share one transaction, begun by its first statement
 * (a request that reads nothing holds no connection) and ended by {@link end}; statements run
 * one at a time in the order sent (resolvers run side by side); a mutation is a savepoint in it.
 * A query operation needs no such transaction ({@link readsApart}): each of its statements
 * runs with the scope in one round trip of its own, on a connection taken for that statement
 * alone, still one at a time in the order sent; the request holds its place among the pool's
 * holders from its first statement to {@link end}, as a transaction would.
 * On the embedded database, whose one connection every request and the verifier share, each
 * statement is a transaction of its own, and so is each mutation: no request holds the
 * connection while it waits for anything else.
 */
export class RequestTransaction implements Db {
  private tx: Promise<Tx> | null = null;
  /** Its place for statements read apart ({@link readsApart}), taken by its first statement. */
  private reads: Promise<Reader> | null = null;
  /** The first statement that failed outside a savepoint: the transaction is aborted. */
  private failure: unknown = null;
  /** A mutation's work succeeded: COMMIT must succeed too, or the answer is wrong. */
  private wrote = false;
  private ended = false;
  private savepoints = 0;
  /** Mutations run one at a time (GraphQL runs them in order anyway). */
  private mutations: Promise<unknown> = Promise.resolve();
  /** What the request's mutations wait for once the transaction has committed. */
  private afterCommit: (() => Promise<unknown>)[] = [];
  private statements: Promise<unknown> = Promise.resolve();
  private readonly db: Db;
  /** True once its reads were sent to a read replica. */
  private replica = false;
  /** True once its statements run each in a transaction of its own ({@link readsApart}). */
  private apart = false;
  /** True once a statement was sent. */
  private sent = false;

  /** `replicas`: picks a read replica in rotation, or none (src/db/replicas.ts). */
  constructor(private driver: Driver, private readonly setup: string, private readonly replicas?: () => Driver | null) {
    this.db = dbOver((s) => this.run(s, false));
  }

  /** Whether a mutation of the request succeeded (its work is kept if the request commits). */
  get changed(): boolean {
    return this.wrote;
  }

  /**
   * Sends the request's statements to a read replica in rotation, if there is one: only for a
   * request that writes nothing (a query operation), before its first statement. Returns
   * whether it did.
   */
  readFromReplica(): boolean {
    if (this.sent || this.ended || this.replica) return this.replica;
    const driver = this.replicas?.() ?? null;
    if (driver === null) return false;
    this.driver = driver;
    this.replica = true;
    return true;
  }

  /**
   * Runs each of the request's statements with its scope in a transaction and round trip of its
   * own rather than all in one transaction: for a request that writes nothing (a query
   * operation), before its first statement; it may then not write. Under READ COMMITTED each
   * statement reads its own snapshot in either form; this one spares the round trips of BEGIN and
   * COMMIT. Returns whether it did.
   */
  readsApart(): boolean {
    if (this.sent || this.ended) return this.apart;
    this.apart = true;
    return true;
  }

  rows<R>(query: Query): Promise<R[]> {
    return this.db.rows<R>(query);
  }

  first<R>(query: Query): Promise<R | undefined> {
    return this.db.first<R>(query);
  }

  execute(query: Query): Promise<number> {
    return this.db.execute(query);
  }

  private begin(): Promise<Tx> {
    if (this.ended) return Promise.reject(new Error('The request has ended'));
    this.tx ??= this.driver.begin(this.setup);
    return this.tx;
  }

  private reader(): Promise<Reader> {
    if (this.ended) return Promise.reject(new Error('The request has ended'));
    this.reads ??= this.driver.reader(this.setup);
    return this.reads;
  }

  /**
   * One statement, after those sent before it; a failure outside a savepoint aborts the request's
   * transaction. The request's work resumes with its rows in its own turn of the event loop
   * (src/lib/turns.ts); the next statement is sent without waiting for it.
   */
  private run(statement: Statement, inSavepoint: boolean): Promise<Result<unknown>> {
    this.sent = true;
    if (this.driver.oneConnection && !inSavepoint) {
      // the embedded database's reader holds nothing: each statement is a transaction of its own
      return this.reader().then((reader) => reader.query(statement)).then(inTurn);
    }
    const run = this.statements.then(async () => (await (this.apart ? this.reader() : this.begin())).query(statement)).catch((err: unknown) => {
      if (!inSavepoint) this.failure ??= err;
      throw err;
    });
    this.statements = run.catch(() => undefined);
    return run.then(inTurn);
  }

  /** Runs one mutation's work: all of it is written or none. */
  mutation<T>(work: (db: MutationDb) => Promise<T>): Promise<T> {
    if (this.replica || this.apart) return Promise.reject(new Error(`A request that reads ${this.replica ? 'from a replica' : 'apart'} cannot write`));
    const run = this.mutations.then(() => (this.driver.oneConnection ? inOwnTransaction(this.driver, this.setup, work) : this.inSavepoint(work)));
    this.mutations = run.catch(() => undefined);
    return run.then((result) => {
      this.wrote = true;
      return result;
    });
  }

  private async inSavepoint<T>(work: (db: MutationDb) => Promise<T>): Promise<T> {
    const name = `qk_mutation_${++this.savepoints}`;
    const after = afterwards();
    const inside = (s: Statement) => this.run(s, true);
    await inside({ text: `savepoint ${name}` });
    let result: T;
    try {
      result = await work(mutationDb(inside, after));
      await inside({ text: `release savepoint ${name}` });
    } catch (err) {
      // undoes the work and clears the aborted state; when even that fails, the transaction is lost
      await this.run({ text: `rollback to savepoint ${name}` }, false).catch(() => undefined);
      throw err;
    }
    for (const callback of after.success) callback();
    this.afterCommit.push(...after.commit);
    return result;
  }

  /**
   * Ends the request: commits, or rolls back when `commit` is false or a statement failed.
   * Returns the error when work that succeeded (a mutation) could not be kept.
   */
  async end(commit: boolean): Promise<unknown> {
    this.ended = true;
    await this.mutations;
    await this.statements;
    if (this.reads) {
      (await this.reads.catch(() => null))?.end();
      return null;
    }
    if (!this.tx) return null;
    let tx: Tx;
    try {
      tx = await this.tx;
    } catch {
      return null; // never begun: nothing written
    }
    const keep = commit && this.failure === null;
    try {
      if (!keep) {
        await tx.rollback();
        return this.wrote ? (this.failure ?? new Error('The request failed')) : null;
      }
      const kept = await tx.commit();
      if (kept) await Promise.all(this.afterCommit.map((wait) => wait()));
      return kept || !this.wrote ? null : new Error('The transaction was rolled back');
    } catch (err) {
      return this.wrote ? err : null;
    }
  }
}

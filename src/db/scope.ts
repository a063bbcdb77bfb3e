import type { Knex } from 'knex';
import pg from 'pg';

/**
 * Row-level security (migrations/20261126000020_row_level_security.ts) hides every row whose
 * account is not the one set for the transaction. Every statement the service sends to a
 * PostgreSQL server therefore runs in a transaction that first switches to the service's role
 * and sets the account:
 *
 *   select set_config('role', 'qckeys_app', true), set_config('app.account_id', $1, true)
 *
 * A GraphQL request's statements share one such transaction ({@link requestDatabase}); the
 * paths that span accounts by design (the lookup of a key by digest, the usage flush,
 * pruning, platform principals) use {@link ALL_ACCOUNTS}, which sets app.cross_account instead.
 * Both settings are transaction-local: a pooled connection carries nothing to its next user.
 * Outside these transactions (migrations, tests, scripts) statements run as the connecting user.
 */

/** The role the migrations create for the service. */
export const DEFAULT_ROLE = 'qckeys_app';

/** The tenant of the service's cross-account paths. */
export const ALL_ACCOUNTS = Symbol('all accounts');
export type Tenant = string | typeof ALL_ACCOUNTS;

/** How a database's transactions are scoped. */
export interface ScopeSettings {
  /** The role the transactions switch to; null: they stay the connecting user. */
  role: string | null;
}

const settingsOf = new WeakMap<Knex, ScopeSettings>();

/** Scopes the service's transactions on `knex` (a PostgreSQL server; the embedded database runs unscoped). */
export function enableScopes(knex: Knex, settings: ScopeSettings): void {
  settingsOf.set(knex, settings);
}

export function scopeSettings(knex: Knex): ScopeSettings | null {
  return settingsOf.get(knex) ?? null;
}

/** The statement that scopes the current transaction. */
export function scopeStatement(settings: ScopeSettings, tenant: Tenant): { sql: string; bindings: string[] } {
  const parts: string[] = [];
  const bindings: string[] = [];
  if (settings.role !== null) {
    parts.push(`set_config('role', ?, true)`);
    bindings.push(settings.role);
  }
  if (tenant === ALL_ACCOUNTS) {
    parts.push(`set_config('app.cross_account', 'on', true)`);
  } else {
    parts.push(`set_config('app.account_id', ?, true)`);
    bindings.push(tenant);
  }
  return { sql: `select ${parts.join(', ')}`, bindings };
}

/**
 * The scope as a statement without parameters: sent with the work in one simple-protocol query
 * (`${scopeSql(...)}; select …`), both run in one implicit transaction, so the settings last for
 * that query only. One round trip instead of four (begin, scope, work, commit) on hot paths.
 */
export function scopeSql(settings: ScopeSettings, tenant: Tenant): string {
  const { sql, bindings } = scopeStatement(settings, tenant);
  let i = 0;
  return sql.replace(/\?/g, () => pg.escapeLiteral(bindings[i++]));
}

/** Runs `work` in a transaction scoped to `tenant`. */
export async function scopedTransaction<T>(knex: Knex, tenant: Tenant, work: (trx: Knex) => Promise<T>): Promise<T> {
  const settings = scopeSettings(knex);
  return knex.transaction(async (trx) => {
    if (settings) {
      const { sql, bindings } = scopeStatement(settings, tenant);
      await trx.raw(sql, bindings);
    }
    return work(trx);
  });
}

/** Like {@link scopedTransaction}, but without a transaction on an unscoped database (one statement needs none). */
export async function scoped<T>(knex: Knex, tenant: Tenant, work: (db: Knex) => Promise<T>): Promise<T> {
  return scopeSettings(knex) ? scopedTransaction(knex, tenant, work) : work(knex);
}

/** The database as one GraphQL request sees it. */
export interface RequestDatabase {
  /** Every statement of the request goes through it. */
  readonly knex: Knex;
  /** Runs one mutation's work: all of it is written or none (a savepoint within the request's transaction). */
  transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T>;
  /**
   * Ends the request's work: commits, or rolls back when `commit` is false or a statement
   * failed. Returns the error when work that succeeded (a mutation) could not be kept.
   */
  end(commit: boolean): Promise<unknown>;
}

/** A request's view of `knex`: one lazily begun, scoped transaction on a scoped database; the pool otherwise. */
export function requestDatabase(knex: Knex, tenant: Tenant): RequestDatabase {
  const settings = scopeSettings(knex);
  if (!settings) {
    return {
      knex,
      transaction: (work) => knex.transaction(work),
      end: async () => null,
    };
  }
  return new RequestTransaction(knex, settings, tenant);
}

type Connection = Record<string, unknown>;
interface QueryResult { response?: { command?: string } }
type Query = (connection: Connection, query: string | { sql: string; bindings: readonly unknown[] }) => Promise<QueryResult>;
type KnexFunction = Knex & { context: Record<string, unknown> };

/**
 * A knex object over `client` that inherits everything else from `base`. knex's own way to make
 * one (what `transaction()` uses) defines a hundred-odd methods and an event emitter on every
 * object; a request needs only the function, its client and a context, so a request's knex costs
 * a few objects instead of a few hundred closures.
 */
function knexOver(base: Knex, client: Knex.Client): Knex {
  const context = Object.create((base as KnexFunction).context) as Record<string, unknown>;
  context.client = client;
  context.userParams = {};
  const knex = ((tableName?: string, options?: unknown) => {
    const builder = client.queryBuilder();
    return tableName ? builder.table(tableName, options as never) : builder;
  }) as unknown as KnexFunction;
  Object.setPrototypeOf(knex, base);
  // the base's accessors read `this.context`; its event emitter state stays its own
  Object.defineProperties(knex, {
    context: { value: context },
    _events: { value: Object.create(null), writable: true },
    _eventsCount: { value: 0, writable: true },
  });
  return knex;
}

/**
 * The request's transaction, begun by its first statement (a request that reads nothing holds
 * no connection) on one pooled connection, and ended by `end`. Its knex client is the pool's,
 * except that its connection is always that one; being "transacting", knex nests `transaction()`
 * in it as a savepoint. Events of its statements go to the pool's client, as knex's own
 * transactions forward them.
 */
class RequestTransaction implements RequestDatabase {
  readonly knex: Knex;
  private connection: Promise<Connection> | null = null;
  private readonly base: Knex.Client;
  private readonly query: Query;
  /** The first statement that failed outside a savepoint: the transaction is aborted. */
  private failure: unknown = null;
  /** A mutation's work succeeded: COMMIT must succeed too, or the answer is wrong. */
  private wrote = false;
  private ended = false;
  /** Mutations run one at a time (GraphQL runs them in order anyway). */
  private queue: Promise<unknown> = Promise.resolve();
  private statements: Promise<unknown> = Promise.resolve();

  constructor(knex: Knex, private readonly settings: ScopeSettings, private readonly tenant: Tenant) {
    const base = knex.client as Knex.Client;
    this.base = base;
    const query = (base.query as Query).bind(base);
    this.query = query;
    const client = Object.create(base) as Knex.Client;
    Object.assign(client, {
      pool: undefined,
      transacting: true,
      _events: Object.create(null),
      _eventsCount: 0,
      emit: (event: string, ...args: unknown[]) => base.emit(event, ...args),
      acquireConnection: () => this.connect(),
      releaseConnection: () => Promise.resolve(),
      // one statement at a time on the connection (resolvers run side by side), in the order sent
      query: (connection: Connection, q: Parameters<Query>[1]) => {
        const run = this.statements.then(() => query(connection, q)).catch((err: unknown) => {
          this.failure ??= err;
          throw err;
        });
        this.statements = run.catch(() => undefined);
        return run;
      },
    });
    this.knex = knexOver(knex, client);
  }

  private connect(): Promise<Connection> {
    this.connection ??= (async () => {
      if (this.ended) throw new Error('The request has ended');
      const connection = (await this.base.acquireConnection()) as Connection;
      try {
        // one round trip: the scope's settings are local to the transaction BEGIN opens
        await this.query(connection, `BEGIN; ${scopeSql(this.settings, this.tenant)}`);
      } catch (err) {
        await this.release(connection, err);
        throw err;
      }
      return connection;
    })();
    return this.connection;
  }

  /** Back to the pool; a connection in an unknown state is dropped by the pool instead. */
  private async release(connection: Connection, broken: unknown = null): Promise<void> {
    if (broken !== null) connection.__knex__disposed ??= broken;
    await this.base.releaseConnection(connection);
  }

  async transaction<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.knex.transaction(work));
    this.queue = run.catch(() => undefined);
    const result = await run;
    this.wrote = true;
    return result;
  }

  async end(commit: boolean): Promise<unknown> {
    this.ended = true;
    await this.queue;
    await this.statements;
    if (!this.connection) return null;
    let connection: Connection;
    try {
      connection = await this.connection;
    } catch {
      return null; // never begun: nothing written
    }
    const keep = commit && this.failure === null;
    try {
      const result = await this.query(connection, keep ? 'COMMIT;' : 'ROLLBACK;');
      await this.release(connection);
      if (!this.wrote) return null;
      if (!keep) return this.failure ?? new Error('The request failed');
      // COMMIT of a transaction PostgreSQL had aborted answers ROLLBACK
      return result.response?.command === 'ROLLBACK' ? new Error('The transaction was rolled back') : null;
    } catch (err) {
      await this.release(connection, err);
      return this.wrote ? err : null;
    }
  }
}

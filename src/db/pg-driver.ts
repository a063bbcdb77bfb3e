import pg from 'pg';
import { DatabaseUnreachable } from '../errors';
import { Admission, type Driver, type PoolStats, type Reader, type Result, type Statement, type Tx } from './driver';

export interface PgDriverOptions {
  url: string;
  /** Connections at most. */
  max: number;
  /** Longest wait for a free connection (overload), apart from `connectTimeoutMs` (an outage). */
  waitMs: number;
  /** Bound on opening a connection: past it, the database is taken for unreachable. */
  connectTimeoutMs: number;
  statementTimeoutMs: number;
  applicationName: string;
  /** Whether named statements are prepared on each connection (a pooler in transaction mode may not keep them). */
  prepared: boolean;
  onWaitTimeout?: () => void;
}

/** int8 (counts) as numbers, on the connections given these types only (not pg's process-wide parsers). */
export const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

type Command = pg.QueryResult & { command: string };

/**
 * Whether an error leaves the connection fit for reuse: PostgreSQL answered a statement with an
 * error, and the connection is fine. Anything else (no answer: a connection refused, lost or
 * timed out; a server shutting down) means the database cannot be reached.
 */
const connectionIntact = (err: unknown): boolean =>
  err instanceof pg.DatabaseError && !/^(08|57P)/.test(err.code ?? '');

/** The error as the service sees it: a statement's own, or {@link DatabaseUnreachable}. */
const classified = (err: unknown): unknown => (connectionIntact(err) ? err : new DatabaseUnreachable(err));

/** What {@link ScopedQuery} uses of pg's `Query` beyond its typings: the extended protocol's steps. */
interface QueryInternals {
  name?: string;
  prepare(connection: unknown): void;
  hasBeenParsed(connection: unknown): boolean;
  handleDataRow(message: unknown): void;
  handleCommandComplete(message: unknown, connection: unknown): void;
}

interface ProtocolConnection {
  parse(message: { text: string; types: unknown[] }): void;
  bind(message: Record<string, never>): void;
  execute(message: Record<string, never>): void;
}

const PgQuery = pg.Query as unknown as new (config: pg.QueryConfig & { callback: (err: Error | undefined, result: pg.QueryResult) => void }) => pg.Query & QueryInternals;

/**
 * A statement led by the scope in one round trip of the extended protocol: Parse, Bind and
 * Execute of `setup` (unnamed, its one row dropped), then those of the statement, then one Sync.
 * PostgreSQL runs everything before a Sync in one implicit transaction, so the scope's settings
 * (local to the transaction) hold for the statement and end with it: the connection carries
 * nothing to its next user, as after COMMIT.
 */
class ScopedQuery extends PgQuery {
  private setupPending = true;
  /** The statement's text was parsed in this round trip under its name. */
  parsing = false;

  constructor(private readonly setup: string, config: ConstructorParameters<typeof PgQuery>[0]) {
    super(config);
  }

  requiresPreparation(): boolean {
    return true;
  }

  prepare(connection: ProtocolConnection): void {
    connection.parse({ text: this.setup, types: [] });
    connection.bind({});
    connection.execute({});
    this.parsing = this.name !== undefined && !this.hasBeenParsed(connection);
    super.prepare(connection);
  }

  handleDataRow(message: unknown): void {
    if (!this.setupPending) super.handleDataRow(message);
  }

  handleCommandComplete(message: unknown, connection: unknown): void {
    if (this.setupPending) this.setupPending = false;
    else super.handleCommandComplete(message, connection);
  }
}

class PgTx implements Tx {
  private done = false;

  constructor(private readonly client: pg.PoolClient, private readonly leave: () => void, private readonly driver: PgDriver) {}

  async query<R>(statement: Statement): Promise<Result<R>> {
    const config: pg.QueryConfig = { text: statement.text, values: statement.values as unknown[] | undefined };
    if (this.driver.prepared && statement.name) config.name = statement.name;
    this.driver.statements++;
    try {
      const result = await this.client.query(config);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
    } catch (err) {
      throw classified(err);
    }
  }

  async commit(): Promise<boolean> {
    const result = (await this.end('COMMIT')) as Command;
    // COMMIT of a transaction PostgreSQL had aborted answers ROLLBACK
    return result.command !== 'ROLLBACK';
  }

  async rollback(): Promise<void> {
    await this.end('ROLLBACK');
  }

  private async end(command: 'COMMIT' | 'ROLLBACK'): Promise<pg.QueryResult> {
    if (this.done) throw new Error('The transaction has ended');
    this.done = true;
    try {
      const result = await this.client.query(command);
      this.client.release();
      return result;
    } catch (err) {
      // a connection in an unknown state is closed, not pooled
      this.client.release(err as Error);
      throw classified(err);
    } finally {
      this.leave();
    }
  }
}

/** Connections to a PostgreSQL server (or a pooler in front of it), with queued, bounded admission. */
export class PgDriver implements Driver {
  readonly oneConnection = false;
  readonly prepared: boolean;
  statements = 0;
  private readonly pool: pg.Pool;
  private readonly admission: Admission;

  constructor(options: PgDriverOptions) {
    this.prepared = options.prepared;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.max,
      connectionTimeoutMillis: options.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: options.statementTimeoutMs,
      application_name: options.applicationName,
      types,
    });
    // an idle connection the server closed (a restart): the pool drops it and opens another when needed
    this.pool.on('error', () => undefined);
    // a connection lost while a transaction holds it between statements: its next statement fails
    // (DatabaseUnreachable) and the connection is discarded; the event itself must not crash the process
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.admission = new Admission(options.max, options.waitMs, options.onWaitTimeout);
  }

  /** A connection of the pool: failing to open one means the database cannot be reached. */
  private async client(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw new DatabaseUnreachable(err);
    }
  }

  /** A place among the pool's holders, then a connection. */
  private async connect(): Promise<{ client: pg.PoolClient; leave: () => void }> {
    const leave = await this.admission.enter();
    try {
      return { client: await this.client(), leave };
    } catch (err) {
      leave();
      throw err;
    }
  }

  async begin(setup: string): Promise<Tx> {
    const { client, leave } = await this.connect();
    try {
      // one round trip: the scope's settings are local to the transaction BEGIN opens
      await client.query(`BEGIN; ${setup}`);
    } catch (err) {
      client.release(err as Error);
      leave();
      throw classified(err);
    }
    return new PgTx(client, leave, this);
  }

  async reader(setup: string): Promise<Reader> {
    const leave = await this.admission.enter();
    return { query: (statement) => this.scoped(setup, statement), end: leave };
  }

  /** One statement led by the scope ({@link ScopedQuery}), within a place a reader holds. */
  private async scoped<R>(setup: string, statement: Statement): Promise<Result<R>> {
    // the reader holds a place: the pool, as large as the places, has a connection for it
    const client = await this.client();
    this.statements++;
    try {
      const result = await new Promise<pg.QueryResult>((resolve, reject) => {
        const query = new ScopedQuery(setup, {
          text: statement.text, values: statement.values as unknown[] | undefined,
          ...(this.prepared && statement.name ? { name: statement.name } : {}),
          callback: (err, res) => {
            if (!err) return resolve(res);
            // pg takes a statement for parsed once any Parse of the round trip completes (the scope's):
            // a statement whose own Parse failed would never be parsed again on this connection
            if (query.parsing) Object.assign(err, { discardConnection: true });
            reject(err);
          },
        });
        client.query(query);
      });
      client.release();
      return { rows: result.rows as R[], rowCount: result.rowCount ?? result.rows.length };
    } catch (err) {
      const discard = !connectionIntact(err) || (err as { discardConnection?: boolean }).discardConnection === true;
      client.release(discard ? (err as Error) : undefined);
      throw classified(err);
    }
  }

  async once<R>(text: string): Promise<R[]> {
    const { client, leave } = await this.connect();
    this.statements++;
    try {
      const results = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
      client.release();
      const last = Array.isArray(results) ? results[results.length - 1] : results;
      return last.rows as R[];
    } catch (err) {
      // the statements ran in an implicit transaction, which a refused statement ended
      client.release(connectionIntact(err) ? undefined : (err as Error));
      throw classified(err);
    } finally {
      leave();
    }
  }

  stats(): PoolStats {
    const { used, waiting } = this.admission.stats;
    return { used, idle: this.pool.idleCount, waiting, statements: this.statements };
  }

  async end(): Promise<void> {
    await this.pool.end();
  }
}

import type { Database } from '../../db/database';
import { qb } from '../../db/db';
import { ALL_ACCOUNTS } from '../../db/tenant';

/** Time the first request may hold its claim; after it, a retry takes over (its process died). */
export const LEASE_SECONDS = 60;
/** How long a response is kept for replay. */
export const RETENTION_HOURS = 24;

export interface IdempotencyRow {
  requestHash: Buffer;
  /** Null while the first request is in flight. */
  httpStatus: number | null;
  responseIv: Buffer | null;
  response: Buffer | null;
  /** Older than the retention: treat as absent. */
  expired: boolean;
  /** In flight past its lease. */
  abandoned: boolean;
}

interface Row {
  request_hash: Buffer; http_status: number | null; response_iv: Buffer | null; response: Buffer | null;
  expired: boolean; abandoned: boolean;
}

/** One statement in a transaction of its own, scoped to the account (or to every account). */
const run = (db: Database, accountId: string | typeof ALL_ACCOUNTS, sql: string, values: unknown[]) =>
  db.transaction(accountId, (tx) => tx.rows<Row>(qb.raw(sql, values as never)));

/** Claims the key for a first request; false when a row exists already. */
export async function claim(db: Database, accountId: string, keyHash: Buffer, requestHash: Buffer): Promise<boolean> {
  const rows = await run(db, accountId,
    `insert into idempotency_keys (account_id, key_hash, request_hash, locked_until, expires_at)
     values (?, ?, ?, now() + make_interval(secs => ?), now() + make_interval(hours => ?))
     on conflict (account_id, key_hash) do nothing
     returning 1 as claimed`,
    [accountId, keyHash, requestHash, LEASE_SECONDS, RETENTION_HOURS],
  );
  return rows.length === 1;
}

export async function find(db: Database, accountId: string, keyHash: Buffer): Promise<IdempotencyRow | null> {
  const [row] = await run(db, accountId,
    `select request_hash, http_status, response_iv, response, expires_at <= now() as expired,
            (http_status is null and locked_until <= now()) as abandoned
     from idempotency_keys where account_id = ? and key_hash = ?`,
    [accountId, keyHash],
  );
  if (!row) return null;
  return {
    requestHash: row.request_hash, httpStatus: row.http_status, responseIv: row.response_iv, response: row.response,
    expired: row.expired, abandoned: row.abandoned,
  };
}

/** Claims an expired or abandoned row for a new first request; false when another request got it first. */
export async function takeOver(db: Database, accountId: string, keyHash: Buffer, requestHash: Buffer): Promise<boolean> {
  const rows = await run(db, accountId,
    `update idempotency_keys
     set request_hash = ?, http_status = null, response_iv = null, response = null, created_at = now(),
         locked_until = now() + make_interval(secs => ?), expires_at = now() + make_interval(hours => ?)
     where account_id = ? and key_hash = ? and (expires_at <= now() or (http_status is null and locked_until <= now()))
     returning 1 as claimed`,
    [requestHash, LEASE_SECONDS, RETENTION_HOURS, accountId, keyHash],
  );
  return rows.length === 1;
}

export async function complete(db: Database, accountId: string, keyHash: Buffer, httpStatus: number, iv: Buffer, response: Buffer): Promise<void> {
  await run(db, accountId,
    `update idempotency_keys set http_status = ?, response_iv = ?, response = ? where account_id = ? and key_hash = ?`,
    [httpStatus, iv, response, accountId, keyHash],
  );
}

/** Gives the key back (the request wrote nothing), so a retry runs afresh. */
export async function release(db: Database, accountId: string, keyHash: Buffer): Promise<void> {
  await run(db, accountId, `delete from idempotency_keys where account_id = ? and key_hash = ? and http_status is null`, [accountId, keyHash]);
}

/** Deletes expired rows; returns how many. */
export async function pruneExpired(db: Database): Promise<number> {
  return db.transaction(ALL_ACCOUNTS, (tx) => tx.execute({ text: 'delete from idempotency_keys where expires_at <= now()' }));
}

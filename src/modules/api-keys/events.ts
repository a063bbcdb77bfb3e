import type { Knex } from 'knex';
import { newId } from '../../lib/ids';
import type { ApiKeyEventType } from '../../generated/graphql';
import type { ApiKeyEventRecord } from './model';

export interface NewEvent {
  accountId: string;
  apiKeyId: string;
  apiKeyName: string;
  type: ApiKeyEventType;
  actor: string;
  changes?: Record<string, unknown> | null;
}

/** Writes history events (one per changed key), in the caller's transaction. */
export async function recordEvents(db: Knex, events: NewEvent[], at = new Date()): Promise<ApiKeyEventRecord[]> {
  const records: ApiKeyEventRecord[] = events.map((e) => ({
    id: newId('ApiKeyEvent'), accountId: e.accountId, apiKeyId: e.apiKeyId, apiKeyName: e.apiKeyName,
    type: e.type, actor: e.actor, at, changes: e.changes ?? null,
  }));
  if (records.length === 0) return records;
  // one statement for any number of events (a bulk change writes one per key)
  await db.raw(
    `insert into api_key_events (id, account_id, api_key_id, api_key_name, type, actor, at, changes)
     select * from unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::jsonb[])`,
    [
      records.map((r) => r.id), records.map((r) => r.accountId), records.map((r) => r.apiKeyId), records.map((r) => r.apiKeyName),
      records.map((r) => r.type), records.map((r) => r.actor), records.map((r) => r.at.toISOString()),
      // null elements are SQL NULLs in the array
      records.map((r) => (r.changes === null ? null : JSON.stringify(r.changes))) as unknown as string[],
    ],
  );
  return records;
}

/** The NOTIFY channel on which every replica hears that keys changed (payload: key IDs). */
export const KEY_CHANGES_CHANNEL = 'qckeys_api_key_changes';

/**
 * Tells every replica, when the transaction commits, that these keys changed, so their
 * verification caches drop them.
 */
export async function notifyKeysChanged(db: Knex, keyIds: readonly string[]): Promise<void> {
  if (keyIds.length === 0) return;
  // NOTIFY payloads are limited to 8000 bytes: 250 IDs per notification, all sent by one statement
  const payloads: string[] = [];
  for (let i = 0; i < keyIds.length; i += 250) payloads.push(keyIds.slice(i, i + 250).join(','));
  await db.raw('select pg_notify(?, p) from unnest(?::text[]) as p', [KEY_CHANGES_CHANNEL, payloads]);
  // this process hears it as soon as the work completes, before the answer leaves: the next
  // request on this replica never sees the old key, whenever the notification arrives
  const completed = (db as { executionPromise?: Promise<unknown> }).executionPromise;
  if (completed) void completed.then(() => { for (const listener of localListeners) listener(keyIds); }, () => undefined);
}

type KeyChangeListener = (keyIds: readonly string[]) => void;
const localListeners = new Set<KeyChangeListener>();

/** Hears, in this process, the keys each completed transaction changed; returns the unsubscribe. */
export function onLocalKeyChanges(listener: KeyChangeListener): () => void {
  localListeners.add(listener);
  return () => { localListeners.delete(listener); };
}

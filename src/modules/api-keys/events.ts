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
  for (let i = 0; i < records.length; i += 1000) {
    await db('api_key_events').insert(records.slice(i, i + 1000).map((r) => ({
      id: r.id, account_id: r.accountId, api_key_id: r.apiKeyId, api_key_name: r.apiKeyName,
      type: r.type, actor: r.actor, at: r.at, changes: r.changes === null ? null : JSON.stringify(r.changes),
    })));
  }
  return records;
}

/** The NOTIFY channel on which every replica hears that keys changed (payload: key IDs). */
export const KEY_CHANGES_CHANNEL = 'qckeys_api_key_changes';

/**
 * Tells every replica, when the transaction commits, that these keys changed, so their
 * verification caches drop them.
 */
export async function notifyKeysChanged(db: Knex, keyIds: readonly string[]): Promise<void> {
  // NOTIFY payloads are limited to 8000 bytes
  for (let i = 0; i < keyIds.length; i += 250) {
    await db.raw('select pg_notify(?, ?)', [KEY_CHANGES_CHANNEL, keyIds.slice(i, i + 250).join(',')]);
  }
}

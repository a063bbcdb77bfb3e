import type { MutationDb } from '../../db/db';
import type { ApiKeyEventType } from '../../generated/graphql';
import { newId } from '../../lib/ids';
import type { ApiKeyEventRecord } from './model';
import { insertEvents, notifyKeyChanges } from './store';

export interface NewEvent {
  accountId: string;
  apiKeyId: string;
  apiKeyName: string;
  type: ApiKeyEventType;
  actor: string;
  changes?: Record<string, unknown> | null;
}

/** Writes history events (one per changed key), in the caller's transaction. */
export async function recordEvents(db: MutationDb, events: NewEvent[], at: Date): Promise<ApiKeyEventRecord[]> {
  const records: ApiKeyEventRecord[] = events.map((e) => ({
    id: newId('ApiKeyEvent'), accountId: e.accountId, apiKeyId: e.apiKeyId, apiKeyName: e.apiKeyName,
    type: e.type, actor: e.actor, at, changes: e.changes ?? null,
  }));
  await insertEvents(db, records);
  return records;
}

/** The NOTIFY channel on which every replica hears that keys changed (payload: key IDs). */
export const KEY_CHANGES_CHANNEL = 'qckeys_api_key_changes';

type KeyChangeListener = (keyIds: readonly string[]) => void;

/** The keys this service's own mutations changed, heard in this process as soon as each mutation's work is done. */
export class KeyChanges {
  private readonly listeners = new Set<KeyChangeListener>();

  /** Returns the unsubscribe. */
  listen(listener: KeyChangeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  emit(keyIds: readonly string[]): void {
    for (const listener of this.listeners) listener(keyIds);
  }
}

/**
 * Tells every replica, when the transaction commits, that these keys changed, so their
 * verification caches drop them; this service hears it as soon as the mutation's work is done,
 * before the answer leaves, so its next request never sees the old key, whenever the
 * notification arrives.
 */
export async function notifyKeysChanged(db: MutationDb, changes: KeyChanges, keyIds: readonly string[]): Promise<void> {
  if (keyIds.length === 0) return;
  await notifyKeyChanges(db, KEY_CHANGES_CHANNEL, keyIds);
  db.afterSuccess(() => changes.emit(keyIds));
}

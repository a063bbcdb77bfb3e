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
  changes: Record<string, { from: unknown; to: unknown }>;
}

/** Writes history events (one per changed key), in the caller's transaction. */
export async function recordEvents(db: MutationDb, events: NewEvent[], at: Date): Promise<ApiKeyEventRecord[]> {
  const records: ApiKeyEventRecord[] = events.map((e) => ({
    id: newId('ApiKeyEvent'), accountId: e.accountId, apiKeyId: e.apiKeyId, apiKeyName: e.apiKeyName,
    type: e.type, actor: e.actor, at, changes: e.changes,
  }));
  await insertEvents(db, records);
  return records;
}

/** The NOTIFY channel on which every replica hears that keys changed (payload: key IDs). */
export const KEY_CHANGES_CHANNEL = 'qckeys_api_key_changes';

type KeyChangeListener = (keyIds: readonly string[]) => void;

/** Keys whose change notification this process waits to hear, and since when. */
interface Expected { pending: Set<string>; since: number; heard: () => void }

/** How long a change's answer waits for its notification to come back over LISTEN. */
export const NOTIFICATION_WAIT_MS = 1000;

/**
 * The keys this service's own mutations changed, heard in this process as soon as each
 * mutation's work is done; and the notifications of changes heard back over LISTEN, which a
 * change waits for before its answer leaves.
 */
export class KeyChanges {
  private readonly listeners = new Set<KeyChangeListener>();
  private readonly expected = new Set<Expected>();

  /** Returns the unsubscribe. */
  listen(listener: KeyChangeListener): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  emit(keyIds: readonly string[]): void {
    for (const listener of this.listeners) listener(keyIds);
  }

  /**
   * Starts waiting for the notification of these keys (before the change commits, so it cannot
   * come first); the returned function waits for it, at most `timeoutMs`.
   */
  expect(keyIds: readonly string[], now = Date.now()): (timeoutMs: number) => Promise<void> {
    // a change that rolled back is never heard: its wait is dropped after a while
    for (const e of this.expected) if (now - e.since > 10 * NOTIFICATION_WAIT_MS) this.expected.delete(e);
    let heard!: () => void;
    const done = new Promise<void>((resolve) => { heard = resolve; });
    const expected: Expected = { pending: new Set(keyIds), since: now, heard };
    this.expected.add(expected);
    return async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
      clearTimeout(timer);
      this.expected.delete(expected);
    };
  }

  /** A notification came back over LISTEN. */
  heard(keyIds: readonly string[]): void {
    for (const e of this.expected) {
      for (const id of keyIds) e.pending.delete(id);
      if (e.pending.size === 0) {
        this.expected.delete(e);
        e.heard();
      }
    }
  }
}

/**
 * Tells every replica, when the transaction commits, that these keys changed, so their
 * verification caches drop them (every listening replica receives the notification at commit).
 * This service drops them as soon as the mutation's work is done, and the request's answer waits
 * (at most {@link NOTIFICATION_WAIT_MS}) until this service has heard the notification back,
 * so the answer leaves after the notification has gone out.
 */
export async function notifyKeysChanged(db: MutationDb, changes: KeyChanges, keyIds: readonly string[]): Promise<void> {
  if (keyIds.length === 0) return;
  await notifyKeyChanges(db, KEY_CHANGES_CHANNEL, keyIds);
  db.afterSuccess(() => changes.emit(keyIds));
  const heard = changes.expect(keyIds);
  db.afterCommit(() => heard(NOTIFICATION_WAIT_MS));
}

// Changes to keys that other modules' operations make (a developer's deactivation revokes their
// keys, a team's deletion removes it from its keys), and what those operations ask of keys. The
// catalog modules depend on this file, never on service.ts, which depends on them.
import type { AccountPrincipal } from '../../auth/principal';
import type { Database } from '../../db/database';
import type { MutationDb } from '../../db/db';
import { ALL_ACCOUNTS } from '../../db/tenant';
import type { TeamRecord } from '../teams/model';
import type { VerifiableKey } from '../verification/model';
import { notifyKeysChanged, recordEvents, type KeyChanges, type NewEvent } from './events';
import { statusOf, type ApiKeyRecord } from './model';
import * as store from './store';

export { channelsInUse, keyIdsOfTeam, keyNames, lockActiveKeysOfDeveloper, lockKeys } from './store';

/** What an event changed: every field as `{ from, to }` (history's one shape; a key's creation from null). */
export type Changes = Record<string, { from: unknown; to: unknown }>;

export function event(principal: AccountPrincipal, key: ApiKeyRecord, type: NewEvent['type'], changes: Changes): NewEvent {
  return { accountId: principal.accountId, apiKeyId: key.id, apiKeyName: key.name, type, actor: principal.subject, changes };
}

export const change = (from: unknown, to: unknown) => ({ from, to });

/** A relation's change: its ID under `<name>Id`, and its name beside it under `<name>`. */
export function relationChange(changes: Changes, name: string, from: { id: string; name: string } | null, to: { id: string; name: string }): void {
  changes[`${name}Id`] = change(from?.id ?? null, to.id);
  changes[name] = change(from?.name ?? null, to.name);
}

/** Team names of a set of team IDs, sorted, as history records them. */
export const teamNames = (names: ReadonlyMap<string, string>, ids: Iterable<string>) =>
  [...ids].map((id) => names.get(id) ?? id).sort((a, b) => a.localeCompare(b));

/**
 * Revokes keys (locked by the caller) in the caller's transaction, in one statement whatever
 * their number: one REVOKED event each. Keys revoked already are left as they are. Returns the
 * keys it revoked, in ID order.
 */
export async function revokeKeys(
  keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keys: readonly ApiKeyRecord[], reason: string | null, now: Date,
): Promise<ApiKeyRecord[]> {
  const revoked = (await store.revokeKeyRows(tx, principal.accountId, keys.filter((k) => !k.revokedAt).map((k) => k.id), reason, now))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const was = new Map(keys.map((k) => [k.id, statusOf(k, now.getTime())]));
  await recordEvents(tx, revoked.map((k) => event(principal, k, 'REVOKED', {
    status: change(was.get(k.id), 'REVOKED'), revokedAt: change(null, now.toISOString()), revocationReason: change(null, reason),
  })), now);
  await notifyKeysChanged(tx, keyChanges, revoked.map((k) => k.id));
  return revoked;
}

/** Deletes keys (locked by the caller) in the caller's transaction: their secrets go, one DELETED event each. */
export async function deleteKeys(keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keys: readonly ApiKeyRecord[], now: Date): Promise<ApiKeyRecord[]> {
  const deleted = (await store.deleteKeyRows(tx, principal.accountId, keys.map((k) => k.id), now)).sort((a, b) => (a.id < b.id ? -1 : 1));
  await store.deleteSecrets(tx, principal.accountId, deleted.map((k) => k.id));
  await recordEvents(tx, deleted.map((k) => event(principal, k, 'DELETED', { deletedAt: change(null, now.toISOString()) })), now);
  await notifyKeysChanged(tx, keyChanges, deleted.map((k) => k.id));
  return deleted;
}

/**
 * Adds and removes teams on keys (live, locked by the caller) in the caller's transaction. Each
 * key whose team set changes gets a version bump and one TEAMS_CHANGED event. Returns the IDs
 * of the changed keys.
 */
export async function recordTeamChanges(
  keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keys: readonly ApiKeyRecord[],
  teams: { add: TeamRecord[]; remove: TeamRecord[] }, now: Date,
): Promise<string[]> {
  if (keys.length === 0) return [];
  const current = new Map<string, Set<string>>(keys.map((k) => [k.id, new Set<string>()]));
  const names = new Map<string, string>([...teams.add, ...teams.remove].map((t) => [t.id, t.name]));
  for (const { apiKeyId, teamId, teamName } of await store.teamsOfKeys(tx, principal.accountId, keys.map((k) => k.id))) {
    current.get(apiKeyId)?.add(teamId);
    names.set(teamId, teamName);
  }

  const adds: { apiKeyId: string; teamId: string }[] = [];
  const events: NewEvent[] = [];
  const changed: string[] = [];
  for (const key of keys) {
    const before = current.get(key.id) as Set<string>;
    const after = new Set(before);
    for (const t of teams.remove) after.delete(t.id);
    for (const t of teams.add) after.add(t.id);
    const added = [...after].filter((id) => !before.has(id));
    const removed = [...before].filter((id) => !after.has(id));
    if (added.length === 0 && removed.length === 0) continue;
    added.forEach((teamId) => adds.push({ apiKeyId: key.id, teamId }));
    changed.push(key.id);
    events.push(event(principal, key, 'TEAMS_CHANGED', {
      teamIds: change([...before].sort(), [...after].sort()), teams: change(teamNames(names, before), teamNames(names, after)),
    }));
  }
  if (changed.length === 0) return [];
  if (teams.remove.length) await store.removeKeyTeams(tx, principal.accountId, changed, teams.remove.map((t) => t.id));
  await store.addKeyTeams(tx, principal.accountId, adds);
  await store.touchKeys(tx, principal.accountId, changed, now);
  await recordEvents(tx, events, now);
  await notifyKeysChanged(tx, keyChanges, changed);
  return changed;
}

/** The live key a secret's digest belongs to, whatever its account, in one round trip (the verification lookup). */
export async function verifiableKeyByDigest(db: Database, digest: Buffer): Promise<VerifiableKey | null> {
  const [row] = await db.once<store.VerifiableRow>(ALL_ACCOUNTS, store.verifiableKeySql(digest));
  return row ? store.toVerifiableKey(row) : null;
}

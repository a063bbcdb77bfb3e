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
import { inIdOrder, statusOf, type ApiKeyRecord } from './model';
import * as store from './store';

export { channelsInUse, keyIdsOfTeam, keyNames, lockActiveKeyIdsOfDeveloper, lockKeyIds } from './store';

/** What an event changed: every field as `{ from, to }` (history's one shape; a key's creation from null). */
export type Changes = Record<string, { from: unknown; to: unknown }>;

export function event(principal: AccountPrincipal, key: Pick<ApiKeyRecord, 'id' | 'name'>, type: NewEvent['type'], changes: Changes): NewEvent {
  return { accountId: principal.accountId, apiKeyId: key.id, apiKeyName: key.name, type, actor: principal.subject, changes };
}

export const change = (from: unknown, to: unknown) => ({ from, to });

/** A relation's change: its ID under `<name>Id`, and its name beside it under `<name>`. */
export function relationChange(changes: Changes, name: string, from: { id: string; name: string } | null, to: { id: string; name: string }): void {
  changes[`${name}Id`] = change(from?.id ?? null, to.id);
  changes[name] = change(from?.name ?? null, to.name);
}

/**
 * Keys a change of many works through at a time inside its one transaction: it holds one
 * chunk's records, events and statements at once, however many keys it changes.
 */
export const KEYS_AT_A_TIME = 1000;

/**
 * Works through keys (locked by the caller; their IDs in ID order) {@link KEYS_AT_A_TIME} at a
 * time: `work` gets each chunk's IDs and returns what it changed. Answers how many it changed in
 * all, and the first `keep` of them.
 */
export async function inChunks<T>(ids: readonly string[], keep: number, work: (ids: string[]) => Promise<readonly T[]>): Promise<{ count: number; first: T[] }> {
  let count = 0;
  const first: T[] = [];
  for (let i = 0; i < ids.length; i += KEYS_AT_A_TIME) {
    const changed = await work(ids.slice(i, i + KEYS_AT_A_TIME));
    count += changed.length;
    first.push(...changed.slice(0, keep - first.length));
  }
  return { count, first };
}

/** Team names of a set of team IDs, sorted, as history records them. */
export const teamNames = (names: ReadonlyMap<string, string>, ids: Iterable<string>) =>
  [...ids].map((id) => names.get(id) ?? id).sort((a, b) => a.localeCompare(b));

/**
 * Revokes keys (live, locked by the caller) in the caller's transaction, in one statement whatever
 * their number: one REVOKED event each. Keys revoked already are left as they are. Returns the
 * keys it revoked, in ID order.
 */
export async function revokeKeys(
  keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keyIds: readonly string[], reason: string | null, now: Date,
): Promise<ApiKeyRecord[]> {
  const revoked = (await store.revokeKeyRows(tx, principal.accountId, keyIds, reason, now)).sort(inIdOrder);
  await recordEvents(tx, revoked.map((k) => event(principal, k, 'REVOKED', {
    // what it was: it was not revoked, and revoking changes no expiry
    status: change(statusOf({ revokedAt: null, expiresAt: k.expiresAt }, now.getTime()), 'REVOKED'),
    revokedAt: change(null, now.toISOString()), revocationReason: change(null, reason),
  })), now);
  await notifyKeysChanged(tx, keyChanges, revoked.map((k) => k.id));
  return revoked;
}

/** Deletes keys (live, locked by the caller) in the caller's transaction: their secrets go, one DELETED event each. Returns their IDs in ID order. */
export async function deleteKeys(keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keyIds: readonly string[], now: Date): Promise<string[]> {
  const deleted = (await store.deleteKeyRows(tx, principal.accountId, keyIds, now)).sort(inIdOrder);
  const ids = deleted.map((k) => k.id);
  await store.deleteSecrets(tx, principal.accountId, ids);
  await recordEvents(tx, deleted.map((k) => event(principal, k, 'DELETED', { deletedAt: change(null, now.toISOString()) })), now);
  await notifyKeysChanged(tx, keyChanges, ids);
  return ids;
}

/**
 * Adds and removes teams on keys (live, locked by the caller) in the caller's transaction. Each
 * key whose team set changes gets a version bump and one TEAMS_CHANGED event. Returns the IDs
 * of the changed keys, in the order given.
 */
export async function recordTeamChanges(
  keyChanges: KeyChanges, tx: MutationDb, principal: AccountPrincipal, keyIds: readonly string[],
  teams: { add: TeamRecord[]; remove: TeamRecord[] }, now: Date,
): Promise<string[]> {
  if (keyIds.length === 0) return [];
  const current = new Map<string, Set<string>>(keyIds.map((id) => [id, new Set<string>()]));
  const names = new Map<string, string>([...teams.add, ...teams.remove].map((t) => [t.id, t.name]));
  for (const { apiKeyId, teamId, teamName } of await store.teamsOfKeys(tx, principal.accountId, keyIds)) {
    current.get(apiKeyId)?.add(teamId);
    names.set(teamId, teamName);
  }
  const keyNames = await store.keyNames(tx, principal.accountId, keyIds);

  const adds: { apiKeyId: string; teamId: string }[] = [];
  const events: NewEvent[] = [];
  const changed: string[] = [];
  for (const id of keyIds) {
    const before = current.get(id) as Set<string>;
    const after = new Set(before);
    for (const t of teams.remove) after.delete(t.id);
    for (const t of teams.add) after.add(t.id);
    const added = [...after].filter((t) => !before.has(t));
    const removed = [...before].filter((t) => !after.has(t));
    if (added.length === 0 && removed.length === 0) continue;
    added.forEach((teamId) => adds.push({ apiKeyId: id, teamId }));
    changed.push(id);
    events.push(event(principal, { id, name: keyNames.get(id) as string }, 'TEAMS_CHANGED', {
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

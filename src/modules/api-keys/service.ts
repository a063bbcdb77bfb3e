import type { Knex } from 'knex';
import type { Context } from '../../context';
import { requireAdmin, requireReader, type AccountPrincipal } from '../../auth/principal';
import { inTransaction } from '../../db/transaction';
import { badInput, conflict, failedPrecondition, notFound } from '../../errors';
import type {
  ApiKeyEventFilter, ApiKeyFilter, ApiKeyOrder, CreateApiKeyInput, DeleteApiKeyInput, RenewApiKeyInput,
  RevokeApiKeyInput, UpdateApiKeyInput, UpdateApiKeyTeamsInput,
} from '../../generated/graphql';
import { pageRequest, toConnection, type Connection, type PageArgs } from '../../lib/connection';
import { newId } from '../../lib/ids';
import { whenReady } from '../../lib/loaders';
import { cleanName, idList, nameList, optionalText } from '../../lib/validate';
import { channelsByIds } from '../channels/store';
import { developerForKey } from '../developers/service';
import { instancesByIds, channelIdsOfInstances } from '../instances/store';
import type { InstanceRecord } from '../instances/model';
import type { TeamRecord } from '../teams/model';
import { resolveTeams } from '../teams/service';
import { teamsByIds } from '../teams/store';
import { notifyKeysChanged, recordEvents, type NewEvent } from './events';
import { checkExpiry, lifetimeSeconds, maxExpiry, toEventFilter, toKeyFilter, toKeyOrder } from './input';
import { DEFAULT_LIFETIME_SECONDS, MAX_GRACE_SECONDS, type ApiKeyEventRecord, type ApiKeyRecord } from './model';
import { digestOf, generateSecret, hintOf } from './secrets';
import type { KeyRelations } from './selection';
import * as store from './store';

/** Most keys a bulk team change returns in its payload (`updatedCount` counts them all). */
const BULK_RESULT_LIMIT = 100;

// ---------- reads ----------

export async function apiKey(ctx: Context, id: string): Promise<ApiKeyRecord | null> {
  requireReader(ctx.principal);
  return ctx.loaders.apiKeyById.load(id);
}

export async function apiKeys(
  ctx: Context, args: PageArgs & { filter?: ApiKeyFilter | null; orderBy?: ApiKeyOrder | null }, relations: KeyRelations | null = null,
): Promise<Connection<ApiKeyRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const filter = toKeyFilter(args.filter, 'filter');
  const order = toKeyOrder(args.orderBy);
  const page = pageRequest(args, 2);
  if (page.cursor && !store.isKeyCursor(order, page.cursor)) {
    throw badInput(page.backward ? 'before' : 'after', 'Invalid cursor for this order');
  }
  const now = new Date();
  const rows = await store.pageKeys(ctx.knex, accountId, filter, order, page, now);
  rows.forEach((k) => ctx.loaders.apiKeyById.prime(k.id, k));
  if (relations) await primeRelations(ctx, accountId, rows, relations);
  return toConnection(rows, page, store.cursorOfKey(order), () => store.countKeys(ctx.knex, accountId, filter, now));
}

/** Loads what the page's keys show of their developer, instance, channel and teams in one statement. */
async function primeRelations(ctx: Context, accountId: string, keys: ApiKeyRecord[], relations: KeyRelations): Promise<void> {
  const related = await store.relationsOfKeys(ctx.knex, accountId, keys, relations);
  const { loaders } = ctx;
  for (const d of related.developers) loaders.developerById.prime(d.id, d);
  for (const i of related.instances) loaders.instanceById.prime(i.id, i);
  for (const c of related.channels) loaders.channelById.prime(c.id, c);
  for (const t of related.teams) loaders.teamById.prime(t.id, t);
  for (const [keyId, teamIds] of related.teamIdsByKey ?? []) loaders.teamIdsByApiKeyId.prime(keyId, teamIds);
}

export async function apiKeyEvents(
  ctx: Context, args: PageArgs & { filter?: ApiKeyEventFilter | null },
): Promise<Connection<ApiKeyEventRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const filter = toEventFilter(args.filter);
  const page = pageRequest({ first: args.first, after: args.after }, 1);
  const afterId = page.cursor ? String(page.cursor[0]) : null;
  const rows = await store.pageEvents(ctx.knex, accountId, filter, afterId, page.limit);
  return toConnection(rows, page, (e) => [e.id], () => store.countEvents(ctx.knex, accountId, filter));
}

export function historyOf(ctx: Context, key: ApiKeyRecord, args: PageArgs): Promise<Connection<ApiKeyEventRecord>> {
  return apiKeyEvents(ctx, { ...args, filter: { apiKeyIds: [key.id] } });
}

/** A key's teams; at once when the listing primed them. */
export function teamsOfKey(ctx: Context, key: ApiKeyRecord): TeamRecord[] | Promise<TeamRecord[]> {
  const { teamIdsByApiKeyId, teamById } = ctx.loaders;
  return whenReady(teamIdsByApiKeyId.get(key.id), (ids) =>
    whenReady(teamById.getAll(ids), (teams) => teams.filter((t): t is TeamRecord => t !== null)));
}

// ---------- helpers shared by the mutations ----------

async function lockKey(trx: Knex, accountId: string, id: string, field = 'input.id'): Promise<ApiKeyRecord> {
  const [key] = await store.lockKeys(trx, accountId, [id]);
  if (!key) throw notFound('API key', id, field);
  return key;
}

async function instanceInAccount(trx: Knex, accountId: string, id: string, field: string): Promise<InstanceRecord> {
  const [instance] = await instancesByIds(trx, accountId, [id]);
  if (!instance) throw notFound('instance', id, field);
  return instance;
}

/** The channel must exist in the account and be available on the instance. */
async function checkChannelOnInstance(trx: Knex, accountId: string, channelId: string, instance: InstanceRecord, field: string): Promise<void> {
  const [channel] = await channelsByIds(trx, accountId, [channelId]);
  if (!channel) throw notFound('channel', channelId, field);
  const available = (await channelIdsOfInstances(trx, [instance.id])).map((r) => r.channelId);
  if (!available.includes(channelId)) {
    throw badInput(field, `Channel ${JSON.stringify(channel.name)} is not available on instance ${JSON.stringify(instance.name)}`);
  }
}

async function checkNameFree(trx: Knex, instance: InstanceRecord, name: string, exceptId: string | null): Promise<void> {
  if (await store.keyNameTaken(trx, instance.id, name, exceptId)) {
    throw conflict(`A key named ${JSON.stringify(name)} already exists on instance ${JSON.stringify(instance.name)}`, { field: 'input.name' });
  }
}

function event(principal: AccountPrincipal, key: ApiKeyRecord, type: NewEvent['type'], changes: Record<string, unknown> | null = null): NewEvent {
  return { accountId: principal.accountId, apiKeyId: key.id, apiKeyName: key.name, type, actor: principal.subject, changes };
}

const change = (from: unknown, to: unknown) => ({ from, to });

/** Team names of a set of team IDs, sorted, as history records them. */
const teamNames = (names: Map<string, string>, ids: Iterable<string>) =>
  [...ids].map((id) => names.get(id) ?? id).sort((a, b) => a.localeCompare(b));

/** Revokes keys (already locked, not revoked) in the caller's transaction: one REVOKED event each. */
export async function revokeKeys(
  trx: Knex, principal: AccountPrincipal, keys: ApiKeyRecord[], reason: string | null, now: Date,
): Promise<ApiKeyRecord[]> {
  const revoked = keys.map((k) => ({ ...k, revokedAt: now, revocationReason: reason, updatedAt: now, version: k.version + 1 }));
  for (const key of revoked) await store.saveKey(trx, key);
  await recordEvents(trx, revoked.map((k) => event(principal, k, 'REVOKED', reason ? { reason } : null)), now);
  await notifyKeysChanged(trx, revoked.map((k) => k.id));
  return revoked;
}

/**
 * Adds and removes teams on keys (live, locked by the caller) in the caller's transaction. Each
 * key whose team set changes gets a version bump and one TEAMS_CHANGED event. Returns the IDs
 * of the changed keys.
 */
export async function recordTeamChanges(
  trx: Knex, principal: AccountPrincipal, keys: readonly ApiKeyRecord[], teams: { add: TeamRecord[]; remove: TeamRecord[] },
): Promise<string[]> {
  if (keys.length === 0) return [];
  const current = new Map<string, Set<string>>(keys.map((k) => [k.id, new Set<string>()]));
  for (const { apiKeyId, teamId } of await store.teamIdsOfKeys(trx, keys.map((k) => k.id))) current.get(apiKeyId)?.add(teamId);
  const names = new Map<string, string>([...teams.add, ...teams.remove].map((t) => [t.id, t.name]));
  const missingNames = [...new Set([...current.values()].flatMap((s) => [...s]))].filter((id) => !names.has(id));
  for (const t of await teamsByIds(trx, principal.accountId, missingNames)) names.set(t.id, t.name);

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
    events.push(event(principal, key, 'TEAMS_CHANGED', { teams: change(teamNames(names, before), teamNames(names, after)) }));
  }
  if (changed.length === 0) return [];
  const now = new Date();
  if (teams.remove.length) await store.removeKeyTeams(trx, changed, teams.remove.map((t) => t.id));
  await store.addKeyTeams(trx, principal.accountId, adds);
  await store.touchKeys(trx, principal.accountId, changed, now);
  await recordEvents(trx, events, now);
  await notifyKeysChanged(trx, changed);
  return changed;
}

// ---------- mutations ----------

export async function createApiKey(ctx: Context, input: CreateApiKeyInput): Promise<{ apiKey: ApiKeyRecord; secret: string }> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  const name = cleanName('input.name', input.name);
  const now = new Date();
  const expiresAt = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : new Date(now.getTime() + DEFAULT_LIFETIME_SECONDS * 1000);
  const teamIds = idList('input.teamIds', input.teamIds, 100);
  const newTeamNames = nameList('input.newTeamNames', input.newTeamNames);
  const secret = generateSecret();

  const apiKey = await inTransaction(ctx, async (trx) => {
    const instance = await instanceInAccount(trx, accountId, input.instanceId, 'input.instanceId');
    if (input.cloud != null && input.cloud !== instance.cloud) {
      throw badInput('input.cloud', `Instance ${JSON.stringify(instance.name)} runs on ${instance.cloud}, not ${input.cloud}`);
    }
    await checkChannelOnInstance(trx, accountId, input.channelId, instance, 'input.channelId');
    const developer = await developerForKey(trx, accountId, input.developer, instance.id, 'input.developer');
    await checkNameFree(trx, instance, name, null);
    const teams = await resolveTeams(trx, accountId, teamIds, newTeamNames, 'input.teamIds');
    const key: ApiKeyRecord = {
      id: newId('ApiKey'), accountId, name, hint: hintOf(secret), cloud: instance.cloud, instanceId: instance.id,
      channelId: input.channelId, developerId: developer.id, expiresAt, lifetimeSeconds: lifetimeSeconds(expiresAt, now),
      createdAt: now, updatedAt: now, renewedAt: null, revokedAt: null, revocationReason: null, lastUsedAt: null,
      deletedAt: null, version: 1,
    };
    await store.insertKey(trx, key);
    await store.insertSecret(trx, accountId, key.id, digestOf(secret));
    await store.addKeyTeams(trx, accountId, teams.map((t) => ({ apiKeyId: key.id, teamId: t.id })));
    await recordEvents(trx, [event(principal, key, 'CREATED', {
      instanceId: instance.id, channelId: key.channelId, developerId: developer.id,
      teams: teams.map((t) => t.name).sort(), expiresAt: expiresAt.toISOString(),
    })], now);
    return key;
  });
  return { apiKey, secret };
}

export async function updateApiKey(ctx: Context, input: UpdateApiKeyInput): Promise<ApiKeyRecord> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  const now = new Date();
  const name = input.name != null ? cleanName('input.name', input.name) : null;
  const expiresAt = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : null;
  const teamIds = input.teamIds != null ? idList('input.teamIds', input.teamIds, 100) : null;

  return inTransaction(ctx, async (trx) => {
    const current = await lockKey(trx, accountId, input.id);
    if (input.expectedVersion != null && input.expectedVersion !== current.version) {
      throw conflict(`The key is at version ${current.version}, not ${input.expectedVersion}`, { field: 'input.expectedVersion', currentVersion: current.version });
    }
    const next: ApiKeyRecord = { ...current };
    const changes: Record<string, unknown> = {};
    const instance = await instanceInAccount(trx, accountId, input.instanceId ?? current.instanceId, 'input.instanceId');
    if (instance.id !== current.instanceId) {
      changes.instanceId = change(current.instanceId, instance.id);
      next.instanceId = instance.id;
      next.cloud = instance.cloud;
      if (next.cloud !== current.cloud) changes.cloud = change(current.cloud, next.cloud);
    }
    if (input.channelId != null && input.channelId !== current.channelId) {
      changes.channelId = change(current.channelId, input.channelId);
      next.channelId = input.channelId;
    }
    if (changes.instanceId || changes.channelId) {
      await checkChannelOnInstance(trx, accountId, next.channelId, instance, input.channelId != null ? 'input.channelId' : 'input.instanceId');
    }
    if (input.developer != null) {
      const developer = await developerForKey(trx, accountId, input.developer, instance.id, 'input.developer');
      if (developer.id !== current.developerId) {
        changes.developerId = change(current.developerId, developer.id);
        next.developerId = developer.id;
      }
    } else if (changes.instanceId) {
      // the holder now works in the new instance too
      await trx.raw(
        `insert into developer_instances (account_id, developer_id, instance_id) values (?, ?, ?) on conflict do nothing`,
        [accountId, current.developerId, instance.id],
      );
    }
    if (name !== null && name !== current.name) {
      changes.name = change(current.name, name);
      next.name = name;
    }
    if (changes.name || changes.instanceId) await checkNameFree(trx, instance, next.name, current.id);
    if (expiresAt && expiresAt.getTime() !== current.expiresAt.getTime()) {
      changes.expiresAt = change(current.expiresAt.toISOString(), expiresAt.toISOString());
      next.expiresAt = expiresAt;
    }
    if (teamIds !== null) {
      const wanted = await resolveTeams(trx, accountId, teamIds, [], 'input.teamIds');
      const before = (await store.teamIdsOfKeys(trx, [current.id])).map((r) => r.teamId);
      const removed = before.filter((id) => !teamIds.includes(id));
      const added = wanted.filter((t) => !before.includes(t.id));
      if (removed.length || added.length) {
        const names = new Map((await teamsByIds(trx, accountId, [...before, ...teamIds])).map((t) => [t.id, t.name]));
        changes.teams = change(teamNames(names, before), teamNames(names, teamIds));
        if (removed.length) await store.removeKeyTeams(trx, [current.id], removed);
        await store.addKeyTeams(trx, accountId, added.map((t) => ({ apiKeyId: current.id, teamId: t.id })));
      }
    }
    if (Object.keys(changes).length === 0) return current;
    next.version = current.version + 1;
    next.updatedAt = now;
    await store.saveKey(trx, next);
    await recordEvents(trx, [event(principal, next, 'UPDATED', changes)], now);
    await notifyKeysChanged(trx, [next.id]);
    return next;
  });
}

export async function renewApiKey(ctx: Context, input: RenewApiKeyInput): Promise<{ apiKey: ApiKeyRecord; secret: string }> {
  const principal = requireAdmin(ctx.principal);
  const now = new Date();
  const grace = input.gracePeriodSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw badInput('input.gracePeriodSeconds', `Must be between 0 and ${MAX_GRACE_SECONDS}`);
  }
  const requested = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : null;
  const secret = generateSecret();

  const apiKey = await inTransaction(ctx, async (trx) => {
    const current = await lockKey(trx, principal.accountId, input.id);
    if (current.revokedAt) throw failedPrecondition('A revoked key cannot be renewed');
    const fallback = Math.min(now.getTime() + current.lifetimeSeconds * 1000, maxExpiry(now).getTime());
    const expiresAt = requested ?? new Date(fallback);
    const next: ApiKeyRecord = {
      ...current, hint: hintOf(secret), expiresAt, renewedAt: now, updatedAt: now, version: current.version + 1,
    };
    await store.retireSecrets(trx, current.id, grace > 0 ? new Date(now.getTime() + grace * 1000) : null);
    await store.insertSecret(trx, principal.accountId, current.id, digestOf(secret));
    await store.saveKey(trx, next);
    await recordEvents(trx, [event(principal, next, 'RENEWED', {
      expiresAt: change(current.expiresAt.toISOString(), expiresAt.toISOString()),
      hint: change(current.hint, next.hint),
      gracePeriodSeconds: grace,
    })], now);
    await notifyKeysChanged(trx, [current.id]);
    return next;
  });
  return { apiKey, secret };
}

export async function revokeApiKey(ctx: Context, input: RevokeApiKeyInput): Promise<ApiKeyRecord> {
  const principal = requireAdmin(ctx.principal);
  const reason = optionalText('input.reason', input.reason, 500);
  return inTransaction(ctx, async (trx) => {
    const current = await lockKey(trx, principal.accountId, input.id);
    if (current.revokedAt) return current;
    const [revoked] = await revokeKeys(trx, principal, [current], reason, new Date());
    return revoked;
  });
}

export async function deleteApiKey(ctx: Context, input: DeleteApiKeyInput): Promise<string> {
  const principal = requireAdmin(ctx.principal);
  return inTransaction(ctx, async (trx) => {
    const current = await lockKey(trx, principal.accountId, input.id);
    const now = new Date();
    const deleted = { ...current, deletedAt: now, updatedAt: now, version: current.version + 1 };
    await store.saveKey(trx, deleted);
    await store.deleteSecrets(trx, [current.id]);
    await recordEvents(trx, [event(principal, deleted, 'DELETED')], now);
    await notifyKeysChanged(trx, [current.id]);
    return current.id;
  });
}

export async function updateApiKeyTeams(
  ctx: Context, input: UpdateApiKeyTeamsInput,
): Promise<{ apiKeys: ApiKeyRecord[]; updatedCount: number }> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  if ((input.apiKeyIds == null) === (input.filter == null)) {
    throw badInput('input.apiKeyIds', 'Give exactly one of apiKeyIds and filter');
  }
  const apiKeyIds = input.apiKeyIds != null ? idList('input.apiKeyIds', input.apiKeyIds, 10_000) : null;
  const filter = input.filter != null ? toKeyFilter(input.filter, 'input.filter') : null;
  const addTeamIds = idList('input.addTeamIds', input.addTeamIds, 100);
  const removeTeamIds = idList('input.removeTeamIds', input.removeTeamIds, 100);
  const addNewTeamNames = nameList('input.addNewTeamNames', input.addNewTeamNames);
  if (addTeamIds.length + removeTeamIds.length + addNewTeamNames.length === 0) {
    throw badInput('input.addTeamIds', 'Give teams to add or remove');
  }
  const both = addTeamIds.find((id) => removeTeamIds.includes(id));
  if (both) throw badInput('input.removeTeamIds', `Team ${both} is both added and removed`);

  return inTransaction(ctx, async (trx) => {
    let keys: ApiKeyRecord[];
    if (apiKeyIds) {
      keys = await store.lockKeys(trx, accountId, apiKeyIds);
      const found = new Set(keys.map((k) => k.id));
      const missing = apiKeyIds.find((id) => !found.has(id));
      if (missing) throw notFound('API key', missing, 'input.apiKeyIds');
    } else {
      keys = await store.lockKeysMatching(trx, accountId, filter as store.KeyFilter, new Date());
    }
    const add = await resolveTeams(trx, accountId, addTeamIds, addNewTeamNames, 'input.addTeamIds');
    const remove = await resolveTeams(trx, accountId, removeTeamIds, [], 'input.removeTeamIds');
    const changed = await recordTeamChanges(trx, principal, keys, { add, remove });
    const apiKeys = changed.length ? await store.keysByIds(trx, accountId, changed.slice(0, BULK_RESULT_LIMIT)) : [];
    return { apiKeys: apiKeys.sort((a, b) => a.id.localeCompare(b.id)), updatedCount: changed.length };
  });
}

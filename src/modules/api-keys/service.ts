import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import type { MutationDb } from '../../db/db';
import { inTransaction } from '../../db/transaction';
import { badInput, conflict, failedPrecondition, notFound } from '../../errors';
import type {
  ApiKeyEventFilter, ApiKeyFilter, ApiKeyOrder, CreateApiKeyInput, DeleteApiKeyInput, DeleteApiKeysInput, RenewApiKeyInput,
  RevokeApiKeyInput, RevokeApiKeysInput, UpdateApiKeyInput, UpdateApiKeyTeamsInput,
} from '../../generated/graphql';
import { pageRequest, toConnection, type Connection, type PageArgs } from '../../lib/connection';
import { newId } from '../../lib/ids';
import { whenReady } from '../../lib/loaders';
import { cleanName, idList, nameList, optionalText } from '../../lib/validate';
import { channelOfAccount } from '../channels/service';
import { developerForKey, developerOfAccount, linkDeveloperToInstance } from '../developers/service';
import type { InstanceRecord } from '../instances/model';
import { instanceInAccount, requireChannelOnInstance } from '../instances/service';
import type { TeamRecord } from '../teams/model';
import { resolveTeams } from '../teams/service';
import { notifyKeysChanged, recordEvents } from './events';
import { checkExpiry, lifetimeSeconds, maxExpiry, toEventFilter, toKeyFilter, toKeyOrder } from './input';
import { KeyCounts, keptKey } from './counts';
import { countFacets, labelled, stampAndNames, type KeyFacets } from './facets';
import { change, deleteKeys, event, inChunks, recordTeamChanges, relationChange, revokeKeys, teamNames, type Changes } from './keys';
import { DEFAULT_LIFETIME_SECONDS, inIdOrder, MAX_GRACE_SECONDS, type ApiKeyEventRecord, type ApiKeyRecord } from './model';
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
  const now = ctx.now();
  const countKey = KeyCounts.keyOf(accountId, filter);
  const walkLimit = store.searchWalkLimit(filter, lastSearchCount(ctx, countKey, accountId, filter, now));
  const rows = await store.pageKeys(ctx.db, accountId, filter, order, page, now, await teamLinks(ctx, accountId, filter, now), walkLimit);
  rows.forEach((k) => ctx.loaders.apiKeyById.prime(k.id, k));
  const stamp = relations ? await primeRelations(ctx, accountId, rows, relations) : null;
  return toConnection(rows, page, store.cursorOfKey(order), () => countKeys(ctx, countKey, accountId, filter, now, stamp));
}

/**
 * The count last kept for the filter's search or, as it is typed a character at a time, for the
 * longest of its prefixes counted (a name holding a term holds each of its prefixes, so that
 * count bounds the term's). Even from before a change, it only tells how the page may find the
 * search's keys, never which.
 */
function lastSearchCount(ctx: Context, countKey: string, accountId: string, filter: store.KeyFilter, now: Date): number | undefined {
  const counts = ctx.app.keyCounts;
  const search = filter.search;
  if (search === null || !store.searchOnly(filter)) return undefined;
  let kept = counts.peek(countKey, now.getTime())?.value;
  for (let n = search.length - 1; kept === undefined && n > 0; n--) {
    kept = counts.peek(KeyCounts.keyOf(accountId, { ...filter, search: search.slice(0, n) }), now.getTime())?.value;
  }
  return kept;
}

/** How long the count of a set of teams' links is kept. */
const TEAM_LINKS_KEPT_MS = 60_000;

/**
 * How many links the filter's teams have (store.TEAM_LINKS). Only the page's plan
 * depends on it, never its rows, so it is kept a while for the same teams without a statement to
 * check it.
 */
async function teamLinks(ctx: Context, accountId: string, filter: store.KeyFilter, now: Date): Promise<number> {
  if (!filter.teamIds.length) return 0;
  const key = keptKey([accountId, [...filter.teamIds].sort()]);
  const kept = ctx.app.teamLinks.peek(key, now.getTime());
  if (kept) return kept.value;
  const links = await store.teamLinksOf(ctx.db, accountId, filter.teamIds);
  ctx.app.teamLinks.set(key, links, 0, now.getTime() + TEAM_LINKS_KEPT_MS);
  return links;
}

/**
 * `totalCount`, exact: a count kept by the service is used while the account's count stamp, read
 * in the request's transaction (with the page's relations, or on its own), has not moved
 * (src/modules/api-keys/counts.ts); otherwise the keys are counted, with the stamp and the next
 * expiry in the same statement.
 */
async function countKeys(
  ctx: Context, key: string, accountId: string, filter: store.KeyFilter, now: Date, stampRead: number | null,
): Promise<number> {
  const counts = ctx.app.keyCounts;
  const kept = counts.get(key, stampRead ?? await store.countStamp(ctx.db, accountId), now.getTime());
  if (kept !== undefined) return kept;
  const { n, stamp, nextExpiry } = await store.countKeys(ctx.db, accountId, filter, now);
  counts.set(key, n, stamp, store.countChangesWithTime(filter) && nextExpiry ? nextExpiry.getTime() : Infinity);
  return n;
}

/** Values per facet list: the busiest `first`, by default and at most. */
const FACET_VALUES = { default: 50, max: 500 };

/**
 * `apiKeyFacets`: the counts of the smart filters for a filter, kept by the service like
 * `totalCount` (the same stamp, and until a key's expiry or its entry into an "expiring soon"
 * window changes a count). Requests that find no kept counts while another is counting the same
 * filter wait for it; when keys changed meanwhile, a request counts in its own transaction.
 */
export async function apiKeyFacets(ctx: Context, args: { filter?: ApiKeyFilter | null; first?: number | null }): Promise<KeyFacets> {
  const { accountId } = requireReader(ctx.principal);
  const filter = toKeyFilter(args.filter, 'filter');
  const first = args.first ?? FACET_VALUES.default;
  if (!Number.isInteger(first) || first < 1 || first > FACET_VALUES.max) throw badInput('first', `first must be between 1 and ${FACET_VALUES.max}`);
  const now = ctx.now();
  const key = `${KeyCounts.keyOf(accountId, filter)}|${first}`;
  const cache = ctx.app.keyFacets;
  const count = async () => {
    const { facets, stamp, validUntil } = await countFacets(ctx.db, accountId, filter, now, first);
    return { value: facets, stamp, validUntil };
  };
  const fromKept = async (): Promise<KeyFacets | null> => {
    const kept = cache.peek(key, now.getTime());
    if (!kept) return null;
    const { stamp, names } = await stampAndNames(ctx.db, accountId, kept.value);
    return stamp === kept.stamp ? labelled(kept.value, names) : null;
  };
  const kept = await fromKept();
  if (kept) return kept;
  // counted by this request or by the one already counting (whose failure is not this request's)
  await cache.once(key, count).catch(() => undefined);
  const shared = await fromKept();
  if (shared) return shared;
  const own = await count();
  cache.set(key, own.value, own.stamp, own.validUntil);
  return labelled(own.value, (await stampAndNames(ctx.db, accountId, own.value)).names);
}

/**
 * Loads what the page's keys show of their developer, instance, channel and teams in one
 * statement, the developers, instances and channels the service holds for the account left out
 * while the account's catalog stamp, read in that statement, has not moved (once it has, the
 * statement runs again without them); returns the account's count stamp when `totalCount` was
 * asked (null: not read).
 */
async function primeRelations(ctx: Context, accountId: string, keys: ApiKeyRecord[], relations: KeyRelations): Promise<number | null> {
  const catalog = ctx.app.catalog;
  let held = catalog.held(accountId);
  let related = await store.relationsOfKeys(ctx.db, accountId, keys, relations, held);
  if (held && related.catalogStamp !== null && related.catalogStamp !== held.stamp) {
    held = undefined;
    related = await store.relationsOfKeys(ctx.db, accountId, keys, relations);
  }
  const { loaders } = ctx;
  if (related.catalogStamp !== null) catalog.add(accountId, related.catalogStamp, related);
  for (const d of related.developers) loaders.developerById.prime(d.id, d);
  for (const i of related.instances) loaders.instanceById.prime(i.id, i);
  for (const c of related.channels) loaders.channelById.prime(c.id, c);
  // held records are used only when the stamp read with this page is theirs
  if (held && related.catalogStamp === held.stamp) {
    for (const k of keys) {
      const d = held.developers.get(k.developerId);
      const i = held.instances.get(k.instanceId);
      const c = held.channels.get(k.channelId);
      if (d) loaders.developerById.prime(d.id, d);
      if (i) loaders.instanceById.prime(i.id, i);
      if (c) loaders.channelById.prime(c.id, c);
    }
  }
  for (const t of related.teams) loaders.teamById.prime(t.id, t);
  for (const [keyId, teamIds] of related.teamIdsByKey ?? []) loaders.teamIdsByApiKeyId.prime(keyId, teamIds);
  return related.stamp;
}

export async function apiKeyEvents(
  ctx: Context, args: PageArgs & { filter?: ApiKeyEventFilter | null },
): Promise<Connection<ApiKeyEventRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const filter = toEventFilter(args.filter);
  const page = pageRequest({ first: args.first, after: args.after }, 1);
  const afterId = page.cursor ? String(page.cursor[0]) : null;
  const rows = await store.pageEvents(ctx.db, accountId, filter, afterId, page.limit);
  return toConnection(rows, page, (e) => [e.id], () => store.countEvents(ctx.db, accountId, filter));
}

export function historyOf(ctx: Context, key: ApiKeyRecord, args: PageArgs): Promise<Connection<ApiKeyEventRecord>> {
  return apiKeyEvents(ctx, { ...args, filter: { apiKeyIds: [key.id] } });
}

export async function apiKeyEvent(ctx: Context, id: string): Promise<ApiKeyEventRecord | null> {
  const { accountId } = requireReader(ctx.principal);
  return store.eventById(ctx.db, accountId, id);
}

/** A key's teams; at once when the listing primed them. */
export function teamsOfKey(ctx: Context, key: ApiKeyRecord): TeamRecord[] | Promise<TeamRecord[]> {
  const { teamIdsByApiKeyId, teamById } = ctx.loaders;
  return whenReady(teamIdsByApiKeyId.get(key.id), (ids) =>
    whenReady(teamById.getAll(ids), (teams) => teams.filter((t): t is TeamRecord => t !== null)));
}

// ---------- helpers shared by the mutations ----------

async function lockKey(tx: MutationDb, accountId: string, id: string, field = 'input.id'): Promise<ApiKeyRecord> {
  const [key] = await store.lockKeys(tx, accountId, [id]);
  if (!key) throw notFound('API key', id, field);
  return key;
}

async function checkNameFree(tx: MutationDb, instance: InstanceRecord, name: string, exceptId: string | null): Promise<void> {
  if (await store.keyNameTaken(tx, instance.accountId, instance.id, name, exceptId)) {
    throw conflict(`A key named ${JSON.stringify(name)} already exists on instance ${JSON.stringify(instance.name)}`, { field: 'input.name' });
  }
}

// ---------- mutations ----------

export async function createApiKey(ctx: Context, input: CreateApiKeyInput): Promise<{ apiKey: ApiKeyRecord; secret: string }> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  const name = cleanName('input.name', input.name);
  const now = ctx.now();
  const expiresAt = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : new Date(now.getTime() + DEFAULT_LIFETIME_SECONDS * 1000);
  const teamIds = idList('input.teamIds', input.teamIds, 100);
  const newTeamNames = nameList('input.newTeamNames', input.newTeamNames);
  const secret = generateSecret();

  const apiKey = await inTransaction(ctx, async (tx) => {
    const instance = await instanceInAccount(tx, accountId, input.instanceId, 'input.instanceId');
    if (input.cloud != null && input.cloud !== instance.cloud) {
      throw badInput('input.cloud', `Instance ${JSON.stringify(instance.name)} runs on ${instance.cloud}, not ${input.cloud}`);
    }
    const channel = await requireChannelOnInstance(tx, accountId, input.channelId, instance, 'input.channelId');
    const developer = await developerForKey(tx, accountId, input.developer, instance.id, 'input.developer', now);
    await checkNameFree(tx, instance, name, null);
    const teams = await resolveTeams(tx, accountId, teamIds, newTeamNames, 'input.teamIds', now);
    const key: ApiKeyRecord = {
      id: newId('ApiKey'), accountId, name, hint: hintOf(secret), cloud: instance.cloud, instanceId: instance.id,
      channelId: input.channelId, developerId: developer.id, expiresAt, lifetimeSeconds: lifetimeSeconds(expiresAt, now),
      createdAt: now, updatedAt: now, renewedAt: null, revokedAt: null, revocationReason: null, lastUsedAt: null,
      deletedAt: null, version: 1,
    };
    await store.insertKey(tx, key);
    await store.insertSecret(tx, accountId, key.id, digestOf(secret));
    await store.addKeyTeams(tx, accountId, teams.map((t) => ({ apiKeyId: key.id, teamId: t.id })));
    const changes: Changes = { name: change(null, name), cloud: change(null, instance.cloud) };
    relationChange(changes, 'instance', null, instance);
    relationChange(changes, 'channel', null, channel);
    relationChange(changes, 'developer', null, developer);
    changes.teamIds = change([], teams.map((t) => t.id).sort());
    changes.teams = change([], teamNames(new Map(teams.map((t) => [t.id, t.name])), teams.map((t) => t.id)));
    changes.expiresAt = change(null, expiresAt.toISOString());
    changes.status = change(null, 'ACTIVE');
    await recordEvents(tx, [event(principal, key, 'CREATED', changes)], now);
    return key;
  });
  return { apiKey, secret };
}

export async function updateApiKey(ctx: Context, input: UpdateApiKeyInput): Promise<ApiKeyRecord> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  const now = ctx.now();
  const name = input.name != null ? cleanName('input.name', input.name) : null;
  const expiresAt = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : null;
  const teamIds = input.teamIds != null ? idList('input.teamIds', input.teamIds, 100) : null;

  return inTransaction(ctx, async (tx) => {
    const current = await lockKey(tx, accountId, input.id);
    if (input.expectedVersion != null && input.expectedVersion !== current.version) {
      throw conflict(`The key is at version ${current.version}, not ${input.expectedVersion}`, { field: 'input.expectedVersion', currentVersion: current.version });
    }
    const next: ApiKeyRecord = { ...current };
    const changes: Changes = {};
    const instance = await instanceInAccount(tx, accountId, input.instanceId ?? current.instanceId, 'input.instanceId');
    if (instance.id !== current.instanceId) {
      relationChange(changes, 'instance', await instanceInAccount(tx, accountId, current.instanceId, 'input.id'), instance);
      next.instanceId = instance.id;
      next.cloud = instance.cloud;
      if (next.cloud !== current.cloud) changes.cloud = change(current.cloud, next.cloud);
    }
    if (input.channelId != null) next.channelId = input.channelId;
    if (changes.instanceId || next.channelId !== current.channelId) {
      const channel = await requireChannelOnInstance(tx, accountId, next.channelId, instance, input.channelId != null ? 'input.channelId' : 'input.instanceId');
      if (next.channelId !== current.channelId) relationChange(changes, 'channel', await channelOfAccount(tx, accountId, current.channelId, 'input.id'), channel);
    }
    if (input.developer != null) {
      const developer = await developerForKey(tx, accountId, input.developer, instance.id, 'input.developer', now);
      if (developer.id !== current.developerId) {
        relationChange(changes, 'developer', await developerOfAccount(tx, accountId, current.developerId), developer);
        next.developerId = developer.id;
      }
    } else if (changes.instanceId) {
      // the holder now works in the new instance too
      await linkDeveloperToInstance(tx, accountId, current.developerId, instance.id, now);
    }
    if (name !== null && name !== current.name) {
      changes.name = change(current.name, name);
      next.name = name;
    }
    if (changes.name || changes.instanceId) await checkNameFree(tx, instance, next.name, current.id);
    if (expiresAt && expiresAt.getTime() !== current.expiresAt.getTime()) {
      changes.expiresAt = change(current.expiresAt.toISOString(), expiresAt.toISOString());
      next.expiresAt = expiresAt;
    }
    if (teamIds !== null) {
      const wanted = await resolveTeams(tx, accountId, teamIds, [], 'input.teamIds', now);
      const links = await store.teamsOfKeys(tx, accountId, [current.id]);
      const before = links.map((r) => r.teamId);
      const removed = before.filter((id) => !teamIds.includes(id));
      const added = wanted.filter((t) => !before.includes(t.id));
      if (removed.length || added.length) {
        const names = new Map([...links.map((r) => [r.teamId, r.teamName] as const), ...wanted.map((t) => [t.id, t.name] as const)]);
        changes.teamIds = change([...before].sort(), [...teamIds].sort());
        changes.teams = change(teamNames(names, before), teamNames(names, teamIds));
        if (removed.length) await store.removeKeyTeams(tx, accountId, [current.id], removed);
        await store.addKeyTeams(tx, accountId, added.map((t) => ({ apiKeyId: current.id, teamId: t.id })));
      }
    }
    if (Object.keys(changes).length === 0) return current;
    next.version = current.version + 1;
    next.updatedAt = now;
    await store.saveKey(tx, next);
    await recordEvents(tx, [event(principal, next, 'UPDATED', changes)], now);
    await notifyKeysChanged(tx, ctx.app.keyChanges, [next.id]);
    return next;
  });
}

export async function renewApiKey(ctx: Context, input: RenewApiKeyInput): Promise<{ apiKey: ApiKeyRecord; secret: string }> {
  const principal = requireAdmin(ctx.principal);
  const now = ctx.now();
  const grace = input.gracePeriodSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw badInput('input.gracePeriodSeconds', `Must be between 0 and ${MAX_GRACE_SECONDS}`);
  }
  const requested = input.expiresAt != null ? checkExpiry('input.expiresAt', input.expiresAt, now) : null;
  const secret = generateSecret();

  const apiKey = await inTransaction(ctx, async (tx) => {
    const current = await lockKey(tx, principal.accountId, input.id);
    if (current.revokedAt) throw failedPrecondition('A revoked key cannot be renewed');
    const fallback = Math.min(now.getTime() + current.lifetimeSeconds * 1000, maxExpiry(now).getTime());
    const expiresAt = requested ?? new Date(fallback);
    const next: ApiKeyRecord = {
      ...current, hint: hintOf(secret), expiresAt, renewedAt: now, updatedAt: now, version: current.version + 1,
    };
    await store.retireSecrets(tx, principal.accountId, current.id, grace > 0 ? new Date(now.getTime() + grace * 1000) : null, now);
    await store.insertSecret(tx, principal.accountId, current.id, digestOf(secret));
    await store.saveKey(tx, next);
    await recordEvents(tx, [event(principal, next, 'RENEWED', {
      expiresAt: change(current.expiresAt.toISOString(), expiresAt.toISOString()),
      hint: change(current.hint, next.hint),
      renewedAt: change(current.renewedAt?.toISOString() ?? null, now.toISOString()),
      // how long the replaced secret still verifies
      gracePeriodSeconds: change(null, grace),
    })], now);
    await notifyKeysChanged(tx, ctx.app.keyChanges, [current.id]);
    return next;
  });
  return { apiKey, secret };
}

export async function revokeApiKey(ctx: Context, input: RevokeApiKeyInput): Promise<ApiKeyRecord> {
  const principal = requireAdmin(ctx.principal);
  const reason = optionalText('input.reason', input.reason, 500);
  return inTransaction(ctx, async (tx) => {
    const current = await lockKey(tx, principal.accountId, input.id);
    if (current.revokedAt) {
      throw failedPrecondition(`The key was revoked already${current.revocationReason ? ` (${current.revocationReason})` : ''}; revocation is final`,
        { field: 'input.id', revokedAt: current.revokedAt.toISOString() });
    }
    const [revoked] = await revokeKeys(ctx.app.keyChanges, tx, principal, [current.id], reason, ctx.now());
    return revoked;
  });
}

export async function deleteApiKey(ctx: Context, input: DeleteApiKeyInput): Promise<string> {
  const principal = requireAdmin(ctx.principal);
  return inTransaction(ctx, async (tx) => {
    const current = await lockKey(tx, principal.accountId, input.id);
    await deleteKeys(ctx.app.keyChanges, tx, principal, [current.id], ctx.now());
    return current.id;
  });
}

// ---------- bulk changes ----------

/** Most keys one bulk change may change; its payload lists at most {@link BULK_RESULT_LIMIT} of them. */
export const BULK_LIMIT = 10_000;

/** The keys of a bulk change: by ID, or every key matching a filter but those excepted. */
interface KeySelection { apiKeyIds: string[] | null; filter: store.KeyFilter | null; exceptIds: string[] }

function toSelection(input: { apiKeyIds?: string[] | null; filter?: ApiKeyFilter | null; exceptIds?: string[] | null }): KeySelection {
  if ((input.apiKeyIds == null) === (input.filter == null)) throw badInput('input.apiKeyIds', 'Give exactly one of apiKeyIds and filter');
  if (input.exceptIds != null && input.filter == null) throw badInput('input.exceptIds', 'exceptIds goes with filter');
  return {
    apiKeyIds: input.apiKeyIds != null ? idList('input.apiKeyIds', input.apiKeyIds, BULK_LIMIT) : null,
    filter: input.filter != null ? toKeyFilter(input.filter, 'input.filter') : null,
    exceptIds: idList('input.exceptIds', input.exceptIds, BULK_LIMIT),
  };
}

/**
 * IDs of the selected live keys of the account, locked in ID order (so concurrent bulk changes
 * cannot deadlock). An ID that is not one of them is NOT_FOUND; a filter matching more than
 * {@link BULK_LIMIT} keys is BAD_USER_INPUT. Both before anything is written.
 */
async function lockSelection(tx: MutationDb, accountId: string, selection: KeySelection, now: Date): Promise<string[]> {
  if (selection.apiKeyIds) {
    const ids = await store.lockKeyIds(tx, accountId, selection.apiKeyIds);
    const found = new Set(ids);
    const missing = selection.apiKeyIds.find((id) => !found.has(id));
    if (missing) throw notFound('API key', missing, 'input.apiKeyIds');
    return ids;
  }
  const ids = await store.lockKeyIdsMatching(tx, accountId, selection.filter as store.KeyFilter, selection.exceptIds, now, BULK_LIMIT);
  if (ids.length > BULK_LIMIT) {
    throw badInput('input.filter', `The filter matches more than ${BULK_LIMIT} keys; narrow it, or change them in several calls`);
  }
  return ids;
}

export async function updateApiKeyTeams(
  ctx: Context, input: UpdateApiKeyTeamsInput,
): Promise<{ apiKeys: ApiKeyRecord[]; updatedCount: number }> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  const selection = toSelection(input);
  const addTeamIds = idList('input.addTeamIds', input.addTeamIds, 100);
  const removeTeamIds = idList('input.removeTeamIds', input.removeTeamIds, 100);
  const addNewTeamNames = nameList('input.addNewTeamNames', input.addNewTeamNames);
  if (addTeamIds.length + removeTeamIds.length + addNewTeamNames.length === 0) {
    throw badInput('input.addTeamIds', 'Give teams to add or remove');
  }
  const both = addTeamIds.find((id) => removeTeamIds.includes(id));
  if (both) throw badInput('input.removeTeamIds', `Team ${both} is both added and removed`);
  const now = ctx.now();

  return inTransaction(ctx, async (tx) => {
    const ids = await lockSelection(tx, accountId, selection, now);
    const add = await resolveTeams(tx, accountId, addTeamIds, addNewTeamNames, 'input.addTeamIds', now);
    const remove = await resolveTeams(tx, accountId, removeTeamIds, [], 'input.removeTeamIds', now);
    const changed = await inChunks(ids, BULK_RESULT_LIMIT, (chunk) => recordTeamChanges(ctx.app.keyChanges, tx, principal, chunk, { add, remove }, now));
    // the payload's keys in ID order, as the keys were locked and changed
    const apiKeys = changed.count ? (await store.keysByIds(tx, accountId, changed.first)).sort(inIdOrder) : [];
    return { apiKeys, updatedCount: changed.count };
  });
}

export async function revokeApiKeys(
  ctx: Context, input: RevokeApiKeysInput,
): Promise<{ revokedCount: number; alreadyRevokedCount: number; apiKeys: ApiKeyRecord[] }> {
  const principal = requireAdmin(ctx.principal);
  const selection = toSelection(input);
  const reason = optionalText('input.reason', input.reason, 500);
  const now = ctx.now();
  return inTransaction(ctx, async (tx) => {
    const ids = await lockSelection(tx, principal.accountId, selection, now);
    const revoked = await inChunks(ids, BULK_RESULT_LIMIT, (chunk) => revokeKeys(ctx.app.keyChanges, tx, principal, chunk, reason, now));
    return { revokedCount: revoked.count, alreadyRevokedCount: ids.length - revoked.count, apiKeys: revoked.first };
  });
}

export async function deleteApiKeys(ctx: Context, input: DeleteApiKeysInput): Promise<{ deletedCount: number; deletedApiKeyIds: string[] }> {
  const principal = requireAdmin(ctx.principal);
  const selection = toSelection(input);
  const now = ctx.now();
  return inTransaction(ctx, async (tx) => {
    const ids = await lockSelection(tx, principal.accountId, selection, now);
    const deleted = await inChunks(ids, BULK_RESULT_LIMIT, (chunk) => deleteKeys(ctx.app.keyChanges, tx, principal, chunk, now));
    return { deletedCount: deleted.count, deletedApiKeyIds: deleted.first };
  });
}

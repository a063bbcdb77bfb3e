import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import type { Db } from '../../db/db';
import { inTransaction } from '../../db/transaction';
import { badInput, failedPrecondition, notFound } from '../../errors';
import type { DeactivateDeveloperInput, DeveloperInput, RecordDeveloperActivityInput } from '../../generated/graphql';
import { pageRequest, toConnection, type Connection, type PageArgs } from '../../lib/connection';
import { cleanName, searchText } from '../../lib/validate';
import { inChunks, lockActiveKeyIdsOfDeveloper, revokeKeys } from '../api-keys/keys';
import type { ApiKeyRecord } from '../api-keys/model';
import type { InstanceRecord } from '../instances/model';
import { requireInstance } from '../instances/service';
import type { DeveloperRecord } from './model';
import * as store from './store';

export { developerNames, linkDeveloperToInstance } from './store';

interface DeveloperListArgs extends PageArgs {
  instanceId?: string | null;
  search?: string | null;
}

export async function developers(ctx: Context, args: DeveloperListArgs): Promise<Connection<DeveloperRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const page = pageRequest({ first: args.first, after: args.after }, 2);
  const search = searchText('search', args.search);
  const instanceId = args.instanceId ?? null;
  if (instanceId) await requireInstance(ctx, instanceId, 'instanceId');
  const rows = await store.pageDevelopers(ctx.db, accountId, instanceId, search, page.cursor, page.limit + 1);
  rows.forEach((d) => ctx.loaders.developerById.prime(d.id, d));
  return toConnection(rows, page, (d) => [d.name.toLowerCase(), d.id], () => store.countDevelopers(ctx.db, accountId, instanceId, search));
}

export function developersOfInstance(ctx: Context, instanceId: string, args: DeveloperListArgs): Promise<Connection<DeveloperRecord>> {
  return developers(ctx, { ...args, instanceId });
}

export async function instancesOfDeveloper(ctx: Context, developer: DeveloperRecord): Promise<InstanceRecord[]> {
  const ids = await ctx.loaders.instanceIdsByDeveloperId.load(developer.id);
  const found = await ctx.loaders.instanceById.loadMany(ids);
  return found.filter((i): i is InstanceRecord => i !== null && !(i instanceof Error));
}

/** A developer of the account, read in a mutation's transaction (history names it beside its ID). */
export async function developerOfAccount(db: Db, accountId: string, id: string): Promise<DeveloperRecord> {
  const [developer] = await store.developersByIds(db, accountId, [id]);
  if (!developer) throw notFound('developer', id);
  return developer;
}

/**
 * The developer a key input names, linked to the key's instance: an existing developer by ID,
 * or by name (reused case-insensitively, else created). A deactivated one is refused.
 */
export async function developerForKey(
  db: Db, accountId: string, input: DeveloperInput, instanceId: string, field: string, now: Date,
): Promise<DeveloperRecord> {
  const byId = input.id != null;
  const byName = input.name != null;
  if (byId === byName) throw badInput(field, 'Give exactly one of developer.id and developer.name');
  let developer: DeveloperRecord | null;
  if (byId) {
    developer = await store.lockDeveloper(db, accountId, input.id as string);
    if (!developer) throw notFound('developer', input.id as string, `${field}.id`);
  } else {
    developer = await store.ensureDeveloperByName(db, accountId, cleanName(`${field}.name`, input.name as string), now);
  }
  if (!developer.active) {
    throw failedPrecondition(`Developer ${JSON.stringify(developer.name)} is deactivated and gets no new key`, { field });
  }
  await store.linkDeveloperToInstance(db, accountId, developer.id, instanceId, now);
  return developer;
}

export async function recordDeveloperActivity(ctx: Context, input: RecordDeveloperActivityInput): Promise<DeveloperRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.developerName', input.developerName);
  await requireInstance(ctx, input.instanceId, 'input.instanceId');
  const now = ctx.now();
  return inTransaction(ctx, async (tx) => {
    const developer = await store.ensureDeveloperByName(tx, accountId, name, now);
    await store.linkDeveloperToInstance(tx, accountId, developer.id, input.instanceId, now);
    return developer;
  });
}

export async function deactivateDeveloper(
  ctx: Context, input: DeactivateDeveloperInput,
): Promise<{ developer: DeveloperRecord; revokedApiKeys: ApiKeyRecord[] }> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  return inTransaction(ctx, async (tx) => {
    const current = await store.lockDeveloper(tx, accountId, input.id);
    if (!current) throw notFound('developer', input.id, 'input.id');
    const now = ctx.now();
    const active = await lockActiveKeyIdsOfDeveloper(tx, accountId, current.id, now);
    if (active.length > 0 && !input.revokeApiKeys) {
      throw failedPrecondition(
        `Developer ${JSON.stringify(current.name)} still holds ${active.length} active API key${active.length === 1 ? '' : 's'}; revoke them first or pass revokeApiKeys: true`,
        { activeApiKeyCount: active.length },
      );
    }
    // the payload lists every key revoked; the work goes a chunk at a time all the same
    const revoked = await inChunks(active, active.length,
      (chunk) => revokeKeys(ctx.app.keyChanges, tx, principal, chunk, `Developer ${current.name} deactivated`, now));
    const developer = await store.deactivateDeveloperRow(tx, accountId, current.id, now);
    return { developer, revokedApiKeys: revoked.first };
  });
}

import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import type { Db } from '../../db/db';
import { inTransaction } from '../../db/transaction';
import { conflict, notFound } from '../../errors';
import type { CreateTeamInput, DeleteTeamInput, RenameTeamInput } from '../../generated/graphql';
import { pageRequest, toConnection, type Connection, type PageArgs } from '../../lib/connection';
import { newId } from '../../lib/ids';
import { cleanName, searchText } from '../../lib/validate';
import { inChunks, keyIdsOfTeam, lockKeyIds, recordTeamChanges } from '../api-keys/keys';
import type { TeamRecord } from './model';
import * as store from './store';

export { teamNames } from './store';

export async function teams(ctx: Context, args: PageArgs & { search?: string | null }): Promise<Connection<TeamRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const page = pageRequest({ first: args.first, after: args.after }, 2);
  const search = searchText('search', args.search);
  const rows = await store.pageTeams(ctx.db, accountId, search, page.cursor, page.limit + 1);
  rows.forEach((t) => ctx.loaders.teamById.prime(t.id, t));
  return toConnection(rows, page, (t) => [t.name.toLowerCase(), t.id], () => store.countTeams(ctx.db, accountId, search));
}

/**
 * The teams an input names: existing IDs (NOT_FOUND for another account's) plus names, reused
 * case-insensitively or created. Runs in the caller's transaction.
 */
export async function resolveTeams(
  db: Db, accountId: string, ids: string[], names: string[], idsField: string, now: Date,
): Promise<TeamRecord[]> {
  const byId = ids.length ? await store.teamsByIds(db, accountId, ids) : [];
  const missing = ids.find((id) => !byId.some((t) => t.id === id));
  if (missing) throw notFound('team', missing, idsField);
  const byName = await store.ensureTeamsByName(db, accountId, names, now);
  const all = new Map<string, TeamRecord>();
  for (const t of [...byId, ...byName]) all.set(t.id, t);
  return [...all.values()];
}

export async function createTeam(ctx: Context, input: CreateTeamInput): Promise<TeamRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const record: TeamRecord = { id: newId('Team'), accountId, name, createdAt: ctx.now() };
  await inTransaction(ctx, async (tx) => {
    if (await store.teamNameTaken(tx, accountId, name, null)) {
      throw conflict(`A team named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.insertTeam(tx, record);
  });
  return record;
}

export async function renameTeam(ctx: Context, input: RenameTeamInput): Promise<TeamRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  return inTransaction(ctx, async (tx) => {
    // an unknown (or another account's) ID is NOT_FOUND whatever the name
    const [current] = await store.teamsByIds(tx, accountId, [input.id]);
    if (!current) throw notFound('team', input.id, 'input.id');
    if (await store.teamNameTaken(tx, accountId, name, current.id)) {
      throw conflict(`A team named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    const team = await store.renameTeamRow(tx, accountId, current.id, name);
    if (!team) throw notFound('team', input.id, 'input.id');
    return team;
  });
}

/** Deletes a team; each key it is removed from gets a TEAMS_CHANGED event. */
export async function deleteTeam(ctx: Context, input: DeleteTeamInput): Promise<string> {
  const principal = requireAdmin(ctx.principal);
  const { accountId } = principal;
  return inTransaction(ctx, async (tx) => {
    const [team] = await store.teamsByIds(tx, accountId, [input.id]);
    if (!team) throw notFound('team', input.id, 'input.id');
    const ids = await lockKeyIds(tx, accountId, await keyIdsOfTeam(tx, accountId, team.id));
    await inChunks(ids, 0, (chunk) => recordTeamChanges(ctx.app.keyChanges, tx, principal, chunk, { add: [], remove: [team] }, ctx.now()));
    await store.deleteTeamRow(tx, accountId, team.id);
    return team.id;
  });
}

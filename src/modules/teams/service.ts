import type { Knex } from 'knex';
import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import { inTransaction } from '../../db/transaction';
import { conflict, notFound } from '../../errors';
import type { CreateTeamInput, DeleteTeamInput, RenameTeamInput } from '../../generated/graphql';
import { pageRequest, toConnection, type Connection, type PageArgs } from '../../lib/connection';
import { newId } from '../../lib/ids';
import { cleanName, searchText } from '../../lib/validate';
import { recordTeamChanges } from '../api-keys/service';
import { lockKeys } from '../api-keys/store';
import type { TeamRecord } from './model';
import * as store from './store';

export async function teams(ctx: Context, args: PageArgs & { search?: string | null }): Promise<Connection<TeamRecord>> {
  const { accountId } = requireReader(ctx.principal);
  const page = pageRequest({ first: args.first, after: args.after }, 2);
  const search = searchText('search', args.search);
  const rows = await store.pageTeams(ctx.knex, accountId, search, page.cursor, page.limit + 1);
  rows.forEach((t) => ctx.loaders.teamById.prime(t.id, t));
  return toConnection(rows, page, (t) => [t.name.toLowerCase(), t.id], () => store.countTeams(ctx.knex, accountId, search));
}

/**
 * The teams an input names: existing IDs (NOT_FOUND for another account's) plus names, reused
 * case-insensitively or created. Runs in the caller's transaction.
 */
export async function resolveTeams(
  trx: Knex, accountId: string, ids: string[], names: string[], idsField: string,
): Promise<TeamRecord[]> {
  const byId = ids.length ? await store.teamsByIds(trx, accountId, ids) : [];
  const missing = ids.find((id) => !byId.some((t) => t.id === id));
  if (missing) throw notFound('team', missing, idsField);
  const byName = await store.ensureTeamsByName(trx, accountId, names);
  const all = new Map<string, TeamRecord>();
  for (const t of [...byId, ...byName]) all.set(t.id, t);
  return [...all.values()];
}

export async function createTeam(ctx: Context, input: CreateTeamInput): Promise<TeamRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const record: TeamRecord = { id: newId('Team'), accountId, name, createdAt: new Date() };
  await inTransaction(ctx, async (trx) => {
    if (await store.teamNameTaken(trx, accountId, name, null)) {
      throw conflict(`A team named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.insertTeam(trx, record);
  });
  return record;
}

export async function renameTeam(ctx: Context, input: RenameTeamInput): Promise<TeamRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  return inTransaction(ctx, async (trx) => {
    // an unknown (or another account's) ID is NOT_FOUND whatever the name
    const [current] = await store.teamsByIds(trx, accountId, [input.id]);
    if (!current) throw notFound('team', input.id, 'input.id');
    if (await store.teamNameTaken(trx, accountId, name, current.id)) {
      throw conflict(`A team named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    const team = await store.renameTeamRow(trx, accountId, current.id, name);
    if (!team) throw notFound('team', input.id, 'input.id');
    return team;
  });
}

/** Deletes a team; each key it is removed from gets a TEAMS_CHANGED event. */
export async function deleteTeam(ctx: Context, input: DeleteTeamInput): Promise<string> {
  const principal = requireAdmin(ctx.principal);
  return inTransaction(ctx, async (trx) => {
    const [team] = await store.teamsByIds(trx, principal.accountId, [input.id]);
    if (!team) throw notFound('team', input.id, 'input.id');
    const keyIds: string[] = (await trx('api_key_teams').where({ team_id: team.id }).select('api_key_id')).map((r: { api_key_id: string }) => r.api_key_id);
    await recordTeamChanges(trx, principal, await lockKeys(trx, principal.accountId, keyIds), { add: [], remove: [team] });
    await store.deleteTeamRow(trx, principal.accountId, team.id);
    return team.id;
  });
}

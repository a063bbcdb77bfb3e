import type { Knex } from 'knex';
import { Loader, mapTo } from '../../lib/loaders';
import type { TeamRecord } from './model';
import { keyCountsOfTeams, teamsByIds } from './store';

export function createTeamLoaders(db: Knex, accountId: string | null) {
  return {
    teamById: new Loader<string, TeamRecord | null>(async (ids) =>
      mapTo(ids, await teamsByIds(db, accountId, ids), (t) => t.id)),
    apiKeyCountByTeamId: new Loader<string, number>(async (ids) =>
      mapTo(ids, await keyCountsOfTeams(db, ids), (r) => r.teamId).map((r) => r?.n ?? 0)),
  };
}

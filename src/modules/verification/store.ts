import type { Knex } from 'knex';
import { ALL_ACCOUNTS, scopeSettings, scopeSql } from '../../db/scope';
import type { Cloud } from '../../generated/graphql';
import type { VerifiableKey } from './model';

interface Row {
  id: string; account_id: string; instance_id: string; channel_id: string; developer_id: string; cloud: Cloud;
  team_ids: string[] | null; expires_at: Date; revoked_at: Date | null; valid_until: Date | null;
}

const BY_DIGEST = `select k.id, k.account_id, k.instance_id, k.channel_id, k.developer_id, k.cloud, k.expires_at, k.revoked_at, s.valid_until,
         array(select kt.team_id from api_key_teams kt where kt.api_key_id = k.id order by kt.team_id) as team_ids
  from api_key_secrets s join api_keys k on k.id = s.api_key_id
  where s.digest = ? and k.deleted_at is null`;

/** The live key a secret's digest belongs to, with its teams, in one statement (whatever its account). */
export async function keyByDigest(db: Knex, digest: Buffer): Promise<VerifiableKey | null> {
  const settings = scopeSettings(db);
  let rows: Row[];
  if (settings) {
    // the hot path's one round trip: scope and lookup in one query (the digest is ours, a hex literal)
    const results = (await db.raw(`${scopeSql(settings, ALL_ACCOUNTS)}; ${BY_DIGEST.replace('?', `'\\x${digest.toString('hex')}'::bytea`)}`)) as { rows: Row[] }[];
    rows = results[results.length - 1].rows;
  } else {
    rows = ((await db.raw(BY_DIGEST, [digest])) as { rows: Row[] }).rows;
  }
  const row = rows[0];
  if (!row) return null;
  return {
    id: row.id, accountId: row.account_id, instanceId: row.instance_id, channelId: row.channel_id,
    developerId: row.developer_id, cloud: row.cloud, teamIds: row.team_ids ?? [], expiresAt: row.expires_at,
    revokedAt: row.revoked_at, secretValidUntil: row.valid_until,
  };
}

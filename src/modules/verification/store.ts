import type { Knex } from 'knex';
import type { Cloud } from '../../generated/graphql';
import type { VerifiableKey } from './model';

interface Row {
  id: string; account_id: string; instance_id: string; channel_id: string; developer_id: string; cloud: Cloud;
  team_ids: string[] | null; expires_at: Date; revoked_at: Date | null; valid_until: Date | null;
}

/** The live key a secret's digest belongs to, with its teams, in one statement. */
export async function keyByDigest(db: Knex, digest: Buffer): Promise<VerifiableKey | null> {
  const result = await db.raw(
    `select k.id, k.account_id, k.instance_id, k.channel_id, k.developer_id, k.cloud, k.expires_at, k.revoked_at, s.valid_until,
            array(select kt.team_id from api_key_teams kt where kt.api_key_id = k.id order by kt.team_id) as team_ids
     from api_key_secrets s join api_keys k on k.id = s.api_key_id
     where s.digest = ? and k.deleted_at is null`,
    [digest],
  );
  const row = (result as { rows: Row[] }).rows[0];
  if (!row) return null;
  return {
    id: row.id, accountId: row.account_id, instanceId: row.instance_id, channelId: row.channel_id,
    developerId: row.developer_id, cloud: row.cloud, teamIds: row.team_ids ?? [], expiresAt: row.expires_at,
    revokedAt: row.revoked_at, secretValidUntil: row.valid_until,
  };
}

import type { Knex } from 'knex';
import { COUNTS, functions } from './20261201000050_usage_shards';

// Rejected verifications by reason, in both roll-ups: `rejected` stays their sum, and each
// reason (a VerificationCode other than VALID) gets a column. Rows written before hold their
// rejections in `rejected` alone: reports show them as `unrecorded`. Adding a column with a
// constant default rewrites nothing, so the tables are locked for a moment only.

/** The columns of the reasons, in the roll-ups. */
export const REASONS = ['expired', 'revoked', 'instance_mismatch', 'not_found', 'malformed'] as const;

const TABLES = ['usage_hourly', 'usage_daily_channels'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('lock_timeout', '10s', true)`);
  await knex.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
  for (const table of TABLES) {
    const type = table === 'usage_hourly' ? 'integer' : 'bigint';
    await knex.raw(`alter table ?? ${REASONS.map((r) => `add column ${r} ${type} not null default 0`).join(', ')}`, [table]);
  }
  for (const sql of functions(true, [...COUNTS, ...REASONS])) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
  for (const sql of functions(true)) await knex.raw(sql);
  for (const table of TABLES) await knex.raw(`alter table ?? ${REASONS.map((r) => `drop column ${r}`).join(', ')}`, [table]);
}

import type { Knex } from 'knex';

// Usage counts sharded by writer, so that concurrent flushes do not queue on the same rows.
//
// Every service process adds its counts to the hourly roll-ups every USAGE_FLUSH_INTERVAL_MS, and
// the statement triggers add them to the daily roll-up. When several processes count the same
// keys, their flushes update the same rows (a hot key's current hour, an account's channel's
// today) and wait for each other's row locks; the daily upserts also took one advisory lock for
// every writer of every account. Measured with 8 processes verifying the same 200 keys
// (`npm run bench:scale -- flush`), 13–23 % of the flush statements seen active were waiting on
// a lock at the default flush interval (500 ms), 87–90 % when flushing every 100 ms (mostly
// transactionid: another flush's row locks; then the advisory lock). With a shard each: 0–1 %.
//
// Now each process writes into one of 16 shards (`shard`, picked when it starts; part of both
// roll-ups' primary keys), which reports sum away. Writers on different shards touch different
// rows, and the daily upserts lock per shard: a flush holds one such lock, so the locks of two
// writers never cross. Existing rows are shard 0.
//
// The primary keys are rebuilt: an exclusive lock on the roll-ups while their indexes are built
// (1–2 s for the 441,000 hourly rows of the benchmark data set).

const HOURLY_KEY = 'account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids';
const DAILY_KEY = 'account_id, day, channel_id, cloud';
const DAY = `date_trunc('day', hour at time zone 'UTC') at time zone 'UTC'`;

async function primaryKey(knex: Knex, table: string): Promise<string> {
  const { rows } = (await knex.raw(`select conname from pg_constraint where conrelid = ?::regclass and contype = 'p'`, [table])) as { rows: { conname: string }[] };
  return rows[0].conname;
}

async function rekey(knex: Knex, table: string, columns: string): Promise<void> {
  const name = await primaryKey(knex, table);
  await knex.raw(`alter table ?? drop constraint ??, add constraint ?? primary key (${columns})`, [table, name, name]);
}

/** The counts of both roll-ups before the rejections' reasons were kept (migration 20261201000060). */
export const COUNTS = ['valid', 'rejected'] as const;

/**
 * The daily roll-up's functions: with or without the shard, adding up `counts` (columns of both
 * roll-ups). Exported for the later migration that adds counts.
 */
export function functions(sharded: boolean, counts: readonly string[] = COUNTS): string[] {
  const shard = sharded ? ', shard' : '';
  const shardOf = (source: string) => (sharded ? `, ${source}shard` : '');
  const list = (f: (c: string) => string) => counts.map(f).join(', ');
  const json = (sign: string) => `jsonb_build_object('account_id', account_id, 'day', day, 'channel_id', channel_id,
        'cloud', cloud${sharded ? `, 'shard', shard` : ''}, ${list((c) => `'${c}', ${sign}${c}`)})`;
  const lock = sharded
    // one lock per shard, in shard order: a flush holds one; other writers (retention) take theirs in order
    ? `perform pg_advisory_xact_lock(72611260, s) from (select distinct x.shard as s from jsonb_to_recordset(delta) as x(shard int) order by 1) z;`
    : 'perform pg_advisory_xact_lock(7261126010);';
  const groups = sharded ? '1, 2, 3, 4, 5' : '1, 2, 3, 4';
  const record = `account_id text, day timestamptz, channel_id text, cloud text${sharded ? ', shard smallint' : ''}`;
  const sums = list((c) => `sum(${c}) as ${c}`);
  const summed = (rows: string) => `select account_id, ${DAY} as day, channel_id, cloud${shard}, ${sums} from ${rows} group by ${groups}`;
  /** A statement trigger's function: the daily sums of its transition rows (`object`: each as JSON, signed), applied. */
  const trigger = (name: string, object: string, rows: string) => `create or replace function ${name}() returns trigger language plpgsql as $$
    begin
      perform usage_daily_channels_apply((select jsonb_agg(${object}) from (${rows}) s));
      return null;
    end $$`;
  return [
    `create or replace function usage_daily_channels_apply(delta jsonb) returns void language plpgsql as $$
    begin
      ${lock}
      insert into usage_daily_channels as d (account_id, day, channel_id, cloud${shard}, ${list((c) => c)})
      select x.account_id, x.day, x.channel_id, x.cloud${shardOf('x.')}, ${list((c) => `sum(x.${c})`)}
      from jsonb_to_recordset(delta) as x(${record}, ${list((c) => `${c} bigint`)})
      group by ${groups}
      order by ${groups}
      on conflict (${DAILY_KEY}${shard})
      do update set ${list((c) => `${c} = d.${c} + excluded.${c}`)};
      delete from usage_daily_channels d
      using (select distinct x.account_id, x.day, x.channel_id, x.cloud${shardOf('x.')}
             from jsonb_to_recordset(delta) as x(${record})) z
      where d.account_id = z.account_id and d.day = z.day and d.channel_id = z.channel_id and d.cloud = z.cloud${sharded ? ' and d.shard = z.shard' : ''}
        and d.valid = 0 and d.rejected = 0;
    end $$`,
    trigger('usage_daily_channels_on_insert', json(''), summed('new_rows')),
    trigger('usage_daily_channels_on_delete', json('-'), summed('old_rows')),
    trigger('usage_daily_channels_on_update', json(''), `select account_id, day, channel_id, cloud${shard}, ${sums}
        from (
          select account_id, ${DAY} as day, channel_id, cloud${shard}, ${list((c) => c)} from new_rows
          union all
          select account_id, ${DAY} as day, channel_id, cloud${shard}, ${list((c) => `-${c}`)} from old_rows) c
        group by ${groups}`),
  ];
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('lock_timeout', '10s', true)`);
  await knex.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
  for (const table of ['usage_hourly', 'usage_daily_channels']) await knex.raw('alter table ?? add column shard smallint not null default 0', [table]);
  await rekey(knex, 'usage_hourly', `${HOURLY_KEY}, shard`);
  await rekey(knex, 'usage_daily_channels', `${DAILY_KEY}, shard`);
  for (const sql of functions(true)) await knex.raw(sql);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('app.cross_account', 'on', true)`);
  await knex.raw('lock table usage_hourly, usage_daily_channels in access exclusive mode');
  // the shards' rows summed into shard 0, through the parents (the triggers keep the daily roll-up equal)
  await knex.raw(`
    with moved as (delete from usage_hourly where shard <> 0 returning ${HOURLY_KEY}, valid, rejected)
    insert into usage_hourly as u (${HOURLY_KEY}, shard, valid, rejected)
    select ${HOURLY_KEY}, 0, sum(valid), sum(rejected) from moved group by ${HOURLY_KEY}
    on conflict (${HOURLY_KEY}, shard) do update set valid = u.valid + excluded.valid, rejected = u.rejected + excluded.rejected`);
  for (const sql of functions(false)) await knex.raw(sql);
  await rekey(knex, 'usage_hourly', HOURLY_KEY);
  await rekey(knex, 'usage_daily_channels', DAILY_KEY);
  for (const table of ['usage_hourly', 'usage_daily_channels']) await knex.raw('alter table ?? drop column shard', [table]);
}

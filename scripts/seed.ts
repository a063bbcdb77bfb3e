// Fills a database with a realistic data set for benchmarks and capacity tests.
// npm run seed -- --accounts 200 --keys 1000000 --teams 4000 --usage-days 90 --verifications 10000000 \
//   [--secrets-out bench-secrets.json] [--reset]
// Writes the same tables, IDs and secret digests as the service, in big multi-row statements
// (insert … select from unnest(…)), in two transactions; the hourly roll-ups are expanded by
// generate_series inside PostgreSQL from a per-key plan.
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { Knex } from 'knex';
import { loadConfig } from '../src/config';
import { createDatabase, migrateLatest } from '../src/db/database';
import type { Cloud } from '../src/generated/graphql';
import { digestOf, generateSecret, hintOf } from '../src/modules/api-keys/secrets';
import { buildCatalog, planAccounts, PURPOSES, SYSTEMS, type AccountCatalog, type AccountPlan } from './seed/catalog';
import { ensureDatabase, secondaryIndexes, type IndexDefinition } from './seed/database';
import { idAt, Random } from './seed/random';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BATCH = 10_000;
/** Average verifications per roll-up row: a key used in an hour is counted in one row. */
const VERIFICATIONS_PER_ROW = 5;
const LIFETIMES_DAYS = [90, 180, 365, 365, 365, 730];
const ACTOR = 'seed-admin';
const REVOCATION_REASONS = ['rotated', 'leaked in a log', 'developer left', 'no longer needed'];

interface Options {
  accounts: number; keys: number; teams: number; usageDays: number; verifications: number;
  bigAccountKeys: number; accountPrefix: string; secretsOut?: string; secretsCount: number;
  reset: boolean; seed: number; dropIndexes?: boolean;
}

const positive = (name: string, min = 1) => (value: string): number => {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};

type Status = 0 | 1 | 2; // active, expired, revoked
const STATUS_NAME = ['ACTIVE', 'EXPIRED', 'REVOKED'] as const;

interface SeedSecret { accountId: string; keyId: string; secret: string; status: string; instanceId: string; channelId: string }

/** Rows of one batch, column by column, as `unnest` wants them. */
class Columns<K extends string> {
  readonly data: Record<K, unknown[]>;
  constructor(readonly names: readonly K[]) {
    this.data = Object.fromEntries(names.map((n) => [n, []])) as unknown as Record<K, unknown[]>;
  }
  push(row: Record<K, unknown>): void {
    for (const n of this.names) this.data[n].push(row[n]);
  }
  get length(): number {
    return this.data[this.names[0]].length;
  }
  values(): Knex.RawBinding[] {
    return this.names.map((n) => this.data[n] as Knex.RawBinding);
  }
}

const KEY_COLUMNS = ['id', 'account_id', 'name', 'hint', 'cloud', 'instance_id', 'channel_id', 'developer_id', 'expires_at',
  'lifetime_seconds', 'created_at', 'updated_at', 'revoked_at', 'revocation_reason', 'last_used_at', 'version'] as const;
const KEY_TYPES = ['text', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'timestamptz', 'int', 'timestamptz', 'timestamptz',
  'timestamptz', 'text', 'timestamptz', 'int'];
const SECRET_COLUMNS = ['digest', 'account_id', 'api_key_id', 'created_at'] as const;
const TEAM_COLUMNS = ['account_id', 'api_key_id', 'team_id', 'key_created_at'] as const;
const EVENT_COLUMNS = ['id', 'account_id', 'api_key_id', 'api_key_name', 'type', 'actor', 'at', 'changes'] as const;
const USAGE_COLUMNS = ['account_id', 'api_key_id', 'channel_id', 'instance_id', 'developer_id', 'cloud', 'team_ids', 'n', 'total', 'start', 'stride', 'len', 'base', 'rejected_permille'] as const;

const unnestOf = (types: string[]) => types.map((t) => `?::${t}[]`).join(', ');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

class Progress {
  private readonly started = Date.now();
  private lastPrint = 0;
  constructor(private readonly total: number) {}
  elapsed(): number { return (Date.now() - this.started) / 1000; }
  report(done: number, extra: string, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastPrint < 1000) return;
    this.lastPrint = now;
    const s = this.elapsed();
    const pct = this.total ? ((100 * done) / this.total).toFixed(1) : '100';
    console.log(`  keys ${fmt(done)}/${fmt(this.total)} (${pct}%)  ${fmt(done / Math.max(s, 0.001))} keys/s  ${extra}  ${s.toFixed(1)} s`);
  }
}

async function insertCatalog(trx: Knex, catalogs: AccountCatalog[], createdAt: string): Promise<void> {
  const rows = {
    channels: [] as string[][], instances: [] as string[][], instanceChannels: [] as string[][],
    teams: [] as string[][], developers: [] as string[][], links: [] as string[][],
  };
  for (const c of catalogs) {
    const a = c.account.id;
    for (const ch of c.channels) rows.channels.push([ch.id, a, ch.name]);
    for (const i of c.instances) {
      rows.instances.push([i.id, a, i.name, i.cloud, i.url]);
      for (const ch of i.channelIds) rows.instanceChannels.push([a, i.id, ch]);
    }
    for (const t of c.teams) rows.teams.push([t.id, a, t.name]);
    for (const d of c.developers) rows.developers.push([d.id, a, d.name]);
    for (const l of c.links) rows.links.push([a, l.developerId, l.instanceId]);
  }
  const columns = (list: string[][], width: number) => Array.from({ length: width }, (_, j) => list.map((r) => r[j]));
  // `prefix` bindings come first in each statement: the timestamps every row shares
  const chunks = async (list: string[][], width: number, prefix: Knex.RawBinding[], sql: string) => {
    for (let i = 0; i < list.length; i += 20_000) await trx.raw(sql, [...prefix, ...columns(list.slice(i, i + 20_000), width)]);
  };
  const t3 = unnestOf(['text', 'text', 'text']);
  await chunks(rows.channels, 3, [createdAt], `insert into channels (created_at, id, account_id, name) select ?::timestamptz, * from unnest(${t3})`);
  await chunks(rows.instances, 5, [createdAt, createdAt],
    `insert into instances (created_at, updated_at, id, account_id, name, cloud, url) select ?::timestamptz, ?::timestamptz, * from unnest(${unnestOf(['text', 'text', 'text', 'text', 'text'])})`);
  await chunks(rows.instanceChannels, 3, [], `insert into instance_channels (account_id, instance_id, channel_id) select * from unnest(${t3})`);
  await chunks(rows.teams, 3, [createdAt], `insert into teams (created_at, id, account_id, name) select ?::timestamptz, * from unnest(${t3})`);
  await chunks(rows.developers, 3, [createdAt], `insert into developers (created_at, active, id, account_id, name) select ?::timestamptz, true, * from unnest(${t3})`);
  await chunks(rows.links, 3, [createdAt, createdAt],
    `insert into developer_instances (first_seen_at, last_seen_at, account_id, developer_id, instance_id) select ?::timestamptz, ?::timestamptz, * from unnest(${t3})`);
}

/** Status, times and verification count of every key, decided up front so the counts add up exactly. */
interface KeyPlan {
  status: Uint8Array; lifetimeDays: Uint16Array; createdAt: Float64Array; expiresAt: Float64Array; revokedAt: Float64Array;
  verifications: Uint32Array; firstHour: Int32Array;
}

function planKeys(accounts: AccountPlan[], opts: Options, random: Random, now: number, windowStart: number, hours: number): KeyPlan {
  const total = opts.keys;
  const plan: KeyPlan = {
    status: new Uint8Array(total), lifetimeDays: new Uint16Array(total), createdAt: new Float64Array(total),
    expiresAt: new Float64Array(total), revokedAt: new Float64Array(total).fill(NaN), verifications: new Uint32Array(total),
    firstHour: new Int32Array(total),
  };
  const weights = new Float64Array(total);
  let sum = 0;
  let g = 0;
  accounts.forEach((account, a) => {
    for (let i = 0; i < account.keys; i++, g++) {
      const r = random.next();
      const status: Status = r < 0.08 ? 2 : r < 0.2 ? 1 : 0;
      const life = LIFETIMES_DAYS[random.int(LIFETIMES_DAYS.length)];
      const expiredShape = status === 1 || (status === 2 && random.next() < 0.5);
      const created = expiredShape
        ? now - life * DAY - (1 + random.next() * 400) * DAY
        : now - random.next() * 0.97 * Math.min(life, 730) * DAY - 60_000;
      const expires = created + life * DAY;
      plan.status[g] = status;
      plan.lifetimeDays[g] = life;
      plan.createdAt[g] = created;
      plan.expiresAt[g] = expires;
      if (status === 2) plan.revokedAt[g] = created + (0.05 + 0.9 * random.next()) * (Math.min(now, expires) - created);
      const firstHour = Math.max(0, Math.ceil((created - windowStart) / HOUR));
      plan.firstHour[g] = firstHour;
      const used = firstHour < hours && random.next() < (status === 0 ? 0.6 : 0.12);
      if (used) {
        // a few keys carry most of the traffic (log-normal), the big account more than its share
        weights[g] = Math.exp(1.5 * random.normal()) * (a === 0 ? 1.5 : 1);
        sum += weights[g];
      }
    }
  });
  if (sum === 0 || opts.verifications === 0) return plan;
  let assigned = 0;
  for (let k = 0; k < total; k++) {
    if (weights[k] === 0) continue;
    plan.verifications[k] = Math.floor((opts.verifications * weights[k]) / sum);
    assigned += plan.verifications[k];
  }
  // what flooring left over, one each to the used keys in turn
  for (let k = 0; assigned < opts.verifications; k = (k + 1) % total) {
    if (weights[k] === 0) continue;
    plan.verifications[k]++;
    assigned++;
  }
  return plan;
}

/** A prime larger than any hour count, so its remainder walks every hour of a key's range once. */
const STRIDE_PRIME = 104_729;

async function seedKeys(
  trx: Knex, catalogs: AccountCatalog[], plan: KeyPlan, opts: Options, random: Random,
  now: number, windowStart: number, hours: number, secrets: SeedSecret[], replicaRole: boolean,
): Promise<{ keys: number; events: number; teamLinks: number; usageRows: number }> {
  const totals = { keys: 0, events: 0, teamLinks: 0, usageRows: 0 };
  const progress = new Progress(opts.keys);
  const wanted = { ACTIVE: opts.secretsCount, EXPIRED: Math.min(20, opts.secretsCount), REVOKED: Math.min(20, opts.secretsCount) };
  let batch = newBatch();
  let inFlight: Promise<void> = Promise.resolve();

  function newBatch() {
    return {
      keys: new Columns(KEY_COLUMNS), secrets: new Columns(SECRET_COLUMNS), teams: new Columns(TEAM_COLUMNS),
      events: new Columns(EVENT_COLUMNS), usage: new Columns(USAGE_COLUMNS),
    };
  }

  async function write(b: ReturnType<typeof newBatch>): Promise<void> {
    const timed = process.env.SEED_TIMING ? Date.now() : 0;
    const steps: number[] = [];
    const step = () => { if (timed) steps.push(Date.now()); };
    await trx.raw(`insert into api_keys (${KEY_COLUMNS.join(', ')}) select * from unnest(${unnestOf(KEY_TYPES)})`, b.keys.values());
    step();
    await trx.raw(
      `insert into api_key_secrets (digest, account_id, api_key_id, created_at)
       select decode(d, 'hex'), a, k, c from unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[]) as x(d, a, k, c)`,
      b.secrets.values(),
    );
    step();
    if (b.teams.length) {
      await trx.raw(`insert into api_key_teams (account_id, api_key_id, team_id, key_created_at)
        select * from unnest(?::text[], ?::text[], ?::text[], ?::timestamptz[])`, b.teams.values());
    }
    step();
    await trx.raw(
      `insert into api_key_events (id, account_id, api_key_id, api_key_name, type, actor, at, changes)
       select * from unnest(${unnestOf(['text', 'text', 'text', 'text', 'text', 'text', 'timestamptz', 'jsonb'])})`,
      b.events.values(),
    );
    step();
    if (b.usage.length) {
      // the roll-ups have triggers of their own (a daily roll-up): they must fire
      if (replicaRole) await trx.raw('set local session_replication_role = origin');
      await trx.raw(
        // rejections by reason: half expired, a quarter revoked, the rest from another instance
        `insert into usage_hourly (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, valid, rejected,
                                   expired, revoked, instance_mismatch)
         select p.a, ?::timestamptz + (p.base + (p.s::bigint + j::bigint * p.stride) % p.len) * interval '1 hour',
                p.k, p.c, p.i, p.d, p.cl, case when p.t = '' then '{}'::text[] else string_to_array(p.t, ',') end,
                q.cnt - q.rej, q.rej, q.rej / 2, q.rej / 4, q.rej - q.rej / 2 - q.rej / 4
         from unnest(${unnestOf(['text', 'text', 'text', 'text', 'text', 'text', 'text', 'int', 'int', 'int', 'int', 'int', 'int', 'int'])})
              as p(a, k, c, i, d, cl, t, n, total, s, stride, len, base, rp)
         cross join lateral generate_series(0, p.n - 1) as j
         cross join lateral (select p.total / p.n + case when j < p.total % p.n then 1 else 0 end as cnt) as c0
         cross join lateral (select c0.cnt, c0.cnt * p.rp / 1000 as rej) as q`,
        [new Date(windowStart).toISOString(), ...b.usage.values()],
      );
      if (replicaRole) await trx.raw('set local session_replication_role = replica');
    }
    if (timed) console.log(`    batch of ${b.keys.length} written in ${Date.now() - timed} ms (keys, secrets, teams, events, usage: ${[...steps, Date.now()].map((t, i, all) => t - (i ? all[i - 1] : timed)).join(', ')} ms)`);
  }

  async function flush(force: boolean): Promise<void> {
    if (batch.keys.length === 0) {
      if (force) await inFlight;
      return;
    }
    const full = batch;
    batch = newBatch();
    await inFlight;
    inFlight = write(full);
    totals.keys += full.keys.length;
    totals.events += full.events.length;
    totals.teamLinks += full.teams.length;
    if (force) await inFlight;
    progress.report(totals.keys, `events ${fmt(totals.events)}  roll-up rows ${fmt(totals.usageRows)}`, force);
  }

  let g = 0;
  for (const catalog of catalogs) {
    const accountId = catalog.account.id;
    const teamNames = new Map(catalog.teams.map((t) => [t.id, t.name]));
    for (let i = 0; i < catalog.account.keys; i++, g++) {
      const instance = catalog.instances[random.skewed(catalog.instances.length, 1.3)];
      const channelId = random.pick(instance.channelIds);
      const developerId = random.pick(instance.developerIds);
      const created = plan.createdAt[g];
      const id = idAt('ApiKey', created);
      const name = `${PURPOSES[random.int(PURPOSES.length)]} ${SYSTEMS[random.skewed(SYSTEMS.length, 1.2)]} ${g + 1}`;
      const secret = generateSecret();
      const status = plan.status[g] as Status;
      const revoked = Number.isNaN(plan.revokedAt[g]) ? null : plan.revokedAt[g];

      // 0 to 4 teams, most keys in one or two
      const teamCount = [0, 1, 1, 1, 2, 2, 2, 3, 3, 4][random.int(10)];
      const teamIds = new Set<string>();
      for (let t = 0; t < teamCount * 2 && teamIds.size < Math.min(teamCount, catalog.teams.length); t++) {
        teamIds.add(catalog.teams[random.skewed(catalog.teams.length, 1.5)].id);
      }
      const sortedTeams = [...teamIds].sort();

      let lastUsed: number | null = null;
      const count = plan.verifications[g];
      if (count > 0) {
        const base = plan.firstHour[g];
        const len = hours - base;
        const n = Math.min(len, Math.ceil(count / VERIFICATIONS_PER_ROW));
        const s = random.int(len);
        const stride = STRIDE_PRIME % len || 1;
        let last = 0;
        for (let j = 0; j < n; j++) last = Math.max(last, (s + j * stride) % len);
        lastUsed = Math.min(now - 1000, windowStart + (base + last) * HOUR + random.int(HOUR));
        batch.usage.push({
          account_id: accountId, api_key_id: id, channel_id: channelId, instance_id: instance.id, developer_id: developerId,
          cloud: instance.cloud, team_ids: sortedTeams.join(','), n, total: count, start: s, stride, len, base,
          rejected_permille: status === 0 ? 20 : 400,
        });
        totals.usageRows += n;
      }

      batch.keys.push({
        id, account_id: accountId, name, hint: hintOf(secret), cloud: instance.cloud as Cloud, instance_id: instance.id,
        channel_id: channelId, developer_id: developerId, expires_at: iso(plan.expiresAt[g]),
        lifetime_seconds: plan.lifetimeDays[g] * 86_400, created_at: iso(created), updated_at: iso(revoked ?? created),
        revoked_at: iso(revoked), revocation_reason: revoked === null ? null : random.pick(REVOCATION_REASONS),
        last_used_at: iso(lastUsed), version: revoked === null ? 1 : 2,
      });
      batch.secrets.push({ digest: digestOf(secret).toString('hex'), account_id: accountId, api_key_id: id, created_at: iso(created) });
      for (const teamId of sortedTeams) batch.teams.push({ account_id: accountId, api_key_id: id, team_id: teamId, key_created_at: iso(created) });
      batch.events.push({
        id: idAt('ApiKeyEvent', created), account_id: accountId, api_key_id: id, api_key_name: name, type: 'CREATED', actor: ACTOR,
        at: iso(created), changes: JSON.stringify({
          instanceId: instance.id, channelId, developerId,
          teams: sortedTeams.map((t) => teamNames.get(t) ?? t).sort(), expiresAt: iso(plan.expiresAt[g]),
        }),
      });
      if (revoked !== null) {
        batch.events.push({
          id: idAt('ApiKeyEvent', revoked), account_id: accountId, api_key_id: id, api_key_name: name, type: 'REVOKED', actor: ACTOR,
          at: iso(revoked), changes: null,
        });
      }
      if (secrets.length < opts.secretsCount + 40 && (g < catalogs[0].account.keys)) {
        const label = STATUS_NAME[status];
        if (wanted[label] > 0) {
          wanted[label]--;
          secrets.push({ accountId, keyId: id, secret, status: label, instanceId: instance.id, channelId });
        }
      }
      if (batch.keys.length >= BATCH) await flush(false);
    }
  }
  await flush(true);
  return totals;
}

const SERVICE_TABLES = ['usage_hourly', 'api_key_events', 'api_key_teams', 'api_key_secrets', 'api_key_names', 'api_keys', 'developer_instances',
  'developers', 'teams', 'instance_channels', 'instances', 'channels'];
const BULK_TABLES = ['api_keys', 'api_key_names', 'api_key_secrets', 'api_key_teams', 'api_key_events', 'usage_hourly'];

async function run(opts: Options): Promise<void> {
  const started = Date.now();
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent' });
  if (config.database.kind === 'postgres' && (await ensureDatabase(config.database.url))) {
    console.log(`created database ${new URL(config.database.url).pathname.slice(1)}`);
  }
  const db = createDatabase({ target: config.database, timeoutMs: 600_000, poolMax: 2 });
  const where = config.database.kind === 'postgres'
    ? config.database.url.replace(/\/\/[^@/]*@/, '//')
    : `embedded database in ${config.database.dataDir ?? 'memory'}`;
  try {
    const applied = await migrateLatest(db);
    if (applied.length) console.log(`migrations applied: ${applied.join(', ')}`);
    const now = Date.now();
    const hours = opts.usageDays * 24;
    const windowStart = Math.floor(now / HOUR) * HOUR - hours * HOUR;
    const random = new Random(opts.seed);
    const accounts = planAccounts({ accounts: opts.accounts, keys: opts.keys, teams: opts.teams, bigKeys: opts.bigAccountKeys, prefix: opts.accountPrefix });

    const existing = await db.knex('api_keys').whereIn('account_id', accounts.map((a) => a.id)).first('id');
    if (existing && !opts.reset) {
      throw new Error(`accounts ${opts.accountPrefix}-… already hold keys in ${where}; pass --reset to empty the service's tables first, or another --account-prefix`);
    }
    if (opts.reset) {
      await db.knex.raw(`truncate ${SERVICE_TABLES.join(', ')}`);
      console.log('emptied the service tables');
    }
    console.log(`seeding ${where}: ${fmt(opts.accounts)} accounts, ${fmt(opts.keys)} keys (${accounts[0].id}: ${fmt(accounts[0].keys)}), `
      + `${fmt(accounts.reduce((n, a) => n + a.teams, 0))} teams, ${opts.usageDays} days of usage, ${fmt(opts.verifications)} verifications`);

    const catalogStart = now - 3 * 365 * DAY;
    const catalogs = accounts.map((a) => buildCatalog(a, random, catalogStart));
    await db.knex.transaction((trx) => insertCatalog(trx, catalogs, new Date(catalogStart).toISOString()));
    const sizes = catalogs.reduce((s, c) => ({
      instances: s.instances + c.instances.length, developers: s.developers + c.developers.length, channels: s.channels + c.channels.length,
    }), { instances: 0, developers: 0, channels: 0 });
    console.log(`catalog: ${fmt(sizes.channels)} channels, ${fmt(sizes.instances)} instances, ${fmt(sizes.developers)} developers (${((Date.now() - started) / 1000).toFixed(1)} s)`);

    const plan = planKeys(accounts, opts, random, now, windowStart, hours);
    const secrets: SeedSecret[] = [];
    const dropIndexes = opts.dropIndexes ?? opts.keys >= 50_000;
    let replicaRole = false;
    const totals = await db.knex.transaction(async (trx) => {
      if (db.kind === 'postgres') {
        await trx.raw(`set local synchronous_commit = off`);
        await trx.raw(`set local statement_timeout = 0`);
        await trx.raw(`set local maintenance_work_mem = '256MB'`);
        // Foreign keys are checked row by row by triggers, most of a bulk load's time; every row
        // here references rows built in memory beside it. Only a superuser may skip them (and
        // this skips every trigger: the roll-up inserts switch back to fire theirs).
        await trx.raw('savepoint replica_role');
        try {
          await trx.raw(`set local session_replication_role = replica`);
          await trx.raw('release savepoint replica_role');
          replicaRole = true;
        } catch {
          await trx.raw('rollback to savepoint replica_role');
          console.log('(not a superuser: foreign keys are checked row by row, which is slower)');
        }
      }
      // a bulk load builds secondary indexes once at the end, far faster than row by row; restored in this transaction
      let dropped: IndexDefinition[] = [];
      if (dropIndexes) {
        dropped = await secondaryIndexes(trx, BULK_TABLES);
        for (const ix of dropped) await trx.raw(`drop index ${ix.name}`);
      }
      const result = await seedKeys(trx, catalogs, plan, opts, random, now, windowStart, hours, secrets, replicaRole);
      if (replicaRole) {
        // the trigger that keeps the names searchable did not fire either
        await trx.raw(`insert into api_key_names (api_key_id, account_id, name_lower)
          select id, account_id, lower(name) from api_keys where account_id = any(?::text[]) and deleted_at is null`, [accounts.map((a) => a.id)]);
      }
      if (dropped.length) {
        const t = Date.now();
        for (const ix of dropped) await trx.raw(ix.definition);
        console.log(`rebuilt ${dropped.length} indexes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }
      return result;
    });
    // statistics for the planner, and the visibility map that lets index-only scans skip the heap
    for (const table of [...SERVICE_TABLES].reverse()) await db.knex.raw(`vacuum analyze ${table}`);

    const sum = await db.knex('usage_hourly').whereIn('account_id', accounts.map((a) => a.id))
      .first(db.knex.raw('coalesce(sum(valid + rejected), 0)::bigint as n'));
    const seconds = (Date.now() - started) / 1000;
    console.log(`done in ${seconds.toFixed(1)} s: ${fmt(totals.keys)} keys, ${fmt(totals.teamLinks)} key-team links, ${fmt(totals.events)} events, `
      + `${fmt(totals.usageRows)} roll-up rows holding ${fmt(Number((sum as { n: number }).n))} verifications`);
    console.log(`busiest account: ${accounts[0].id} (${fmt(accounts[0].keys)} keys)`);

    if (opts.secretsOut) {
      fs.mkdirSync(path.dirname(path.resolve(opts.secretsOut)), { recursive: true });
      fs.writeFileSync(opts.secretsOut, `${JSON.stringify({
        generatedAt: new Date(now).toISOString(), database: where, accountId: accounts[0].id,
        accounts: accounts.map((a) => ({ id: a.id, keys: a.keys })), secrets,
      }, null, 2)}\n`);
      console.log(`wrote ${secrets.length} secrets of ${accounts[0].id} to ${opts.secretsOut}`);
    } else {
      for (const s of secrets.filter((x) => x.status === 'ACTIVE').slice(0, 3)) console.log(`  ${s.secret}  (${s.keyId}, ACTIVE)`);
      console.log('  (--secrets-out FILE saves more of them)');
    }
  } finally {
    await db.close();
  }
}

const program = new Command('seed')
  .description('Fill the database with a realistic data set (accounts, catalog, keys, teams, history, hourly usage)')
  .option('--accounts <n>', 'accounts (tenants); the first is the big one', positive('--accounts'), 200)
  .option('--keys <n>', 'API keys in all', positive('--keys'), 1_000_000)
  .option('--teams <n>', 'teams in all (spread by account size, at least 3 each)', positive('--teams'), 4000)
  .option('--usage-days <n>', 'days of hourly usage up to now', positive('--usage-days'), 90)
  .option('--verifications <n>', 'verifications counted in the roll-ups', positive('--verifications', 0), 10_000_000)
  .option('--big-account-keys <n>', 'keys of the first (biggest and busiest) account', positive('--big-account-keys'), 100_000)
  .option('--account-prefix <text>', 'account IDs are <prefix>-000, <prefix>-001, …', 'seed')
  .option('--secrets-out <file>', 'write real secrets of the big account (JSON) for the verification bench')
  .option('--secrets-count <n>', 'active secrets to keep (plus up to 20 expired and 20 revoked)', positive('--secrets-count', 0), 1000)
  .option('--reset', 'empty the service tables first', false)
  .option('--seed <n>', 'PRNG seed for the shape of the data (secrets are always random)', positive('--seed', 0), 42)
  .option('--drop-indexes', 'rebuild secondary indexes after the load (default: from 50,000 keys)')
  .option('--no-drop-indexes', 'keep secondary indexes during the load')
  .action(async (opts: Options) => {
    if (opts.accounts > opts.keys) throw new InvalidArgumentError('--accounts must not exceed --keys');
    if (opts.usageDays > 4000) throw new InvalidArgumentError('--usage-days must be at most 4000');
    await run(opts);
  });

program.parseAsync().catch((err: unknown) => {
  console.error(`seed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

// `qckeys keys …`: list, create, renew, revoke, delete, and bulk team changes.
import { Command, Option } from 'commander';
import {
  ApiError, ApiKeysDocument, CreateApiKeyDocument, DeleteApiKeyDocument, RenewApiKeyDocument, RevokeApiKeyDocument, UpdateApiKeyTeamsDocument,
  type ApiKeyFieldsFragment, type ApiKeyOrderField, type CreateApiKeyInput, type OrderDirection,
} from '../../client/index';
import { addFilterOptions, buildFilter, hasFilter } from '../filters';
import { addPageOptions, listPages, pageFooter, type PageOptions } from '../paging';
import { Resolver } from '../resolve';
import { runtime } from '../runtime';
import { UsageError, absoluteTime, collect, duration, enumValue, shortTime, table } from '../util';

const ORDER_FIELDS = ['NAME', 'CREATED_AT', 'EXPIRES_AT', 'LAST_USED_AT'] as const satisfies readonly ApiKeyOrderField[];
const DIRECTIONS = ['ASC', 'DESC'] as const satisfies readonly OrderDirection[];

function order(value: string): { field: ApiKeyOrderField; direction: OrderDirection } {
  const [field, direction = 'asc'] = value.split(':');
  return { field: enumValue(ORDER_FIELDS, 'field')(field), direction: enumValue(DIRECTIONS, 'direction')(direction) };
}

export function keyRows(keys: ApiKeyFieldsFragment[]): string {
  return table(
    ['ID', 'NAME', 'STATUS', 'INSTANCE', 'CHANNEL', 'DEVELOPER', 'TEAMS', 'EXPIRES'],
    keys.map((k) => [k.id, k.name, k.status, k.instance.name, k.channel.name, k.developer.name, k.teams.map((t) => t.name).join(', ') || '-', shortTime(k.expiresAt)]),
  );
}

function keyDetails(k: ApiKeyFieldsFragment): string {
  const rows: [string, string][] = [
    ['id', k.id], ['name', k.name], ['hint', k.hint], ['status', k.status],
    ['cloud', k.cloud], ['instance', k.instance.name], ['channel', k.channel.name], ['developer', k.developer.name],
    ['teams', k.teams.map((t) => t.name).join(', ') || '-'], ['expires', shortTime(k.expiresAt)], ['version', String(k.version)],
  ];
  if (k.renewedAt) rows.push(['renewed', shortTime(k.renewedAt)]);
  if (k.revokedAt) rows.push(['revoked', shortTime(k.revokedAt)]);
  if (k.revocationReason) rows.push(['reason', k.revocationReason]);
  return rows.map(([label, value]) => `  ${label.padEnd(10)}${value}`).join('\n');
}

/** The key and its new secret: the only place the secret is ever written, on stdout. */
function withSecret(verb: string, key: ApiKeyFieldsFragment, secret: string): string {
  return `${verb} key ${JSON.stringify(key.name)}\n${keyDetails(key)}\n\nSecret (shown once; store it now):\n${secret}`;
}

const secretOnly = () => new Option('--secret-only', 'print only the secret, e.g. for SECRET=$(qckeys …); not with --json');

export function keysCommand(): Command {
  const keys = new Command('keys').description('list and manage API keys');

  addPageOptions(addFilterOptions(keys.command('list').description('list keys, filtered, sorted and paged'))
    .option('--order <field[:direction]>', 'name, created-at, expires-at or last-used-at, then :asc or :desc (default created-at:desc)', order))
    .action(async (opts: Record<string, unknown> & PageOptions & { order?: ReturnType<typeof order> }, cmd: Command) => {
      const rt = runtime(cmd);
      const filter = await buildFilter(opts, new Resolver(rt.client));
      const listing = await listPages(opts, async (first, after) =>
        (await rt.client.request(ApiKeysDocument, { filter, orderBy: opts.order, first, after })).apiKeys);
      const { totalCount, pageInfo, nodes: keys } = listing;
      await rt.print({ totalCount, pageInfo, keys }, () => {
        const footer = pageFooter(listing, 'key');
        return keys.length ? `${keyRows(keys)}\n\n${footer}` : footer;
      });
    });

  keys.command('create').description('create a key; prints its secret once')
    .requiredOption('--name <name>', 'key name, unique per instance')
    .requiredOption('--instance <instance>', 'instance, by ID or name')
    .requiredOption('--channel <channel>', 'channel, by ID or name')
    .option('--developer-name <name>', 'developer by name (created when new)')
    .option('--developer-id <id>', 'developer by ID')
    .option('--team <team>', 'existing team, by ID or name (repeatable)', collect)
    .option('--new-team <name>', 'team by name, created when new (repeatable)', collect)
    .option('--expires-at <time>', 'expiry, e.g. 2027-06-30 (default: one year)', absoluteTime)
    .addOption(secretOnly())
    .action(async (opts: {
      name: string; instance: string; channel: string; developerName?: string; developerId?: string;
      team?: string[]; newTeam?: string[]; expiresAt?: string; secretOnly?: boolean;
    }, cmd: Command) => {
      if ((opts.developerName === undefined) === (opts.developerId === undefined)) {
        throw new UsageError('give exactly one of --developer-name and --developer-id');
      }
      const rt = runtime(cmd);
      if (opts.secretOnly && rt.json) throw new UsageError('--secret-only and --json exclude each other');
      const idempotencyKey = rt.idempotencyKey();
      const resolver = new Resolver(rt.client);
      const [instanceId, channelId, teamIds] = await Promise.all([
        resolver.instance(opts.instance), resolver.channel(opts.channel), resolver.all(opts.team, (t) => resolver.team(t)),
      ]);
      const input: CreateApiKeyInput = {
        name: opts.name, instanceId, channelId,
        developer: opts.developerId !== undefined ? { id: opts.developerId } : { name: opts.developerName },
      };
      if (teamIds) input.teamIds = teamIds;
      if (opts.newTeam) input.newTeamNames = opts.newTeam;
      if (opts.expiresAt) input.expiresAt = opts.expiresAt;
      const { createApiKey } = await rt.client.request(CreateApiKeyDocument, { input }, { idempotencyKey });
      await rt.printSecret({ apiKeyId: createApiKey.apiKey.id, verb: 'created' }, createApiKey,
        () => withSecret('Created', createApiKey.apiKey, createApiKey.secret), opts.secretOnly ? createApiKey.secret : undefined);
    });

  keys.command('renew').description('issue a new secret for the same key; prints it once')
    .argument('<id>', 'key ID')
    .option('--expires-at <time>', 'new expiry (default: now + the key\'s original lifetime)', absoluteTime)
    .option('--grace-period <duration>', 'keep the previous secret valid this long, 0 to 7d, e.g. 1h, 7d', duration(0, 604_800))
    .addOption(secretOnly())
    .action(async (id: string, opts: { expiresAt?: string; gracePeriod?: number; secretOnly?: boolean }, cmd: Command) => {
      const rt = runtime(cmd);
      if (opts.secretOnly && rt.json) throw new UsageError('--secret-only and --json exclude each other');
      const idempotencyKey = rt.idempotencyKey();
      const input: { id: string; expiresAt?: string; gracePeriodSeconds?: number } = { id };
      if (opts.expiresAt) input.expiresAt = opts.expiresAt;
      if (opts.gracePeriod !== undefined) input.gracePeriodSeconds = opts.gracePeriod;
      const { renewApiKey } = await rt.client.request(RenewApiKeyDocument, { input }, { idempotencyKey });
      await rt.printSecret({ apiKeyId: renewApiKey.apiKey.id, verb: 'renewed' }, renewApiKey,
        () => withSecret('Renewed', renewApiKey.apiKey, renewApiKey.secret), opts.secretOnly ? renewApiKey.secret : undefined);
    });

  keys.command('revoke').description('revoke a key for good (a key revoked already is left as it is, and the command succeeds)')
    .argument('<id>', 'key ID')
    .option('--reason <text>', 'why; kept in the key\'s history')
    .action(async (id: string, opts: { reason?: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      let revoked;
      try {
        ({ revokeApiKey: revoked } = await rt.client.request(RevokeApiKeyDocument, { input: { id, reason: opts.reason } }, { idempotencyKey }));
      } catch (err) {
        // the API refuses a second revocation; for a script re-run after a partial run, revoked already is done
        const revokedAt = err instanceof ApiError && err.code === 'FAILED_PRECONDITION' ? err.errors[0]?.extensions?.revokedAt : undefined;
        if (typeof revokedAt !== 'string') throw err;
        await rt.print({ id, revokedAt, alreadyRevoked: true }, () => `Key ${id} was revoked already, at ${shortTime(revokedAt)}: left as it is`);
        return;
      }
      const apiKey = revoked.apiKey;
      await rt.print(revoked, () => `Revoked key ${JSON.stringify(apiKey.name)}\n${keyDetails(apiKey)}`);
    });

  keys.command('delete').description('delete a key: gone from listings, never verifies again; history and usage stay')
    .argument('<id>', 'key ID')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      const { deleteApiKey } = await rt.client.request(DeleteApiKeyDocument, { input: { id } }, { idempotencyKey });
      await rt.print(deleteApiKey, () => `Deleted key ${deleteApiKey.deletedApiKeyId}`);
    });

  addFilterOptions(
    keys.command('teams').description('add or remove teams on keys given by ID, or on every key matching --filter-… options')
      .argument('[ids...]', 'key IDs (or select keys with --filter-… options)'),
    'filter-',
  )
    .option('--add <team>', 'add this existing team, by ID or name (repeatable)', collect)
    .option('--remove <team>', 'remove this team, by ID or name (repeatable)', collect)
    .option('--add-new <name>', 'add a team by name, created when new (repeatable)', collect)
    .action(async (ids: string[], opts: Record<string, unknown> & { add?: string[]; remove?: string[]; addNew?: string[] }, cmd: Command) => {
      const filtered = hasFilter(opts, 'filter-');
      if ((ids.length > 0) === filtered) throw new UsageError('give key IDs or --filter-… options (exactly one of them)');
      if (!opts.add && !opts.remove && !opts.addNew) throw new UsageError('give at least one of --add, --remove and --add-new');
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      const resolver = new Resolver(rt.client);
      const [filter, addTeamIds, removeTeamIds] = await Promise.all([
        filtered ? buildFilter(opts, resolver, 'filter-') : Promise.resolve(undefined),
        resolver.all(opts.add, (t) => resolver.team(t, '--add')),
        resolver.all(opts.remove, (t) => resolver.team(t, '--remove')),
      ]);
      const { updateApiKeyTeams } = await rt.client.request(UpdateApiKeyTeamsDocument, {
        input: { apiKeyIds: filtered ? undefined : ids, filter, addTeamIds, removeTeamIds, addNewTeamNames: opts.addNew },
      }, { idempotencyKey });
      await rt.print(updateApiKeyTeams, () => {
        const head = `Teams changed on ${updateApiKeyTeams.updatedCount} key${updateApiKeyTeams.updatedCount === 1 ? '' : 's'}`;
        return updateApiKeyTeams.apiKeys.length ? `${head}\n\n${keyRows(updateApiKeyTeams.apiKeys)}` : head;
      });
    });

  return keys;
}

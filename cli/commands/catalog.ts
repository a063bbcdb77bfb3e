// `qckeys channels|instances|teams|developers …`: what a key is bound to, listed and created, and
// developers deactivated. A new account has none of them: create a channel, then an instance
// offering it, before its first key.
import { Command } from 'commander';
import {
  ApiError, ChannelsDocument, CreateChannelDocument, CreateInstanceDocument, CreateTeamDocument, DeactivateDeveloperDocument,
  DevelopersDocument, InstancesDocument, RecordDeveloperActivityDocument, TeamsDocument,
  type Cloud, type CreateInstanceInput, type DeveloperFieldsFragment, type InstanceFieldsFragment,
} from '../../client/index';
import { CLOUDS } from '../filters';
import { addPageOptions, listPages, pageFooter, type PageOptions } from '../paging';
import { Resolver } from '../resolve';
import { runtime } from '../runtime';
import { collect, enumValue, table } from '../util';
import { keyRows } from './keys';

const names = (items: { name: string }[]) => items.map((i) => i.name).join(', ') || '-';
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

export function channelsCommand(): Command {
  const channels = new Command('channels').description('list and create channels (CI, IDE, Live Check…): how keys are used');

  channels.command('list').description('list the account\'s channels')
    .action(async (_opts: unknown, cmd: Command) => {
      const rt = runtime(cmd);
      const { channels: list } = await rt.client.request(ChannelsDocument);
      await rt.print({ channels: list }, () => (list.length ? `${table(['ID', 'NAME'], list.map((c) => [c.id, c.name]))}\n\n` : '') + plural(list.length, 'channel'));
    });

  channels.command('create').description('create a channel')
    .requiredOption('--name <name>', 'channel name, 1 to 100 characters, unique in the account')
    .action(async (opts: { name: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const { createChannel } = await rt.client.request(CreateChannelDocument, { input: { name: opts.name } }, { idempotencyKey: rt.idempotencyKey() });
      await rt.print(createChannel, () => `Created channel ${JSON.stringify(createChannel.channel.name)} (${createChannel.channel.id})`);
    });

  return channels;
}

function instanceRows(list: InstanceFieldsFragment[]): string {
  return table(['ID', 'NAME', 'CLOUD', 'CHANNELS', 'URL'], list.map((i) => [i.id, i.name, i.cloud, names(i.channels), i.url ?? '-']));
}

export function instancesCommand(): Command {
  const instances = new Command('instances').description('list and create instances (Salesforce orgs, ServiceNow instances, M365 tenants)');

  instances.command('list').description('list the account\'s instances with the channels they offer')
    .option('--cloud <cloud>', 'only this cloud: salesforce, servicenow or m365', enumValue(CLOUDS))
    .action(async (opts: { cloud?: Cloud }, cmd: Command) => {
      const rt = runtime(cmd);
      const { instances: list } = await rt.client.request(InstancesDocument, { cloud: opts.cloud });
      await rt.print({ instances: list }, () => (list.length ? `${instanceRows(list)}\n\n` : '') + plural(list.length, 'instance'));
    });

  instances.command('create').description('create an instance offering the given channels')
    .requiredOption('--name <name>', 'display name, 1 to 100 characters, unique in the account')
    .requiredOption('--cloud <cloud>', 'salesforce, servicenow or m365', enumValue(CLOUDS))
    .option('--channel <channel>', 'a channel it offers, by ID or name (repeatable); a key\'s channel must be one of them', collect)
    .option('--base-url <url>', 'its base URL, e.g. https://acme.my.salesforce.com')
    .action(async (opts: { name: string; cloud: Cloud; channel?: string[]; baseUrl?: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      const resolver = new Resolver(rt.client);
      const channelIds = (await resolver.all(opts.channel, (c) => resolver.channel(c))) ?? [];
      const input: CreateInstanceInput = { name: opts.name, cloud: opts.cloud, channelIds };
      if (opts.baseUrl !== undefined) input.url = opts.baseUrl;
      const { createInstance } = await rt.client.request(CreateInstanceDocument, { input }, { idempotencyKey });
      await rt.print(createInstance, () => `Created instance ${JSON.stringify(createInstance.instance.name)}\n\n${instanceRows([createInstance.instance])}`);
    });

  return instances;
}

export function teamsCommand(): Command {
  const teams = new Command('teams').description('list and create teams (keys are grouped by teams)');

  addPageOptions(teams.command('list').description('list teams by name, with their number of keys')
    .option('--search <text>', 'name contains this text (case-insensitive)'))
    .action(async (opts: PageOptions & { search?: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const listing = await listPages(opts, async (first, after) =>
        (await rt.client.request(TeamsDocument, { search: opts.search, first, after })).teams);
      const { totalCount, pageInfo, nodes } = listing;
      await rt.print({ totalCount, pageInfo, teams: nodes }, () => (nodes.length
        ? `${table(['ID', 'NAME', 'KEYS'], nodes.map((t) => [t.id, t.name, String(t.apiKeyCount)]))}\n\n`
        : '') + pageFooter(listing, 'team'));
    });

  teams.command('create').description('create a team (keys get teams with keys create --team/--new-team and keys teams)')
    .requiredOption('--name <name>', 'team name, unique in the account')
    .action(async (opts: { name: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const { createTeam } = await rt.client.request(CreateTeamDocument, { input: { name: opts.name } }, { idempotencyKey: rt.idempotencyKey() });
      await rt.print(createTeam, () => `Created team ${JSON.stringify(createTeam.team.name)} (${createTeam.team.id})`);
    });

  return teams;
}

function developerRows(list: DeveloperFieldsFragment[]): string {
  return table(['ID', 'NAME', 'ACTIVE', 'ACTIVE KEYS', 'INSTANCES'],
    list.map((d) => [d.id, d.name, d.active ? 'yes' : 'no', String(d.activeApiKeyCount), names(d.instances)]));
}

export function developersCommand(): Command {
  const developers = new Command('developers').description('list and create developers, deactivate them');

  addPageOptions(developers.command('list').description('list developers by name')
    .option('--search <text>', 'name contains this text (case-insensitive)')
    .option('--instance <instance>', 'only those who worked in this instance, by ID or name'))
    .action(async (opts: PageOptions & { search?: string; instance?: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const instanceId = opts.instance === undefined ? undefined : await new Resolver(rt.client).instance(opts.instance);
      const listing = await listPages(opts, async (first, after) =>
        (await rt.client.request(DevelopersDocument, { instanceId, search: opts.search, first, after })).developers);
      const { totalCount, pageInfo, nodes } = listing;
      await rt.print({ totalCount, pageInfo, developers: nodes }, () => (nodes.length ? `${developerRows(nodes)}\n\n` : '') + pageFooter(listing, 'developer'));
    });

  developers.command('create')
    .description('create a developer who works in an instance; a developer of that name (case-insensitive) is reused and linked to the instance')
    .requiredOption('--name <name>', 'developer name')
    .requiredOption('--instance <instance>', 'an instance they work in, by ID or name')
    .action(async (opts: { name: string; instance: string }, cmd: Command) => {
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      const instanceId = await new Resolver(rt.client).instance(opts.instance);
      const { recordDeveloperActivity } = await rt.client.request(RecordDeveloperActivityDocument,
        { input: { developerName: opts.name, instanceId } }, { idempotencyKey });
      const { developer } = recordDeveloperActivity;
      await rt.print(recordDeveloperActivity, () => `Developer ${JSON.stringify(developer.name)}\n\n${developerRows([developer])}`);
    });

  developers.command('deactivate')
    .description('deactivate a developer: no new keys for them; refused while they hold active keys, unless --revoke-keys')
    .argument('<developer>', 'developer, by ID or name')
    .option('--revoke-keys', 'also revoke their active keys, in the same change')
    .action(async (value: string, opts: { revokeKeys?: boolean }, cmd: Command) => {
      const rt = runtime(cmd);
      const idempotencyKey = rt.idempotencyKey();
      const id = await new Resolver(rt.client).developer(value, '<developer>');
      let result;
      try {
        result = (await rt.client.request(DeactivateDeveloperDocument, { input: { id, revokeApiKeys: opts.revokeKeys === true } }, { idempotencyKey })).deactivateDeveloper;
      } catch (err) {
        if (err instanceof ApiError && err.code === 'FAILED_PRECONDITION' && !opts.revokeKeys) {
          throw new ApiError(err.code, `${err.message} (--revoke-keys)`, { field: err.field, status: err.status, errors: err.errors });
        }
        throw err;
      }
      const { developer, revokedApiKeys } = result;
      await rt.print(result, () => `Deactivated developer ${JSON.stringify(developer.name)} (${developer.id})`
        + (revokedApiKeys.length ? `; revoked ${plural(revokedApiKeys.length, 'key')}:\n\n${keyRows(revokedApiKeys)}` : ''));
    });

  return developers;
}

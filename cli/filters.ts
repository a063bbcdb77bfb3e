// The key-listing filter as options: `--search …` for `keys list`, `--filter-search …` for `keys teams`.
import type { Command } from 'commander';
import type { ApiKeyFilter, ApiKeyStatus, Cloud } from '../client/index';
import type { Resolver } from './resolve';
import { collect, enumList, time } from './util';

export const CLOUDS = ['SALESFORCE', 'SERVICENOW', 'M365'] as const satisfies readonly Cloud[];
export const STATUSES = ['ACTIVE', 'EXPIRED', 'REVOKED'] as const satisfies readonly ApiKeyStatus[];

const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

export function addFilterOptions(command: Command, prefix = ''): Command {
  const p = prefix;
  return command
    .option(`--${p}search <text>`, 'name contains this text (case-insensitive)')
    .option(`--${p}team <team>`, 'in this team, by ID or name (repeatable: any of them)', collect)
    .option(`--${p}without-team`, 'only keys in no team')
    .option(`--${p}developer <developer>`, 'held by this developer, by ID or name (repeatable)', collect)
    .option(`--${p}channel <channel>`, 'of this channel, by ID or name (repeatable)', collect)
    .option(`--${p}instance <instance>`, 'bound to this instance, by ID or name (repeatable)', collect)
    .option(`--${p}cloud <cloud>`, 'salesforce, servicenow or m365 (repeatable)', enumList(CLOUDS))
    .option(`--${p}status <status>`, 'active, expired or revoked (repeatable)', enumList(STATUSES))
    .option(`--${p}expires-before <time>`, 'expiring before this time, e.g. 2026-12-31 or now+30d', (v: string) => time(v))
    .option(`--${p}expires-after <time>`, 'expiring at or after this time', (v: string) => time(v));
}

interface FilterValues {
  search?: string;
  team?: string[];
  withoutTeam?: boolean;
  developer?: string[];
  channel?: string[];
  instance?: string[];
  cloud?: Cloud[];
  status?: ApiKeyStatus[];
  expiresBefore?: string;
  expiresAfter?: string;
}

function valuesOf(opts: Record<string, unknown>, prefix: string): FilterValues {
  const get = <T>(name: string) => opts[camel(prefix + name)] as T | undefined;
  return {
    search: get('search'), team: get('team'), withoutTeam: get('without-team'), developer: get('developer'),
    channel: get('channel'), instance: get('instance'), cloud: get('cloud'), status: get('status'),
    expiresBefore: get('expires-before'), expiresAfter: get('expires-after'),
  };
}

/** Whether any filter option was given. */
export function hasFilter(opts: Record<string, unknown>, prefix = ''): boolean {
  return Object.values(valuesOf(opts, prefix)).some((v) => v !== undefined);
}

/** The ApiKeyFilter the options describe, names resolved to IDs; only given fields are set. */
export async function buildFilter(opts: Record<string, unknown>, resolver: Resolver, prefix = ''): Promise<ApiKeyFilter> {
  const v = valuesOf(opts, prefix);
  const o = (name: string) => `--${prefix}${name}`;
  const [teamIds, developerIds, channelIds, instanceIds] = await Promise.all([
    resolver.all(v.team, (x) => resolver.team(x, o('team'))),
    resolver.all(v.developer, (x) => resolver.developer(x, o('developer'))),
    resolver.all(v.channel, (x) => resolver.channel(x, o('channel'))),
    resolver.all(v.instance, (x) => resolver.instance(x, o('instance'))),
  ]);
  const filter: ApiKeyFilter = {};
  if (v.search !== undefined) filter.search = v.search;
  if (teamIds) filter.teamIds = teamIds;
  if (v.withoutTeam) filter.withoutTeam = true;
  if (developerIds) filter.developerIds = developerIds;
  if (channelIds) filter.channelIds = channelIds;
  if (instanceIds) filter.instanceIds = instanceIds;
  if (v.cloud) filter.clouds = [...new Set(v.cloud)];
  if (v.status) filter.statuses = [...new Set(v.status)];
  if (v.expiresBefore) filter.expiresBefore = v.expiresBefore;
  if (v.expiresAfter) filter.expiresAfter = v.expiresAfter;
  return filter;
}

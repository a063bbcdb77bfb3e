// `qckeys usage`: verification counts grouped by a dimension.
import { Command } from 'commander';
import { UsageDocument, type UsageDimension, type UsageFilter, type UsageGranularity } from '../../client/index';
import { CLOUDS } from '../filters';
import { Resolver } from '../resolve';
import { runtime } from '../runtime';
import { collect, enumList, enumValue, positiveInt, shortTime, table, time } from '../util';

const DIMENSIONS = ['CHANNEL', 'INSTANCE', 'TEAM', 'DEVELOPER', 'API_KEY', 'CLOUD'] as const satisfies readonly UsageDimension[];
const GRANULARITIES = ['HOUR', 'DAY', 'WEEK', 'MONTH'] as const satisfies readonly UsageGranularity[];

export function usageCommand(): Command {
  return new Command('usage').description('verifications (total, valid, rejected) grouped by a dimension over a time range')
    .option('--by <dimension>', 'channel, instance, team, developer, api-key or cloud', enumValue(DIMENSIONS), 'CHANNEL')
    .option('--from <time>', 'start (inclusive): 2026-11-01, an ISO time, or now-7d', (v: string) => time(v), undefined)
    .option('--to <time>', 'end (exclusive); default now', (v: string) => time(v))
    .option('--granularity <g>', 'hour, day, week or month', enumValue(GRANULARITIES), 'DAY')
    .option('--channel <channel>', 'only this channel, by ID or name (repeatable)', collect)
    .option('--instance <instance>', 'only this instance, by ID or name (repeatable)', collect)
    .option('--team <team>', 'only keys of this team, by ID or name (repeatable)', collect)
    .option('--developer <developer>', 'only keys of this developer, by ID or name (repeatable)', collect)
    .option('--key <id>', 'only this key ID (repeatable)', collect)
    .option('--cloud <cloud>', 'only this cloud (repeatable)', enumList(CLOUDS))
    .option('--points', 'also list every time bucket')
    .option('--top <n>', 'series of the n busiest values, the rest summed as (others), 1-100', positiveInt(100), 10)
    .action(async (opts: {
      by: UsageDimension; from?: string; to?: string; granularity: UsageGranularity; points?: boolean; top: number;
      channel?: string[]; instance?: string[]; team?: string[]; developer?: string[]; key?: string[]; cloud?: UsageFilter['clouds'];
    }, cmd: Command) => {
      const rt = runtime(cmd);
      const resolver = new Resolver(rt.client);
      const now = Date.now();
      const filter: UsageFilter = { from: opts.from ?? time('now-7d', now), to: opts.to ?? time('now', now) };
      const [channelIds, instanceIds, teamIds, developerIds] = await Promise.all([
        resolver.all(opts.channel, (v) => resolver.channel(v)),
        resolver.all(opts.instance, (v) => resolver.instance(v)),
        resolver.all(opts.team, (v) => resolver.team(v)),
        resolver.all(opts.developer, (v) => resolver.developer(v)),
      ]);
      Object.assign(filter, { channelIds, instanceIds, teamIds, developerIds, apiKeyIds: opts.key, clouds: opts.cloud });
      const { usage } = await rt.client.request(UsageDocument, { filter, groupBy: opts.by, granularity: opts.granularity, first: opts.top });
      await rt.print({ from: filter.from, to: filter.to, ...usage }, () => {
        const head = `Usage by ${usage.groupBy.toLowerCase().replace('_', '-')}, ${shortTime(filter.from)} to ${shortTime(filter.to)}: ${usage.total} verification${usage.total === 1 ? '' : 's'}`;
        if (!usage.series.length) return head;
        const summary = table(['KEY', 'LABEL', 'TOTAL', 'VALID', 'REJECTED'],
          usage.series.map((s) => [s.key, s.label, String(s.total), String(s.valid), String(s.rejected)]));
        if (!opts.points) return `${head}\n\n${summary}`;
        const points = table(['LABEL', 'START', 'TOTAL', 'VALID', 'REJECTED'],
          usage.series.flatMap((s) => s.points.map((p) => [s.label, shortTime(p.start), String(p.total), String(p.valid), String(p.rejected)])));
        return `${head}\n\n${summary}\n\n${points}`;
      });
    });
}

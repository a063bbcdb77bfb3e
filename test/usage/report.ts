import type { TestServer } from '../helpers/server';

export interface Point { start: string; total: number; valid: number; rejected: number }
export interface Series { key: string; kind: string; label: string; total: number; valid: number; rejected: number; points: Point[] }
export interface Report { groupBy: string; granularity: string; total: number; seriesCount: number; series: Series[] }

export interface Filter {
  from: string;
  to: string;
  channelIds?: string[];
  instanceIds?: string[];
  teamIds?: string[];
  developerIds?: string[];
  apiKeyIds?: string[];
  clouds?: string[];
}

const USAGE = `query($filter: UsageFilter!, $groupBy: UsageDimension!, $granularity: UsageGranularity!, $first: Int) {
  usage(filter: $filter, groupBy: $groupBy, granularity: $granularity, first: $first) {
    groupBy granularity total seriesCount series { key kind label total valid rejected points { start total valid rejected } }
  }
}`;

export async function usage(server: TestServer, token: string, filter: Filter, groupBy = 'CHANNEL', granularity = 'DAY', first?: number): Promise<Report> {
  return (await server.ok<{ usage: Report }>(token, USAGE, { filter, groupBy, granularity, first })).usage;
}

/** `label -> [total, valid, rejected]` of every series, for compact comparisons. */
export function byLabel(report: Report): Record<string, [number, number, number]> {
  return Object.fromEntries(report.series.map((s) => [s.label, [s.total, s.valid, s.rejected]]));
}

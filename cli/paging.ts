// Paged listings (keys, teams, developers): --first, --after and --all, the JSON shape
// `{ totalCount, pageInfo: { hasNextPage, endCursor }, <items> }` and the table's footer.
import type { Command } from 'commander';
import { positiveInt } from './util';

export interface PageOptions {
  first?: number;
  after?: string;
  all?: boolean;
}

export function addPageOptions(command: Command): Command {
  return command
    .option('--first <n>', 'page size, 1 to 100 (default 50)', positiveInt(100))
    .option('--after <cursor>', 'start after this cursor (from a previous page)')
    .option('--all', 'follow every page');
}

interface Page<T> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
  edges: { node: T }[];
}

export interface Listing<T> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  nodes: T[];
}

/** The page the options ask for or, with --all, every page from there on. */
export async function listPages<T>(opts: PageOptions, fetchPage: (first: number | undefined, after: string | null) => Promise<Page<T>>): Promise<Listing<T>> {
  const nodes: T[] = [];
  let after = opts.after ?? null;
  let page: Page<T>;
  do {
    page = await fetchPage(opts.first ?? (opts.all ? 100 : undefined), after);
    nodes.push(...page.edges.map((e) => e.node));
    after = page.pageInfo.endCursor ?? null;
  } while (opts.all && page.pageInfo.hasNextPage && after);
  return { totalCount: page.totalCount, pageInfo: { hasNextPage: page.pageInfo.hasNextPage, endCursor: page.pageInfo.endCursor ?? null }, nodes };
}

/** `2 of 6 keys; next page: --after …`. */
export function pageFooter(listing: Listing<unknown>, noun: string): string {
  const { nodes, totalCount, pageInfo } = listing;
  return `${nodes.length} of ${totalCount} ${noun}${totalCount === 1 ? '' : 's'}`
    + (pageInfo.hasNextPage ? `; next page: --after ${pageInfo.endCursor}` : '');
}

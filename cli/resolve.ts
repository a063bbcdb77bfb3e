// Turns what people type (an ID or a name) into the IDs the API takes.
import { ApiError, ChannelsDocument, DevelopersDocument, InstancesDocument, NodeRefDocument, TeamsDocument, type Client } from '../client/index';

interface Named { id: string; name: string }

function pick(kind: string, option: string, value: string, candidates: Named[]): string {
  const byId = candidates.find((c) => c.id === value);
  if (byId) return byId.id;
  const wanted = value.trim().toLowerCase();
  const byName = candidates.filter((c) => c.name.toLowerCase() === wanted);
  if (byName.length === 1) return byName[0].id;
  if (byName.length > 1) {
    throw new ApiError('CONFLICT', `Several ${kind}s are named ${JSON.stringify(value)}: pass an ID (${byName.map((c) => c.id).join(', ')})`, { field: option });
  }
  throw new ApiError('NOT_FOUND', `No ${kind} with the ID or name ${JSON.stringify(value)}`, { field: option });
}

export class Resolver {
  private channels?: Promise<Named[]>;
  private instances?: Promise<Named[]>;

  constructor(private readonly client: Client) {}

  async channel(value: string, option = '--channel'): Promise<string> {
    this.channels ??= this.client.request(ChannelsDocument, {}).then((d) => d.channels);
    return pick('channel', option, value, await this.channels);
  }

  async instance(value: string, option = '--instance'): Promise<string> {
    this.instances ??= this.client.request(InstancesDocument, {}).then((d) => d.instances);
    return pick('instance', option, value, await this.instances);
  }

  async team(value: string, option = '--team'): Promise<string> {
    return this.searched('Team', 'team', option, value, async (search, after) => {
      const { teams } = await this.client.request(TeamsDocument, { search, first: 100, after });
      return { nodes: teams.edges.map((e) => e.node), next: teams.pageInfo.hasNextPage ? teams.pageInfo.endCursor : null };
    });
  }

  async developer(value: string, option = '--developer'): Promise<string> {
    return this.searched('Developer', 'developer', option, value, async (search, after) => {
      const { developers } = await this.client.request(DevelopersDocument, { search, first: 100, after });
      return { nodes: developers.edges.map((e) => e.node), next: developers.pageInfo.hasNextPage ? developers.pageInfo.endCursor : null };
    });
  }

  /** Each value resolved in order; the same value once. */
  async all(values: string[] | undefined, one: (value: string) => Promise<string>): Promise<string[] | undefined> {
    if (!values || values.length === 0) return undefined;
    const ids = await Promise.all(values.map(one));
    return [...new Set(ids)];
  }

  private async searched(
    typename: string, kind: string, option: string, value: string,
    page: (search: string, after: string | null) => Promise<{ nodes: Named[]; next: string | null | undefined }>,
  ): Promise<string> {
    const { node } = await this.client.request(NodeRefDocument, { id: value });
    if (node && node.__typename === typename) return node.id;
    const candidates: Named[] = [];
    let after: string | null = null;
    for (let i = 0; i < 20; i++) {
      const { nodes, next } = await page(value.trim(), after);
      candidates.push(...nodes);
      if (!next) break;
      after = next;
    }
    return pick(kind, option, value, candidates);
  }
}

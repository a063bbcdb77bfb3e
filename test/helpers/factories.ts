import type { TestServer } from './server';

/**
 * Builds an account's data through the real API, step by step:
 * `const acme = await seedAccount(server, 'acme'); const key = await acme.createKey({ name: 'ci' })`.
 */
export async function seedAccount(server: TestServer, account: string) {
  const admin = await server.token({ account, roles: ['admin'], sub: `${account}-admin` });
  const viewer = await server.token({ account, roles: ['viewer'], sub: `${account}-viewer` });
  const verifier = await server.token({ account, roles: ['verifier'], sub: `${account}-verifier` });

  const channel = async (name: string): Promise<{ id: string; name: string }> =>
    (await server.ok<{ createChannel: { channel: { id: string; name: string } } }>(admin,
      'mutation($name: String!) { createChannel(input: { name: $name }) { channel { id name } } }', { name })).createChannel.channel;

  const instance = async (name: string, cloud: string, channelIds: string[]): Promise<{ id: string; name: string; cloud: string }> =>
    (await server.ok<{ createInstance: { instance: { id: string; name: string; cloud: string } } }>(admin,
      'mutation($input: CreateInstanceInput!) { createInstance(input: $input) { instance { id name cloud } } }',
      { input: { name, cloud, channelIds } })).createInstance.instance;

  const ide = await channel('IDE');
  const ci = await channel('CI');
  const prod = await instance('Prod org', 'SALESFORCE', [ide.id, ci.id]);
  const snow = await instance('ServiceNow dev', 'SERVICENOW', [ide.id]);

  let counter = 0;
  async function createKey(input: Partial<{
    name: string; instanceId: string; channelId: string; developer: { id?: string; name?: string };
    teamIds: string[]; newTeamNames: string[]; expiresAt: string; cloud: string;
  }> = {}): Promise<{ id: string; name: string; secret: string; version: number }> {
    counter++;
    const res = await server.ok<{ createApiKey: { secret: string; apiKey: { id: string; name: string; version: number } } }>(admin,
      'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id name version } } }',
      { input: { name: `key ${counter}`, instanceId: prod.id, channelId: ide.id, developer: { name: 'Alice' }, ...input } });
    return { ...res.createApiKey.apiKey, secret: res.createApiKey.secret };
  }

  return { account, admin, viewer, verifier, channels: { ide, ci }, instances: { prod, snow }, channel, instance, createKey };
}

export type SeededAccount = Awaited<ReturnType<typeof seedAccount>>;

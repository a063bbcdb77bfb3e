// Calls of the service's public API, shared by the benchmarks and the tests.

/** A GraphQL operation at `baseUrl` with `token`: its data, or an error naming the status and the errors. */
export async function gqlAt<T>(baseUrl: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (res.status !== 200 || body.errors?.length) throw new Error(`GraphQL failed (${res.status}): ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

/** A key of the admin token's account, with the channel and instance it needs, made through the API. */
export async function createKeyWith(baseUrl: string, admin: string): Promise<{ id: string; secret: string; channelId: string; instanceId: string }> {
  const { createChannel } = await gqlAt<{ createChannel: { channel: { id: string } } }>(baseUrl, admin,
    'mutation { createChannel(input: { name: "IDE" }) { channel { id } } }');
  const channelId = createChannel.channel.id;
  const { createInstance } = await gqlAt<{ createInstance: { instance: { id: string } } }>(baseUrl, admin,
    'mutation($c: [ID!]!) { createInstance(input: { name: "Prod", cloud: SALESFORCE, channelIds: $c }) { instance { id } } }', { c: [channelId] });
  const instanceId = createInstance.instance.id;
  const { createApiKey } = await gqlAt<{ createApiKey: { secret: string; apiKey: { id: string } } }>(baseUrl, admin,
    'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id } } }',
    { i: { name: 'k', instanceId, channelId, developer: { name: 'Alice' } } });
  return { id: createApiKey.apiKey.id, secret: createApiKey.secret, channelId, instanceId };
}

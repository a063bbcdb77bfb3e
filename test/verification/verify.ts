import type { TestServer } from '../helpers/server';

/** What both verification surfaces answer, reduced to what they have in common. */
export interface Answer {
  valid: boolean;
  code: string;
  keyId: string | null;
}

export interface RestAnswer {
  valid: boolean;
  code: string;
  accountId?: string;
  keyId?: string;
  instanceId?: string;
  channelId?: string;
  developerId?: string;
  teamIds?: string[];
  expiresAt?: string;
}

export async function verifyRest(server: TestServer, token: string, key: string, instanceId?: string): Promise<RestAnswer> {
  const res = await fetch(`${server.baseUrl}/v1/keys/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(instanceId === undefined ? { key } : { key, instanceId }),
  });
  if (res.status !== 200) throw new Error(`POST /v1/keys/verify answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as RestAnswer;
}

export async function verifyGraphQL(server: TestServer, token: string, key: string, instanceId?: string): Promise<Answer> {
  const data = await server.ok<{ verifyApiKey: { valid: boolean; code: string; apiKey: { id: string } | null } }>(token,
    'mutation($input: VerifyApiKeyInput!) { verifyApiKey(input: $input) { valid code apiKey { id } } }',
    { input: instanceId === undefined ? { key } : { key, instanceId } });
  return { valid: data.verifyApiKey.valid, code: data.verifyApiKey.code, keyId: data.verifyApiKey.apiKey?.id ?? null };
}

/** Verifies over REST and over GraphQL, checks that both agree, and returns the common answer. */
export async function verifyBoth(server: TestServer, token: string, key: string, instanceId?: string): Promise<Answer> {
  const rest = await verifyRest(server, token, key, instanceId);
  const graphql = await verifyGraphQL(server, token, key, instanceId);
  const fromRest: Answer = { valid: rest.valid, code: rest.code, keyId: rest.keyId ?? null };
  expect(graphql).toEqual(fromRest);
  return fromRest;
}

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { signToken } from '../../src/auth/tokens';
import { expectError } from '../helpers/assertions';
import { startTestServer, TEST_JWT_SECRET, type GraphQLResponse, type TestServer } from '../helpers/server';

const ISSUER = 'https://login.example.com/';
const AUDIENCE = 'qckeys-api';

/** HS256 with the test secret, requiring ISSUER and AUDIENCE. */
let hs256: TestServer;
/** RS256 with a public key. */
let rs256: TestServer;
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();

// two servers, one per key source, started one after the other (each opens a database)
beforeAll(async () => {
  hs256 = await startTestServer({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
  rs256 = await startTestServer({ JWT_SECRET: '', JWT_PUBLIC_KEY: publicPem });
}, 120_000);
afterAll(async () => {
  for (const server of [hs256, rs256]) await server?.stop();
}, 60_000);

const now = () => Math.floor(Date.now() / 1000);
const secretKey = (secret: string) => new TextEncoder().encode(secret);
const adminClaims = (account = 'auth-acme'): JWTPayload => ({ sub: 'alice', account, roles: ['admin'] });

/** A JWT with exactly these claims and header, signed as told. */
function jwt(claims: JWTPayload, alg = 'HS256') {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' });
}
/** An HS256 token; `iss` and `aud` are the configured ones unless the claims say otherwise. */
const hsToken = (claims: JWTPayload, secret = TEST_JWT_SECRET) => jwt({ iss: ISSUER, aud: AUDIENCE, ...claims }).sign(secretKey(secret));
const rsToken = (claims: JWTPayload, key: KeyObject = rsa.privateKey, alg = 'RS256') => jwt(claims, alg).sign(key);

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const VIEWER_QUERY = '{ viewer { subject accountId roles } }';

async function viewerWith(server: TestServer, authorization: string | null): Promise<GraphQLResponse<{ viewer: { subject: string; accountId: string } }>> {
  return server.gql(null, VIEWER_QUERY, undefined, authorization === null ? {} : { authorization });
}

function expectUnauthenticated(res: GraphQLResponse<unknown>): void {
  expect(res.status).toBe(401);
  expectError(res, 'UNAUTHENTICATED');
  expect(res.data ?? null).toBeNull();
}

describe('bearer tokens over HTTP', () => {
  test('a valid HS256 token is accepted', async () => {
    const res = await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), exp: now() + 600 })}`);
    expect(res.status).toBe(200);
    expect(res.data?.viewer).toEqual({ subject: 'alice', accountId: 'auth-acme', roles: ['admin'] });
  });

  test('no Authorization header is 401 UNAUTHENTICATED', async () => {
    expectUnauthenticated(await viewerWith(hs256, null));
  });

  test.each([
    ['an empty header', ''],
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['two tokens', 'Bearer abc.def.ghi jkl.mno.pqr'],
    ['a token without scheme', 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln'],
  ])('a malformed header (%s) is 401 UNAUTHENTICATED', async (_what, header) => {
    expectUnauthenticated(await viewerWith(hs256, header));
  });

  test.each([
    ['random text', 'garbage'],
    ['three random segments', 'aaa.bbb.ccc'],
    ['a JSON header and nothing else', `${b64url({ alg: 'HS256' })}..`],
  ])('a garbage token (%s) is 401 UNAUTHENTICATED', async (_what, token) => {
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${token}`));
  });

  test('a token expired beyond the 30 s tolerance is refused', async () => {
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), iat: now() - 3600, exp: now() - 45 })}`));
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), iat: now() - 7200, exp: now() - 3600 })}`));
  });

  test('a token expired 10 s ago is still accepted (clock tolerance)', async () => {
    const res = await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), iat: now() - 600, exp: now() - 10 })}`);
    expect(res.status).toBe(200);
    expect(res.data?.viewer.subject).toBe('alice');
  });

  test('a token not valid before a minute from now is refused', async () => {
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), nbf: now() + 60, exp: now() + 600 })}`));
  });

  test('a token without exp is refused', async () => {
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${await hsToken({ ...adminClaims(), iat: now() })}`));
  });

  test('a token signed with another secret is refused', async () => {
    const forged = await hsToken({ ...adminClaims(), exp: now() + 600 }, 'another-secret-that-is-long-enough-for-hs256-0000');
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${forged}`));
  });

  test('a valid token whose payload was altered is refused', async () => {
    const [header, , signature] = (await hsToken({ ...adminClaims('auth-acme'), exp: now() + 600 })).split('.');
    const tampered = `${header}.${b64url({ ...adminClaims('auth-victim'), exp: now() + 600 })}.${signature}`;
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${tampered}`));
  });

  test('an unsigned token (alg: none) is refused', async () => {
    const payload = b64url({ ...adminClaims(), exp: now() + 600 });
    for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }, { alg: 'None' }]) {
      expectUnauthenticated(await viewerWith(hs256, `Bearer ${b64url(header)}.${payload}.`));
    }
  });

  test('an HS512 token is refused even with the right secret (algorithm allow-list)', async () => {
    const token = await jwt({ ...adminClaims(), iss: ISSUER, aud: AUDIENCE, exp: now() + 600 }, 'HS512').sign(secretKey(TEST_JWT_SECRET));
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${token}`));
  });

  test.each([
    ['no subject', { account: 'auth-acme', roles: ['admin'] }],
    ['no roles', { sub: 'alice', account: 'auth-acme' }],
    ['empty roles', { sub: 'alice', account: 'auth-acme', roles: [] }],
    ['an unknown role', { sub: 'alice', account: 'auth-acme', roles: ['superuser'] }],
    ['roles as a string', { sub: 'alice', account: 'auth-acme', roles: 'admin' }],
    ['an empty account', { sub: 'alice', account: '', roles: ['admin'] }],
    ['a numeric account', { sub: 'alice', account: 42, roles: ['admin'] }],
    ['a NUL byte in the account', { sub: 'alice', account: 'acme\u0000x', roles: ['verifier'] }],
    ['a space in the account', { sub: 'alice', account: 'acme corp', roles: ['admin'] }],
    ['a newline in the account', { sub: 'alice', account: 'acme\nx', roles: ['admin'] }],
    ['a 129-character account', { sub: 'alice', account: 'a'.repeat(129), roles: ['admin'] }],
    ['an account beginning with a dash', { sub: 'alice', account: '-acme', roles: ['admin'] }],
    ['a NUL byte in the subject', { sub: 'alice\u0000', account: 'auth-acme', roles: ['verifier'] }],
    ['a space in the subject', { sub: 'alice smith', account: 'auth-acme', roles: ['admin'] }],
    ['a 256-character subject', { sub: 's'.repeat(256), account: 'auth-acme', roles: ['admin'] }],
    ['a non-ASCII subject', { sub: 'zoë', account: 'auth-acme', roles: ['admin'] }],
  ])('a correctly signed token with %s is refused', async (_what, claims) => {
    const token = await hsToken({ ...claims, exp: now() + 600 });
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${token}`));
    // the verification route too, before any verification is counted
    const res = await fetch(`${hs256.baseUrl}/v1/keys/verify`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: '{"key":"qck_x"}',
    });
    expect(res.status).toBe(401);
  });

  test.each([
    ['an e-mail address', 'alice@example.com'],
    ['an Auth0 subject', 'auth0|5f7c8ec7c33c6c004bbafe82'],
    ['a URL', 'https://idp.example.com/users/42'],
    ['255 characters', 's'.repeat(255)],
  ])('a subject that is %s is accepted', async (_what, sub) => {
    const res = await viewerWith(hs256, `Bearer ${await hsToken({ sub, account: 'Acme_Corp-1.eu:prod@x', roles: ['viewer'], exp: now() + 600 })}`);
    expect(res.status).toBe(200);
    expect(res.data?.viewer).toMatchObject({ subject: sub, accountId: 'Acme_Corp-1.eu:prod@x' });
  });

  test.each([
    [['admin']],
    [['viewer']],
    [['verifier', 'viewer']],
    [['verifier', 'admin']],
  ])('a token without account with roles %j is refused', async (roles) => {
    const token = await hsToken({ sub: 'gateway', roles, exp: now() + 600 });
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${token}`));
    const verify = await hs256.gql(token, 'mutation { verifyApiKey(input: { key: "qck_nope" }) { valid code } }');
    expectUnauthenticated(verify);
  });

  test('a token without account and only the verifier role is a platform verifier', async () => {
    const token = await hsToken({ sub: 'gateway', roles: ['verifier'], exp: now() + 600 });
    const res = await hs256.gql<{ verifyApiKey: { valid: boolean; code: string } }>(token,
      'mutation { verifyApiKey(input: { key: "qck_definitelynotakey" }) { valid code } }');
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
    expect(res.data?.verifyApiKey).toEqual({ valid: false, code: 'MALFORMED' });
  });
});

describe('issuer and audience', () => {
  const claimsToken = (claims: { issuer?: string | null; audience?: string | null }) => signToken({
    secret: TEST_JWT_SECRET, account: 'auth-claims', roles: ['admin'], subject: 'carol', ttl: '10m', ...claims,
  });

  test('a token with the configured iss and aud is accepted', async () => {
    const res = await viewerWith(hs256, `Bearer ${await claimsToken({ issuer: ISSUER, audience: AUDIENCE })}`);
    expect(res.status).toBe(200);
    expect(res.data?.viewer).toEqual({ subject: 'carol', accountId: 'auth-claims', roles: ['admin'] });
  });

  test.each([
    ['a wrong issuer', { issuer: 'https://evil.example.com/', audience: AUDIENCE }],
    ['a wrong audience', { issuer: ISSUER, audience: 'another-api' }],
    ['no issuer', { issuer: null, audience: AUDIENCE }],
    ['no audience', { issuer: ISSUER, audience: null }],
    ['neither', { issuer: null, audience: null }],
  ])('an HS256 token with the right secret but %s is refused', async (_what, claims) => {
    expectUnauthenticated(await viewerWith(hs256, `Bearer ${await claimsToken(claims)}`));
  });
});

describe('public key (RS256)', () => {
  test('an RS256 token signed with the configured key pair is accepted', async () => {
    const res = await viewerWith(rs256, `Bearer ${await rsToken({ ...adminClaims('auth-rsa'), exp: now() + 600 })}`);
    expect(res.status).toBe(200);
    expect(res.data?.viewer).toEqual({ subject: 'alice', accountId: 'auth-rsa', roles: ['admin'] });
  });

  test('an RS256 token signed with another key is refused', async () => {
    expectUnauthenticated(await viewerWith(rs256, `Bearer ${await rsToken({ ...adminClaims('auth-rsa'), exp: now() + 600 }, otherRsa.privateKey)}`));
  });

  test('an expired RS256 token is refused', async () => {
    expectUnauthenticated(await viewerWith(rs256, `Bearer ${await rsToken({ ...adminClaims('auth-rsa'), exp: now() - 120 })}`));
  });

  test('an HS256 token keyed with the public key (algorithm confusion) is refused', async () => {
    const confused = await hsToken({ ...adminClaims('auth-rsa'), exp: now() + 600 }, publicPem);
    expectUnauthenticated(await viewerWith(rs256, `Bearer ${confused}`));
  });

  test('an HS256 token with the test secret is refused when only a public key is configured', async () => {
    expectUnauthenticated(await viewerWith(rs256, `Bearer ${await hsToken({ ...adminClaims('auth-rsa'), exp: now() + 600 })}`));
  });
});

describe('REST verification route', () => {
  async function postVerify(server: TestServer, authorization: string | null) {
    const res = await fetch(`${server.baseUrl}/v1/keys/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
      body: JSON.stringify({ key: 'qck_0000000000000000000000000000000000000000' }),
    });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as { error?: { code: string; message: string } } };
  }

  test.each([
    ['no token', null],
    ['a garbage token', 'Bearer garbage'],
    ['another scheme', 'Basic YWxpY2U6c2VjcmV0'],
  ])('answers 401 JSON UNAUTHENTICATED with %s', async (_what, authorization) => {
    const res = await postVerify(hs256, authorization);
    expect(res.status).toBe(401);
    expect(res.type).toMatch(/application\/json/);
    expect(res.body.error?.code).toBe('UNAUTHENTICATED');
    expect(typeof res.body.error?.message).toBe('string');
  });

  test('answers 401 with an expired token and with a token without account that is not a pure verifier', async () => {
    for (const claims of [{ ...adminClaims(), exp: now() - 120 }, { sub: 'gw', roles: ['verifier', 'viewer'], exp: now() + 600 }]) {
      const res = await postVerify(hs256, `Bearer ${await hsToken(claims)}`);
      expect(res.status).toBe(401);
      expect(res.body.error?.code).toBe('UNAUTHENTICATED');
    }
  });
});

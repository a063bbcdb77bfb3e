import { ConfigError, loadConfig } from '../../src/config';

// The configuration is read once at start-up: a wrong value stops it with a message naming the variable.
const SECRET = 'a-secret-that-is-long-enough-for-hs256-0123456789';
const PEM = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

test.each([
  ['PORT', { PORT: 'abc' }],
  ['PORT', { PORT: '70000' }],
  ['PORT', { PORT: '80.5' }],
  ['DATABASE_URL', { DATABASE_URL: 'mysql://root@localhost/keys' }],
  ['DATABASE_URL', { DATABASE_URL: 'sqlite:///tmp/x.db' }],
])('names %s when it is wrong (%j)', (name, env) => {
  expect(refusal(env)).toContain(name);
});

test('production without a key source is refused, naming the variables', () => {
  const message = refusal({ NODE_ENV: 'production' });
  expect(message).toContain('NODE_ENV');
  expect(message).toMatch(/JWT_SECRET.*JWT_PUBLIC_KEY.*JWKS_URL/);
});

const JWKS = 'https://login.example.com/.well-known/jwks.json';
test.each([
  ['secret and public key', { JWT_SECRET: SECRET, JWT_PUBLIC_KEY: PEM }],
  ['secret and JWKS', { JWT_SECRET: SECRET, JWKS_URL: JWKS }],
  ['public key and JWKS', { JWT_PUBLIC_KEY: PEM, JWKS_URL: JWKS }],
  ['all three', { JWT_SECRET: SECRET, JWT_PUBLIC_KEY: PEM, JWKS_URL: JWKS }],
])('two or more key sources are refused: %s', (_what, env) => {
  expect(refusal(env)).toMatch(/only one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL/);
  expect(refusal({ ...env, NODE_ENV: 'production' })).toMatch(/only one of/);
});

test('one key source is enough in production, and issuer and audience are kept', () => {
  const hs = loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, JWT_ISSUER: 'https://login.example.com/', JWT_AUDIENCE: 'qckeys' });
  expect(hs.production).toBe(true);
  expect(hs.jwt).toEqual({ secret: SECRET, publicKey: null, jwksUrl: null, issuer: 'https://login.example.com/', audience: 'qckeys' });
  expect(loadConfig({ NODE_ENV: 'production', JWT_PUBLIC_KEY: PEM }).jwt.publicKey).toBe(PEM);
  expect(loadConfig({ NODE_ENV: 'production', JWKS_URL: 'https://login.example.com/jwks' }).jwt.jwksUrl).toBe('https://login.example.com/jwks');
});

test('defaults: port 4000, embedded database, migrations on start, no key source outside production', () => {
  const config = loadConfig({});
  expect(config).toMatchObject({ production: false, port: 4000, host: '0.0.0.0', migrateOnStart: true, introspection: true });
  expect(config.database.kind).toBe('pglite');
  expect(config.jwt).toEqual({ secret: null, publicKey: null, jwksUrl: null, issuer: null, audience: null });
  expect(loadConfig({ DATABASE_URL: 'memory://' }).database).toEqual({ kind: 'pglite', dataDir: null });
  expect(loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/keys' }).database).toEqual({ kind: 'postgres', url: 'postgresql://u@db:5432/keys' });
});

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config';
import { ApiError, unauthenticated } from '../errors';
import { ROLES, type Principal, type Role } from './principal';

const CLOCK_TOLERANCE_SECONDS = 30;

const keysUnavailable = () => new ApiError('SERVICE_UNAVAILABLE', 'The keys that verify tokens cannot be fetched (JWKS_URL); retry shortly', { retryAfterSeconds: 5 });
const CACHE_LIMIT = 10_000;

export interface TokenVerifier {
  /** Verifies an `Authorization` header value; throws UNAUTHENTICATED. */
  authenticate(authorization: string | undefined): Promise<Principal>;
  /** The principal of a header verified before and not expired since, without waiting on anything. */
  cached(authorization: string | undefined): Principal | undefined;
  /** Whether the secret was generated for development (printed at start). */
  readonly devSecret: string | null;
}

type KeySource = { key: Uint8Array | crypto.KeyObject | JWTVerifyGetKey; algorithms: string[] };

function asymmetricAlgorithms(key: crypto.KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512'];
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512'];
    case 'ec': return ['ES256', 'ES384', 'ES512'];
    case 'ed25519': case 'ed448': return ['EdDSA'];
    default: throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${key.asymmetricKeyType}`);
  }
}

/** The development secret, kept under DATA_DIR so `npm run token` signs with it too. */
export function devSecretPath(dataDir: string): string {
  return path.join(dataDir, 'dev-jwt-secret');
}

export function readOrCreateDevSecret(dataDir: string): string {
  const file = devSecretPath(dataDir);
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    const secret = crypto.randomBytes(32).toString('base64url');
    fs.writeFileSync(file, secret + '\n', { mode: 0o600 });
    return secret;
  }
}

/** The HS256 secret that signs tokens: JWT_SECRET, or the development secret. */
export function signingSecret(config: Config): string | null {
  if (config.jwt.secret) return config.jwt.secret;
  if (config.jwt.publicKey || config.jwt.jwksUrl || config.production) return null;
  return readOrCreateDevSecret(config.dataDir);
}

function keySource(config: Config): { source: KeySource; devSecret: string | null } {
  if (config.jwt.publicKey) {
    const key = crypto.createPublicKey(config.jwt.publicKey.replace(/\\n/g, '\n'));
    return { source: { key, algorithms: asymmetricAlgorithms(key) }, devSecret: null };
  }
  if (config.jwt.jwksUrl) {
    return {
      source: { key: createRemoteJWKSet(new URL(config.jwt.jwksUrl)), algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'] },
      devSecret: null,
    };
  }
  const secret = signingSecret(config);
  if (!secret) throw new Error('No JWT key source configured');
  return {
    source: { key: new TextEncoder().encode(secret), algorithms: ['HS256'] },
    devSecret: config.jwt.secret ? null : secret,
  };
}

/**
 * What `account` and `sub` may hold: they are written into history, usage and logs, and compared
 * byte for byte. An account is 1 to 128 letters, digits and `. _ - : @`, beginning with a letter or
 * digit; a subject 1 to 255 printable ASCII characters without spaces (an ID, an e-mail address,
 * `auth0|…`, a URL). Anything else (a NUL byte, control characters, spaces) is refused.
 */
export const ACCOUNT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
export const SUBJECT_PATTERN = /^[\x21-\x7e]{1,255}$/;

function principalOf(payload: JWTPayload): Principal {
  const sub = payload.sub;
  const account = payload.account;
  const rawRoles = payload.roles;
  if (typeof sub !== 'string' || sub === '') throw unauthenticated('The token has no subject');
  if (!SUBJECT_PATTERN.test(sub)) throw unauthenticated('The token has an invalid subject (1 to 255 printable ASCII characters, no spaces)');
  if (!Array.isArray(rawRoles) || rawRoles.length === 0 || !rawRoles.every((r) => ROLES.includes(r as Role))) {
    throw unauthenticated('The token needs roles: a non-empty array of admin, viewer, verifier');
  }
  const roles = [...new Set(rawRoles as Role[])];
  if (account === undefined || account === null) {
    // a platform verifier: verification only, across accounts
    if (roles.length === 1 && roles[0] === 'verifier') return { subject: sub, accountId: null, roles };
    throw unauthenticated('The token has no account');
  }
  if (typeof account !== 'string' || !ACCOUNT_PATTERN.test(account)) {
    throw unauthenticated('The token has an invalid account (1 to 128 letters, digits and . _ - : @)');
  }
  return { subject: sub, accountId: account, roles };
}

export function createTokenVerifier(config: Config): TokenVerifier {
  const { source, devSecret } = keySource(config);
  // Verified tokens by Authorization header, until they expire: verification routes see the same one all day.
  const cache = new Map<string, { principal: Principal; expiresAtMs: number }>();

  // by the whole header: a gateway sends the same one all day, and the lookup needs no parsing
  const cached = (authorization: string | undefined, now = Date.now()): Principal | undefined => {
    const entry = authorization ? cache.get(authorization) : undefined;
    return entry && entry.expiresAtMs > now ? entry.principal : undefined;
  };

  return {
    devSecret,
    cached,
    async authenticate(authorization) {
      const now = Date.now();
      const known = cached(authorization, now);
      if (known) return known;
      const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
      if (!match) throw unauthenticated();
      const token = match[1];
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, source.key as Uint8Array, {
          algorithms: source.algorithms,
          requiredClaims: ['exp'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          issuer: config.jwt.issuer ?? undefined,
          audience: config.jwt.audience ?? undefined,
        }));
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw unauthenticated('The token has expired');
        // the key set could not be fetched (JWKS_URL unreachable or too slow): not the token's fault
        if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) throw keysUnavailable();
        throw unauthenticated('The token is invalid');
      }
      const principal = principalOf(payload);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      const expiresAtMs = Math.min((payload.exp as number) * 1000 + CLOCK_TOLERANCE_SECONDS * 1000, now + 5 * 60_000);
      cache.set(authorization as string, { principal, expiresAtMs });
      return principal;
    },
  };
}

export interface TokenRequest {
  secret: string;
  account: string | null;
  roles: Role[];
  subject: string;
  ttl: string;
  issuer?: string | null;
  audience?: string | null;
}

/** Signs an HS256 token (development and scripts). */
export async function signToken(req: TokenRequest): Promise<string> {
  const claims: JWTPayload = { roles: req.roles };
  if (req.account !== null) claims.account = req.account;
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(req.subject).setIssuedAt().setExpirationTime(req.ttl);
  if (req.issuer) jwt = jwt.setIssuer(req.issuer);
  if (req.audience) jwt = jwt.setAudience(req.audience);
  return jwt.sign(new TextEncoder().encode(req.secret));
}

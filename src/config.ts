import path from 'node:path';

/** Thrown when the environment is wrong; the message names the variable. */
export class ConfigError extends Error {}

export type DatabaseTarget =
  // role: what the service's transactions of one account run as (row-level security applies to it); absent: qckeys_app; null: none
  // requestUrl: the login of requests' connections (one that can become nothing but the role); absent: url
  // listenUrl: a direct session to the primary for LISTEN, when url goes through a transaction pooler; absent: url
  | { kind: 'postgres'; url: string; role?: string | null; requestUrl?: string; listenUrl?: string }
  | { kind: 'pglite'; dataDir: string | null }; // null: in memory

export interface JwtConfig {
  secret: string | null;
  publicKey: string | null;
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
}

export interface Config {
  production: boolean;
  port: number;
  host: string;
  dataDir: string;
  database: DatabaseTarget;
  migrateOnStart: boolean;
  jwt: JwtConfig;
  introspection: boolean;
  logLevel: string;
  /** Longest time opening a connection may take (past it, the database is taken for unreachable). */
  dbTimeoutMs: number;
  dbPoolMax: number;
  /** Connections of the service's own work across accounts. */
  dbSystemPoolMax: number;
  /** Longest wait for a free connection before a request gets 503 (overload, not an outage). */
  dbPoolWaitMs: number;
  dbPreparedStatements: boolean;
  /**
   * Read replicas of the requests' reads (src/db/replicas.ts): their URLs, the staleness past
   * which one is out of rotation, how often it is measured, and how long a principal's reads stay
   * on the primary after its last mutation.
   */
  replicas: { urls: string[]; maxLagMs: number; checkMs: number; readYourWritesMs: number };
  /** maxPoints: what one request's usage reports may hold in all (series × buckets); shard: the roll-ups' shard this process writes (null: one at random). */
  usage: { flushIntervalMs: number; flushSize: number; retentionDays: number; maxPoints: number; shard: number | null };
  keyCacheTtlMs: number;
  /** Per principal: database lookups of secrets unknown to the cache, per second and at most at once. */
  unknownKeyLookups: { ratePerSecond: number; burst: number };
  shutdownTimeoutMs: number;
  /** After SIGTERM, how long readiness reports 503 while requests are still accepted. */
  shutdownDrainMs: number;
  idempotency: {
    /** Server secret for Idempotency-Key hashes and stored-response encryption; null: derived or random. */
    secret: string | null;
    /** How long a duplicate request waits for the first one still in flight before CONFLICT. */
    waitMs: number;
  };
  limits: { maxDepth: number; maxAliases: number; maxTokens: number; maxCost: number; maxBodyBytes: number };
  http: { requestTimeoutMs: number; headersTimeoutMs: number; keepAliveTimeoutMs: number; maxConnections: number };
  /** Where /metrics is served: on the main port (null) or on a port of its own; and the bearer token it asks for (null: none). */
  metrics: { port: number | null; token: string | null };
  /**
   * `POST /v1/keys/verify` also on a port of its own (null: none), served by a thread of its own
   * (src/verify-thread.ts); what is then added to the nice value of the process's other threads
   * (`mainNice`, 0: nothing).
   */
  verifyThread: { port: number | null; mainNice: number };
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max} (got ${JSON.stringify(raw)})`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false (got ${JSON.stringify(raw)})`);
}

function text(env: Env, name: string): string | null {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? null : raw;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//;

function databaseTarget(env: Env, dataDir: string): DatabaseTarget {
  const url = text(env, 'DATABASE_URL');
  if (url === null) return { kind: 'pglite', dataDir: path.join(dataDir, 'pglite') };
  if (url === 'memory://') return { kind: 'pglite', dataDir: null };
  if (POSTGRES_URL.test(url)) {
    const target: DatabaseTarget = { kind: 'postgres', url };
    const requestUrl = text(env, 'DATABASE_REQUEST_URL');
    if (requestUrl !== null) {
      if (!POSTGRES_URL.test(requestUrl)) throw new ConfigError('DATABASE_REQUEST_URL must be postgres://… or postgresql://…');
      target.requestUrl = requestUrl;
    }
    const listenUrl = text(env, 'DATABASE_LISTEN_URL');
    if (listenUrl !== null) {
      if (!POSTGRES_URL.test(listenUrl)) throw new ConfigError('DATABASE_LISTEN_URL must be postgres://… or postgresql://…');
      target.listenUrl = listenUrl;
    }
    const role = text(env, 'DATABASE_ROLE');
    if (role === 'none') target.role = null;
    else if (role !== null) {
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(role)) throw new ConfigError('DATABASE_ROLE must be a role name (lower case letters, digits, _) or none');
      target.role = role;
    }
    return target;
  }
  throw new ConfigError('DATABASE_URL must be postgres://…, postgresql://… or memory://');
}

function replicasConfig(env: Env, database: DatabaseTarget): Config['replicas'] {
  const urls = (text(env, 'DATABASE_REPLICA_URL') ?? '').split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.some((u) => !POSTGRES_URL.test(u))) throw new ConfigError('DATABASE_REPLICA_URL must be one or more postgres://… URLs, separated by commas');
  if (urls.length > 0 && database.kind !== 'postgres') throw new ConfigError('DATABASE_REPLICA_URL needs DATABASE_URL to be a PostgreSQL server');
  if (urls.length > 16) throw new ConfigError('DATABASE_REPLICA_URL takes at most 16 replicas');
  const maxLagMs = int(env, 'DATABASE_REPLICA_MAX_LAG_MS', 2000, 100, 600_000);
  const checkMs = int(env, 'DATABASE_REPLICA_CHECK_MS', 250, 10, 60_000);
  if (checkMs * 2 > maxLagMs) throw new ConfigError('DATABASE_REPLICA_CHECK_MS must be at most half of DATABASE_REPLICA_MAX_LAG_MS');
  return { urls, maxLagMs, checkMs, readYourWritesMs: int(env, 'READ_YOUR_WRITES_MS', 5000, 0, 600_000) };
}

function verifyThreadConfig(env: Env, database: DatabaseTarget): Config['verifyThread'] {
  const port = text(env, 'VERIFY_PORT') === null ? null : int(env, 'VERIFY_PORT', 0, 0, 65535);
  if (port !== null && database.kind !== 'postgres') {
    throw new ConfigError('VERIFY_PORT needs DATABASE_URL: the embedded database belongs to the main thread, and the verification thread has connections of its own');
  }
  const mainNice = int(env, 'MAIN_THREAD_NICE', port === null ? 0 : 10, 0, 19);
  if (port === null && mainNice !== 0) throw new ConfigError('MAIN_THREAD_NICE applies only with VERIFY_PORT');
  return { port, mainNice };
}

function metricsConfig(env: Env): Config['metrics'] {
  const portText = text(env, 'METRICS_PORT');
  const port = portText === null ? null : int(env, 'METRICS_PORT', 0, 0, 65535);
  const token = text(env, 'METRICS_TOKEN');
  if (token !== null && (token.length < 16 || !/^[\x21-\x7e]+$/.test(token))) {
    throw new ConfigError('METRICS_TOKEN must be at least 16 printable characters without spaces');
  }
  return { port, token };
}

/** Reads and validates the environment once, at start-up. */
export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const dataDir = path.resolve(text(env, 'DATA_DIR') ?? './data');
  const database = databaseTarget(env, dataDir);
  const jwt: JwtConfig = {
    secret: text(env, 'JWT_SECRET'),
    publicKey: text(env, 'JWT_PUBLIC_KEY'),
    jwksUrl: text(env, 'JWKS_URL'),
    issuer: text(env, 'JWT_ISSUER'),
    audience: text(env, 'JWT_AUDIENCE'),
  };
  const sources = [jwt.secret, jwt.publicKey, jwt.jwksUrl].filter((s) => s !== null).length;
  if (sources > 1) throw new ConfigError('Set only one of JWT_SECRET, JWT_PUBLIC_KEY and JWKS_URL');
  if (production && sources === 0) {
    throw new ConfigError('NODE_ENV=production needs JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL');
  }
  if (jwt.secret !== null && jwt.secret.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters');
  }
  if (jwt.jwksUrl !== null && !/^https?:\/\//.test(jwt.jwksUrl)) {
    throw new ConfigError('JWKS_URL must be an http(s) URL');
  }
  const idempotencySecret = text(env, 'IDEMPOTENCY_SECRET');
  if (idempotencySecret !== null && idempotencySecret.length < 32) {
    throw new ConfigError('IDEMPOTENCY_SECRET must be at least 32 characters');
  }
  const logLevel = text(env, 'LOG_LEVEL') ?? (env.NODE_ENV === 'test' ? 'silent' : 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');
  }
  const requestTimeoutMs = int(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000);
  const headersTimeoutMs = int(env, 'HTTP_HEADERS_TIMEOUT_MS', Math.min(10_000, requestTimeoutMs), 100, 600_000);
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  return {
    production,
    port: int(env, 'PORT', 4000, 0, 65535),
    host: text(env, 'HOST') ?? '0.0.0.0',
    dataDir,
    database,
    migrateOnStart: bool(env, 'MIGRATE_ON_START', true),
    jwt,
    introspection: bool(env, 'GRAPHQL_INTROSPECTION', !production),
    logLevel,
    dbTimeoutMs: int(env, 'DB_TIMEOUT_MS', 1500, 100, 600_000),
    dbPoolMax: int(env, 'DB_POOL_MAX', 10, 1, 1000),
    dbSystemPoolMax: int(env, 'DB_SYSTEM_POOL_MAX', 4, 1, 1000),
    dbPoolWaitMs: int(env, 'DB_POOL_WAIT_MS', 1000, 10, 600_000),
    dbPreparedStatements: bool(env, 'DB_PREPARED_STATEMENTS', true),
    replicas: replicasConfig(env, database),
    usage: {
      flushIntervalMs: int(env, 'USAGE_FLUSH_INTERVAL_MS', 500, 10, 60_000),
      flushSize: int(env, 'USAGE_FLUSH_SIZE', 5000, 1, 1_000_000),
      retentionDays: int(env, 'USAGE_RETENTION_DAYS', 400, 1, 36_500),
      maxPoints: int(env, 'USAGE_MAX_POINTS', 10_000, 100, 1_000_000),
      shard: text(env, 'USAGE_SHARD') === null ? null : int(env, 'USAGE_SHARD', 0, 0, 15),
    },
    keyCacheTtlMs: int(env, 'KEY_CACHE_TTL_MS', 10_000, 0, 3_600_000),
    unknownKeyLookups: {
      ratePerSecond: int(env, 'UNKNOWN_KEY_LOOKUPS_PER_SECOND', 20, 1, 100_000),
      burst: int(env, 'UNKNOWN_KEY_LOOKUP_BURST', 200, 1, 1_000_000),
    },
    shutdownTimeoutMs: int(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    shutdownDrainMs: int(env, 'SHUTDOWN_DRAIN_MS', 0, 0, 600_000),
    idempotency: {
      secret: idempotencySecret,
      waitMs: int(env, 'IDEMPOTENCY_WAIT_MS', 5000, 0, 60_000),
    },
    limits: {
      maxDepth: int(env, 'GRAPHQL_MAX_DEPTH', 10, 1, 100),
      maxAliases: int(env, 'GRAPHQL_MAX_ALIASES', 15, 0, 1000),
      maxTokens: int(env, 'GRAPHQL_MAX_TOKENS', 2000, 10, 100_000),
      maxCost: int(env, 'GRAPHQL_MAX_COST', 20000, 10, 1_000_000),
      maxBodyBytes: int(env, 'MAX_BODY_BYTES', 1_048_576, 1024, 100 * 1_048_576),
    },
    http: {
      requestTimeoutMs,
      headersTimeoutMs,
      keepAliveTimeoutMs: int(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 5_000, 100, 600_000),
      maxConnections: int(env, 'HTTP_MAX_CONNECTIONS', 10_000, 1, 1_000_000),
    },
    metrics: metricsConfig(env),
    verifyThread: verifyThreadConfig(env, database),
  };
}

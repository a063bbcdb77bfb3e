// PostGraphile 5 over the service's tables, the peer of the listing benchmarks (bench/run.ts).
// It connects as the database's owner (DATABASE_URL) and runs every request's statements with the
// settings the service's transactions set (PEER_PG_SETTINGS, made by bench/lib/scope.ts from
// src/db/tenant.ts), so the same row-level security applies. The account comes from the same
// HS256 bearer token the service accepts (JWT_SECRET), verified on every request.
//
// Environment: DATABASE_URL, JWT_SECRET, PEER_PG_SETTINGS ({"name": "value", …}, where
// "{account}" stands for the token's account), DB_POOL_MAX (10), PORT (0), HOST (127.0.0.1).
// Prints "GraphQL at http://host:port/graphql" once it listens.
import { createServer } from 'node:http';
import jwt from 'jsonwebtoken';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';
import { TYPES } from 'postgraphile/@dataplan/pg';
import { addPgTableOrderBy, orderByAscDesc } from 'postgraphile/utils';
import { PostGraphileConnectionFilterPreset } from 'postgraphile-plugin-connection-filter';

const env = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (fallback === undefined) throw new Error(`${name} is required`);
    return fallback;
  }
  return value;
};

const secret = env('JWT_SECRET');
const settings = JSON.parse(env('PEER_PG_SETTINGS'));
const poolMax = Number(env('DB_POOL_MAX', '10'));

/** The request's settings: the service's scope, with the account of its verified token. */
function pgSettings(requestContext) {
  const header = requestContext.node?.req?.headers?.authorization ?? '';
  const match = /^Bearer (.+)$/.exec(header);
  if (!match) throw new Error('a bearer token is required');
  const claims = jwt.verify(match[1], secret, { algorithms: ['HS256'] });
  if (typeof claims.account !== 'string') throw new Error('the token carries no account');
  return Object.fromEntries(Object.entries(settings).map(([name, value]) => [name, value.replace('{account}', claims.account)]));
}

// The service sorts names case-insensitively and never-used keys as the oldest; the same orders
// here (over the same expressions as the service's indexes), the primary key breaking ties.
const ServiceOrdersPlugin = addPgTableOrderBy({ schemaName: 'public', tableName: 'api_keys' }, (build) => {
  const { sql } = build;
  return {
    ...orderByAscDesc('NAME_CI', (qb) => ({ fragment: sql`lower(${qb.alias}.name)`, codec: TYPES.text })),
    ...orderByAscDesc('LAST_USED_OR_NEVER', (qb) => ({
      fragment: sql`coalesce(${qb.alias}.last_used_at, '-infinity'::timestamptz)`, codec: TYPES.timestamptz,
    })),
  };
});

const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  plugins: [ServiceOrdersPlugin],
  // no global object IDs (the tables' `id` columns are `rowId`); filters and orders on every
  // column: PostGraphile offers them on indexed columns only, and takes none of the service's
  // partial indexes (`where deleted_at is null`) for one
  disablePlugins: ['NodePlugin', 'PgIndexBehaviorsPlugin'],
  pgServices: [makePgService({
    connectionString: env('DATABASE_URL'), schemas: ['public'], poolConfig: { max: poolMax }, pgSettings,
  })],
  schema: {
    connectionFilterRelations: true,
    connectionFilterAllowNullInput: false,
    connectionFilterAllowEmptyObjectInput: false,
  },
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false, maxRequestLength: 1_000_000 },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 65_000;
await serv.addTo(server);
server.listen(Number(env('PORT', '0')), env('HOST', '127.0.0.1'), async () => {
  await pgl.getSchema(); // built before the first request is timed
  const { address, port } = server.address();
  console.log(`GraphQL at http://${address}:${port}/graphql`);
});

const stop = async () => {
  server.close();
  await pgl.release();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('message', (message) => {
  if (message?.type === 'stats') {
    process.send?.({
      type: 'stats', rssMb: process.memoryUsage().rss / 1048576, peakRssMb: process.resourceUsage().maxRSS / 1024,
      cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    });
  } else if (message?.type === 'stop') {
    void stop();
  }
});

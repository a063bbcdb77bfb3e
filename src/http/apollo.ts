import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isReader } from '../auth/principal';
import { forbiddenForVerifier } from '../auth/verifier-reads';
import type { AppServices, Context } from '../context';
import { RecentWriters } from '../db/replicas';
import { ApiError, formattedError, fromDatabaseError, statusOf } from '../errors';
import type { Metrics } from '../metrics';
import { usagePointsOf } from '../modules/usage/cost';
import { buildResolvers, loadTypeDefs } from '../schema';
import { JitExecutor } from './executor';

/** Masks what the client must not see (SQL, tables, stacks) and keeps the contract's codes. */
function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  const mapped = fromDatabaseError(original);
  if (mapped instanceof ApiError) return formattedError(mapped, formatted);
  const { code, field } = formatted.extensions ?? {};
  // errors from parsing, validation and variable coercion, and the request's limits, are safe to show
  if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code, ...(typeof field === 'string' ? { field } : {}) } };
  }
  return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/** Logs unexpected errors, counts and logs every request, and gives a request that failed as a whole its status. */
function observability(services: AppServices, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ contextValue }) {
      const started = process.hrtime.bigint();
      const { logger } = services;
      return {
        async didEncounterErrors({ errors, operationName }) {
          for (const err of errors) {
            const original = err.originalError ?? err;
            const mapped = fromDatabaseError(original);
            if (!(mapped instanceof ApiError) && !err.extensions?.code) {
              logger.error({ requestId: contextValue.requestId, operation: operationName, err: original }, 'unexpected error');
            } else if (!(original instanceof ApiError) && mapped instanceof ApiError) {
              logger.warn({ requestId: contextValue.requestId, operation: operationName, err: (original as Error).message }, 'database error');
            }
          }
        },
        async willSendResponse({ response, operationName }) {
          const body = response.body;
          if (body.kind === 'single' && body.singleResult.data == null && body.singleResult.errors?.length) {
            // a request that failed as a whole, for one reason with an HTTP status of its own, answers with that status
            const [first, ...rest] = body.singleResult.errors;
            const status = statusOf('graphql', first.extensions?.code);
            if (status !== 200 && rest.every((e) => e.extensions?.code === first.extensions?.code)) {
              response.http.status = status;
              const retryAfter = first.extensions?.retryAfterSeconds;
              if (typeof retryAfter === 'number') response.http.headers.set('retry-after', String(retryAfter));
            }
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const status = response.http.status ?? 200;
          metrics.observe('/graphql', operationName ?? 'anonymous', status, seconds);
          logger.info({
            requestId: contextValue.requestId, account: contextValue.principal.accountId, subject: contextValue.principal.subject,
            operation: operationName ?? null, status, durationMs: Math.round(seconds * 1e4) / 10,
          }, 'graphql request');
        },
      };
    },
  };
}

/**
 * A principal that only verifies keys reads nothing but the verified key (src/auth/verifier-reads.ts):
 * any other selection is refused before anything runs.
 */
const verifierReads: ApolloServerPlugin<Context> = {
  async requestDidStart({ contextValue }) {
    if (isReader(contextValue.principal)) return {};
    return {
      async didResolveOperation({ document, operation }) {
        // no operation: Apollo refuses the request itself
        const path = operation ? forbiddenForVerifier(document, operation) : null;
        if (path === null) return;
        throw new GraphQLError(
          `A verifier token may read only the verified key's own fields and the IDs of its instance, channel, developer and teams (not ${path})`,
          { extensions: { code: 'FORBIDDEN', http: { status: 200 } } },
        );
      },
    };
  },
};

/**
 * A request's usage reports hold at most USAGE_MAX_POINTS points (series × buckets, times the
 * lists they are under): more is refused before anything runs (src/modules/usage/cost.ts).
 */
function usagePointsLimit(maxPoints: number): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return;
          const points = usagePointsOf(schema, document, operation, request.variables ?? {});
          if (points === null || points <= maxPoints) return;
          throw new GraphQLError(
            `This request asks for usage reports of ${points} points (series × buckets); at most ${maxPoints}: ask for fewer series or keys, a shorter range or a larger granularity`,
            { extensions: { code: 'BAD_USER_INPUT', field: 'usage', http: { status: 400 } } },
          );
        },
      };
    },
  };
}

/** The header by which a client asks for a query's reads from the primary (`1` or `true`). */
export const READ_PRIMARY_HEADER = 'x-read-primary';
/** The header that says where a query's reads went: `primary` or `replica`. */
export const READ_FROM_HEADER = 'x-read-from';

/**
 * Where a query's reads go, with read replicas (DATABASE_REPLICA_URL): to a replica in rotation,
 * unless its principal wrote within READ_YOUR_WRITES_MS (read-your-writes) or the client asked
 * for the primary. Mutations, and everything else, stay on the primary.
 */
function readRouting(services: AppServices, metrics: Metrics): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ contextValue }) {
      const writers = services.recentWriters;
      if (writers === null) return {};
      return {
        async didResolveOperation({ operation, request, response }) {
          if (operation?.operation !== 'query') return;
          const { principal, db } = contextValue;
          const asked = request.http?.headers.get(READ_PRIMARY_HEADER)?.trim().toLowerCase();
          let target: 'replica' | 'primary_asked' | 'primary_after_write' | 'primary_no_replica';
          if (asked === '1' || asked === 'true') target = 'primary_asked';
          else if (principal.accountId !== null && writers.recent(RecentWriters.key(principal.accountId, principal.subject))) target = 'primary_after_write';
          else target = db.readFromReplica() ? 'replica' : 'primary_no_replica';
          metrics.reads.inc({ target });
          response.http.headers.set(READ_FROM_HEADER, target === 'replica' ? 'replica' : 'primary');
        },
      };
    },
  };
}

/**
 * A query operation writes nothing, so its statements need no transaction of the request's:
 * each runs with the scope in one round trip of its own (src/db/request.ts), sparing BEGIN and
 * COMMIT; the request still holds its place among the pool's holders until it ends.
 */
const queriesReadApart: ApolloServerPlugin<Context> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation, contextValue }) {
        if (operation?.operation === 'query') contextValue.db.readsApart();
      },
    };
  },
};

/** The GraphQL server: the schema, its executor, its limits, error masking and the plugins above. */
export async function createApollo(services: AppServices, metrics: Metrics): Promise<ApolloServer<Context>> {
  const { config } = services;
  const armor = new ApolloArmor({
    maxDepth: { n: config.limits.maxDepth },
    maxAliases: { n: config.limits.maxAliases },
    // the token limit is enforced by the parser itself (parseOptions below): armor's plugin turns it into a 500
    maxTokens: { enabled: false },
    costLimit: { maxCost: config.limits.maxCost },
    maxDirectives: { n: 50 },
    blockFieldSuggestion: { enabled: config.production },
  }).protect();
  const schema = makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers: buildResolvers() as never });
  const apollo = new ApolloServer<Context>({
    gateway: new JitExecutor(schema).gateway(),
    introspection: config.introspection,
    csrfPrevention: true,
    // the process's own SIGTERM handling drains and stops everything; Apollo's would re-kill the process first
    stopOnTerminationSignals: false,
    allowBatchedHttpRequests: false,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: config.production,
    formatError,
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: armor.validationRules,
    // No @cacheControl hints and no HTTP caching of GraphQL: the default cache-control plugin only
    // wrapped every field resolver (a quarter of the CPU of a 50-key listing).
    plugins: [...armor.plugins, ApolloServerPluginLandingPageDisabled(), ApolloServerPluginCacheControlDisabled(), verifierReads,
      usagePointsLimit(config.usage.maxPoints), readRouting(services, metrics), queriesReadApart, observability(services, metrics)],
  });
  await apollo.start();
  return apollo;
}

import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import { GraphQLError, execute, getVariableValues, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { graphqlTurns } from '../lib/turns';

type Gateway = ApolloServerOptionsWithGateway<never>['gateway'];
type Executor = NonNullable<Awaited<ReturnType<Gateway['load']>>['executor']>;

/**
 * graphql-jit's errors are its own kind, made to pass for graphql-js's GraphQLError (its prototype)
 * without being one: Apollo cannot serialize them and answers a bare internal error, losing the
 * resolver's error (an ApiError, a database error) and with it error masking's codes and the HTTP
 * status. Each becomes a graphql-js error with the same message, path, locations, extensions and
 * original error.
 */
function asGraphQLError(error: Pick<GraphQLError, 'message' | 'path' | 'locations' | 'originalError' | 'extensions'>): GraphQLError {
  const converted = new GraphQLError(error.message, { path: error.path, originalError: error.originalError ?? undefined, extensions: error.extensions });
  if (error.locations) Object.assign(converted, { locations: error.locations });
  return converted;
}

/**
 * Executes operations with graphql-jit: each document is compiled once into JavaScript that
 * resolves exactly its selection, without graphql-js's per-field interpretation (building paths,
 * looking up field definitions, completing each value by its type). A report of 10,000 points or a
 * page of 100 keys with their relations spends most of its CPU there, all of it in the one thread
 * that also answers every other request.
 *
 * Compiled operations are kept with their document, which Apollo keeps in its bounded LRU
 * document store: they live and go with it. Compiling takes 0.5–4 ms for the typed client's
 * operations, bounded like parsing by the document limits (tokens, depth, aliases), and is done
 * when a document is first run: a report's first run is its largest. Variables are coerced by
 * graphql-js first, so a bad variable gets exactly graphql-js's error (HTTP 400, BAD_USER_INPUT);
 * a document graphql-jit cannot compile runs on graphql-js.
 */
export class JitExecutor {
  private readonly compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | null>>();

  constructor(private readonly schema: GraphQLSchema) {}

  /** The compiled operation of a document, or null to run it on graphql-js. */
  private compiledOf(document: DocumentNode, operationName: string | null): CompiledQuery | null {
    let operations = this.compiled.get(document);
    if (!operations) {
      operations = new Map();
      this.compiled.set(document, operations);
    }
    const key = operationName ?? '';
    let compiled = operations.get(key);
    if (compiled === undefined) {
      const result = compileQuery(this.schema, document, operationName ?? undefined);
      compiled = isCompiledQuery(result) ? result : null;
      operations.set(key, compiled);
    }
    return compiled;
  }

  readonly execute: Executor = async ({ document, operation, operationName, context, request }) => {
    const variables = request.variables ?? {};
    const coerced = getVariableValues(this.schema, operation.variableDefinitions ?? [], variables, { maxErrors: 50 });
    if (coerced.errors) return { errors: coerced.errors };
    const compiled = this.compiledOf(document, operationName);
    const result = compiled
      ? await compiled.query(undefined, context, variables)
      : await (execute({ schema: this.schema, document, operationName, contextValue: context, variableValues: variables }) as Promise<ExecutionResult>);
    // waiting I/O (a verification) runs between completing the answer and serialising it
    await graphqlTurns.next();
    return compiled && result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
  };

  /** Apollo's gateway option: the way Apollo Server 4 and later take an executor of one's own. */
  gateway(): Gateway {
    const schema = this.schema;
    const executor = this.execute;
    return {
      onSchemaLoadOrUpdate(callback) {
        callback({ apiSchema: schema, coreSupergraphSdl: '' });
        return () => undefined;
      },
      async load() {
        return { executor };
      },
      async stop() {},
    };
  }
}
